"""Microcontroller figures of C artifacts, read from result rows or bundle manifests.

The one reader the report and the study use for flash / static RAM / worst-case stack / state:
``mcu_figures(rows)`` (bench rows, dicts or report ``Row``s) or ``mcu_figures(bundle_path)``
(a bundle folder or its manifest dict) -> one ``McuFigures`` per (artifact, core). The figures
live in each C artifact's ``footprint["mcu"]`` (``edgelnn.schema.mcu_of``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..schema import mcu_of


@dataclass
class McuFigures:
    bundle: str
    model: str
    artifact: str
    scheme: str
    core: str                   # e.g. "cortex-m4"
    api: str                    # "float" (<prefix>_step) or "integer" (<prefix>_step_q)
    flash_bytes: int            # text + rodata (+ data image) the artifact adds
    ram_static_bytes: int       # data + bss it adds
    stack_bytes: int            # worst-case stack of that API
    state_bytes: int            # caller-owned state of that API
    fits: bool | None = None    # within the target profile's reference part (bench rows only)
    stack_measured_bytes: int | None = None   # painted stack on the emulated board (bench rows)
    instructions: int | None = None   # executed per step (qemu trace; bench rows)
    cycles: int | None = None         # estimated per step (edgelnn.runtime.c.cycles)
    clock_mhz: float | None = None
    us: float | None = None           # cycles at clock_mhz

    @property
    def ram_bytes(self) -> int:
        return self.ram_static_bytes + self.stack_bytes + self.state_bytes

    def to_dict(self) -> dict:
        return {**asdict(self), "ram_bytes": self.ram_bytes}


def _from_entry(bundle: str, model: str, entry: dict, figs: dict, cores=None) -> list[McuFigures]:
    out = []
    for core, f in sorted((figs or {}).items()):
        if cores and core not in cores:
            continue
        q = f.get("integer_api")
        integer = bool(q) and (f.get("deployed_api", "").startswith("integer") or core == "cortex-m0plus")
        use = q if integer else f
        cost = f.get("step_cost") or {}
        out.append(McuFigures(bundle, model, entry.get("file") or entry.get("artifact") or "", entry.get("scheme", ""),
                              core, "integer" if integer else "float", int(use["flash_bytes"]),
                              int(f.get("ram_static_bytes", 0)), int(use["stack_bytes"]), int(use["state_bytes"]),
                              f.get("fits"), f.get("stack_measured_bytes"), cost.get("instructions"),
                              cost.get("cycles"), cost.get("clock_mhz"), cost.get("us")))
    return out


def mcu_figures(source) -> list[McuFigures]:
    """Figures from result rows (list of dicts or report Rows), a bundle folder, or a manifest."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        manifest = json.loads((path / "manifest.json" if path.is_dir() else path).read_text())
        return mcu_figures(manifest)
    if isinstance(source, dict):                       # a manifest
        name, model = source.get("name", ""), (source.get("model") or {}).get("kind", "")
        out = []
        for e in source.get("artifacts", []):
            if e.get("format") == "c":
                out += _from_entry(name, model, e, mcu_of(e))
        return out
    seen, out = set(), []
    for row in source:                                 # result rows: MCU targets first (fits, measured stack)
        raw = row if isinstance(row, dict) else row.raw
        if raw.get("format") != "c" or not mcu_of(raw):
            continue
        for f in _from_entry(raw.get("bundle", ""), raw.get("model", ""), raw, mcu_of(raw)):
            key = (f.bundle, f.artifact, f.core)
            if key in seen:
                continue
            seen.add(key)
            out.append(f)
    out.sort(key=lambda f: (f.model, f.bundle, f.artifact, f.core))
    return out
