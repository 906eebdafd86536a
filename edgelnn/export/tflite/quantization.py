"""fp32 .tflite -> quantized .tflite with ai-edge-quantizer, one recipe per scheme.

Static schemes are calibrated on whole PyTorch rollouts (``CalibrationData``) and keep the
**true min/max of every tensor over all samples**. ai-edge-quantizer's default calibrator
merges per-sample ranges with a moving average (factor 0.95), which forgets the rare steps
where the recurrent state reaches its extremes and then clips the state.

Whether a file is quantized is read back from the file (``readback.census``), never assumed.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .readback import SIGNATURE, TFLiteExportError, census, read_io

# Below this share of weight elements in the scheme's dtype the file is "effectively float".
MIN_QUANTIZED_SHARE = 0.5


def _fp16():
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    manager = recipe_manager.RecipeManager()
    manager.add_weight_only_config(
        regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
        algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
    return manager.get_quantization_recipe()


def _int8_weight():
    from ai_edge_quantizer import recipe
    return recipe.weight_only_wi8_afp32()


def _int8_dynamic():
    from ai_edge_quantizer import recipe
    return recipe.dynamic_wi8_afp32()


def _static(activation_bits: int, per_channel: bool) -> list:
    """a{8,16}w8 with float32 graph inputs/outputs.

    The stock static recipes also quantize the graph I/O, so a runner would have to feed int8
    x/dt/state; NO_QUANTIZE on INPUT/OUTPUT keeps them float32 (QUANTIZE/DEQUANTIZE at the
    edges), as every edgelnn artifact must be.
    """
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    granularity = (qtyping.QuantGranularity.CHANNELWISE if per_channel
                   else qtyping.QuantGranularity.TENSORWISE)
    manager = recipe_manager.RecipeManager()
    manager.add_static_config(
        regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        activation_num_bits=activation_bits, weight_num_bits=8, weight_granularity=granularity)
    for op in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
        manager.add_quantization_config(".*", op, None, algorithm_manager.AlgorithmName.NO_QUANTIZE)
    return manager.get_quantization_recipe()


def _int8_static():
    # Per-tensor weights (as TFLite's classic full-integer converter does for
    # FULLY_CONNECTED): with int8 activations the activations dominate the error (measured,
    # trained 32-unit models, 4 x 128-step rollouts: max |y - torch| per-tensor vs
    # per-channel LSTM 0.081 vs 0.085, GRU 0.40 vs 0.43), while per-channel parameters cost
    # 12 bytes per output channel (float scale + int64 zero point, for weight and bias):
    # LSTM-64 a8w8 was 0.52 of fp32 per-channel, 0.36 per-tensor.
    return _static(8, per_channel=False)


def _int16x8_static():
    # Per-channel: with int16 activations the weights dominate (GRU-32: 0.06 per-channel
    # vs 0.21 per-tensor).
    return _static(16, per_channel=True)


@dataclass(frozen=True)
class Scheme:
    name: str
    build: Callable[[], list]          # -> ai-edge-quantizer recipe (list of dicts)
    weights: tuple[str, ...]           # dtype(s) the weights must end up in
    activations: str | None            # dtype computed tensors must use (static), else None
    calibrated: bool
    description: str


RECIPES: dict[str, Scheme] = {s.name: s for s in (
    Scheme("fp16", _fp16, ("float16",), None, False,
           "float16 weights, float32 compute"),
    Scheme("int8-weight", _int8_weight, ("int8",), None, False,
           "int8 weights (per channel), dequantized to float32 compute"),
    Scheme("int8-dynamic", _int8_dynamic, ("int8",), None, False,
           "dynamic range: int8 weights, activations quantized to int8 at run time"),
    Scheme("int8-static", _int8_static, ("int8",), "int8", True,
           "a8w8: int8 weights (per tensor) and activations"),
    # a16w8 stores the constant operands of elementwise ops (LTC's parameters) as int16
    Scheme("int16x8-static", _int16x8_static, ("int8", "int16"), "int16", True,
           "a16w8: int8 weights (per channel), int16 activations"),
)}
SCHEMES: tuple[str, ...] = tuple(RECIPES)

# name -> how the note says it
CALIBRATORS = {"min-max": "min/max", "moving-average": "moving-average (ai-edge-quantizer default)"}


def _calibration_feeds(calibration, fp32_path) -> tuple[list[dict], str]:
    """Feeds shaped for the file's graph: per step, or per window for a seq graph."""
    shape = read_io(fp32_path)["inputs"]["x"][0]
    if len(shape) == 3:
        feeds = list(calibration.window_feeds(shape[1]))
        what = f"{len(feeds)} windows of {shape[1]} steps"
    else:
        feeds = list(calibration.step_feeds())
        what = f"{len(feeds)} steps"
        if shape[0] > 1:            # a batch of streams: the same steps, shape[0] rows per feed
            b = shape[0]
            feeds = [{k: np.concatenate([feeds[(i + j) % len(feeds)][k] for j in range(b)])
                      for k in feeds[0]} for i in range(0, len(feeds), b)] if feeds else []
            what += f" in batches of {b}"
    if not feeds:
        raise ValueError(f"the calibration data gives no feed for this graph ({what})")
    return feeds, f"{what} of {calibration.sequences} whole rollouts"


def calibrate(fp32_path, recipe: list, feeds: list[dict], calibrator: str = "min-max",
              *, profiler: bool = True) -> dict:
    """QSVs ({tensor name: {"min", "max"}}) of every tensor over all ``feeds``.

    ``"min-max"`` keeps the true extremes over all samples; ``"moving-average"`` is
    ai-edge-quantizer's default (kept to show the difference). ``profiler`` uses the mode
    that tracks min/max in C++: the same ranges as the preserve-all-tensors mode (checked on
    LTC), ~25x faster on LTC's many small ops.
    """
    from ai_edge_quantizer import calibrator as aeq_calibrator
    from ai_edge_quantizer import recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    if calibrator not in CALIBRATORS:
        raise ValueError(f"unknown calibrator {calibrator!r}; use one of: {', '.join(CALIBRATORS)}")
    update = {"min-max": qsv_utils.min_max_update,
              "moving-average": qsv_utils.moving_average_update}[calibrator]
    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe)
    modes = aeq_calibrator.CalibrationMode
    engine = aeq_calibrator.Calibrator(
        Path(fp32_path).read_bytes(), num_threads=1,
        mode=modes.CALIBRATION_PROFILER_BASED if profiler else modes.CALIBRATION_PRESERVE_ALL_TENSORS,
        qsv_update_func=update)
    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bar cannot be switched off
        engine.calibrate({SIGNATURE: feeds}, manager)
    return engine.get_model_qsvs()


def quantize(fp32_path, scheme: str, calibration, out_path, *,
             calibrator: str = "min-max") -> dict:
    """Quantize ``fp32_path`` with ``scheme`` into ``out_path``.

    ``calibration`` is a ``CalibrationData`` (needed by the static schemes, ignored by the
    others). Returns ``{"quantized": bool, "note": str}``; ``quantized`` is read back from
    the written file (False when the scheme left the weights effectively float).
    """
    from ai_edge_quantizer import quantizer as aeq

    if scheme not in RECIPES:
        raise ValueError(f"unknown TFLite scheme {scheme!r}; use one of: {', '.join(SCHEMES)}")
    spec = RECIPES[scheme]
    recipe = spec.build()
    how = spec.description
    qsvs = feeds = None
    if spec.calibrated:
        if calibration is None:
            raise ValueError(f"TFLite {scheme} needs calibration data")
        feeds, seen = _calibration_feeds(calibration, fp32_path)
        qsvs = calibrate(fp32_path, recipe, feeds, calibrator)
        how += f", {CALIBRATORS[calibrator]} ranges over {seen}"

    try:
        with warnings.catch_warnings():
            # its QSV check builds a debugging interpreter that warns about preserve_all_tensors
            warnings.filterwarnings("ignore", message=".*preserve_all_tensors")
            result = _apply(aeq.Quantizer(str(fp32_path), recipe), qsvs,
                            lambda: calibrate(fp32_path, recipe, feeds, calibrator, profiler=False))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TFLiteExportError(f"ai-edge-quantizer could not apply {scheme}: {first}") from exc
    content, _ = _rewire_output_dequantize(bytes(result.quantized_model))
    out_path = Path(out_path)
    out_path.write_bytes(content)

    for kind, tensors in read_io(out_path).items():
        for name, (shape, dtype) in tensors.items():
            if dtype != "float32":
                raise TFLiteExportError(
                    f"{scheme} made {kind[:-1]} {name!r} {dtype}, expected float32")
    quantized, what = _judge(spec, census(out_path))
    return {"quantized": quantized, "note": f"{how}; {what}"}


def _apply(engine, qsvs, recalibrate):
    try:
        return engine.quantize(qsvs, enable_progress_bar=False, enable_progress_report=False)
    except ValueError as exc:
        if qsvs is None or "Missing QSVs" not in str(exc):
            raise
        # a tensor the profiler-based calibration did not see: redo it the exhaustive way
        return engine.quantize(recalibrate(), enable_progress_bar=False,
                               enable_progress_report=False)


def _judge(spec: Scheme, facts) -> tuple[bool, str]:
    """Read the scheme's effect off the file: share of weights in the target dtype."""
    share = facts.weight_fraction(*spec.weights)
    target = "/".join(spec.weights)
    what = f"{share:.0%} of weight elements {target}"
    quantized = share >= MIN_QUANTIZED_SHARE
    if spec.activations is not None:
        n = facts.activations[spec.activations]
        what += f", {n} {spec.activations} activation tensors"
        quantized = quantized and n > 0
    dequant = facts.ops["DEQUANTIZE"]
    if dequant:
        what += f", {dequant} DEQUANTIZE ops"
    if not quantized:
        what += " (effectively float: not quantized)"
    return quantized, what


def _is_constant(model, tensor) -> bool:
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
    return data is not None and len(data) > 0


def _rewire_output_dequantize(content: bytes) -> tuple[bytes, int]:
    """Work around an ai-edge-quantizer 0.10 wiring bug with float graph outputs.

    When a quantized tensor is both a graph output and the input of another quantized op
    (the recurrent state ``h_out`` also feeds the output head), the DEQUANTIZE inserted for
    the graph output is wired into that op too: a FULLY_CONNECTED then gets a float input
    with int8 weights and output, which LiteRT refuses ("output->type != kTfLiteFloat32").
    Feed such consumers the quantized tensor again; the graph output keeps the float copy.

    The other way round, when a graph output also feeds an op that requantizes its inputs to one
    scale (a CONCATENATION building the new state from the output ``y``: an NCP-wired CfC whose
    motor neurons are its output), the graph output is pointed at that QUANTIZE's int8 result
    instead of the float copy. Point it (and the signature) back at the DEQUANTIZE of the same
    value.
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    integer = {schema.TensorType.INT8, schema.TensorType.INT16}
    dequantize = {i for i, code in enumerate(model.operatorCodes)
                  if max(code.builtinCode, code.deprecatedBuiltinCode)
                  == schema.BuiltinOperator.DEQUANTIZE}
    rewired = 0
    for graph in model.subgraphs:
        float_copy = {}  # dequantized tensor -> its quantized source
        for op in graph.operators:
            if op.opcodeIndex in dequantize and len(op.inputs) == 1 \
                    and graph.tensors[op.inputs[0]].type in integer \
                    and not _is_constant(model, graph.tensors[op.inputs[0]]):
                float_copy[op.outputs[0]] = op.inputs[0]
        for op in graph.operators:
            if op.opcodeIndex in dequantize or not len(op.outputs):
                continue
            if not all(graph.tensors[t].type in integer for t in op.outputs if t >= 0):
                continue  # a float op may take the float copy
            for k, t in enumerate(op.inputs):
                if t in float_copy:
                    op.inputs[k] = float_copy[t]
                    rewired += 1
        rewired += _float_graph_outputs(model, graph, dequantize, integer)
    if not rewired:
        return content, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), rewired


def _float_graph_outputs(model, graph, dequantize: set, integer: set) -> int:
    """Integer graph outputs made by a requantizing QUANTIZE -> the DEQUANTIZE of its source."""
    from ai_edge_litert import schema_py_generated as schema

    quantize = {i for i, code in enumerate(model.operatorCodes)
                if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.QUANTIZE}
    requantized = {op.outputs[0]: op.inputs[0] for op in graph.operators
                   if op.opcodeIndex in quantize and len(op.inputs) == 1
                   and graph.tensors[op.inputs[0]].type in integer}
    float_of = {op.inputs[0]: op.outputs[0] for op in graph.operators
                if op.opcodeIndex in dequantize and len(op.inputs) == 1
                and graph.tensors[op.outputs[0]].type == schema.TensorType.FLOAT32}
    moved = {}
    for k, t in enumerate(graph.outputs):
        if graph.tensors[t].type in integer and requantized.get(t) in float_of:
            moved[t] = float_of[requantized[t]]
            graph.outputs[k] = moved[t]
    for signature in model.signatureDefs or []:    # it may name the requantized value or its source
        for tensor_map in signature.outputs or []:
            t = tensor_map.tensorIndex
            if graph.tensors[t].type in integer and (t in moved or t in float_of):
                tensor_map.tensorIndex = moved.get(t, float_of.get(t))
                moved[t] = tensor_map.tensorIndex
    return len(moved)
