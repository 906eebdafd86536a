"""``--param-budget``: pick each model's units so its parameter count lands near a budget.

Builds untrained models with ``edgelnn.models.create`` and counts parameters; no training.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError  # a ValueError that the CLI shows as one line

MAX_UNITS = 512


@dataclass
class UnitsChoice:
    model: str
    units: int
    params: int
    budget: int


def param_count(kind: str, input_size: int, output_size: int, units: int) -> int | None:
    """Parameters of ``kind`` at ``units``, or None when the model cannot be built that small."""
    from ..models import create

    try:
        return create(kind, input_size, output_size, units=units).param_count()
    except Exception:  # noqa: BLE001 - e.g. an NCP wiring needs more neurons than outputs + 2
        return None


def units_for_budget(kind: str, input_size: int, output_size: int, budget: int) -> UnitsChoice:
    """The units whose parameter count is closest to ``budget`` (counts grow with units)."""
    lo = next((u for u in range(1, 64) if param_count(kind, input_size, output_size, u) is not None), None)
    if lo is None:
        raise InputError(f"cannot build {kind!r} for {input_size} inputs / {output_size} outputs")
    hi = lo
    while hi < MAX_UNITS and (param_count(kind, input_size, output_size, hi) or 0) < budget:
        hi = min(MAX_UNITS, hi * 2)
    while hi - lo > 1:  # invariant: count(lo) < budget <= count(hi) (or hi == MAX_UNITS)
        mid = (lo + hi) // 2
        if (param_count(kind, input_size, output_size, mid) or 0) < budget:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda u: abs((param_count(kind, input_size, output_size, u) or 0) - budget))
    return UnitsChoice(kind, best, param_count(kind, input_size, output_size, best) or 0, budget)
