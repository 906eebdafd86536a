"""Datasets for edgelnn: bundled real series, a synthetic irregular-sampling task, and shifts."""
from .registry import DATASETS, DatasetInfo, UnknownDatasetError, get_info, load, names
from .shifts import SHIFTS, UnknownShiftError, add_noise, apply_shift, change_length, drop_samples
from .synthetic import make_irregular_sine
from .types import Dataset, Split

__all__ = [
    "DATASETS", "DatasetInfo", "Dataset", "SHIFTS", "Split", "UnknownDatasetError",
    "UnknownShiftError", "add_noise", "apply_shift", "change_length", "drop_samples",
    "get_info", "load", "make_irregular_sine", "names",
]
