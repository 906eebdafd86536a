"""Size a model for a parameter budget, counted in *active* parameters (masked synapses excluded).

Models are compared at matched capacity: each kind gets the units (and, for CfC, the backbone
width) whose active parameter count lands nearest the budget. Counts come from building the
model itself, never from a formula per kind, so a change in a cell cannot make sizing lie.

Policies where units alone cannot reach a budget:
- ``cfc``: its backbone (64 units by default) alone exceeds small budgets. Unless
  ``backbone_units`` is given, the backbone scales with the units, ``backbone ≈ backbone_ratio ×
  units`` (``backbone_ratio`` 2.0 = the zoo's default shape, 32 units on a 64 backbone), and is
  then adjusted within a factor 1.5 of that to land nearest the budget (the units alone step too
  coarsely at ~250 parameters). With ``backbone_units`` given it stays fixed and only the units
  move; a budget the fixed backbone alone exceeds is reported, not hit.
- ``cfc-ncp`` / ``ltc-ncp`` (AutoNCP wiring): the wiring needs at least 4 neurons (motor
  neurons + an inter and a command layer; the motor layer is 0.3 x units, read by a linear head),
  and every input channel feeds it, so its smallest model can exceed a small budget: reported as
  a reason, and stated up front by :func:`minimum_size` (``BudgetFit.smallest_active``).
  Checkpoint-era configs without ``motor_fraction`` keep one motor neuron per output (more
  neurons than outputs + 2 needed).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from .registry import get_kind

TOLERANCE = 0.15          # a fit is "within" when |active - budget| <= 15 % of the budget
MAX_UNITS = 2048
DEFAULT_BACKBONE_RATIO = 2.0
BACKBONE_BAND = 1.5       # cfc: backbone kept within [ratio/1.5, ratio*1.5] x units


@dataclass(frozen=True)
class BudgetFit:
    """The model ``size_for_budget`` chose: build it with ``create(kind, ..., units=units,
    **options)``. ``within`` = active parameters inside ±15 % of the budget; else ``reason``."""

    kind: str
    units: int
    params_active: int
    params_total: int
    budget: int
    within: bool
    reason: str | None = None
    options: dict = field(default_factory=dict)
    smallest_units: int | None = None    # the smallest buildable model of this kind and options ...
    smallest_active: int | None = None   # ... and its active parameters (NCP: its minimum size)

    @property
    def deviation(self) -> float:
        """(active - budget) / budget."""
        return (self.params_active - self.budget) / self.budget

    def to_dict(self) -> dict:
        return asdict(self)


class _Counter:
    """Active/total counts of (units, options), cached; None when the model cannot be built."""

    def __init__(self, kind: str, input_size: int, output_size: int, options: dict):
        self.kind, self.input_size, self.output_size, self.options = kind, input_size, output_size, options
        self.cache: dict = {}

    def __call__(self, units: int, **extra) -> tuple[int, int] | None:
        key = (units, tuple(sorted(extra.items())))
        if key not in self.cache:
            self.cache[key] = self._count(units, {**self.options, **extra})
        return self.cache[key]

    def _count(self, units: int, options: dict) -> tuple[int, int] | None:
        from .sequence import create

        with torch.random.fork_rng(devices=[]):  # create() seeds torch: leave the caller's RNG alone
            try:
                model = create(self.kind, self.input_size, self.output_size, units=units, **options)
            except (ValueError, AssertionError, IndexError):  # e.g. an NCP wiring too small for its outputs
                return None
        return model.active_param_count(), model.param_count()

    def active(self, units: int, **extra) -> int | None:
        c = self(units, **extra)
        return None if c is None else c[0]


def _smallest_units(count: _Counter, **extra) -> int | None:
    return next((u for u in range(1, 256) if count(u, **extra) is not None), None)


def _nearest_units(count: _Counter, budget: int, lo: int, **extra) -> int:
    """Units whose active count is nearest ``budget`` (counts grow with units, not always strictly:
    a random wiring can step back a little, so the neighbourhood of the bisection is scanned)."""
    hi = lo
    while hi < MAX_UNITS and (count.active(hi, **extra) or 0) < budget:
        hi = min(MAX_UNITS, hi * 2)
    left = lo
    while hi - left > 1:  # invariant: count(left) < budget <= count(hi) (or hi == MAX_UNITS)
        mid = (left + hi) // 2
        if (count.active(mid, **extra) or 0) < budget:
            left = mid
        else:
            hi = mid
    around = [u for u in range(max(lo, left - 3), min(MAX_UNITS, hi + 3) + 1) if count(u, **extra) is not None]
    return min(around, key=lambda u: (abs(count.active(u, **extra) - budget), u))


def _nearest_width(count: _Counter, units: int, budget: int, lo: int, hi: int) -> int:
    """cfc: the backbone width in [lo, hi] whose count at ``units`` is nearest ``budget``."""
    a, b = lo, hi
    while b - a > 1:
        mid = (a + b) // 2
        if count.active(units, backbone_units=mid) < budget:
            a = mid
        else:
            b = mid
    return min((a, b), key=lambda w: (abs(count.active(units, backbone_units=w) - budget), w))


def _fit_cfc(count: _Counter, budget: int, ratio: float) -> tuple[int, dict]:
    def width(u: int, r: float = ratio) -> int:
        return max(1, round(r * u))

    # 1. units with the backbone at the ratio; 2. per neighbouring units, the backbone within the
    # band that lands nearest; ties prefer the width closest to the ratio.
    u0 = _nearest_units_scaled(count, budget, width)
    best = None
    for u in range(max(1, u0 - 1), u0 + 2):
        lo, hi = width(u, ratio / BACKBONE_BAND), width(u, ratio * BACKBONE_BAND)
        w = _nearest_width(count, u, budget, lo, hi)
        key = (abs(count.active(u, backbone_units=w) - budget), abs(math.log(w / (ratio * u))))
        if best is None or key < best[0]:
            best = (key, u, w)
    return best[1], {"backbone_units": best[2]}


def _nearest_units_scaled(count: _Counter, budget: int, width) -> int:
    hi = 1
    while hi < MAX_UNITS and count.active(hi, backbone_units=width(hi)) < budget:
        hi *= 2
    lo = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count.active(mid, backbone_units=width(mid)) < budget:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda u: abs(count.active(u, backbone_units=width(u)) - budget))


@dataclass(frozen=True)
class MinimumSize:
    """The smallest model of a kind for given input/output sizes (a budget below
    ``params_active`` cannot be met by it)."""

    kind: str
    units: int
    params_active: int
    params_total: int

    def to_dict(self) -> dict:
        return asdict(self)


def minimum_size(kind: str, input_size: int, output_size: int, **options) -> MinimumSize:
    """The smallest buildable ``kind`` (an NCP wiring needs >= 4 neurons; every kind needs its
    input and output maps) and its active parameter count. Raises ValueError if none builds."""
    get_kind(kind)
    return _minimum(_Counter(kind, input_size, output_size, options), kind, options)


def _minimum(count: _Counter, kind: str, options: dict) -> MinimumSize:
    extra = {"backbone_units": 1} if kind == "cfc" and "backbone_units" not in options else {}
    units = _smallest_units(count, **extra)
    if units is None:
        raise ValueError(f"cannot build {kind!r} for {count.input_size} inputs / {count.output_size} "
                         f"outputs with options {options}")
    active, total = count(units, **extra)
    return MinimumSize(kind, units, active, total)


def size_for_budget(kind: str, input_size: int, output_size: int, budget: int, *,
                    backbone_ratio: float | None = None, **options) -> BudgetFit:
    """The units (and options) of ``kind`` whose active parameter count is nearest ``budget``.

    ``options`` are the kind's own (e.g. ``mode="pure"``, ``backbone_units=32`` for cfc) and are
    kept fixed; ``backbone_ratio`` (cfc only) sets backbone width / units when ``backbone_units``
    is not given (default 2.0). Never raises for a budget it cannot hit: ``within`` is False and
    ``reason`` says why. Raises ValueError for an unknown kind/option or a budget < 1.
    """
    spec = get_kind(kind)
    if budget < 1:
        raise ValueError(f"budget must be a positive number of parameters, got {budget}")
    unknown = set(options) - set(spec.defaults) - {"motor_neurons"}
    if unknown:
        raise ValueError(f"unknown option(s) for {kind!r}: {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(spec.defaults) or 'none'}")
    scaled = (kind == "cfc" and "backbone_units" not in options
              and int(options.get("backbone_layers", spec.defaults.get("backbone_layers", 1))) > 0)
    if backbone_ratio is not None and not scaled:
        raise ValueError("backbone_ratio applies to cfc without a fixed backbone_units (and backbone_layers > 0)")
    ratio = DEFAULT_BACKBONE_RATIO if backbone_ratio is None else float(backbone_ratio)
    if ratio <= 0:
        raise ValueError(f"backbone_ratio must be > 0, got {ratio}")
    count = _Counter(kind, input_size, output_size, options)
    if scaled:
        units, extra = _fit_cfc(count, budget, ratio)
        smallest = 1
    else:
        smallest = _smallest_units(count)
        if smallest is None:
            raise ValueError(f"cannot build {kind!r} for {input_size} inputs / {output_size} outputs "
                             f"with options {options}")
        units, extra = _nearest_units(count, budget, smallest), {}
    active, total = count(units, **extra)
    within = abs(active - budget) <= TOLERANCE * budget
    reason = None
    if not within:
        reason = _reason(kind, count, units, extra, smallest, active, budget, output_size, options, scaled)
    least = _minimum(count, kind, options)
    return BudgetFit(kind, units, active, total, int(budget), within, reason, {**options, **extra},
                     least.units, least.params_active)


def _wiring(kind: str, options: dict) -> str:
    spec = get_kind(kind)
    return str(options.get("wiring", spec.defaults.get("wiring", "ncp" if "sparsity" in spec.defaults else "fc")))


def _reason(kind, count, units, extra, smallest, active, budget, output_size, options, scaled) -> str:
    lo, hi = budget * (1 - TOLERANCE), budget * (1 + TOLERANCE)
    if active > hi and units == smallest:
        if _wiring(kind, options) == "ncp":
            return (f"the NCP wiring's smallest model ({smallest} units: motor, inter and command "
                    f"layers) has {active} active parameters, over {budget} + 15 %")
        if kind == "cfc" and not scaled:
            return (f"the fixed backbone (backbone_units={options['backbone_units']}) alone exceeds the "
                    f"budget: {smallest} unit(s) already has {active} active parameters")
        return f"the smallest {kind} ({smallest} unit(s)) already has {active} active parameters"
    if active < lo and units >= MAX_UNITS:
        return f"{MAX_UNITS} units (the sizing limit) give only {active} active parameters"
    step = [count.active(u, **extra) for u in (units - 1, units + 1) if u >= 1 and count(u, **extra)]
    return (f"no units value lands within ±15 % of {budget}: {units} units give {active}, "
            f"neighbours {', '.join(map(str, step))}")
