"""The default training recipe, and the rule that tells a failed training run from a result.

Recipe (``edgelnn train`` with no options, and every run of a study):

- **Mini-batches, always.** With no batch size given, the batch is the largest power of two
  <= n_train / ``MIN_STEPS`` (so an epoch takes >= ``MIN_STEPS`` optimizer steps), within
  ``BATCH_RANGE``: japanesevowels (216 training sequences) 16, irregular-sine (480) 32, co2
  (647) 64; the two smallest sets get the floor of 8 (italypowerdemand 54: 6 steps an epoch,
  basicmotions 32: 4).
- **Learning rate per kind** (``DEFAULT_LR``): the rates the models' own papers train with, checked
  on this machine -- CfC 0.005 (the CfC repository trains at 0.002-0.005; Adam at 0.1 collapses
  CfC and CfC-NCP at 4k active parameters), LTC 0.01 (the LTC repository: 0.01-0.02), the RNNs
  0.01 (GRU-4k on japanesevowels reaches 0.97 at 0.01 with small batches).
- **Adam, gradient norm clipped at** ``CLIP_NORM``, the rate **cosine-decayed** to
  ``FINAL_LR_FRACTION`` of itself over the maximum epochs.
- **Early stopping on validation:** the epoch with the lowest validation loss is kept; training
  stops once ``patience`` epochs in a row have not lowered it.

Failure rule (``diagnose``): a run is a *training failure* when its kept epoch is <= ``EARLY_BEST``
(it learnt almost nothing before validation got worse: typically a rate too high), when its
outputs are constant (one class for every validation item, or a regression output that does not
move), or when its loss diverged. ``retry_lrs`` gives the rates a failed run is retried at -- the
same rule for every model: the rate divided by ``RETRY_FACTOR`` (one half-decade), at most
``RETRIES`` times.
"""
from __future__ import annotations

import math

import numpy as np

MIN_STEPS = 10
BATCH_RANGE = (8, 64)
CLIP_NORM = 1.0
FINAL_LR_FRACTION = 0.05
DEFAULT_EPOCHS = 100
DEFAULT_PATIENCE = 20
DEFAULT_LR = {"cfc": 0.005, "cfc-ncp": 0.005, "ltc": 0.01, "ltc-ncp": 0.01,
              "lstm": 0.01, "gru": 0.01, "gru-d": 0.01, "rnn": 0.01}
FAMILY_LR = {"liquid": 0.005, "rnn": 0.01}   # a kind not listed above: its family's rate

EARLY_BEST = 3
RETRY_FACTOR = math.sqrt(10.0)
RETRIES = 2

# failure codes (``TrainResult.failure`` / ``RunRecord.failure``; empty: a healthy run)
EARLY_BEST_EPOCH = "early-best-epoch"
CONSTANT_OUTPUT = "constant-output"
DIVERGED = "diverged"
FALLS_WITH_CAPACITY = "falls-with-capacity"   # a cell-level flag (edgelnn.study.failures)
FAILURE_TEXT = {
    EARLY_BEST_EPOCH: f"best validation epoch <= {EARLY_BEST}",
    CONSTANT_OUTPUT: "constant output",
    DIVERGED: "loss diverged (NaN/inf)",
    FALLS_WITH_CAPACITY: "validation score falls with capacity beyond seed noise",
}


def default_batch_size(n_train: int) -> int:
    """The largest power of two <= n_train / MIN_STEPS, within BATCH_RANGE."""
    lo, hi = BATCH_RANGE
    target = max(1, n_train // MIN_STEPS)
    return int(min(hi, max(lo, 2 ** int(math.floor(math.log2(target))))))


def default_lr(kind: str) -> float:
    """The kind's default Adam learning rate (DEFAULT_LR, else its family's)."""
    if kind in DEFAULT_LR:
        return DEFAULT_LR[kind]
    from ..models import get_kind

    return FAMILY_LR.get(get_kind(kind).family, 0.01)


def retry_lrs(lr: float, retries: int = RETRIES) -> list[float]:
    """The rates a failed run is retried at, in order (each one RETRY_FACTOR below the last)."""
    return [float(f"{lr / RETRY_FACTOR ** (k + 1):.3g}") for k in range(retries)]


def constant_output(last: np.ndarray, task: str, n_classes: int | None = None) -> bool:
    """True when a model's final outputs (N, O) do not depend on its input: one predicted class
    for every item (classification, with >= 2 items), or a regression output whose spread is
    below 1 % of the targets' normalised scale."""
    if len(last) < 2:
        return False
    if task == "classification":
        return len(np.unique(np.argmax(last, axis=1))) == 1
    return float(np.max(np.std(last, axis=0))) < 1e-2


def diagnose(best_epoch: int, epochs_run: int, constant: bool) -> list[str]:
    """The failure codes of one run (empty: healthy). A run that could not go past EARLY_BEST
    epochs (``epochs_run`` <= EARLY_BEST: a user's short run) is not judged on its best epoch."""
    codes = []
    if best_epoch <= EARLY_BEST < epochs_run:
        codes.append(EARLY_BEST_EPOCH)
    if constant:
        codes.append(CONSTANT_OUTPUT)
    return codes


def describe(codes: list[str]) -> str:
    return "; ".join(FAILURE_TEXT.get(c, c) for c in codes)
