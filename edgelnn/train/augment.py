"""Training-time augmentation, keyed by the names users type (``--augment time``).

``time``: each mini-batch, independently with probability 1/2 each, (a) drops a random fraction
(uniform in [0, 0.6]) of every sequence's samples and (b) resamples the batch at a random rate
factor (log-uniform in [0.5, 2]) over the same time span: the very transformations of the
``drop`` and ``sampling-rate`` shifts (edgelnn.data.shifts), at random levels, keeping the true
dt. Targets are untouched (both keep each sequence's first and last sample). Deterministic per
seed: the draws come from their own generator seeded by the training seed.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..data.shifts import change_sampling_rate, drop_samples
from ..data.types import Split
from ..errors import InputError

P_DROP = 0.5
DROP_MAX = 0.6
P_RATE = 0.5
RATE_RANGE = (0.5, 2.0)


class UnknownAugmentError(InputError):
    """An ``augment`` name not in AUGMENTS."""


def time_augment(batch: Split, rng: np.random.Generator) -> Split:
    """Random drop and/or sampling-rate change of one batch (see the module docstring)."""
    out = batch
    if rng.random() < P_DROP:
        out = drop_samples(out, float(rng.uniform(0.0, DROP_MAX)), seed=int(rng.integers(2**31)))
    if rng.random() < P_RATE:
        lo, hi = np.log(RATE_RANGE[0]), np.log(RATE_RANGE[1])
        out = change_sampling_rate(out, float(np.exp(rng.uniform(lo, hi))))
    return out


AUGMENTS: dict[str, Callable[[Split, np.random.Generator], Split]] = {"time": time_augment}


def get_augment(name: str | None):
    """The augmentation function for ``name`` (None: no augmentation)."""
    if name is None:
        return None
    try:
        return AUGMENTS[name]
    except KeyError:
        raise UnknownAugmentError(f"unknown augment {name!r}; known: {', '.join(AUGMENTS)}") from None


def augment_rng(seed: int) -> np.random.Generator:
    """The augmentation's own generator: the same seed gives the same augmented batches."""
    return np.random.default_rng([int(seed), 0xA0C])
