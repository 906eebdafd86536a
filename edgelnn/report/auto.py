"""The ``--quant auto`` section: each search's size / error frontier and why its pick won.

Read from the bundles' manifests (``auto`` block of the auto artifact, or of its ``rejected``
entry when nothing passed): every candidate the search built, its weight bytes and parity
figures; the frontier = candidates no other candidate beats on both weight bytes and error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import EdgeLNNError
from ..runtime.bundle import read_manifest
from .doc import Image, Section, Table, Text
from .plots import _colors, _png, pareto, plt
from .rows import Row


@dataclass
class AutoSearch:
    bundle: str
    model: str
    dataset: str
    format: str
    passed: bool
    block: dict                                  # the manifest's auto block
    trace: list[dict] = field(default_factory=list)

    @property
    def chosen(self) -> dict | None:
        i = self.block.get("chosen")
        return self.trace[i] if i is not None and 0 <= i < len(self.trace) else None

    def ratio(self, cand: dict) -> float | None:
        fp32 = self.block.get("fp32_weight_bytes")
        wb = cand.get("weight_bytes")
        return None if not fp32 or wb is None else wb / fp32

    def frontier(self) -> set[int]:
        """Candidates not beaten on both weight bytes and err/range (lower is better for both)."""
        pts = [(i, c["weight_bytes"], c["rel_range"]) for i, c in enumerate(self.trace)
               if c.get("weight_bytes") is not None and c.get("rel_range") is not None]
        front = pareto([(w, r) for _, w, r in pts], higher_is_better=False)
        return {pts[k][0] for k in front}


def collect(rows: list[Row], find: Callable[[str], Path | None]) -> list[AutoSearch]:
    """The searches behind the bundles in ``rows`` (``find(bundle name)`` -> folder or None)."""
    out, seen = [], set()
    for r in rows:
        if r.bundle in seen:
            continue
        seen.add(r.bundle)
        folder = find(r.bundle)
        if folder is None:
            continue
        try:
            manifest = read_manifest(folder)
        except (EdgeLNNError, OSError, ValueError):
            continue
        kept = manifest.get("artifacts", [])
        for entry in kept + manifest.get("rejected", []):
            block = entry.get("auto")
            if entry.get("scheme") != "auto" or not isinstance(block, dict):
                continue
            out.append(AutoSearch(r.bundle, r.model, r.dataset, entry.get("format", ""), entry in kept, block,
                                  list(block.get("trace", []))))
    return out


def _n(v, spec=".3g") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _raised(precisions: dict) -> str:
    n16 = sum(p == "int16" for p in precisions.values())
    nf = sum(p == "float" for p in precisions.values())
    return f"{n16} / {nf}"


def frontier_plot(searches: list[AutoSearch]) -> bytes | None:
    """Weight bytes (x fp32) vs err/range of every candidate; passed filled, chosen starred."""
    usable = [s for s in searches if any(c.get("rel_range") is not None for c in s.trace)]
    if not usable:
        return None
    colors = _colors([f"{s.model} {s.format}" for s in usable])
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    bounds = set()
    for s in usable:
        key = f"{s.model} {s.format}"
        pts = [(s.ratio(c), c["rel_range"], c) for c in s.trace
               if s.ratio(c) is not None and c.get("rel_range") is not None]
        for x, y, c in pts:
            ax.scatter([x], [max(y, 1e-6)], s=30, color=colors[key],
                       facecolors=colors[key] if c.get("passed") else "none", zorder=3)
        front = sorted((pts[i][0], max(pts[i][1], 1e-6)) for i in range(len(pts))
                       if s.trace.index(pts[i][2]) in s.frontier())
        if front:
            ax.plot(*zip(*front), color=colors[key], linewidth=1, label=f"{key} ({s.bundle})")
        best = s.chosen
        if best is not None and s.ratio(best) is not None:
            ax.scatter([s.ratio(best)], [max(best["rel_range"], 1e-6)], marker="*", s=160,
                       color=colors[key], edgecolors="black", zorder=4)
        bound = (s.block.get("tolerance") or {}).get("rel_range")
        if bound:
            bounds.add(bound)
    for b in bounds:
        ax.axhline(b, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("weight bytes (x fp32 artifact)")
    ax.set_ylabel("max error / output range (parity gate)")
    ax.set_title("--quant auto: every candidate (filled = passed, star = chosen, dashed = bound)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def auto_section(searches: list[AutoSearch]) -> Section | None:
    if not searches:
        return None
    blocks = [Text(
        "Each `--quant auto` search, per bundle and format: every candidate the search built and put "
        "through the parity gate (int16 / float = ops kept above int8; all others int8), its weight bytes "
        "(stored constants, quantization parameters included, elements × bits) against the fp32 artifact's, and its gate figures. "
        "**front** = on the size / error frontier (no other candidate has fewer weight bytes *and* less "
        "error); **chosen** = the smallest candidate that passed within the budget. On a microcontroller "
        "target every candidate also carries its instructions per step on the target's core (qemu "
        "instruction trace, exact) and the estimated cycles (the core's documented timings, zero wait "
        "states; see the microcontroller table); the choice is by size, not cycles.")]
    png = frontier_plot(searches)
    if png:
        blocks.append(Image("plots/auto_frontier.png", png, "auto search frontier"))
    summary = []
    for s in searches:
        best, budget = s.chosen, s.block.get("budget") or {}
        tol = s.block.get("tolerance") or {}
        summary.append([s.model, s.bundle, s.format, "passed" if s.passed else "nothing passed",
                        f"{budget.get('max_drop', '–')} pts, err ≤ {_n(tol.get('rel_range'))}",
                        _raised(best["precisions"]) if best else "–",
                        _n(s.ratio(best), ".2f") if best else "–", _n(best["rel_range"]) if best else "–",
                        str(len(s.trace)), f"{_n(s.block.get('seconds'), '.1f')} ({_n(s.block.get('cpu_seconds'), '.1f')})",
                        s.block.get("why", "")])
    blocks.append(Table("auto-searches", ["model", "bundle", "format", "result", "budget", "int16 / float ops",
                                          "weight × fp32", "err/range", "candidates", "search s (CPU s)", "why"],
                        summary))
    for s in searches:
        front, chosen = s.frontier(), s.block.get("chosen")
        core = next((c["mcu_core"] for c in s.trace if c.get("mcu_core")), None)
        mcu_cols = [f"instr/step ({core})", f"est. cycles/step ({core})", "µs @ clock"] if core else []
        body, classes = [], []
        for i, c in enumerate(s.trace):
            mark = ", ".join(m for m, on in (("chosen", i == chosen), ("front", i in front)) if on)
            mcu = [_n(c.get("mcu_instructions"), ","), _n(c.get("mcu_cycles"), ","),
                   f"{_n(c.get('mcu_us'), ',.0f')} @ {c.get('mcu_clock_mhz'):g} MHz" if c.get("mcu_us") is not None
                   and c.get("mcu_clock_mhz") else "–"] if core else []
            body.append([str(i), c.get("step", ""), _raised(c.get("precisions", {})), _n(s.ratio(c), ".3f"),
                         _n((c.get("bytes") or 0) / 1024 if c.get("bytes") else None, ".1f"), _n(c.get("rel_range")),
                         _n(c.get("metric_delta"), "+.3f"), *mcu, "passed" if c.get("passed") else "failed", mark,
                         c.get("reason") or ""])
            classes.append("passed" if c.get("passed") else "rejected")
        kept = "; ".join(f"{k.get('label') or k['op']} ({k['type']}) {k['precision']}"
                         for k in s.block.get("kept", [])[:12])
        blocks.append(Table(f"auto-{s.bundle}-{s.format}",
                            ["#", "candidate", "int16 / float", "weight × fp32", "KiB", "err/range",
                             "Δ metric (worse +)", *mcu_cols, "gate", "", "reason"], body, row_classes=classes,
                            caption=f"{s.model} {s.format} ({s.bundle}): {s.block.get('why', '')}"
                                    + (f". Kept above int8: {kept}" if kept else "")))
    return Section("Mixed-precision search (--quant auto)", blocks)
