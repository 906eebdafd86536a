"""Weight bytes of an artifact, read from the file: stored constants' elements x bits.

"Weight bytes" = every stored constant the arithmetic uses -- weights, biases, wiring masks,
constant scalars and, in quantized files, the scales and zero points as stored (ONNX: their
own initializers; TFLite: the quantization parameters of each constant tensor, float32 scales
and int64 zero points) -- elements x the bits of the stored type, / 8. Shape and index
constants (int64, int32 that no dequantization reads) are structure, not weights.

This is the definition of the ``models`` branch's ``edgelnn/export/footprint.py``
(``Footprint.weight_bytes``), written here so ``--quant auto`` can rank candidates before that
module lands; once both are on main, ``weight_bytes`` should call it. One difference, on
purpose: int64 constants that carry quantization parameters (the biases of TFLite a16w8 ops)
are weights here.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

BITS = {"float32": 32, "float16": 16, "bfloat16": 16, "float64": 64, "int64": 64, "int32": 32,
        "uint32": 32, "int16": 16, "uint16": 16, "int8": 8, "uint8": 8, "int4": 4, "uint4": 4, "bool": 8}
VALUE_TYPES = {"float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "uint16", "int4", "uint4"}
DEQUANTIZING = {"DequantizeLinear", "QLinearConv", "QGemm", "QLinearMatMul"}


def _numel(shape) -> int:
    return int(np.prod([max(1, int(d)) for d in shape])) if len(shape) else 1


def _total(elements: dict[str, int]) -> int:
    return math.ceil(sum(n * BITS.get(dtype, 32) for dtype, n in elements.items()) / 8)


def onnx_elements(path) -> dict[str, int]:
    """{dtype: elements} of the weight constants of an ONNX file (subgraphs included)."""
    import onnx

    proto = onnx.load(str(path))
    consumers: dict[str, set[str]] = {}
    constants: list[tuple[str, str, list]] = []

    def walk(graph):
        for init in graph.initializer:
            constants.append((init.name, onnx.helper.tensor_dtype_to_np_dtype(init.data_type).name,
                              list(init.dims)))
        for node in graph.node:
            for name in node.input:
                consumers.setdefault(name, set()).add(node.op_type)
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        constants.append((node.output[0],
                                          onnx.helper.tensor_dtype_to_np_dtype(attr.t.data_type).name,
                                          list(attr.t.dims)))
                    elif attr.name in ("value_float", "value_floats"):
                        constants.append((node.output[0], "float32",
                                          [len(attr.floats)] if attr.name == "value_floats" else []))
            for attr in node.attribute:
                for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else []) + list(attr.graphs):
                    walk(sub)

    walk(proto.graph)
    seen, elements = set(), {}
    for name, dtype, shape in constants:
        if name in seen:
            continue
        seen.add(name)
        if dtype in VALUE_TYPES or (dtype == "int32" and consumers.get(name, set()) & DEQUANTIZING):
            elements[dtype] = elements.get(dtype, 0) + _numel(shape)
    return elements


def tflite_elements(path) -> dict[str, int]:
    """{dtype: elements} of a .tflite file's constants and their quantization parameters."""
    from ai_edge_litert.tools import flatbuffer_utils

    from .tflite.readback import _TYPE_NAMES

    model = flatbuffer_utils.read_model(str(Path(path)))
    seen, elements = set(), {}

    def add(dtype, n):
        if n:
            elements[dtype] = elements.get(dtype, 0) + n

    for graph in model.subgraphs:
        for tensor in graph.tensors:
            buf = model.buffers[tensor.buffer] if 0 < tensor.buffer < len(model.buffers) else None
            if buf is None or tensor.buffer in seen:
                continue
            if not ((buf.data is not None and len(buf.data) > 0) or (buf.size or 0) > 0):
                continue
            seen.add(tensor.buffer)
            dtype = _TYPE_NAMES.get(tensor.type, f"type{tensor.type}")
            q = tensor.quantization
            scales = 0 if q is None or q.scale is None else len(q.scale)
            zeros = 0 if q is None or q.zeroPoint is None else len(q.zeroPoint)
            if dtype in VALUE_TYPES or (dtype in ("int32", "int64") and scales):
                add(dtype, _numel(tensor.shape if tensor.shape is not None else []))
                add("float32", scales)   # the flatbuffer stores scales as float32
                add("int64", zeros)      # and zero points as int64
    return elements


READERS = {"onnx": onnx_elements, "tflite": tflite_elements}


def weight_elements(path, fmt: str) -> dict[str, int]:
    if fmt not in READERS:
        raise ValueError(f"no weight reader for format {fmt!r}; known: {', '.join(READERS)}")
    return READERS[fmt](path)


def weight_bytes(path, fmt: str) -> int:
    """Weight bytes of the artifact at ``path`` (format ``fmt``), read from the file."""
    return _total(weight_elements(path, fmt))
