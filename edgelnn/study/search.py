"""Equal tuning: every model gets the same number of trials over the same learning rates, plus
its kind's own options where it has them; trials are scored on validation data only.

Trial k of K uses the k-th of K learning rates spaced evenly in log space over ``LR_RANGE`` --
the same K rates for every model, so no model gets a finer search. A kind with its own option
(CfC: the backbone's width, as a multiple of the units so it means the same at every budget)
pairs the rates with the option's values in a fixed interleaved order.
"""
from __future__ import annotations

import math

LR_RANGE = (3e-3, 1e-1)
# A kind's own options that tuning explores. ``backbone_ratio``: CfC backbone width = ratio x
# units (rounded, >= 2); the sizing (budget.fit) solves for units with the width scaling along.
KIND_OPTIONS: dict[str, dict[str, tuple]] = {
    "cfc": {"backbone_ratio": (1.0, 2.0, 4.0)},
}
QUICK_LR = 0.0173  # a single trial (--trials 1): the range's geometric middle


def learning_rates(trials: int) -> list[float]:
    """K rates evenly spaced in log space over LR_RANGE (one trial: QUICK_LR)."""
    if trials == 1:
        return [QUICK_LR]
    lo, hi = (math.log(v) for v in LR_RANGE)
    return [float(f"{math.exp(lo + (hi - lo) * k / (trials - 1)):.3g}") for k in range(trials)]


def trial_settings(model: str, trials: int) -> list[dict]:
    """The settings of each trial: ``{"lr": ..., "search": {option: value}}`` in trial order.

    Option values are interleaved with the rates (trial k gets value ``order[k % n]`` with
    ``order`` alternating ends and middle) so each value meets low and high rates.
    """
    rates = learning_rates(trials)
    options = KIND_OPTIONS.get(model, {})
    out = []
    for k, lr in enumerate(rates):
        search = {}
        for name, values in options.items():
            order = _interleaved(values)
            search[name] = order[k % len(order)] if trials > 1 else values[len(values) // 2]
        out.append({"lr": lr, "search": search})
    return out


def _interleaved(values: tuple) -> list:
    """(a, b, c) -> [b, a, c]: the middle first, then the ends, so two trials see two values."""
    mid = len(values) // 2
    rest = [v for i, v in enumerate(values) if i != mid]
    return [values[mid], *rest]


def describe(models: list[str], trials: int) -> str:
    """One sentence for the report: what the search covers."""
    rates = ", ".join(f"{lr:g}" for lr in learning_rates(trials))
    extra = "; ".join(f"{m}: {name} in {{{', '.join(f'{v:g}' for v in vals)}}}"
                      for m in models for name, vals in KIND_OPTIONS.get(m, {}).items())
    return (f"{trials} trial(s) per model over the learning rates {{{rates}}}"
            + (f", paired with a kind's own options ({extra})" if extra else "") + ".")
