"""Padding, validation carving and train-only normalisation shared by every loader."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import Dataset, Split


@dataclass
class RawData:
    """A loader's output before val carving and normalisation (x in original units)."""

    train: Split
    test: Split
    label_names: list[str]
    nominal_dt: float = 1.0
    chronological: bool = False  # carve val from the end of train instead of at random


def pad(seqs: list[np.ndarray], y: np.ndarray, dts: list[np.ndarray] | None = None,
        nominal_dt: float = 1.0, T: int | None = None) -> Split:
    """Stack (T_i, C) sequences into a Split: x zero-padded, dt nominal on first/padded steps."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    T = int(T or lengths.max())
    x = np.zeros((len(seqs), T, seqs[0].shape[1]), dtype=np.float32)
    dt = np.full((len(seqs), T), nominal_dt, dtype=np.float32)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
        if dts is not None:
            dt[i, 1 : len(s)] = dts[i][1:]
    return Split(x, dt, np.asarray(y), lengths)


def valid_mask(split: Split) -> np.ndarray:
    """(N, T) bool, True on real (non-padded) steps."""
    return np.arange(split.x.shape[1])[None, :] < split.lengths[:, None]


def carve_val(split: Split, fraction: float, seed: int, stratify: bool,
              chronological: bool, folds: int | None = None) -> tuple[Split, Split]:
    """Split train into (train, val): stratified random, or the last rows for time-ordered data.
    ``folds`` k (not for time-ordered data): val is one fold of a k-fold partition instead
    (``fold_index``), so seeds that differ only in ``seed % k`` validate on disjoint items."""
    n = len(split)
    if chronological:
        n_val = int(round(fraction * n))
        return split.subset(np.arange(n - n_val)), split.subset(np.arange(n - n_val, n))
    if folds:
        fold = fold_index(split.y, folds, seed // folds, stratify)
        return split.subset(np.flatnonzero(fold != seed % folds)), split.subset(np.flatnonzero(fold == seed % folds))
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(split.y == c) for c in np.unique(split.y)] if stratify else [np.arange(n)]
    val = np.concatenate([rng.permutation(g)[: int(round(fraction * len(g)))] for g in groups])
    train = np.setdiff1d(np.arange(n), val)
    return split.subset(train), split.subset(np.sort(val))


def fold_index(y: np.ndarray, folds: int, seed: int, stratify: bool) -> np.ndarray:
    """(N,) fold 0..folds-1 of every item: a (per-class, when ``stratify``) random order drawn with
    ``seed``, dealt round-robin -- fold sizes differ by at most one item, and by at most one item of
    each class."""
    if folds < 2:
        raise ValueError(f"a k-fold partition needs k >= 2, got {folds}")
    n = len(y)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(n)]
    order = np.concatenate([rng.permutation(g) for g in groups])
    fold = np.empty(n, dtype=np.int64)
    fold[order] = np.arange(n) % folds
    return fold


def channel_stats(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean/std over valid steps only (std floored at 1e-6)."""
    vals = split.x[valid_mask(split)].astype(np.float64)
    return vals.mean(axis=0), np.maximum(vals.std(axis=0), 1e-6)


def normalise(split: Split, mean: np.ndarray, std: np.ndarray, target: bool = False) -> Split:
    """Apply (x - mean) / std on valid steps, keep padded steps exactly 0."""
    m = valid_mask(split)[..., None]
    x = np.where(m, (split.x - mean) / std, 0.0).astype(np.float32)
    y = ((split.y - mean[0]) / std[0]).astype(np.float32) if target else split.y.copy()
    return Split(x, split.dt.copy(), y, split.lengths.copy())


def build(raw: RawData, *, name: str, task: str, seed: int, val_fraction: float,
          description: str = "", source: str = "", folds: int | None = None) -> Dataset:
    """Carve val from train (``folds``: one fold of a k-fold partition; ``carve_val``), normalise
    everything with the final train split's statistics."""
    train, val = carve_val(raw.train, val_fraction, seed, stratify=task == "classification",
                           chronological=raw.chronological, folds=folds)
    mean, std = channel_stats(train)
    reg = task == "regression"
    splits = [normalise(s, mean, std, target=reg) for s in (train, val, raw.test)]
    out = splits[0].y.shape[1] if reg else len(raw.label_names)
    return Dataset(
        name=name, task=task, input_size=int(train.x.shape[2]), output_size=int(out),
        label_names=list(raw.label_names), train=splits[0], val=splits[1], test=splits[2],
        norm_mean=[float(v) for v in mean], norm_std=[float(v) for v in std],
        target_mean=float(mean[0]) if reg else 0.0, target_std=float(std[0]) if reg else 1.0,
        nominal_dt=raw.nominal_dt, description=description, source=source,
    )
