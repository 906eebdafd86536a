"""The search: the smallest artifact whose parity figures stay within the budget.

Format-agnostic: it sees units, plans and a ``Planner`` that builds artifacts, and a ``gate``
callable (the bundle's parity gate: real runtime, whole rollouts vs PyTorch). Steps:

1. full int8 (= the format's ``int8-static`` artifact). Passes -> returned unchanged.
2. rank the units by the error their op adds (teacher-forced sensitivity of step 1's
   artifact, the report's measure, taken as peak error / tensor range since the gate bounds
   the peak); raise the top k to int16 -- all of them first; when that
   passes, bisect on k for the fewest int16 ops that pass.
3. all-int16 fails -> rank again on the all-int16 artifact and move the top k to float
   (bisect on k the same way), as long as the weight bytes stay below fp32's.
4. refine: walk the best plan's raised units that hold weights once (the heaviest float
   weights first, then int16 ops whose format stores their constants wider than int8, least
   sensitive first), lowering each one rung; keep a change when it still passes; stop after
   three lowerings in a row that saved no weight bytes.
Every candidate goes through the gate; the answer is the smallest passing one by (weight
bytes, file bytes, float ops, int16 ops). Bisection assumes more precision never hurts; when
that is not so, the cost is a larger answer, never a wrong one (each candidate was gated).
The number of candidates is capped (``MAX_CANDIDATES``), not the time, so the result does
not depend on how busy the machine is. On a microcontroller target a ``cost`` callable counts
each built candidate's instructions and estimated cycles per step on the target's core (the
trace records them; the choice stays by size: every candidate runs the same compute).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..validate import Tolerance
from .plan import Plan, Planner, Unit

MAX_CANDIDATES = 24
REFINE_CANDIDATES = 6
REFINE_MISSES = 3        # the refinement stops after this many lowerings in a row saved nothing


@dataclass(frozen=True)
class Budget:
    """``--max-drop`` (task-metric points; regression: hundredths of the target's std) and
    ``--max-error`` (max error / output range). They only tighten the parity gate."""

    max_drop: float = 1.0
    max_error: float | None = None

    def __post_init__(self):
        from ...errors import InputError

        import math

        if not (math.isfinite(self.max_drop) and 0 <= self.max_drop <= 100):
            raise InputError(f"--max-drop must be a finite number of points in 0..100, got {self.max_drop}")
        if self.max_error is not None and not (math.isfinite(self.max_error) and self.max_error >= 0):
            raise InputError(f"--max-error must be a finite number >= 0, got {self.max_error}")

    def tolerance(self, gate: Tolerance) -> Tolerance:
        """The gate's bounds, tightened by the budget (never loosened)."""
        rel = gate.rel_range
        if self.max_error is not None:
            rel = self.max_error if rel is None else min(rel, self.max_error)
        drop = self.max_drop / 100.0
        metric = drop if gate.metric_delta is None else min(gate.metric_delta, drop)
        return Tolerance(max_abs=gate.max_abs, rel_range=rel, metric_delta=metric)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Candidate:
    index: int
    step: str                         # what the search tried ("full int8", "top 12 int16", ...)
    precisions: dict[str, str]        # units above int8 (all others are int8)
    passed: bool = False
    weight_bytes: int | None = None
    bytes: int | None = None
    max_abs: float | None = None
    rel_range: float | None = None
    metric_delta: float | None = None
    reason: str | None = None         # failed bound, quantizer or runtime error
    seconds: float = 0.0
    mcu_core: str | None = None       # microcontroller target: per step on its core (cost callable)
    mcu_instructions: int | None = None
    mcu_cycles: int | None = None     # estimated (edgelnn.runtime.c.cycles)
    mcu_us: float | None = None
    mcu_clock_mhz: float | None = None

    def key(self) -> tuple:
        """Smaller is better: weight bytes, file bytes, float ops, int16 ops."""
        plan = Plan(self.precisions)
        return (self.weight_bytes, self.bytes, plan.count("float"), plan.count("int16"), self.index)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchResult:
    format: str
    budget: Budget
    tolerance: Tolerance
    units: list[Unit]
    fp32_weight_bytes: int
    candidates: list[Candidate] = field(default_factory=list)
    chosen: int | None = None
    path: Path | None = None          # the chosen candidate's file (in the search's folder)
    note: str = ""                    # the chosen candidate's build note
    quantized: bool = False
    why: str = ""
    ranking: list[tuple[str, float]] = field(default_factory=list)  # unit, error added (full int8)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def best(self) -> Candidate | None:
        return None if self.chosen is None else self.candidates[self.chosen]

    def plan(self) -> Plan:
        return Plan(self.best.precisions) if self.best else Plan()

    def to_manifest(self) -> dict:
        """The manifest's ``auto`` block (layout: export/README.md)."""
        units = {u.name: u for u in self.units}
        best = self.best
        plan = self.plan()
        scores = dict(self.ranking)
        kept = [{"op": name, "type": units[name].op if name in units else "",
                 "label": units[name].label if name in units else "", "precision": level,
                 "weights": units[name].weights if name in units else 0,
                 "error_added": _r(scores.get(name))}
                for name, level in plan.raised().items()]
        return {
            "budget": self.budget.to_dict(), "tolerance": self.tolerance.to_dict(),
            "units": len(self.units),
            "precisions": {u.name: plan.level(u.name) for u in self.units} if best else {},
            "kept": kept,
            "weight_bytes": best.weight_bytes if best else None,
            "fp32_weight_bytes": self.fp32_weight_bytes,
            "weight_ratio": round(best.weight_bytes / self.fp32_weight_bytes, 4)
            if best and self.fp32_weight_bytes else None,
            "chosen": self.chosen, "why": self.why,
            "sensitivity": [{"op": n, "label": units[n].label if n in units else "", "error_added": _r(s)}
                            for n, s in self.ranking[:10]],
            "trace": [c.to_dict() for c in self.candidates], "notes": list(self.notes),
            "seconds": round(self.seconds, 2), "cpu_seconds": round(self.cpu_seconds, 2),
        }


def cpu_time() -> float:
    """CPU seconds of this process and of the children it waited for (C: the compilers)."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def _r(v):
    return None if v is None else float(f"{v:.4g}")


Gate = Callable[[Path], dict]          # path -> validate.compare() figures
Cost = Callable[[Path], dict]          # path -> {"core", "instructions", "cycles", "us", "clock_mhz"}
Progress = Callable[[str], None]


class _Search:
    def __init__(self, planner: Planner, gate: Gate, tolerance: Tolerance, fp32_weight_bytes: int,
                 folder: Path, seqs, progress: Progress | None, max_candidates: int, cost: Cost | None = None):
        self.planner, self.gate, self.tolerance, self.cost = planner, gate, tolerance, cost
        self.fp32_weight_bytes, self.folder, self.seqs = fp32_weight_bytes, folder, seqs
        self.progress, self.max_candidates = progress, max_candidates
        self.candidates: list[Candidate] = []
        self.paths: dict[int, Path] = {}
        self.infos: dict[int, dict] = {}        # build() results per candidate
        self.tried: dict[tuple, Candidate] = {}
        self.scores: dict[str, float] = {}     # the latest ranking's error per unit
        self.messages: list[str] = []         # what the manifest's auto.notes says

    @property
    def room(self) -> bool:
        return len(self.candidates) < self.max_candidates

    def best(self) -> Candidate | None:
        ok = [c for c in self.candidates if c.passed]
        return min(ok, key=Candidate.key) if ok else None

    def attempt(self, plan: Plan, step: str) -> Candidate:
        key = tuple(sorted(plan.raised().items()))
        if key in self.tried:
            return self.tried[key]
        cand = Candidate(len(self.candidates), step, plan.raised())
        started = time.perf_counter()
        path = self.folder / f"candidate-{cand.index}{Path(getattr(self.planner, 'suffix', '.bin'))}"
        try:
            info = self.planner.build(plan, path)
            cand.bytes = path.stat().st_size
            cand.weight_bytes = self.planner.weight_bytes(path)
            figures = self.gate(path)
            cand.passed = bool(figures.get("passed"))
            cand.max_abs, cand.rel_range = figures.get("max_abs"), figures.get("rel_range")
            cand.metric_delta, cand.reason = figures.get("metric_delta"), figures.get("reason")
            if cand.passed and self.fp32_weight_bytes and cand.weight_bytes >= self.fp32_weight_bytes:
                cand.passed, cand.reason = False, "not smaller than fp32 (weight bytes)"
            self.paths[cand.index], self.infos[cand.index] = path, info
            self.count(cand, path)
        except Exception as exc:  # noqa: BLE001 - a quantizer/runtime error fails this candidate only
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            cand.reason = f"{type(exc).__name__}: {text}"[:300]
            path.unlink(missing_ok=True)
        cand.seconds = round(time.perf_counter() - started, 2)
        self.candidates.append(cand)
        self.tried[key] = cand
        if self.progress:
            verdict = "passed" if cand.passed else "failed"
            err = f"err/range {cand.rel_range:.3g}, " if cand.rel_range is not None else ""
            cyc = f"{cand.mcu_cycles:,} est. cycles/step on {cand.mcu_core}, " if cand.mcu_cycles else ""
            self.progress(f"candidate {cand.index} ({step}): {err}{cyc}{verdict}")
        return cand

    def count(self, cand: Candidate, path: Path) -> None:
        """Instructions and estimated cycles per step on the target's core (when there is one);
        a failed count is a note, not a failed candidate."""
        if self.cost is None:
            return
        try:
            c = self.cost(path)
        except Exception as exc:  # noqa: BLE001 - the gate decides; the count is information
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.messages.append(f"cycle count of candidate {cand.index} failed ({type(exc).__name__}: {text[:160]})")
            return
        cand.mcu_core, cand.mcu_instructions, cand.mcu_cycles = c["core"], c["instructions"], c["cycles"]
        cand.mcu_us, cand.mcu_clock_mhz = c["us"], c["clock_mhz"]

    def ranking(self, cand: Candidate, units: list[Unit]) -> list[tuple[str, float]]:
        """Units by the error their op adds in ``cand``'s artifact; unscored ones after, in graph order."""
        scores: dict[str, float] = {}
        path = self.paths.get(cand.index)
        if path is not None and path.exists():
            try:
                scores = self.planner.sensitivity(path, self.seqs)
            except Exception as exc:  # noqa: BLE001 - no ranking is no reason to stop: graph order
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                self.messages.append(f"sensitivity of candidate {cand.index} failed ({type(exc).__name__}: "
                                  f"{text[:160]}); ops taken in graph order")
        elif self.planner is not None:
            self.messages.append(f"candidate {cand.index} has no file to rank ops on; ops taken in graph order")
        order = sorted(units, key=lambda u: -scores.get(u.name, -1.0))
        self.scores = {u.name: scores.get(u.name, 0.0) for u in units}
        return [(u.name, scores.get(u.name, 0.0)) for u in order]

    def bisect(self, base: Plan, order: list[str], level: str, lo: int, hi: int, what: str) -> None:
        """Fewest leading units of ``order`` at ``level`` that pass: prefix ``lo`` fails, ``hi`` passes."""
        while hi - lo > 1 and self.room:
            mid = (lo + hi) // 2
            if self.attempt(base.with_levels(order[:mid], level), f"top {mid} {what}").passed:
                hi = mid
            else:
                lo = mid


def search(planner: Planner, gate: Gate, budget: Budget, tolerance: Tolerance, fp32_weight_bytes: int,
           folder: Path, seqs, *, progress: Progress | None = None,
           max_candidates: int = MAX_CANDIDATES, refine: int = REFINE_CANDIDATES,
           cost: Cost | None = None) -> SearchResult:
    """Run the search; the chosen artifact (if any) is ``result.path`` inside ``folder``.
    ``cost``: per step on a microcontroller target's core, recorded per candidate."""
    wall, cpu = time.perf_counter(), cpu_time()
    folder.mkdir(parents=True, exist_ok=True)
    units = planner.units()
    names = [u.name for u in units]
    s = _Search(planner, gate, tolerance, fp32_weight_bytes, folder, seqs, progress, max_candidates, cost)
    result = SearchResult(planner.format, budget, tolerance, units, fp32_weight_bytes)

    first = s.attempt(Plan(), "full int8")
    if first.passed:
        why = "full int8 passes the gate within the budget: returned unchanged"
    else:
        ranked = s.ranking(first, units)
        result.ranking = ranked
        order = [n for n, _ in ranked]
        top = s.attempt(Plan().with_levels(order, "int16"), f"all {len(order)} int16")
        if top.passed:
            s.bisect(Plan(), order, "int16", 0, len(order), "int16")
        elif s.room:
            _float_phase(s, top, units)
        if s.best() is not None and refine:
            _refine(s, units, refine)
        why = _why(s, first)
    best = s.best()
    if best is not None:
        result.chosen, result.path = best.index, s.paths[best.index]
        info = s.infos.get(best.index, {})
        result.note, result.quantized = info.get("note", ""), bool(info.get("quantized", True))
    result.candidates, result.why, result.notes = s.candidates, why, s.messages
    result.seconds, result.cpu_seconds = time.perf_counter() - wall, cpu_time() - cpu
    return result


def _float_phase(s: _Search, top: Candidate, units: list[Unit]) -> None:
    """All-int16 failed: move the ops adding the most error (at int16) to float, fewest first."""
    base = Plan(top.precisions)
    ranked = s.ranking(top, units)
    order = [n for n, _ in ranked]
    weights = {u.name: u.weights for u in units}
    # the longest prefix that leaves some weights integer (all of them float = the fp32 artifact)
    total = sum(weights.values())
    hi, spent = 0, 0
    for n in order:
        if total and spent + weights[n] >= total:
            break
        spent += weights[n]
        hi += 1
    if hi == 0 or not s.room:
        return
    if s.attempt(base.with_levels(order[:hi], "float"), f"top {hi} float").passed:
        s.bisect(base, order, "float", 0, hi, "float")


def _refine(s: _Search, units: list[Unit], budget: int) -> None:
    """Walk the best plan's raised units once, lowering each one rung and keeping the change
    when the candidate still passes without more weight bytes: float units with the most
    weights first (they cost the most), then int16 units, least sensitive first."""
    weights = {u.name: u.weights for u in units}
    score = dict(s.scores)
    lower = {"float": "int16", "int16": "int8"}
    current = s.best()
    plan = Plan(current.precisions)
    # only a change that can save weight bytes is worth a candidate: float weights, and int16
    # ops whose format stores their constants wider than int8 (``int16_weight_bits``)
    wide16 = getattr(s.planner, "int16_weight_bits", 8) > 8
    options = sorted(((u, lvl) for u, lvl in plan.raised().items()
                      if weights.get(u, 0) and (lvl == "float" or wide16)),
                     key=lambda kv: (kv[1] != "float", -weights.get(kv[0], 0), score.get(kv[0], 0.0), kv[0]))
    misses = 0
    for unit, level in options[:budget]:
        if not s.room or misses >= REFINE_MISSES:
            return
        cand = s.attempt(plan.with_levels([unit], lower[level]), f"refine: {unit} {level} -> {lower[level]}")
        if cand.passed and cand.weight_bytes <= current.weight_bytes:
            misses = 0 if cand.weight_bytes < current.weight_bytes else misses + 1
            current, plan = cand, Plan(cand.precisions)
        else:
            misses += 1


def _why(s: _Search, first: Candidate) -> str:
    best = s.best()
    if best is None:
        tried = len(s.candidates)
        return (f"no candidate of {tried} passed the gate within the budget (full int8: "
                f"{first.reason or 'failed'})")
    plan = Plan(best.precisions)
    smaller = [c for c in s.candidates if c.weight_bytes is not None and best.weight_bytes is not None
               and c.key() < best.key() and not c.passed]
    text = (f"smallest passing candidate of {len(s.candidates)}: {plan.describe()}, "
            f"{best.weight_bytes} weight bytes ({best.weight_bytes / s.fp32_weight_bytes:.2f} of fp32), "
            f"err/range {best.rel_range}, metric change {best.metric_delta}")
    if smaller:
        c = min(smaller, key=Candidate.key)
        text += f"; the next smaller ({Plan(c.precisions).describe()}) failed: {c.reason}"
    return text
