"""What the mixed-precision search manipulates: units (ops), their precision, and the protocol
a format implements to take part (``Planner``).

A *unit* is one op of the step graph that the format's quantizer can quantize (an ONNX node,
a TFLite operator, a C kernel). A *plan* gives each unit one rung of the ladder ``LEVELS``:

- ``int8``: the format's full-integer scheme as is (calibrated min/max ranges, int8 weights);
- ``int16``: 16-bit activations with ``INT16_HEADROOM`` x the calibrated range, int8 weights
  (a16w8): calibration rollouts never reach every state a recurrent model visits, and 16 bits
  keep 64x int8's resolution even over 4x the range;
- ``float``: the op is left in float (its weights too).
Units a plan does not name are int8, so the all-int8 plan is exactly the ``int8-static`` artifact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

LEVELS = ("int8", "int16", "float")
INT16_HEADROOM = 4.0


@dataclass(frozen=True)
class Unit:
    """One op the plan sets: ``name`` is stable within the file (node name, op index + type)."""

    name: str
    op: str                 # op type as the format calls it (Gemm, FULLY_CONNECTED, ...)
    label: str = ""         # readable layer name when one is known
    weights: int = 0        # elements of the constant tensors it consumes (>= 16 elements)


@dataclass(frozen=True)
class Plan:
    """Precision per unit; units not listed are int8."""

    levels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        bad = {u: p for u, p in self.levels.items() if p not in LEVELS}
        if bad:
            from ...errors import InputError

            raise InputError(f"unknown precision(s) {bad}; use {', '.join(LEVELS)}")

    def level(self, unit: str) -> str:
        return self.levels.get(unit, "int8")

    def raised(self) -> dict[str, str]:
        """The units above int8 (what the trace records per candidate)."""
        return {u: p for u, p in self.levels.items() if p != "int8"}

    def count(self, level: str) -> int:
        return sum(1 for p in self.levels.values() if p == level)

    def with_levels(self, units, level: str) -> "Plan":
        return Plan({**self.levels, **{u: level for u in units}})

    def describe(self) -> str:
        n16, nf = self.count("int16"), self.count("float")
        if not n16 and not nf:
            return "all int8"
        return ", ".join(p for p in (f"{n16} int16" if n16 else "", f"{nf} float" if nf else "") if p)


@runtime_checkable
class Planner(Protocol):
    """What a format offers the search (ONNX: ``onnx_plan``, TFLite: ``tflite_plan``; a new
    format registers its planner in ``edgelnn.export.mixed.PLANNERS``)."""

    format: str
    suffix: str                 # file extension of its artifacts
    int16_weight_bits: int      # bits the int16 level stores an op's constants in (8: unchanged)

    def units(self) -> list[Unit]:
        """Every op the plan can set, in graph order."""

    def build(self, plan: Plan, out_path: Path) -> dict:
        """Write the artifact of ``plan``; returns {"quantized": bool, "note": str}. Raises on a
        quantizer error (the search records the candidate as failed and goes on)."""

    def sensitivity(self, q_path: Path, seqs) -> dict[str, float]:
        """Unit -> error added at that op in the artifact ``q_path`` vs fp32 (teacher-forced
        replay of ``seqs`` = [(x[T, C], dt[T])]); {} when the format cannot say."""

    def weight_bytes(self, path: Path) -> int:
        """Weight bytes of an artifact of this format (``edgelnn.export.footprint.weight_bytes``)."""

    def close(self) -> None:
        """Remove temporary files."""


def unit_scores(tensors, unit_of: Callable[[object], str | None]) -> dict[str, float]:
    """Per unit, the largest error its output activations add under full int8 (the peak over the
    rollout where measured): the search's ranking, the same for every format's sensitivity."""
    import math

    scores: dict[str, float] = {}
    for t in tensors:
        unit = unit_of(t)
        value = t.added_peak if t.added_peak is not None else t.added
        if t.kind == "activation" and unit is not None and value is not None and math.isfinite(value):
            scores[unit] = max(scores.get(unit, 0.0), float(value))
    return scores
