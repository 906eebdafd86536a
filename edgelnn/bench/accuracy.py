"""Task metric computed *through the artifact*, next to PyTorch's, on test and shifted sets."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .. import metrics
from ..runtime import EvalSplit, Evaluation, Runner
from ..errors import BundleError


@dataclass
class ShiftScore:
    key: str
    shift: str | None
    level: float | None
    accuracy: float
    accuracy_fp32: float | None


@dataclass
class AccuracyResult:
    metric: str
    accuracy: float
    accuracy_fp32: float | None
    accuracy_delta: float | None
    agreement: float | None
    agreement_ref: str | None          # what "agreement" compares with
    sequences: int                     # sequences scored (per-step targets: every valid step of each)
    shifts: list[ShiftScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def last_outputs(runner: Runner, split: EvalSplit, limit: int | None = None,
                 evaluation: Evaluation | None = None) -> np.ndarray:
    """The outputs the task metric reads, every sequence from the zero state: (N, O) at each
    sequence's last valid step, or (M, O) at every valid step where ``evaluation`` has per-step
    targets (edgelnn.metrics.scored)."""
    n = len(split.lengths) if limit is None else min(limit, len(split.lengths))
    outputs = runner.run_each(split.x[:n], split.dt[:n], split.lengths[:n])
    if evaluation is not None and metrics.per_step(evaluation.y, evaluation.task):
        return metrics.scored(outputs, split.lengths[:n], np.asarray(evaluation.y)[:n], evaluation.task)[0]
    return metrics.last_valid(outputs, split.lengths[:n])


def _targets(evaluation: Evaluation, n: int) -> np.ndarray:
    """The targets of the first ``n`` sequences, as the metric reads them (``last_outputs``)."""
    y = np.asarray(evaluation.y)[:n]
    if metrics.per_step(y, evaluation.task):
        return metrics.scored(np.zeros(y.shape[:2] + (1,)), evaluation.test.lengths[:n], y, evaluation.task)[1]
    return y


def evaluate(runner: Runner, evaluation: Evaluation, *, reference_last: np.ndarray | None = None,
             reference_name: str | None = None, shifts: bool = True,
             limit: int | None = None) -> AccuracyResult:
    """Score the artifact on eval.npz. ``reference_last`` (the fp32 predictions on the test
    split) gives the agreement figure; without it agreement is None."""
    task, std = evaluation.task, evaluation.target_std
    n = len(evaluation.test.lengths) if limit is None else min(limit, len(evaluation.test.lengths))
    last = last_outputs(runner, evaluation.test, limit, evaluation)
    y = _targets(evaluation, n)
    acc = metrics.score(last, y, task, std)
    # PyTorch's figures are over the whole split: next to a subset they would mislead.
    whole = n == len(evaluation.test.lengths)
    ref = evaluation.test.reference if whole else None
    agreement = None
    if reference_last is not None:
        agreement = metrics.agreement(last, reference_last[:len(last)], task)
    scores = []
    for split in (evaluation.shifts if shifts else []):
        if metrics.per_step(evaluation.y, task):   # a shift moves steps: per-step targets do not follow
            raise BundleError("the bundle's evaluation has shift sets next to per-step targets, which they "
                              "would not match; re-export the checkpoint with this version")
        s_last = last_outputs(runner, split, limit)
        scores.append(ShiftScore(split.key, split.shift, split.level,
                                 metrics.score(s_last, np.asarray(evaluation.y)[:len(s_last)],
                                               task, std), split.reference if whole else None))
    delta = None if ref is None else acc - float(ref)
    return AccuracyResult(evaluation.metric, acc, None if ref is None else float(ref), delta,
                          agreement, reference_name if agreement is not None else None,
                          n, scores)
