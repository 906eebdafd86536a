"""The competence gate: published accuracies of the shipped classification datasets.

A comparison between two models on a dataset says something about the models only if the
training is competent there. Each model's best cell is chosen by its *validation* accuracy (mean
over seeds, any budget and arm), and that validation accuracy is put beside the best published
figure (the test accuracy of the same cell is shown, never gated on: choosing on test data would
let the outcome decide what is assessed); a pair where *neither* side comes within
``GATE_POINTS`` of it is "not assessable" on that dataset -- the study reports it, it issues no
verdict on it. Datasets without a published figure (synthetic, regression) are not gated; the
report says so.

Every figure below was read from the results file named in ``source`` (test accuracy on the
archive's default train/test split).
"""
from __future__ import annotations

from dataclasses import dataclass

GATE_POINTS = 3.0


@dataclass(frozen=True)
class Published:
    dataset: str
    method: str
    accuracy: float
    source: str


PUBLISHED: tuple[Published, ...] = (
    Published("italypowerdemand", "ROCKET", 0.9696,
              "Dempster et al. 2020; github.com/angus924/rocket results/results_ucr.csv (mean of 10 runs: 0.96958)"),
    Published("italypowerdemand", "InceptionTime", 0.968,
              "Fawaz et al. 2020; github.com/hfawaz/InceptionTime results-InceptionTime-85.csv (0.96793)"),
    Published("italypowerdemand", "FCN", 0.96,
              "Fawaz et al. 2019; github.com/hfawaz/dl-4-tsc results/results-ucr.csv (0.96, two decimals)"),
    Published("italypowerdemand", "MLP", 0.95,
              "Fawaz et al. 2019; github.com/hfawaz/dl-4-tsc results/results-ucr.csv (0.95, two decimals)"),
    Published("basicmotions", "InceptionTime", 1.00,
              "Fawaz et al. 2020; github.com/hfawaz/InceptionTime results-mts.csv (1.0)"),
    Published("japanesevowels", "FCN", 0.993,
              "Fawaz et al. 2019; github.com/hfawaz/dl-4-tsc results/results-mts-avg-std.csv (99.3, mean of 10 runs)"),
    Published("japanesevowels", "InceptionTime", 0.992,
              "Fawaz et al. 2020; github.com/hfawaz/InceptionTime results-mts.csv (0.99189)"),
)

NO_FIGURE = {  # datasets shipped without a published figure, and why
    "irregular-sine": "no published figure (synthetic dataset of this package)",
    "co2": "no published figure (regression; the gate applies to classification accuracy)",
}


def published(dataset: str) -> list[Published]:
    """Published figures for ``dataset``, best first."""
    return sorted((p for p in PUBLISHED if p.dataset == dataset), key=lambda p: -p.accuracy)


def best_published(dataset: str) -> Published | None:
    figs = published(dataset)
    return figs[0] if figs else None


def no_figure_reason(dataset: str) -> str:
    return NO_FIGURE.get(dataset, "no published figure in edgelnn.study.competence")


def competent(dataset: str, best_accuracy: float | None, points: float = GATE_POINTS) -> bool | None:
    """Within ``points`` of the best published accuracy? (The study passes a validation accuracy.)
    None: the dataset has no figure."""
    ref = best_published(dataset)
    if ref is None:
        return None
    if best_accuracy is None:
        return False
    return best_accuracy >= ref.accuracy - points / 100 - 1e-12


def assessable(dataset: str, best_a: float | None, best_b: float | None,
               points: float = GATE_POINTS) -> tuple[bool, str]:
    """Can a comparison of two models on ``dataset`` carry a verdict? (yes/no, why)."""
    ref = best_published(dataset)
    if ref is None:
        return True, f"gate not applied: {no_figure_reason(dataset)}"
    ca, cb = competent(dataset, best_a, points), competent(dataset, best_b, points)
    if ca or cb:
        return True, f"within {points:g} points of {ref.method} {ref.accuracy:.3f}"
    return False, (f"not assessable: neither model comes within {points:g} points of the published "
                   f"{ref.accuracy:.3f} ({ref.method})")
