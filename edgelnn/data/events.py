"""Handwritten digits as events from a raster-scanning sensor: an irregular, unequal-length task.

The 8x8 images (UCI optical digits, the copy scikit-learn ships, stored in ``files/digits.csv.gz``)
are read by a sensor that sweeps the pixels row by row, one pixel per tick, and emits an event only
where a pixel's ink count reaches EVENT_THRESHOLD. An event carries its intensity and its column;
its row is in *when* it fires: dt = ticks since the previous event (1 inside a stroke, larger over
blank pixels and line ends), so the row layout is only recoverable by accumulating dt.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .prepare import RawData, pad

FILES = Path(__file__).parent / "files"

EVENT_THRESHOLD = 4  # ink count (0..16) at which a pixel fires; gives 16-36 events per digit
DIGITS_N_TRAIN = 600  # fixed stratified split of the 1,797 images (seed DIGITS_SPLIT_SEED)
DIGITS_SPLIT_SEED = 0


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """(1797, 8, 8) ink counts 0..16 and (1797,) digit labels, in file order."""
    with gzip.open(FILES / "digits.csv.gz", "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    return table[:, :64].reshape(-1, 8, 8), table[:, 64]


def encode_events(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image -> (events (E, 2): intensity/16 and column, dt (E,): ticks since the previous event).

    dt[0] is the nominal 1 (a Split's first step always holds the nominal dt), so the absolute row
    of the first event is not given: only the layout relative to it."""
    rows, cols = np.nonzero(image >= EVENT_THRESHOLD)  # row-major: the sweep order
    ticks = rows * image.shape[1] + cols
    events = np.stack([image[rows, cols] / 16.0, cols.astype(np.float64)], axis=1)
    dt = np.diff(ticks, prepend=ticks[0] - 1).astype(np.float64)
    return events, dt


def _stratified_train_rows(y: np.ndarray, n_train: int, seed: int) -> np.ndarray:
    """Sorted rows of a class-stratified train subset of size n_train (largest-remainder per class)."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    share = counts * n_train / len(y)
    take = np.floor(share).astype(int)
    take[np.argsort(-(share - take), kind="stable")[: n_train - take.sum()]] += 1
    rows = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(rows))


def load_digits_events() -> RawData:
    """600 train / 1,197 test digits (fixed stratified split), events padded to the longest (36)."""
    images, y = read_digits()
    encoded = [encode_events(im) for im in images]
    split = pad([e for e, _ in encoded], y.astype(np.int64), [d for _, d in encoded])
    train = _stratified_train_rows(y, DIGITS_N_TRAIN, DIGITS_SPLIT_SEED)
    test = np.setdiff1d(np.arange(len(y)), train)
    return RawData(split.subset(train), split.subset(test), [str(d) for d in range(10)])
