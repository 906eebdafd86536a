"""Datasets for edgelnn: bundled real series, event-encoded digits, synthetic irregular-sampling and
physical-dynamics tasks, and shifts."""
from .registry import DATASETS, DatasetInfo, UnknownDatasetError, get_info, load, names
from .shifts import (LEGACY_NAMES, SHIFTS, Shift, UnknownShiftError, add_noise, add_offset_drift, apply_shift,
                     canonical, change_length, change_sampling_rate, drop_samples, shift_seed)
from .suites import LEVELS, horizon_supported, shift_suite, shifted_test
from .synthetic import make_irregular_sine
from .types import Dataset, Split

__all__ = [
    "DATASETS", "DatasetInfo", "Dataset", "LEGACY_NAMES", "LEVELS", "SHIFTS", "Shift", "Split",
    "UnknownDatasetError", "UnknownShiftError", "add_noise", "add_offset_drift", "apply_shift", "canonical",
    "change_length", "change_sampling_rate", "drop_samples", "get_info", "horizon_supported", "load",
    "make_irregular_sine", "names", "shift_seed", "shift_suite", "shifted_test",
]
