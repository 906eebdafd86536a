"""The study's test metrics, one entry per name a run record can carry in ``RunRecord.metric``.

Everything the claims need to know about a metric lives here: its direction, how the metric
follows from the mean of the per-item scores, the unit a difference is reported in, and what a
model that learned nothing scores (the floor robustness is normalised by). A new metric is one
entry in ``METRICS``; the claims, the gates and the report read it from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..metrics import RELATIVE_MSE, mean_baseline_items


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    from_mean: Callable  # mean per-item score (array or float) -> the metric
    scale: float         # a difference is reported in metric units x scale (accuracy: points)
    unit: str            # the unit of a scaled difference
    digits: int          # how many decimals a scaled difference is shown with
    chance: str          # how the floor is found: "classes" (1 / number of classes), "one"
    #                      (a relative metric whose baseline is 1), "none" (no floor known)
    doc: str
    within_abs: float | None = None  # "within 1 point of the best": this much in metric units
    #                                  (None: 1 % of the best, for a metric with units)
    label: str = ""      # the metric's name in report text (default: its registry name)


def _identity(m):
    return m


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", True, _identity, 100.0, "points", 1, "classes",
           "per item 1 / 0 correct; the metric is their mean", within_abs=0.01),
    Metric("rmse", False, np.sqrt, 1.0, "RMSE", 3, "none",
           "per item the squared error in original units; the metric is the root of their mean", label="RMSE"),
    Metric(RELATIVE_MSE, False, _identity, 100.0, "% of the baseline MSE", 1, "one",
           "per item the squared error over the MSE of predicting the test split's mean "
           "(edgelnn.metrics.relative_mse); the metric is their mean: 0 perfect, 1 no better than the mean; "
           "the study's regression claims use it", within_abs=0.01, label="relative MSE"),
)}

# What a regression study's records carry (RMSE from per-item squared errors) and what its
# claims are made on: the scale-free relative MSE (the per-item squared errors over a constant).
REGRESSION_RECORDED, REGRESSION_CLAIMED = "rmse", RELATIVE_MSE


def get(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown study metric {name!r} (known: {', '.join(METRICS)})") from None


def goodness(name: str) -> Callable:
    """Mean per-item score -> a 'higher is better' value (the metric, or minus it)."""
    m = get(name)
    sign = 1.0 if m.higher_is_better else -1.0
    return lambda mean: sign * m.from_mean(mean)


def chance(name: str, dataset: str) -> float | None:
    """The metric of a model that learned nothing on ``dataset`` (None: not known).

    Classification: 1 / number of classes (uniform guessing; from the dataset registry, no data
    loaded). A relative metric (baseline = 1): 1."""
    m = get(name)
    if m.chance == "one":
        return 1.0
    if m.chance == "classes":
        try:
            from ..data import get_info

            k = get_info(dataset).output_size
        except (ValueError, ImportError):
            return None
        return 1.0 / k if k and k > 1 else None
    return None


def baseline_mse(dataset: str) -> tuple[float, int]:
    """(MSE of predicting the test split's mean, in original units; number of test items) of a
    registered regression dataset -- the divisor of the relative MSE (the test split is fixed)."""
    from ..data import load

    ds = load(dataset, seed=0)
    items = mean_baseline_items(ds.test.y, ds.target_std)
    return float(items.mean()), int(items.size)
