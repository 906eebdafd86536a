"""Which artifact to deploy: the smallest, then fastest, artifact within an accuracy budget.

The rule (also printed in every report, see :data:`RULE`):

1. Candidates: rows with status ``passed`` whose drop vs fp32 is at most the budget
   (accuracy: points lost; RMSE: percent of the fp32 RMSE gained). Nothing else is ever chosen.
2. Smallest file wins; among candidates within ``SLACK`` (10 %) of the smallest file, the
   lowest p50 latency per step wins; among those within 10 % of that latency (timing noise),
   the most accurate.
3. Across models (the per-target pick), the most accurate of the per-model picks wins; among
   those within the budget of it, the smallest (then fastest) one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .rows import HIGHER_IS_BETTER, Row

SLACK = 0.10  # sizes / latencies closer than this count as equal

RULE = (
    "Only artifacts with status *passed* whose accuracy drop vs fp32 is within the budget are "
    "candidates (drop = accuracy points lost; for RMSE, percent of the fp32 RMSE gained). "
    "The smallest file wins (on a microcontroller target: the smallest flash); among candidates within "
    "10% of the smallest size, the lowest p50 "
    "latency per step wins; among those within 10% of that latency, the most accurate. Per target, the most accurate of the per-model "
    "picks wins; among picks within the budget of it, the smallest (then fastest)."
)


@dataclass
class Recommendation:
    target: str
    model: str  # "" for the per-target pick across models
    row: Row | None
    reason: str
    candidates: int = 0
    passed_over: list[tuple[Row, str]] = field(default_factory=list)  # smaller rows and why not


def _inf(value) -> float:
    return math.inf if value is None else value


def exclusion(row: Row, budget: float) -> str | None:
    """Why ``row`` may not be recommended, or None when it is a candidate."""
    if row.status != "passed":
        return row.status_label
    if row.file_grew:
        return f"file grew under quantization ({row.file_ratio:.2f}x fp32's)"
    if row.drop is None:
        return "no accuracy measured"
    if row.drop > budget + 1e-9:
        return f"drop {points(row.drop)} > budget {budget:g}"
    return None


def _pick(cands: list[Row]) -> Row:
    smallest = min(_inf(r.size_bytes) for r in cands)
    near = [r for r in cands if _inf(r.size_bytes) <= smallest * (1 + SLACK)]
    fastest = min(_inf(r.step_p50_us) for r in near)
    quick = [r for r in near if _inf(r.step_p50_us) <= fastest * (1 + SLACK)]
    sign = -1.0 if HIGHER_IS_BETTER.get(quick[0].metric, True) else 1.0
    return min(quick, key=lambda r: (sign * r.accuracy, _inf(r.step_p50_us), _inf(r.size_bytes), r.bundle))


def points(value: float | None) -> str:
    """A drop in points, 2 decimals, never '-0.00'."""
    return "–" if value is None else f"{(round(value, 2) or 0.0):.2f}"


def _describe(row: Row) -> str:
    if row.flash_bytes is not None:          # a microcontroller target: flash and RAM, no latency
        ram = f", RAM {row.mcu_ram_bytes} B (stack {row.stack_bytes}, state {row.mcu_state_bytes})" \
            if row.mcu_ram_bytes is not None else ""
        return f"flash {row.flash_bytes / 1024:.1f} KiB{ram}, drop {points(row.drop)}"
    size = f"{row.size_bytes / 1024:.1f} KiB" if row.size_bytes is not None else "size ?"
    ratio = f" (weights {row.size_ratio:.2f}x fp32's)" if row.size_ratio is not None else ""
    lat = f", p50 {row.step_p50_us:.1f} us/step" if row.step_p50_us is not None else ""
    return f"{size}{ratio}{lat}, drop {points(row.drop)}"


def recommend_one(rows: list[Row], budget: float, target: str, model: str) -> Recommendation:
    """Apply steps 1-2 of the rule to the rows of one target (and model)."""
    cands = [r for r in rows if exclusion(r, budget) is None]
    if not cands:
        return Recommendation(target, model, None,
                              f"no artifact passed within the {budget:g}-point budget", 0,
                              [(r, exclusion(r, budget) or "") for r in rows])
    pick = _pick(cands)
    smaller = sorted((r for r in rows if r.size_bytes is not None and pick.size_bytes is not None
                      and r.size_bytes < pick.size_bytes and exclusion(r, budget)),
                     key=lambda r: r.size_bytes)
    reason = f"smallest passed artifact within the {budget:g}-point budget: {_describe(pick)}"
    if smaller:
        reason += "; smaller but excluded: " + "; ".join(
            f"{r.artifact or r.scheme} ({exclusion(r, budget)})" for r in smaller[:3])
    return Recommendation(target, model, pick, reason, len(cands),
                          [(r, exclusion(r, budget) or "") for r in smaller])


def recommend(rows: list[Row], budget: float = 1.0) -> tuple[list[Recommendation], list[Recommendation]]:
    """(per target x model picks, per target picks across models)."""
    per_model, overall = [], []
    for target in sorted({r.target for r in rows}):
        trows = [r for r in rows if r.target == target]
        picks = [recommend_one([r for r in trows if r.model == m], budget, target, m)
                 for m in sorted({r.model for r in trows})]
        per_model += picks
        overall.append(_across_models(picks, budget, target))
    return per_model, overall


def _across_models(picks: list[Recommendation], budget: float, target: str) -> Recommendation:
    chosen = [p.row for p in picks if p.row is not None]
    if not chosen:
        return Recommendation(target, "", None, "no model has a passed artifact within budget")
    higher = HIGHER_IS_BETTER.get(chosen[0].metric, True)
    sign = 1.0 if higher else -1.0
    best = max(chosen, key=lambda r: sign * r.accuracy)
    if higher:
        close = [r for r in chosen if (best.accuracy - r.accuracy) * 100 <= budget + 1e-9]
    else:
        close = [r for r in chosen if (r.accuracy - best.accuracy) / max(best.accuracy, 1e-12) * 100
                 <= budget + 1e-9]
    pick = min(close, key=lambda r: (_inf(r.size_bytes), _inf(r.step_p50_us)))
    reason = (f"{pick.model}: {pick.metric} {pick.accuracy:.4f}"
              + (f", within {budget:g} points of the most accurate pick ({best.model}, "
                 f"{best.accuracy:.4f})" if pick is not best else ", the most accurate pick")
              + f"; {_describe(pick)}")
    if len(close) > 1:
        reason += f"; smallest of {len(close)} picks within budget of the best"
    return Recommendation(target, "", pick, reason, len(chosen))
