"""Equal tuning, per (dataset, model, budget): every model gets the same grid, the same seeds per
setting and the same extension rule; settings are scored on validation data only.

**Grid.** ``trials`` learning rates evenly spaced in log space over ``LR_RANGE`` (1e-4 .. 1e-1;
four rates: one a decade), crossed with the batch sizes ``BATCH_FACTORS`` x the dataset's batch
(the recipe's, edgelnn.train.recipe.default_batch_size, unless the design sets one). A kind with
its own option (CfC: the backbone's width as a multiple of the units) pairs the settings with the
option's values in a fixed interleaved order, so each value meets low and high rates.

**Score.** A setting's score is its mean validation loss over the tuning seeds. A setting any of
whose runs the failure rule flags (edgelnn.train.recipe) or that diverged is never chosen while an
unflagged one exists. Lowest score wins; ties go to the earlier setting.

**Extension.** When the winning rate is the lowest or the highest rate tried, the grid is extended
one grid step beyond that edge (every batch size, the winner's kind options) and the group is
scored again -- at most ``MAX_EXTENSIONS`` times. The same rule for every model; the records say
which settings came from an extension (``TrialRecord.extension``).
"""
from __future__ import annotations

import math

LR_RANGE = (1e-4, 1e-1)
BATCH_FACTORS = (0.5, 1.0)   # x the dataset's batch size
MAX_EXTENSIONS = 2
# A kind's own options that tuning explores. ``backbone_ratio``: CfC backbone width = ratio x
# units (rounded, >= 2); the sizing (budget.fit) solves for units with the width scaling along.
KIND_OPTIONS: dict[str, dict[str, tuple]] = {
    "cfc": {"backbone_ratio": (1.0, 2.0, 4.0)},
}
QUICK_LR = None  # a single rate (--trials 1): the kind's recipe rate (edgelnn.train.recipe.default_lr)


def learning_rates(trials: int) -> list[float]:
    """``trials`` rates evenly spaced in log space over LR_RANGE (one: an empty list, meaning the
    kind's recipe rate)."""
    if trials == 1:
        return []
    lo, hi = (math.log(v) for v in LR_RANGE)
    return [_round(math.exp(lo + (hi - lo) * k / (trials - 1))) for k in range(trials)]


def grid_step(trials: int) -> float:
    """The ratio between neighbouring rates of the grid (a decade for four rates)."""
    return (LR_RANGE[1] / LR_RANGE[0]) ** (1.0 / max(1, trials - 1))


def _round(lr: float) -> float:
    return float(f"{lr:.3g}")


def batch_sizes(base: int, factors=BATCH_FACTORS) -> list[int]:
    """The batch sizes tried: ``base`` x each factor, at least 2, without repeats, in order."""
    out = []
    for f in factors:
        b = max(2, int(round(base * f)))
        if b not in out:
            out.append(b)
    return out


def trial_settings(model: str, trials: int, base_batch: int, factors=BATCH_FACTORS) -> list[dict]:
    """The settings of the base grid, in trial order: ``{"lr", "batch_size", "search"}``."""
    from ..train.recipe import default_lr

    rates = learning_rates(trials) or [default_lr(model)]
    sizes = batch_sizes(base_batch, factors) if trials > 1 else [base_batch]
    options = KIND_OPTIONS.get(model, {})
    out = []
    for lr in rates:
        for b in sizes:
            k = len(out)
            search = {}
            for name, values in options.items():
                order = _interleaved(values)
                search[name] = order[k % len(order)] if trials > 1 else values[len(values) // 2]
            out.append({"lr": lr, "batch_size": b, "search": search, "extension": 0})
    return out


def _interleaved(values: tuple) -> list:
    """(a, b, c) -> [b, a, c]: the middle first, then the ends, so two trials see two values."""
    mid = len(values) // 2
    rest = [v for i, v in enumerate(values) if i != mid]
    return [values[mid], *rest]


# -- scoring and the extension rule ----------------------------------------------------------------
def _loss(t) -> float:
    v = t.val_loss
    return float("inf") if v is None or v != v else float(v)


def _flagged(t) -> bool:
    return bool(getattr(t, "diverged", False) or getattr(t, "training_failure", None))


def landscape(trials: list) -> list[dict]:
    """Per setting (trial index): its settings, mean validation loss and metric over its seeds,
    whether any seed was flagged, and its extension round -- in trial order."""
    by: dict[int, list] = {}
    for t in trials:
        by.setdefault(t.trial, []).append(t)
    rows = []
    for k in sorted(by):
        ts = by[k]
        h = ts[0].hparams
        losses = [_loss(t) for t in ts]
        vals = [t.val_metric for t in ts if t.val_metric is not None and t.val_metric == t.val_metric]
        rows.append({"trial": k, "lr": h["lr"], "batch_size": h.get("batch_size"),
                     "search": {n: h[n] for n in h if n not in _NOT_SEARCH},
                     "val_loss": sum(losses) / len(losses), "val_metric": sum(vals) / len(vals) if vals else None,
                     "seeds": len(ts), "val_items": sum(getattr(t, "val_items", 0) or 0 for t in ts),
                     "flagged": any(_flagged(t) for t in ts),
                     "extension": getattr(ts[0], "extension", 0), "retry": getattr(ts[0], "retry", "")})
    return rows


_NOT_SEARCH = ("lr", "options", "max_epochs", "patience", "batch_size")


def best(rows: list[dict]) -> dict:
    """The winning setting of a landscape (module docstring: the score)."""
    healthy = [r for r in rows if not r["flagged"] and math.isfinite(r["val_loss"])]
    pool = healthy or rows
    return min(pool, key=lambda r: (r["val_loss"], r["trial"]))


def extension(rows: list[dict], trials: int, max_extensions: int = MAX_EXTENSIONS) -> list[dict]:
    """The settings to add when the winner's rate lies on the edge of the rates tried (empty:
    none, or the extension budget is spent). One rule for every model (module docstring)."""
    if trials < 2 or not rows:
        return []
    done = max(r["extension"] for r in rows)
    if done >= max_extensions:
        return []
    win = best(rows)
    rates = sorted({r["lr"] for r in rows})
    step = grid_step(trials)
    if win["lr"] == rates[0]:
        new = _round(rates[0] / step)
    elif win["lr"] == rates[-1]:
        new = _round(rates[-1] * step)
    else:
        return []
    sizes = []
    for r in rows:
        if r["batch_size"] not in sizes:
            sizes.append(r["batch_size"])
    start = max(r["trial"] for r in rows) + 1
    return [{"lr": new, "batch_size": b, "search": dict(win["search"]), "extension": done + 1, "trial": start + i}
            for i, b in enumerate(sizes)]


def choose(trials: list) -> dict:
    """The chosen settings of a group of trial records (``best`` of its landscape)."""
    win = best(landscape(trials))
    return {"lr": win["lr"], "batch_size": win["batch_size"], "search": dict(win["search"]),
            "trial": win["trial"], "extensions": max(r["extension"] for r in landscape(trials))}


def describe(models: list[str], trials: int, seeds: int = 1, factors=BATCH_FACTORS,
             max_extensions: int = MAX_EXTENSIONS) -> str:
    """One sentence for the report: what the search covers."""
    rates = learning_rates(trials)
    extra = "; ".join(f"{m}: {name} in {{{', '.join(f'{v:g}' for v in vals)}}}"
                      for m in models for name, vals in KIND_OPTIONS.get(m, {}).items())
    if not rates:
        return ("1 setting per model: its recipe learning rate and the dataset's batch size "
                f"({seeds} seed(s)); no search.")
    return (f"{len(rates) * len(factors)} settings per (dataset, model, budget): the learning rates "
            f"{{{', '.join(f'{lr:g}' for lr in rates)}}} x batch sizes {{{', '.join(f'{f:g}' for f in factors)}}} "
            f"x the dataset's, {seeds} seed(s) each, scored by mean validation loss (a setting with a flagged "
            f"training failure is never chosen while another exists)"
            + (f", paired with a kind's own options ({extra})" if extra else "")
            + f". When the winning rate is on the grid's edge, the grid is extended one step (x{grid_step(trials):.3g}) "
              f"beyond it, at most {max_extensions} times, for every model alike.")
