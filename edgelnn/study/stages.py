"""The study's later stages, decided from its own *validation* results by rules fixed before the data,
the same for every model.

**Budget ladder.** On a dataset where the best model is still improving at the top budget, the
ladder gets one more rung, ``LADDER_FACTOR`` x the top budget (4,000 -> 16,000), for every model on
that dataset alike: tuned at that budget like every other, plain arm, the design's seeds. *Still
improving*: the model with the best mean validation score at the top budget (cells without a
training failure) scores better there than at the budget below by more than ``NOISE_SE`` standard
errors of the difference (seed spread of each mean; the falls-with-capacity rule's noise bound, in
the other direction). Decided once a dataset's cells at its top two budgets have finished (and any
capacity retry of theirs); at most ``design.extra_budgets`` rungs. ``edgelnn study --plan`` states
the most it can cost: every dataset extended.

**Capacity retry.** A cell flagged *falls-with-capacity* (edgelnn.study.failures: its mean
validation score falls from the next smaller budget beyond seed noise) is re-tuned once: its grid
is extended one step below the lowest rate it tried (every batch size tried, the chosen setting's
options) and scored with the rest; where the choice changes, its final runs are redone with it
(written beside the first ones, which the report lists as replaced), else the first runs stand. Only a cell tuned at its own budget is
re-tuned (a shared tuning budget would change other cells). A fall that remains is reported as a
training failure -- never a verdict.
"""
from __future__ import annotations

import math

from . import failures, search

LADDER_FACTOR = 4
NOISE_SE = failures.NOISE_SE
RETRY = "capacity"          # the marker retried trials and runs carry (TrialRecord / RunRecord ``retry``)


def _mean_se(values: list[float]) -> tuple[float, float]:
    return failures._mean_se(values)


def _ok(v) -> bool:
    return v is not None and math.isfinite(v)


def still_improving(runs: list, dataset: str, budgets: list[int]) -> dict | None:
    """The ladder rule on ``dataset``'s plain-arm runs at its two largest ``budgets``: None when it
    does not fire, else ``{"model", "below", "top", "gain", "se"}`` (the gain oriented better > 0)."""
    if len(budgets) < 2:
        return None
    below, top = sorted(budgets)[-2:]
    cells: dict[tuple, list] = {}
    for r in runs:
        if r.dataset == dataset and r.arm == "plain" and r.budget in (below, top):
            cells.setdefault((r.model, r.budget), []).append(r)
    if not cells:
        return None
    metric = next(iter(cells.values()))[0].metric
    sign = -1.0 if metric in failures.LOWER_IS_BETTER else 1.0
    scored = {}
    for (m, b), rs in cells.items():
        if any(getattr(r, "training_failure", None) for r in rs):
            continue
        vals = [float(r.val_metric) for r in rs if _ok(r.val_metric)]
        if vals:
            scored[(m, b)] = _mean_se(vals)
    tops = [(sign * mse[0], m) for (m, b), mse in scored.items() if b == top and (m, below) in scored]
    if not tops:
        return None
    _, best = max(tops)
    (m1, s1), (m0, s0) = scored[(best, top)], scored[(best, below)]
    gain, se = sign * (m1 - m0), math.hypot(s0, s1)
    if gain > NOISE_SE * se and gain > 0:
        return {"model": best, "below": below, "top": top, "gain": gain, "se": se,
                "budget": top * LADDER_FACTOR}
    return None


def ladder_text(dataset: str, why: dict) -> str:
    return (f"{dataset}: {why['model']} (best at {why['top']:,}) improved by {why['gain']:.4g} over {why['below']:,} "
            f"(> {NOISE_SE:g} SE = {NOISE_SE * why['se']:.3g}): every model also runs at {why['budget']:,}")


def retry_settings(trials: list, trial_count: int) -> list[dict]:
    """The settings a capacity retry adds to a group (its finished trial records): one grid step
    below the lowest rate tried, at every batch size tried, with the chosen setting's options."""
    rows = search.landscape(trials)
    if not rows:
        return []
    win = search.best(rows)
    new = search._round(min(r["lr"] for r in rows) / search.grid_step(max(2, trial_count)))
    sizes = list(dict.fromkeys(r["batch_size"] for r in rows))
    start = max(r["trial"] for r in rows) + 1
    ext = max(r["extension"] for r in rows)
    return [{"lr": new, "batch_size": b, "search": dict(win["search"]), "extension": ext, "trial": start + i,
             "retry": RETRY} for i, b in enumerate(sizes)]


def retried(trials: list) -> bool:
    return any(getattr(t, "retry", "") for t in trials)
