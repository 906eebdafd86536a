"""Training failures across a study's cells: the per-run rule (edgelnn.train.recipe: kept epoch <= 3,
constant output, divergence -- already retried by the job) and the cell-level one, *falls with
capacity*: a (dataset, model, arm) whose mean validation score at a budget is worse than at the
next smaller budget by more than seed noise -- ``NOISE_SE`` standard errors of the difference of
the two means (seed spread), and at least ``MIN_DROP`` of the metric. A larger model can represent
what a smaller one does, so a fall is a failure of training, not a finding. Every run of the
larger cell gets the ``falls-with-capacity`` code; the report lists it; no verdict uses it.
Validation scores only, so the rule is fixed before any test score is looked at.
"""
from __future__ import annotations

import math

from ..train.recipe import FALLS_WITH_CAPACITY

NOISE_SE = 2.0
MIN_DROP = 0.01
LOWER_IS_BETTER = {"rmse", "relative-mse"}


def _mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def falls_with_capacity(runs: list) -> set[tuple]:
    """(dataset, model, budget, arm) of every cell whose validation score falls from the next
    smaller budget beyond seed noise (module docstring)."""
    cells: dict[tuple, dict[int, list[float]]] = {}
    metric: dict[tuple, str] = {}
    for r in runs:
        v = r.val_metric
        if v is None or not math.isfinite(v):
            continue
        cells.setdefault((r.dataset, r.model, r.arm), {}).setdefault(r.budget, []).append(float(v))
        metric[(r.dataset, r.model, r.arm)] = r.metric
    out = set()
    for key, by_budget in cells.items():
        sign = -1.0 if metric[key] in LOWER_IS_BETTER else 1.0
        budgets = sorted(by_budget)
        for small, large in zip(budgets, budgets[1:]):
            (m0, s0), (m1, s1) = _mean_se(by_budget[small]), _mean_se(by_budget[large])
            drop = sign * (m0 - m1)
            if drop > MIN_DROP * (abs(m0) if sign < 0 else 1.0) and drop > NOISE_SE * math.hypot(s0, s1):
                out.add((key[0], key[1], large, key[2]))
    return out


def flag_runs(runs: list) -> set[tuple]:
    """Add ``falls-with-capacity`` to the ``training_failure`` of every run of a failing cell (in
    place; records read from disk carry only their own run's codes). Returns the failing cells."""
    failing = falls_with_capacity(runs)
    for r in runs:
        if (r.dataset, r.model, r.budget, r.arm) in failing and FALLS_WITH_CAPACITY not in r.training_failure:
            r.training_failure = [*r.training_failure, FALLS_WITH_CAPACITY]
    return failing


def failed_cells(runs: list) -> dict[tuple, list[str]]:
    """(dataset, model, budget, arm) -> the failure codes any of its runs carries (flagged cells only)."""
    out: dict[tuple, list[str]] = {}
    for r in runs:
        for code in getattr(r, "training_failure", None) or []:
            codes = out.setdefault((r.dataset, r.model, r.budget, r.arm), [])
            if code not in codes:
                codes.append(code)
    return out
