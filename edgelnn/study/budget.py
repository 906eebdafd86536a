"""Size every model to a parameter budget by *active* parameters (``edgelnn.models.size_for_budget``).

A trial's search values that shape the model (CfC's ``backbone_ratio``) go to the sizing, which
turns them into the kind's options (``backbone_units``) at each budget.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@lru_cache(maxsize=1024)
def _fit(kind: str, input_size: int, output_size: int, budget: int, search: tuple):
    from ..models import size_for_budget

    return size_for_budget(kind, input_size, output_size, int(budget), **dict(search))


def fit_budget(kind: str, input_size: int, output_size: int, budget: int, search: dict | None = None):
    """``BudgetFit`` of ``kind`` at ``budget`` with a trial's search values (e.g. backbone_ratio)."""
    return _fit(kind, int(input_size), int(output_size), int(budget), tuple(sorted((search or {}).items())))


@dataclass
class UnitsChoice:
    """The old ``--param-budget`` answer (kept for callers of ``units_for_budget``)."""

    model: str
    units: int
    params: int
    budget: int


def units_for_budget(kind: str, input_size: int, output_size: int, budget: int) -> UnitsChoice:
    """The units whose active parameter count is nearest ``budget``."""
    f = fit_budget(kind, input_size, output_size, budget)
    return UnitsChoice(kind, f.units, f.params_active, budget)
