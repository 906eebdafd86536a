"""ONNX planner: onnxruntime's ``quantize_static`` (QDQ) with per-node precision.

- int8: what ``int8-static`` does (``quant_pre_process``, U8 activations / S8 weights, MinMax
  over the same rollout steps, ``reduce_range`` as decided for the target);
- int16: the node's activation tensors (inputs it reads, outputs it writes) get a
  ``TensorQuantOverrides`` entry ``quant_type=QInt16`` with ``INT16_HEADROOM`` x the calibrated
  range (onnxruntime then writes opset 21, whose QuantizeLinear takes int16); a tensor shared
  by an int8 and an int16 node is int16;
- float: ``nodes_to_exclude``.
The calibration runs once (``calibration_cache_path``); each candidate only re-quantizes.
"""
from __future__ import annotations

import contextlib
import inspect
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..onnx.quantize import QUANTIZED_FRACTION, STATIC_CALIBRATION_STEPS, _quiet, int8_settings
from ..footprint import weight_bytes
from .plan import INT16_HEADROOM, Plan, Unit, unit_scores


def available() -> str | None:
    try:
        from onnxruntime.quantization import quantize_static
    except ImportError as exc:
        return f"onnxruntime is not installed ({exc}): pip install onnxruntime"
    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        return ("--quant auto for onnx needs an onnxruntime whose quantize_static takes "
                "calibration_cache_path: pip install -U onnxruntime")
    return None


def _widened(lo: float, hi: float, factor: float) -> tuple[float, float]:
    mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0 * factor
    return mid - half, mid + half


class OnnxPlanner:
    format = "onnx"
    suffix = ".onnx"
    int16_weight_bits = 8       # only activation tensors are overridden: weights stay int8

    def __init__(self, fp32_path, calibration, *, reduce_range: bool | None = None, kind: str = "",
                 io: dict | None = None, workdir=None):
        import onnx
        from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
        from onnxruntime.quantization.shape_inference import quant_pre_process

        self.fp32_path, self.calibration, self.kind = Path(fp32_path), calibration, kind
        self.settings = int8_settings(reduce_range)
        self.io = io
        self._tmp = Path(tempfile.mkdtemp(prefix="edgelnn-auto-onnx-", dir=workdir))
        self.pre = self._tmp / "pre.onnx"
        self.cache = self._tmp / "calibration.json"
        with _quiet():
            quant_pre_process(str(self.fp32_path), str(self.pre), skip_symbolic_shape=False)
        proto = onnx.load(str(self.pre))
        from ..sensitivity.onnx_tensors import node_labels

        labels = node_labels(proto, kind)
        inits = {i.name: int(np.prod(i.dims)) if len(i.dims) else 1 for i in proto.graph.initializer}
        quantizable = set(QDQRegistry) | set(QLinearOpsRegistry)
        self.input_names = [i.name for i in proto.graph.input if i.name not in inits]
        self._units: list[Unit] = []
        self._tensors: dict[str, list[str]] = {}       # unit -> activation tensors it touches
        self._unit_of_output: dict[str, str] = {}
        for node in proto.graph.node:
            if node.op_type not in quantizable:
                continue
            name = node.name or node.output[0]
            weights = sum(inits[i] for i in node.input if i in inits and inits[i] >= 16)
            self._units.append(Unit(name, node.op_type, labels.get(node.output[0], ""), weights))
            self._tensors[name] = [t for t in [*node.input, *node.output] if t and t not in inits]
            for o in node.output:
                self._unit_of_output[o] = name
        self._ranges: dict[str, tuple[float, float]] | None = None

    # -- the protocol -------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        return list(self._units)

    def build(self, plan: Plan, out_path: Path) -> dict:
        import onnx
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        out_path = Path(out_path)
        excluded = [u for u, p in plan.levels.items() if p == "float"]
        overrides = self._overrides(plan)
        options = {"ForceQuantizeNoInputCheck": False}
        if overrides:
            options["TensorQuantOverrides"] = overrides
        with _quiet():
            quantize_static(str(self.pre), str(out_path), self.calibration.reader(self.input_names,
                                                                                   limit=STATIC_CALIBRATION_STEPS),
                            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, reduce_range=self.settings["reduce_range"],
                            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded or None,
                            extra_options=options, calibration_cache_path=str(self.cache))
        note = (f"quant_pre_process + quantize_static QDQ U8S8 MinMax over "
                f"{min(self.calibration.steps, STATIC_CALIBRATION_STEPS)} rollout steps of "
                f"{self.calibration.sequences} sequences, reduce_range={self.settings['reduce_range']} "
                f"({self.settings['why']}); mixed precision: {plan.describe()}"
                + (f" (int16: {INT16_HEADROOM:g}x calibrated range)" if plan.count("int16") else ""))
        from ..onnx.inspect import reduced_fraction, weight_storage

        fraction = reduced_fraction(weight_storage(onnx.load(str(out_path))), "int8-static")
        note += f"; {fraction:.0%} of weight elements integer"
        return {"quantized": fraction >= QUANTIZED_FRACTION, "note": note}

    def sensitivity(self, q_path: Path, seqs) -> dict[str, float]:
        from ..sensitivity import analyse_pair

        io = self.io or {"inputs": self.input_names, "outputs": self._outputs()}
        entry = {"io": io}
        tensors, _, _ = analyse_pair("onnx", self.pre, q_path, entry, entry, seqs, self.kind)
        return unit_scores(tensors, lambda t: self._unit_of_output.get(t.tensor or t.name))

    def weight_bytes(self, path: Path) -> int:
        return weight_bytes(path, "onnx")

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------------
    def _outputs(self) -> list[str]:
        import onnx

        return [o.name for o in onnx.load(str(self.pre), load_external_data=False).graph.output]

    def ranges(self) -> dict[str, tuple[float, float]]:
        """Calibrated (min, max) per activation tensor (from the calibration cache; written by the
        first build)."""
        if self._ranges is None:
            from onnxruntime.quantization.calibrate import load_tensors_data

            if not self.cache.is_file():
                raise RuntimeError("the int8 plan must be built first (it writes the calibration cache)")
            data = load_tensors_data(self.cache)
            self._ranges = {k: (float(np.ravel(v.range_value[0])[0]), float(np.ravel(v.range_value[1])[0]))
                            for k, v in data.data.items()}
        return self._ranges

    def _overrides(self, plan: Plan) -> dict:
        from onnxruntime.quantization import QuantType

        wide = sorted({t for u, p in plan.levels.items() if p == "int16" for t in self._tensors.get(u, [])})
        if not wide:
            return {}
        if not self.cache.is_file():  # ranges come from the cache: calibrate with the int8 plan first
            with tempfile.TemporaryDirectory() as tmp:
                self.build(Plan(), Path(tmp) / "int8.onnx")
        ranges = self.ranges()
        out = {}
        for t in wide:
            if t not in ranges:
                continue
            lo, hi = _widened(*ranges[t], INT16_HEADROOM)
            out[t] = [{"quant_type": QuantType.QInt16, "rmin": np.float32(lo), "rmax": np.float32(hi)}]
        return out


@contextlib.contextmanager
def planner(fp32_path, calibration, **options):
    p = OnnxPlanner(fp32_path, calibration, **options)
    try:
        yield p
    finally:
        p.close()
