"""Containers shared by data loading, training and evaluation code."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    """One split as padded arrays; models read the output at index ``lengths - 1``.

    x: (N, T, C) float32, normalised, exactly 0 after each sequence's true length.
    dt: (N, T) float32 elapsed time since the previous sample; > 0 everywhere
        (first step and padded steps hold the nominal dt, because LTC divides by dt).
    y: (N,) int64 class index, or (N, output_size) float32 normalised regression target.
    lengths: (N,) int64 true lengths in 1..T.
    """

    x: np.ndarray
    dt: np.ndarray
    y: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, idx: np.ndarray | list[int] | slice) -> "Split":
        """Rows ``idx`` as new arrays (T unchanged)."""
        idx = idx if isinstance(idx, slice) else np.asarray(idx)
        return Split(self.x[idx].copy(), self.dt[idx].copy(), self.y[idx].copy(), self.lengths[idx].copy())


@dataclass
class Dataset:
    """A ready-to-train dataset: splits plus what is needed to undo normalisation."""

    name: str
    task: str  # "classification" or "regression"
    input_size: int
    output_size: int
    label_names: list[str]
    train: Split
    val: Split
    test: Split
    norm_mean: list[float]  # per input channel, from the final train split only
    norm_std: list[float]
    target_mean: float = 0.0  # regression: original = y * target_std + target_mean
    target_std: float = 1.0
    nominal_dt: float = 1.0
    description: str = ""
    source: str = ""
