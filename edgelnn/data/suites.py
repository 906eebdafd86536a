"""A dataset's standard shift suite, and its shifted test sets built with fixed seeds.

The same (dataset, shift, level) always gives the same items in the same order, whatever model
or training seed asks: per-item scores then pair across models and seeds.
"""
from __future__ import annotations

import numpy as np

from .prepare import normalise
from .registry import get_info
from .shifts import SHIFTS, UnknownShiftError, apply_shift, canonical, shift_seed
from .types import Dataset, Split

# shift -> levels, in the order a report lists them
LEVELS: dict[str, tuple[float, ...]] = {
    "noise": (30.0, 20.0, 10.0, 0.0),      # SNR dB
    "offset-drift": (0.25, 0.5, 1.0),      # offset reached at the last sample, in train stds
    "drop": (0.2, 0.4, 0.6),               # fraction of samples dropped
    "sampling-rate": (0.5, 2.0),           # rate factor over the same span
    "horizon": (2.0, 4.0),                 # length factor beyond the training length
}


def horizon_supported(dataset: str) -> bool:
    """Only a bundled dataset can make longer sequences (user data from a file cannot)."""
    from .registry import DATASETS

    return dataset.strip().lower() in DATASETS and get_info(dataset).horizon is not None


def shift_suite(dataset: str) -> list[tuple[str, float]]:
    """(shift, level) pairs of ``dataset``'s standard suite; horizon only where the dataset can
    provide longer sequences (``DatasetInfo.horizon_note`` says why not elsewhere)."""
    supported = horizon_supported(dataset)
    return [(name, level) for name, levels in LEVELS.items() for level in levels
            if name != "horizon" or supported]


def shifted_test(ds: Dataset, name: str, level: float) -> Split:
    """``ds``'s test split under shift ``name`` at ``level``, drawn with ``shift_seed(name, level)``.

    Targets are the test split's own (same items, same order); ``horizon`` rebuilds the test items
    at ``level`` x their length from the dataset's source and normalises them as ``ds`` was.
    """
    name = canonical(name)
    if name not in SHIFTS:
        raise UnknownShiftError(f"unknown shift {name!r}; known: {', '.join(SHIFTS)}")
    if name != "horizon":
        return apply_shift(ds.test, name, level, seed=shift_seed(name, level))
    info = get_info(ds.name)
    if info.horizon is None:
        raise UnknownShiftError(f"dataset {ds.name!r} has no horizon shift: {info.horizon_note}")
    if level < 1.0:
        raise ValueError(f"horizon level is a length factor >= 1, got {level}")
    raw = info.horizon(level)
    reg = ds.task == "regression"
    split = normalise(raw, np.asarray(ds.norm_mean), np.asarray(ds.norm_std), target=reg)
    same = (np.allclose(split.y, ds.test.y, atol=1e-5) if reg else np.array_equal(split.y, ds.test.y))
    if len(split) != len(ds.test) or not same:
        raise ValueError(f"{ds.name}: the horizon split does not hold the test items in test order")
    return split
