"""Named datasets users can pick on the command line; ``load`` returns a ready Dataset."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from ..errors import InputError
from .dynamics import PENDULUM_LENGTH, load_pendulum, pendulum_horizon
from .events import load_digits_events
from .loaders import CO2_STRIDE, CO2_WINDOW, co2_horizon, load_co2, load_uea
from .prepare import RawData, build
from .synthetic import irregular_sine_horizon, load_irregular_sine
from .types import Dataset, Split

UEA = "UEA/UCR time series archive (Bagnall et al. 2018), files from the aeon 1.6.0 wheel (BSD-3-Clause)"


class UnknownDatasetError(InputError):
    """Raised by ``load`` for a name not in DATASETS."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, before loading it (sizes are of the files: train includes val)."""

    name: str
    task: str
    input_size: int
    output_size: int
    n_train: int
    n_test: int
    min_length: int
    max_length: int
    description: str
    source: str
    loader: Callable[[], RawData]
    val_fraction: float = 0.2  # default share of train carved out as val
    # horizon(factor) -> the raw test items (same order, same targets) at factor x their length;
    # None where the data cannot be extended (horizon_note says why).
    horizon: Callable[[float], Split] | None = None
    horizon_note: str = ""
    chronological: bool = False  # time-ordered: val is the end of train (RawData.chronological), never a fold


_INFOS = [
    DatasetInfo("basicmotions", "classification", 6, 4, 40, 40, 100, 100,
                "Smart-watch 3D accelerometer + 3D gyroscope, 4 activities; 10 s at 10 Hz "
                "(real dt 0.1 s, stored as nominal dt 1.0).", f"BasicMotions; {UEA}",
                partial(load_uea, "BasicMotions"),
                horizon_note="each recording is one fixed 10 s session; nothing longer exists"),
    DatasetInfo("japanesevowels", "classification", 12, 9, 270, 370, 7, 29,
                "12 LPC cepstrum coefficients of 9 male speakers saying /ae/; variable length "
                "7-29, zero-padded to 29.", f"JapaneseVowels (Kudo, Toyama, Shimbo 1999); {UEA}",
                partial(load_uea, "JapaneseVowels"),
                horizon_note="an utterance has its own length; a longer vowel cannot be made up"),
    DatasetInfo("italypowerdemand", "classification", 1, 2, 67, 1029, 24, 24,
                "Hourly Italian electricity demand for one day: Oct-Mar (1) vs Apr-Sep (2).",
                f"ItalyPowerDemand (Keogh et al., UCR archive); {UEA}",
                partial(load_uea, "ItalyPowerDemand"),
                horizon_note="a sample is one day of 24 hourly readings; a day has no 25th hour"),
    DatasetInfo("co2", "regression", 1, 1, 761, 326, CO2_WINDOW, CO2_WINDOW,
                f"Weekly Mauna Loa CO2 1958-2001, missing weeks dropped (dt in weeks, >1 at gaps); "
                f"{CO2_WINDOW}-sample windows predict the next sample, stride {CO2_STRIDE}, inputs and "
                "target relative to the window's last sample (ppm; the change is forecast); "
                "chronological: first 70% of windows train (last 15% of those = val), last 30% test.",
                "Keeling & Whorf 2004 (SIO/CDIAC), public domain; statsmodels 0.15 datasets.co2",
                load_co2, val_fraction=0.15, horizon=co2_horizon, chronological=True,
                horizon_note="longer windows (more past weeks) ending at the same test targets"),
    DatasetInfo("irregular-sine", "classification", 2, 3, 600, 300, 64, 64,
                "Synthetic noisy sin/cos pairs in 3 frequency bands, sampled at irregular times "
                "(dt mean 1, CV 0.5, partly per-sequence so dt is needed to tell bands apart).",
                "Synthetic (edgelnn.data.synthetic.make_irregular_sine)", load_irregular_sine,
                horizon=irregular_sine_horizon,
                horizon_note="the generator draws the test items (class, frequency, rate) at a longer length"),
    DatasetInfo("double-pendulum", "regression", 5, 4, 500, 500, PENDULUM_LENGTH, PENDULUM_LENGTH,
                "Simulated driven, damped double pendulum at irregular times (dt CV 0.5): predict elbow "
                "and tip positions (m) 0.2 s after the last observation. A physical-dynamics task like "
                f"Walker2d kinematic modelling; inputs: {PENDULUM_LENGTH} observations of the 4 positions "
                "and the drive torque, dt mean 1 = 0.1 s; one trajectory per sequence.",
                "Synthetic (edgelnn.data.dynamics: numpy RK4, 10 ms step; train seed 0, test seed 1)",
                load_pendulum, horizon=pendulum_horizon,
                horizon_note="longer observation windows of the same test trajectories ending at the same time"),
    DatasetInfo("digits-events", "classification", 2, 10, 600, 1197, 16, 36,
                "Handwritten 8x8 digits read as events by a raster-scanning sensor: a pixel with ink "
                ">= 4/16 fires (intensity, column); its row is only in the irregular dt (ticks since "
                "the previous event); 16-36 events.",
                "UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak 1998, CC BY 4.0), "
                "the copy in the scikit-learn 1.6.1 wheel; events: edgelnn.data.events",
                load_digits_events,
                horizon_note="an 8x8 image has no more rows to scan"),
]
DATASETS: dict[str, DatasetInfo] = {info.name: info for info in _INFOS}


def names() -> list[str]:
    """Known dataset names, in registry order."""
    return list(DATASETS)


def get_info(name: str) -> DatasetInfo:
    """DatasetInfo for ``name`` (case-insensitive), else UnknownDatasetError listing known names."""
    key = name.strip().lower()
    if key not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(names())}")
    return DATASETS[key]


def load(name: str, seed: int = 0, val_fraction: float | None = None, folds: int | None = None) -> Dataset:
    """Load ``name`` with val carved from train (seeded; None = the dataset's default fraction).
    ``folds`` k: val is fold ``seed % k`` of a k-fold partition of train drawn with ``seed // k``
    (the fraction is then 1/k; time-ordered data keep their last rows: ``DatasetInfo.chronological``)."""
    info = get_info(name)
    if folds is not None and (not isinstance(folds, int) or folds < 2):
        raise InputError(f"folds must be a whole number >= 2, got {folds!r}")
    frac = info.val_fraction if val_fraction is None else val_fraction
    if not 0.0 <= frac < 1.0:
        raise InputError(f"val_fraction must be in [0, 1), got {frac}")
    return build(info.loader(), name=info.name, task=info.task, seed=seed, val_fraction=frac,
                 description=info.description, source=info.source, folds=folds)
