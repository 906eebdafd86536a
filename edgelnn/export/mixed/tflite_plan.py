"""TFLite planner: ai-edge-quantizer recipes scoped to single ops.

- int8: the ``int8-static`` recipe (a8w8, per-tensor weights, true min/max ranges);
- int16: that op's scope (its output tensor names, as ai-edge-quantizer matches them) gets
  a16w8 and its activation tensors ``INT16_HEADROOM`` x the calibrated range. Weights stay
  per-tensor, as at int8: per-channel parameters (``int16x8-static``'s choice) cost a float32
  scale and an int64 zero point per output channel, which at these sizes outweighs the gain
  (LSTM-32 on BasicMotions, all ops int16: per-channel err/range 0.13 at 0.62 of fp32's weight
  bytes, per-tensor 0.18 at 0.34; CfC-NCP 0.12 at 0.57 vs 0.023 at 0.35);
- float: ``NO_QUANTIZE`` for that op's scope.
Calibration (true min/max of every tensor over the rollouts) runs once; each candidate only
re-quantizes. ai-edge-quantizer 0.10 mis-wires graph outputs when neighbouring ops differ in
precision (a graph output left int8/int16, the signature pointing at another tensor);
``_float_outputs`` points every output back at a float32 tensor holding its value.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..footprint import weight_bytes
from .plan import INT16_HEADROOM, Plan, Unit, unit_scores


def available() -> str | None:
    from ..tflite import available as tflite_available

    return tflite_available()


def _has_data(model, tensor) -> bool:
    buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buf is not None and ((buf.data is not None and len(buf.data) > 0) or (buf.size or 0) > 0)


class TFLitePlanner:
    format = "tflite"
    suffix = ".tflite"
    int16_weight_bits = 16      # a16w8 stores the constant operands of elementwise ops as int16

    def __init__(self, fp32_path, calibration, *, kind: str = "", io: dict | None = None,
                 int16_channelwise: bool = False, workdir=None, **_):
        from ai_edge_litert.tools import flatbuffer_utils
        from ai_edge_quantizer.utils import tfl_flatbuffer_utils as tfl

        from ..sensitivity.tflite_tensors import label
        from ..tflite.quantization import _calibration_feeds, _static, calibrate

        self.fp32_path, self.kind, self.io = Path(fp32_path), kind, io
        self.int16_channelwise = int16_channelwise
        model = flatbuffer_utils.read_model(str(self.fp32_path))
        graph = model.subgraphs[0]
        self._units: list[Unit] = []
        self._scope: dict[str, tuple[object, str]] = {}     # unit -> (op name enum, scope)
        self._tensors: dict[str, list[str]] = {}            # unit -> activation tensor names
        self._unit_of_output: dict[str, str] = {}
        name = lambda i: graph.tensors[i].name.decode() if isinstance(graph.tensors[i].name, bytes) \
            else graph.tensors[i].name  # noqa: E731
        for index, op in enumerate(graph.operators):
            code = model.operatorCodes[op.opcodeIndex]
            op_name = tfl.TFL_OP_CODE_TO_NAME.get(max(code.builtinCode, code.deprecatedBuiltinCode))
            if op_name is None:
                continue
            short = str(op_name).rsplit(".", 1)[-1]
            unit = f"{index}:{short}"
            consts = [i for i in op.inputs if i >= 0 and _has_data(model, graph.tensors[i])]
            weights = sum(int(np.prod(graph.tensors[i].shape)) for i in consts
                          if graph.tensors[i].shape is not None and int(np.prod(graph.tensors[i].shape)) >= 16)
            outputs = [name(i) for i in op.outputs if i >= 0]
            self._units.append(Unit(unit, short, label(outputs[0], short) if outputs else "", weights))
            self._scope[unit] = (op_name, tfl.get_op_scope(op, graph.tensors))
            self._tensors[unit] = [name(i) for i in [*op.inputs, *op.outputs]
                                   if i >= 0 and i not in consts]
            for o in outputs:
                self._unit_of_output[o] = unit
        self._feeds, self._seen = _calibration_feeds(calibration, self.fp32_path)
        self._base_recipe = _static(8, per_channel=False)
        self._qsvs = calibrate(self.fp32_path, self._base_recipe, self._feeds)
        self._calibrate = calibrate

    # -- the protocol -------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        return list(self._units)

    def build(self, plan: Plan, out_path: Path) -> dict:
        from ai_edge_quantizer import quantizer as aeq

        from ..tflite.quantization import RECIPES, _apply, _judge, _rewire_output_dequantize
        from ..tflite.readback import TFLiteExportError, census, read_io

        recipe = self._recipe(plan)
        qsvs = self._widened(plan)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*preserve_all_tensors")
                result = _apply(aeq.Quantizer(str(self.fp32_path), recipe), qsvs,
                                lambda: self._calibrate(self.fp32_path, recipe, self._feeds, profiler=False))
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TFLiteExportError(f"ai-edge-quantizer could not apply the plan: {first}") from exc
        content, _ = _rewire_output_dequantize(bytes(result.quantized_model))
        if plan.raised():
            content, _ = _float_outputs(content, self.fp32_path)
        out_path = Path(out_path)
        out_path.write_bytes(content)
        for kind, tensors in read_io(out_path).items():
            for tname, (_, dtype) in tensors.items():
                if dtype != "float32":
                    raise TFLiteExportError(f"the plan made {kind[:-1]} {tname!r} {dtype}, expected float32")
        spec = RECIPES["int8-static"] if not plan.count("int16") else RECIPES["int16x8-static"]
        quantized, what = _judge(spec, census(out_path)) if not plan.count("int16") else \
            (census(out_path).weight_fraction("int8", "int16") >= 0.5, "")
        note = (f"{RECIPES['int8-static'].description}, min/max ranges over {self._seen}; mixed precision: "
                f"{plan.describe()}" + (f" (int16 ops: a16w8, {INT16_HEADROOM:g}x calibrated range)"
                                        if plan.count("int16") else "")
                + (f"; {what}" if what else
                   f"; {census(out_path).weight_fraction('int8', 'int16'):.0%} of weight elements int8/int16"))
        return {"quantized": quantized, "note": note}

    def sensitivity(self, q_path: Path, seqs) -> dict[str, float]:
        from ..sensitivity import analyse_pair

        entry = {"io": self.io}
        tensors, _, _ = analyse_pair("tflite", self.fp32_path, q_path, entry, entry, seqs, self.kind)
        return unit_scores(tensors, lambda t: self._unit_of_output.get(t.tensor))

    def weight_bytes(self, path: Path) -> int:
        return weight_bytes(path, "tflite")

    def close(self) -> None:
        pass

    # -- helpers --------------------------------------------------------------------------------
    def _recipe(self, plan: Plan) -> list:
        from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

        if not plan.raised():
            return self._base_recipe
        manager = recipe_manager.RecipeManager()
        manager.load_quantization_recipe(self._base_recipe)
        for unit, level in plan.raised().items():
            op_name, scope = self._scope[unit]
            regex = "^" + re.escape(scope) + "$"
            if level == "int16":
                manager.add_static_config(regex=regex, operation_name=op_name, activation_num_bits=16,
                                          weight_num_bits=8,
                                          weight_granularity=qtyping.QuantGranularity.CHANNELWISE
                                          if self.int16_channelwise else qtyping.QuantGranularity.TENSORWISE)
            else:
                manager.add_quantization_config(regex, op_name, None, algorithm_manager.AlgorithmName.NO_QUANTIZE)
        return manager.get_quantization_recipe()

    def _widened(self, plan: Plan) -> dict:
        wide = {t for u, p in plan.levels.items() if p == "int16" for t in self._tensors.get(u, [])}
        if not wide:
            return self._qsvs
        out = dict(self._qsvs)
        for t in wide & set(out):
            v = out[t]
            lo, hi = np.asarray(v["min"], np.float64), np.asarray(v["max"], np.float64)
            mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0 * INT16_HEADROOM
            out[t] = {**v, "min": (mid - half).astype(np.asarray(v["min"]).dtype),
                      "max": (mid + half).astype(np.asarray(v["max"]).dtype)}
        return out


def _float_outputs(content: bytes, fp32_path: Path) -> tuple[bytes, int]:
    """Make every graph output and signature output a float32 tensor holding the fp32 graph's
    output of that position: the tensor itself when float, else the DEQUANTIZE of it (added
    when the quantizer wrote none). Returns (content, outputs changed)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    ref = flatbuffer_utils.read_model(str(fp32_path))
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    dq_codes = [i for i, c in enumerate(model.operatorCodes)
                if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.DEQUANTIZE]
    changed = 0
    for sg_index, (graph, ref_graph) in enumerate(zip(model.subgraphs, ref.subgraphs)):
        dequantized = {op.inputs[0]: op.outputs[0] for op in graph.operators
                       if op.opcodeIndex in dq_codes and len(op.inputs) == 1}
        float_of: dict[int, int] = {}
        outputs = list(graph.outputs)
        for pos, orig in enumerate(ref_graph.outputs):
            if pos >= len(outputs):
                break
            t = int(orig)  # the quantizer keeps the original tensor indices and appends new ones
            if graph.tensors[t].type == schema.TensorType.FLOAT32:
                target = t
            elif t in dequantized:
                target = dequantized[t]
            else:
                target = _add_dequantize(model, graph, t, dq_codes, schema)
                dequantized[t] = target
            float_of[t] = target
            if outputs[pos] != target:
                outputs[pos] = target
                changed += 1
        graph.outputs = outputs
        for sig in model.signatureDefs:
            if sig.subgraphIndex != sg_index:
                continue
            for out in sig.outputs:
                if out.tensorIndex in float_of and float_of[out.tensorIndex] != out.tensorIndex:
                    out.tensorIndex = float_of[out.tensorIndex]
                    changed += 1
    if not changed:
        return content, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), changed


def _add_dequantize(model, graph, t: int, dq_codes: list[int], schema) -> int:
    if not dq_codes:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
        code.version = 1
        model.operatorCodes.append(code)
        dq_codes.append(len(model.operatorCodes) - 1)
    src = graph.tensors[t]
    buffer = schema.BufferT()
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape = list(src.shape) if src.shape is not None else []
    tensor.shapeSignature = list(src.shapeSignature) if src.shapeSignature is not None else None
    tensor.type = schema.TensorType.FLOAT32
    tensor.buffer = len(model.buffers) - 1
    name = src.name.decode() if isinstance(src.name, bytes) else str(src.name)
    tensor.name = f"{name}_dequant".encode()
    graph.tensors.append(tensor)
    op = schema.OperatorT()
    op.opcodeIndex = dq_codes[0]
    op.inputs = [t]
    op.outputs = [len(graph.tensors) - 1]
    graph.operators.append(op)
    return len(graph.tensors) - 1
