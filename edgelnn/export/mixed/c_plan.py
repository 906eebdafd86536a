"""C planner: the storage precision of each weight tensor of the generated C (float compute).

The C artifact the search starts from is the ``int8-weight`` scheme's: float32 arithmetic,
every matrix the scheme quantizes stored as int8 with its scales. A unit is one such stored
tensor (constants the generator stores once for several names -- an unrolled solver's
repeated parameters -- are one unit), and the ladder maps onto its storage:

- ``int8``: what ``int8-weight`` stores (int8, per-channel scales where a channel holds >= 32
  values, else one per tensor);
- ``int16``: int16 values with the same scale layout, still float compute: 256x finer steps for
  2 bytes an element instead of 1. The float emitter reads any stored type through the same
  dequantizing loads, so this is a per-tensor choice of the plan, not another scheme. (The
  ``int16-fixed`` scheme's int16 is something else -- integer arithmetic on int16 activations
  with calibrated power-of-two scales -- and cannot be mixed with float compute per tensor.)
- ``float``: float32, as in the ``fp32`` artifact.
Units a plan does not name are int8, so the all-int8 plan is the ``int8-weight`` artifact (only
the file name and the symbol prefix, ``<name>_auto``, differ).

Weight bytes are the generator's own count (``c.stats.const_bytes``): every ``static const``
array the source stores -- weights as stored, their scale arrays, active-entry indices, biases.
Sensitivity: with weights the only thing quantized, the error a tensor adds is measured
directly -- the C code with that one tensor at its level (all others float) against the all-float
code, each rollout of the search's sequences run through the compiled C.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from .plan import Plan, Unit
from ...runtime.integrity import sha256_file

COMPUTE = "int8-weight"           # the C scheme whose code (float compute) every candidate is
TAG = "auto"                      # file name and symbol prefix of the candidates
STORAGE = {"int8": "int8", "int16": "int16", "float": "fp32"}   # plan level -> C tensor precision


def available() -> str | None:
    from ..c import available as c_available

    return c_available()


class CPlanner:
    format = "c"
    suffix = ".c"
    int16_weight_bits = 16        # int16 stores a tensor's values in 2 bytes: lowering it saves bytes
    gate_scheme = COMPUTE         # the gate the auto artifact passes: int8-weight's, tightened

    def __init__(self, fp32_path, calibration=None, *, kind: str = "", io: dict | None = None,
                 workdir=None, model=None):
        from ..c.build import step_graph
        from ..c.generate import generate
        from ..c.schemes import get

        self.fp32_path = Path(fp32_path)
        self.graph, graph_kind = step_graph(self.fp32_path, model)
        self.kind = kind or graph_kind
        self.io = io or {"inputs": list(self.graph.inputs), "outputs": list(self.graph.outputs)}
        self.state_sizes = [int(np.prod(self.graph.shapes[n])) for n in self.graph.inputs[2:]]
        self._tmp = Path(tempfile.mkdtemp(prefix="edgelnn-auto-c-", dir=workdir))
        # what int8-weight stores: the tensors it quantizes are the units
        base = generate(self.graph, "probe", get(COMPUTE), kind=self.kind)
        fp32 = generate(self.graph, "probe", get("fp32"), kind=self.kind)
        self.fp32_weight_bytes = int(fp32.stats["const_bytes"])
        self.members: dict[str, list[str]] = {}
        self._units: list[Unit] = []
        for name, t in base.tensors.items():
            if t["precision"] != "int8":
                continue
            owner = t["shared_with"] or name
            if owner not in self.members:
                self.members[owner] = []
                self._units.append(Unit(owner, t["kernel"], "", t["elements"]))
            self.members[owner].append(name)
        self._units = [Unit(u.name, u.op, f"stored once for {len(self.members[u.name])} constants"
                            if len(self.members[u.name]) > 1 else "", u.weights) for u in self._units]
        self._built: dict[str, tuple[Plan, dict]] = {}     # candidate path -> (plan, write() result)
        self._probes: dict[tuple, float] = {}               # (unit, level) -> error added on _seqs
        self._seqs = None                                   # the sequences the probes ran on
        self._reference: np.ndarray | None = None           # their all-float outputs

    # -- the protocol -------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        return list(self._units)

    def precision(self, plan: Plan) -> dict[str, str]:
        """The C generator's per-tensor overrides of ``int8-weight``'s plan for ``plan``."""
        return {m: STORAGE[level] for unit, level in plan.raised().items() for m in self.members.get(unit, [])}

    def build(self, plan: Plan, out_path: Path, *, mcu: bool = False) -> dict:
        from ..c.build import write

        out_path = Path(out_path)
        info = write(self.graph, out_path, COMPUTE, self.kind, precision=self.precision(plan) or None,
                     mcu=mcu, tag=TAG)
        self._built[str(out_path)] = (plan, info)
        n16, nf = plan.count("int16"), plan.count("float")
        note = (f"{info['note']}; mixed precision over {COMPUTE} (float compute): "
                f"{len(self._units) - n16 - nf} int8, {n16} int16, {nf} float of {len(self._units)} weight tensors")
        return {"quantized": nf < len(self._units), "note": note, "manifest": info["manifest"]}

    def entry(self, path: Path) -> dict:
        """Manifest fields the C runtime needs to open a candidate (prefix, header)."""
        _, info = self._built[str(Path(path))]
        m = info["manifest"]
        return {"c_prefix": m["c_prefix"], "extra_files": m["extra_files"]}

    def place(self, plan: Plan, out_path: Path) -> dict:
        """Write the chosen plan under its bundle name (``<name>.step.auto.c`` and ``.h``, prefix
        ``<name>_auto``), with MCU figures: the artifact the bundle's gate then checks."""
        info = self.build(plan, out_path, mcu=True)
        return {**info, "io": self.io}

    def sensitivity(self, q_path: Path, seqs) -> dict[str, float]:
        plan, _ = self._built[str(Path(q_path))]
        all_float = {m: "fp32" for ms in self.members.values() for m in ms}
        if seqs is not self._seqs or self._reference is None:
            self._seqs, self._probes = seqs, {}
            self._reference = self._rollout(all_float, seqs)
        ref = self._reference
        span = float(ref.max() - ref.min()) if ref.size else 0.0
        scores = {}
        for u in self._units:
            level = plan.level(u.name)
            if level == "float":
                scores[u.name] = 0.0
                continue
            probe = (u.name, level)
            if probe not in self._probes:
                precision = dict(all_float)
                precision.update({m: STORAGE[level] for m in self.members[u.name]})
                out = self._rollout(precision, seqs)
                err = float(np.max(np.abs(out - ref))) if out.size else 0.0
                self._probes[probe] = err / span if span > 0 else err
            scores[u.name] = self._probes[probe]
        return scores

    def weight_bytes(self, path: Path) -> int:
        path = Path(path)
        if str(path) in self._built:
            return int(self._built[str(path)][1]["manifest"]["c"]["stats"]["const_bytes"])
        if path == self.fp32_path:
            return self.fp32_weight_bytes
        raise KeyError(f"{path.name} was not built by this planner")

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------------
    def _rollout(self, precision: dict[str, str], seqs) -> np.ndarray:
        """Outputs of the C code with ``precision`` (overrides of int8-weight's plan) on ``seqs``:
        every valid step's outputs, (steps, O)."""
        from ..c.generate import generate, make_prefix
        from ..c.schemes import get
        from ..validate import run_artifact

        folder = Path(tempfile.mkdtemp(prefix="probe-", dir=self._tmp))
        try:
            prefix = make_prefix("probe", TAG)
            c_file, header = folder / "probe.c", folder / "probe.h"
            gen = generate(self.graph, prefix, get(COMPUTE), kind=self.kind, header_name=header.name,
                           precision=precision)
            c_file.write_text(gen.source)
            header.write_text(gen.header)
            n = len(seqs)
            t = max((len(x) for x, _ in seqs), default=0)
            c = seqs[0][0].shape[-1] if seqs else 0
            x = np.zeros((n, t, c), np.float32)
            dt = np.ones((n, t), np.float32)
            lengths = np.array([len(s[0]) for s in seqs], np.int64)
            for i, (xi, dti) in enumerate(seqs):
                x[i, :len(xi)], dt[i, :len(dti)] = xi, dti
            entry = {"file": c_file.name, "format": "c", "graph": "step", "io": self.io, "c_prefix": prefix,
                     "extra_files": [{"file": header.name, "sha256": sha256_file(header)}]}
            out = run_artifact(c_file, entry, self.state_sizes, x, dt, lengths)
            mask = np.arange(t)[None, :] < lengths[:, None]
            return np.asarray(out)[mask]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
