"""Loaders for the bundled files (nothing is downloaded): UEA/UCR archives and Mauna Loa CO2."""
from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np

from .prepare import RawData, pad
from .ts_format import read_ts

FILES = Path(__file__).parent / "files"

CO2_WINDOW = 52  # one year of weekly samples per input window
CO2_STRIDE = 2  # every 2nd window, to keep the set small (~1.1k windows)
CO2_TEST_FRACTION = 0.3


def load_uea(problem: str) -> RawData:
    """Read <problem>_TRAIN/_TEST.ts.gz; classes indexed in @classLabel order, padded to the max length."""
    parts = {}
    for part in ("TRAIN", "TEST"):
        series, labels, classes = read_ts(FILES / f"{problem}_{part}.ts.gz")
        y = np.array([classes.index(lab) for lab in labels], dtype=np.int64)
        parts[part] = ([s.T for s in series], y, classes)
    T = max(len(s) for seqs, _, _ in parts.values() for s in seqs)  # same T for train and test
    train, test = (pad(parts[p][0], parts[p][1], T=T) for p in ("TRAIN", "TEST"))
    return RawData(train, test, parts["TRAIN"][2])


def read_co2() -> tuple[np.ndarray, np.ndarray]:
    """Weekly CO2 (ppm) with missing weeks dropped, and the gap before each kept sample in weeks."""
    with gzip.open(FILES / "co2.csv.gz", "rt") as fh:
        rows = [line.strip().split(",") for line in fh][1:]
    rows = [(d, v) for d, v in rows if v.strip()]
    days = np.array([date(int(d[:4]), int(d[4:6]), int(d[6:])).toordinal() for d, _ in rows], dtype=np.float64)
    values = np.array([float(v) for _, v in rows])
    gaps = np.diff(days, prepend=days[0] - 7.0) / 7.0
    return values, gaps


def _co2_windows(window: int):
    """Windows of ``window`` past weeks before each target, inputs and target relative to the
    window's last value (``values[t - 1]``): the level is removed, the change is forecast."""
    values, gaps = read_co2()
    targets = np.arange(CO2_WINDOW, len(values), CO2_STRIDE)
    n_train = int(round((1 - CO2_TEST_FRACTION) * len(targets)))
    seqs = [values[max(0, t - window) : t, None] - values[t - 1] for t in targets]
    dts = [gaps[max(0, t - window) : t] for t in targets]
    y = (values[targets] - values[targets - 1])[:, None].astype(np.float32)
    return pad(seqs, y, dts), n_train, len(targets)


def load_co2() -> RawData:
    """Next-week forecasting windows split by target index: first 70% train, last 30% test.

    Inputs and target are in ppm relative to each window's last value, so a forecast of the change
    has the same error as the level forecast (last value + change). Absolute levels are not used:
    the chronological test period (1988-2001) lies above every training value (trend), and bounded
    RNN units cannot extrapolate a level they never saw (measured on absolute windows, 4,000-param
    GRU / CfC: test RMSE 4.8 / 11.4 ppm against 0.54 ppm for repeating the last value)."""
    split, n_train, n = _co2_windows(CO2_WINDOW)
    return RawData(split.subset(np.arange(n_train)), split.subset(np.arange(n_train, n)),
                   [], nominal_dt=1.0, chronological=True)


def co2_horizon(factor: float):
    """The test windows stretched to ``factor`` x CO2_WINDOW past weeks, same targets (horizon shift).

    The extra weeks lie before each window (for the first test windows, in the training period:
    inputs only, the targets stay the test targets)."""
    window = int(round(CO2_WINDOW * factor))
    split, n_train, n = _co2_windows(window)
    return split.subset(np.arange(n_train, n))
