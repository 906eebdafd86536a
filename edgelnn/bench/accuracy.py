"""Task metric computed *through the artifact*, next to PyTorch's, on test and shifted sets."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .. import metrics
from ..runtime import EvalSplit, Evaluation, Runner


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
    sequences: int
    shifts: list[ShiftScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def last_outputs(runner: Runner, split: EvalSplit, limit: int | None = None) -> np.ndarray:
    """(N, O) outputs at each sequence's last valid step, every sequence from the zero state."""
    n = len(split.lengths) if limit is None else min(limit, len(split.lengths))
    outputs = runner.run_each(split.x[:n], split.dt[:n], split.lengths[:n])
    return metrics.last_valid(outputs, split.lengths[:n])


def evaluate(runner: Runner, evaluation: Evaluation, *, reference_last: np.ndarray | None = None,
             reference_name: str | None = None, shifts: bool = True,
             limit: int | None = None) -> AccuracyResult:
    """Score the artifact on eval.npz. ``reference_last`` (the fp32 predictions on the test
    split) gives the agreement figure; without it agreement is None."""
    task, std = evaluation.task, evaluation.target_std
    last = last_outputs(runner, evaluation.test, limit)
    y = np.asarray(evaluation.y)[:len(last)]
    acc = metrics.score(last, y, task, std)
    # PyTorch's figures are over the whole split: next to a subset they would mislead.
    whole = len(last) == len(evaluation.test.lengths)
    ref = evaluation.test.reference if whole else None
    agreement = None
    if reference_last is not None:
        agreement = metrics.agreement(last, reference_last[:len(last)], task)
    scores = []
    for split in (evaluation.shifts if shifts else []):
        s_last = last_outputs(runner, split, limit)
        scores.append(ShiftScore(split.key, split.shift, split.level,
                                 metrics.score(s_last, np.asarray(evaluation.y)[:len(s_last)],
                                               task, std), split.reference if whole else None))
    delta = None if ref is None else acc - float(ref)
    return AccuracyResult(evaluation.metric, acc, None if ref is None else float(ref), delta,
                          agreement, reference_name if agreement is not None else None,
                          len(last), scores)
