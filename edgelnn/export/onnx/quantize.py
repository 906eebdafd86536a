"""fp32 .onnx -> fp16 / int8 .onnx with onnxruntime's tools; what happened is read from the file.

- ``fp16``: ``onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)``.
- ``int8-dynamic``: ``quantize_dynamic`` (int8 weights, activations quantized at run time).
  Gemm is first rewritten to MatMul + Add, because ORT's dynamic registry only has MatMul.
- ``int8-static``: ``quant_pre_process`` then ``quantize_static`` (QDQ, U8 activations, S8
  weights, MinMax over whole-rollout calibration feeds, so the state's true range is kept).
- ``reduce_range``: 7-bit weights. x86 without VNNI saturates u8*s8 products (0.26 error on a
  +-0.55 output with plain int8); decided per target by ``int8_settings``.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ConversionError
from ..errors import ShapeError
from .inspect import describe_io, reduced_fraction, toposort, weight_storage

SCHEMES = ("fp32", "fp16", "int8-dynamic", "int8-static")
# Weights stored in the reduced type below this fraction -> the scheme left the model in float.
QUANTIZED_FRACTION = 0.5


def available() -> str | None:
    try:
        import onnxruntime  # noqa: F401
        import onnxruntime.quantization  # noqa: F401
    except ImportError as exc:
        return f"onnxruntime is not installed ({exc}): pip install onnxruntime"
    return None


def host_has_vnni() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def int8_settings(reduce_range: bool | None = None) -> dict:
    """{"reduce_range": bool, "why": str}; None = decide for this host (x86 without VNNI -> True)."""
    import platform

    if reduce_range is not None:
        return {"reduce_range": bool(reduce_range), "why": "set by target"}
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i686"):
        vnni = host_has_vnni()
        return {"reduce_range": not vnni, "why": f"x86 host {'with' if vnni else 'without'} VNNI"}
    return {"reduce_range": False, "why": f"{machine} host"}


def gemm_to_matmul(proto: onnx.ModelProto) -> int:
    """Rewrite Gemm(A, W[, C]) with constant W into MatMul(A, W') + Add(C) in place."""
    inits = {i.name: i for i in proto.graph.initializer}
    nodes, count = [], 0
    for node in proto.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        ok = (node.op_type == "Gemm" and node.input[1] in inits and attrs.get("transA", 0) == 0
              and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0)
        if not ok:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        w = w.T if attrs.get("transB", 0) else w
        wname = f"{node.input[1]}_matmul_{count}"
        proto.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w), wname))
        has_bias = len(node.input) > 2 and node.input[2]
        mm_out = f"{node.output[0]}_mm" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], wname], [mm_out], name=f"{node.name}_mm"))
        if has_bias:
            nodes.append(helper.make_node("Add", [mm_out, node.input[2]], [node.output[0]], name=f"{node.name}_add"))
        count += 1
    if count:
        del proto.graph.node[:]
        proto.graph.node.extend(nodes)
        used = {i for n in proto.graph.node for i in n.input}
        keep = [i for i in proto.graph.initializer if i.name in used]
        del proto.graph.initializer[:]
        proto.graph.initializer.extend(keep)
    return count


@contextlib.contextmanager
def _quiet():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def _fp16(src: Path, dst: Path, calibration, settings) -> str:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    # the converter appends the input Casts after their consumers: an invalid graph by the spec
    # (onnx.checker, the reference evaluator) that only onnxruntime re-sorts
    sorted_ = toposort(proto.graph)
    onnx.save_model(proto, str(dst))
    return "onnxruntime.transformers.float16, keep_io_types=True" + (", nodes re-sorted" if sorted_ else "")


def _int8_dynamic(src: Path, dst: Path, calibration, settings) -> str:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load(str(src))
    n = gemm_to_matmul(proto)
    quantize_dynamic(proto, str(dst), weight_type=QuantType.QInt8, reduce_range=settings["reduce_range"])
    return (f"quantize_dynamic S8 weights, reduce_range={settings['reduce_range']} ({settings['why']})"
            + (f"; {n} Gemm -> MatMul" if n else ""))


def _int8_static(src: Path, dst: Path, calibration, settings) -> str:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration is None:
        raise ConversionError("int8-static needs calibration data")
    names = [i.name for i in onnx.load(str(src), load_external_data=False).graph.input]
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=False)
        reader = calibration.reader(names, limit=STATIC_CALIBRATION_STEPS)
        quantize_static(str(pre), str(dst), reader, quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        reduce_range=settings["reduce_range"], calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ForceQuantizeNoInputCheck": False})
    return (f"quant_pre_process + quantize_static QDQ U8S8 MinMax over {min(calibration.steps, STATIC_CALIBRATION_STEPS)} "
            f"rollout steps of {calibration.sequences} sequences, reduce_range={settings['reduce_range']} "
            f"({settings['why']})")


STATIC_CALIBRATION_STEPS = 2000
_SCHEMES = {"fp16": _fp16, "int8-dynamic": _int8_dynamic, "int8-static": _int8_static}


def quantize(fp32_path, scheme: str, calibration, out_path, *, reduce_range: bool | None = None) -> dict:
    """Write ``scheme`` of the fp32 ONNX file to ``out_path``.

    Returns {"quantized": bool, "note": str, "fraction": float}: ``quantized`` is read from the
    written file (share of weight elements stored as fp16 / integers >= 0.5), never assumed.
    """
    if scheme not in _SCHEMES:
        raise ValueError(f"unknown ONNX scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    src, dst = Path(fp32_path), Path(out_path)
    settings = int8_settings(reduce_range)
    try:
        with _quiet():
            note = _SCHEMES[scheme](src, dst, calibration, settings)
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - ORT tools raise anything; keep the cause, one line
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ConversionError(f"onnx {scheme} failed: {type(exc).__name__}: {first}") from exc
    written = onnx.load(str(dst))
    if describe_io(written) != describe_io(onnx.load(str(src), load_external_data=False)):
        raise ShapeError(f"onnx {scheme}: inputs/outputs changed by quantization: {describe_io(written)}")
    storage = weight_storage(written)
    fraction = reduced_fraction(storage, scheme)
    quantized = fraction >= QUANTIZED_FRACTION
    kind = "fp16" if scheme == "fp16" else "integer"
    note += f"; {fraction:.0%} of weight elements {kind}"
    if storage["quant_ops"]:
        note += f" ({', '.join(storage['quant_ops'])})"
    if not quantized:
        note += "; NOT quantized: the weights stayed float"
    return {"quantized": quantized, "note": note, "fraction": round(fraction, 4)}
