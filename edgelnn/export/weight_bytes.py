"""Weight bytes of an artifact, read from the file: constant tensors' elements x bits.

"Weight bytes" = sum over the weight tensors stored in the file of elements x the bits of the
type they are stored in, / 8: fp32 weights count 4 bytes each, int8 weights 1, int16 2, the
int32 biases of quantized ops 4. A constant counts as a weight tensor when it holds at least
``MIN_ELEMENTS`` elements (the rule of ``onnx.inspect.weight_storage``: shape constants and
scalar quantization parameters are left out; TFLite's int64 biases of a16w8 ops and ONNX's
per-channel scales count). File size (``bytes`` in the manifest) adds the graph itself
and every quantization parameter; weight bytes say what the model's numbers cost.

``--quant auto`` compares candidates by this figure. (The ``models`` branch adds a model-side
``footprint`` with the same definition; the two are meant to be one module.)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

MIN_ELEMENTS = 16
BITS = {"float32": 32, "float16": 16, "bfloat16": 16, "float64": 64, "int64": 64, "int32": 32, "uint32": 32,
        "int16": 16, "uint16": 16, "int8": 8, "uint8": 8, "int4": 4, "uint4": 4, "bool": 8}


def _total(elements: dict[str, int]) -> int:
    bits = sum(n * BITS.get(dtype, 32) for dtype, n in elements.items())
    return int((bits + 7) // 8)


def onnx_elements(path) -> dict[str, int]:
    """{dtype: elements} of the weight tensors of an ONNX file (initializers, Constant nodes,
    subgraphs included)."""
    import onnx

    from .onnx.inspect import weight_storage

    return dict(weight_storage(onnx.load(str(path)))["elements"])


def tflite_elements(path) -> dict[str, int]:
    """{dtype: elements} of the constant tensors of a .tflite file with >= MIN_ELEMENTS elements."""
    from ai_edge_litert.tools import flatbuffer_utils

    from .tflite.readback import _TYPE_NAMES

    model = flatbuffer_utils.read_model(str(Path(path)))
    elements: dict[str, int] = {}
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
            if buffer is None or not ((buffer.data is not None and len(buffer.data) > 0) or (buffer.size or 0) > 0):
                continue
            shape = list(tensor.shape) if tensor.shape is not None else []
            n = int(np.prod(shape)) if shape else 1
            if n < MIN_ELEMENTS:
                continue
            dtype = _TYPE_NAMES.get(tensor.type, f"type{tensor.type}")
            elements[dtype] = elements.get(dtype, 0) + n
    return elements


READERS = {"onnx": onnx_elements, "tflite": tflite_elements}


def weight_elements(path, fmt: str) -> dict[str, int]:
    if fmt not in READERS:
        raise ValueError(f"no weight reader for format {fmt!r}; known: {', '.join(READERS)}")
    return READERS[fmt](path)


def weight_bytes(path, fmt: str) -> int:
    """Weight bytes of the artifact at ``path`` (format ``fmt``), read from the file."""
    return _total(weight_elements(path, fmt))
