"""Model-scale memory and compute of an exported artifact, read from the file itself.

What a reviewer compares across models is what the *model* costs, not what its runtime costs:

- ``weight_elements`` / ``weight_bytes``: every stored constant the arithmetic uses -- weights,
  biases, fixed wiring masks, constant scalars, and for quantized files the scales and zero
  points as stored (ONNX: their own initializers; TFLite: the quantization parameters of each
  constant tensor, float32 scales and int64 zero points). Bytes = elements x the stored bits.
  Shape and index constants (int64, and int32 without quantization parameters) are structure.
- ``state_bytes``: the recurrent state carried between steps (the state inputs of the file).
- ``macs_per_step``: multiply-accumulates of the matrix products of one step, counted from the
  step graph's MatMul/Gemm/Conv (ONNX, quantized variants included) or FULLY_CONNECTED /
  BATCH_MATMUL / CONV (TFLite) with the shapes the graph really has -- not a formula per kind.
  ``elementwise_per_step``: output elements of every other arithmetic op (inputs for
  reductions), where LTC's synapse arithmetic lives; data movement (reshape, slice, concat,
  cast, ...) counts as neither, nor does an op whose inputs are all constants (a runtime does it
  once when it loads the model, e.g. DEQUANTIZE of fp16 weights). A seq graph's figures are its
  step graph's (same cell): the exporter copies them (``macs_from``).
- ``file_bytes`` and ``structure_bytes`` = file - weight bytes (graph, names, metadata).

Both formats express some layers differently (TFLite turns a Linear with one input into a
broadcast MUL), so MACs compare within one format.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

_BITS = {"float32": 32, "float16": 16, "bfloat16": 16, "float64": 64, "int8": 8, "uint8": 8,
         "int16": 16, "uint16": 16, "int32": 32, "uint32": 32, "int64": 64, "int4": 4, "uint4": 4,
         "bool": 8}
_VALUE_TYPES = {"float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "uint16",
                "int4", "uint4"}

ONNX_MATMUL = {"MatMul", "Gemm", "MatMulInteger", "QLinearMatMul", "DynamicQuantizeMatMul",
               "MatMulIntegerToFloat", "QGemm", "FusedMatMul"}
ONNX_CONV = {"Conv", "ConvInteger", "QLinearConv"}
ONNX_MOVEMENT = {"Reshape", "Concat", "Split", "Slice", "Gather", "Transpose", "Squeeze", "Unsqueeze",
                 "Identity", "Shape", "Constant", "ConstantOfShape", "Expand", "Cast", "Flatten", "Tile",
                 "Pad", "Size"}
TFLITE_MATMUL = {"FULLY_CONNECTED", "BATCH_MATMUL"}
TFLITE_CONV = {"CONV_2D", "DEPTHWISE_CONV_2D"}
TFLITE_MOVEMENT = {"RESHAPE", "CONCATENATION", "SPLIT", "SPLIT_V", "SLICE", "STRIDED_SLICE", "GATHER",
                   "TRANSPOSE", "SQUEEZE", "EXPAND_DIMS", "PACK", "UNPACK", "CAST", "SHAPE",
                   "BROADCAST_TO", "TILE", "PAD"}
REDUCTIONS = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "SUM", "MEAN",
              "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}


@dataclass
class Footprint:
    """The ``footprint`` of one manifest artifact entry (and of its bench rows)."""

    weight_elements: int | None          # None: a format this module has no reader for
    weight_bytes: int | None
    state_bytes: int | None
    macs_per_step: int | None
    elementwise_per_step: int | None
    file_bytes: int
    structure_bytes: int | None
    weights_by_dtype: dict = field(default_factory=dict)   # stored dtype -> elements

    def to_dict(self) -> dict:
        return asdict(self)


def _nbytes(elements: int, dtype: str) -> int:
    return math.ceil(elements * _BITS.get(dtype, 32) / 8)


def _numel(shape) -> int:
    return int(np.prod([max(1, int(d)) for d in shape])) if len(shape) else 1


# -- ONNX --------------------------------------------------------------------------------------
def _onnx_constants(graph):
    """(name, dtype, shape) of every initializer and Constant value, subgraphs included."""
    import onnx

    for init in graph.initializer:
        yield init.name, onnx.helper.tensor_dtype_to_np_dtype(init.data_type).name, list(init.dims)
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    t = attr.t
                    yield node.output[0], onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name, list(t.dims)
                elif attr.name in ("value_float", "value_floats"):
                    yield node.output[0], "float32", [len(attr.floats)] if attr.name == "value_floats" else []
                elif attr.name in ("value_int", "value_ints"):
                    yield node.output[0], "int64", [len(attr.ints)] if attr.name == "value_ints" else []
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else []) + list(attr.graphs):
                yield from _onnx_constants(sub)


def _onnx_consumers(graph, out: dict | None = None) -> dict:
    import onnx

    out = {} if out is None else out
    for node in graph.node:
        for i, name in enumerate(node.input):
            out.setdefault(name, []).append((node.op_type, i))
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else []) + list(attr.graphs):
                _onnx_consumers(sub, out)
    return out


def _onnx_weights(proto) -> dict[str, int]:
    consumers = _onnx_consumers(proto.graph)
    seen, by_dtype = set(), {}
    for name, dtype, shape in _onnx_constants(proto.graph):
        if name in seen:
            continue
        seen.add(name)
        uses = consumers.get(name, [])
        # int32 holds quantized biases (read by DequantizeLinear or a QLinear op), never shapes
        int32_value = dtype == "int32" and any(op in ("DequantizeLinear", "QLinearConv", "QGemm")
                                               for op, _ in uses)
        if dtype in _VALUE_TYPES or int32_value:
            by_dtype[dtype] = by_dtype.get(dtype, 0) + _numel(shape)
    return by_dtype


def _onnx_shapes(proto, feeds: dict) -> dict[str, tuple]:
    """Every tensor's shape in one real run (ORT, no graph optimisation so nodes stay as stored)."""
    from .sensitivity.onnx_tensors import session_exposing

    sess = session_exposing(proto, [name for node in proto.graph.node for name in node.output])
    shapes = {o.name: tuple(np.shape(v)) for o, v in zip(sess.get_outputs(), sess.run(None, feeds))}
    shapes.update({k: tuple(v.shape) for k, v in feeds.items()})
    for init in proto.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def _onnx_feeds(proto) -> dict:
    from .onnx.inspect import describe_io

    feeds = {}
    for spec in describe_io(proto)["inputs"]:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in spec["shape"]]
        value = 1.0 if spec["name"] == "dt" else 0.0  # dt > 0: LTC divides by it
        feeds[spec["name"]] = np.full(shape, value, dtype=np.dtype(spec["dtype"]))
    return feeds


def _onnx_compute(proto) -> tuple[int, int] | None:
    """(macs, elementwise) of one step; None for graphs with a loop (seq graphs)."""
    if any(n.op_type in ("Loop", "Scan", "If") for n in proto.graph.node):
        return None
    shapes = _onnx_shapes(proto, _onnx_feeds(proto))
    const = {name for name, _, _ in _onnx_constants(proto.graph)}
    macs = elementwise = 0
    for node in proto.graph.node:
        op = node.op_type
        if all(not i or i in const for i in node.input):  # folded once at load, not per step
            const.update(node.output)
            continue
        out = _numel(shapes.get(node.output[0], ())) if node.output and node.output[0] else 0
        if op in ONNX_MATMUL:
            a = shapes[node.input[0]]
            trans = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
            macs += out * int(a[0] if trans else a[-1])
        elif op in ONNX_CONV:
            w = shapes[node.input[3 if op == "QLinearConv" else 1]]
            macs += out * _numel(w[1:])
        elif op in REDUCTIONS:
            elementwise += _numel(shapes.get(node.input[0], ()))
        elif op not in ONNX_MOVEMENT:
            elementwise += out
    return macs, elementwise


def _state_bytes_onnx(proto, state_inputs: list[str]) -> int:
    from .onnx.inspect import describe_io

    return sum(_nbytes(_numel([d if isinstance(d, int) else 1 for d in s["shape"]]), s["dtype"])
               for s in describe_io(proto)["inputs"] if s["name"] in state_inputs)


def onnx_footprint(path, state_inputs: list[str]) -> Footprint:
    import onnx

    path = Path(path)
    proto = onnx.load(str(path))
    by_dtype = _onnx_weights(proto)
    compute = _onnx_compute(proto)
    return _assemble(path, by_dtype, {}, _state_bytes_onnx(proto, state_inputs), compute)


# -- TFLite ------------------------------------------------------------------------------------
def _tflite_model(path):
    from ai_edge_litert.tools import flatbuffer_utils

    return flatbuffer_utils.read_model(str(path))


def _tflite_weights(model) -> tuple[dict[str, int], dict[str, int]]:
    """(elements by dtype, extra bits of quantization parameters by dtype) of constant tensors."""
    from .tflite.readback import _TYPE_NAMES

    seen, by_dtype, quant_bytes = set(), {}, {}
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
            # int32 / int64 with quantization parameters: the biases of int8 / a16w8 ops
            if dtype in _VALUE_TYPES or (dtype in ("int32", "int64") and scales):
                shape = tensor.shape if tensor.shape is not None else []
                by_dtype[dtype] = by_dtype.get(dtype, 0) + _numel(shape)
                if scales or zeros:  # float32 scales, int64 zero points (the flatbuffer's types)
                    quant_bytes["float32"] = quant_bytes.get("float32", 0) + scales
                    quant_bytes["int64"] = quant_bytes.get("int64", 0) + zeros
    return by_dtype, quant_bytes


def _tflite_compute(model) -> tuple[int, int]:
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    shape = lambda i: list(graph.tensors[i].shape) if graph.tensors[i].shape is not None else []  # noqa: E731
    def has_data(i: int) -> bool:
        b = graph.tensors[i].buffer
        buf = model.buffers[b] if 0 < b < len(model.buffers) else None
        return buf is not None and ((buf.data is not None and len(buf.data) > 0) or (buf.size or 0) > 0)

    const = {i for i in range(len(graph.tensors)) if has_data(i)}
    macs = elementwise = 0
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
        outs = [i for i in (op.outputs if op.outputs is not None else []) if i >= 0]
        if all(i < 0 or i in const for i in (op.inputs if op.inputs is not None else [])):
            const.update(outs)  # e.g. DEQUANTIZE of fp16 weights: done once when the model loads
            continue
        out = _numel(shape(outs[0])) if outs else 0
        if name == "FULLY_CONNECTED":
            macs += out * int(shape(op.inputs[1])[-1])
        elif name == "BATCH_MATMUL":
            a = shape(op.inputs[0])
            adj = bool(getattr(op.builtinOptions, "adjX", False))
            macs += out * int(a[-2] if adj else a[-1])
        elif name in TFLITE_CONV:
            w = shape(op.inputs[1])
            macs += out * (_numel(w[1:3]) if name == "DEPTHWISE_CONV_2D" else _numel(w[1:]))
        elif name in REDUCTIONS:
            elementwise += _numel(shape(op.inputs[0]))
        elif name not in TFLITE_MOVEMENT:
            elementwise += out
    return macs, elementwise


def _state_bytes_tflite(path, state_inputs: list[str]) -> int:
    from .tflite.readback import read_io

    return sum(_nbytes(_numel(shape), dtype) for name, (shape, dtype) in read_io(path)["inputs"].items()
               if name in state_inputs)


def tflite_footprint(path, state_inputs: list[str], step: bool = True) -> Footprint:
    path = Path(path)
    model = _tflite_model(path)
    by_dtype, quant = _tflite_weights(model)
    compute = _tflite_compute(model) if step else None
    return _assemble(path, by_dtype, quant, _state_bytes_tflite(path, state_inputs), compute)


# -- both --------------------------------------------------------------------------------------
def _assemble(path: Path, by_dtype: dict, extra: dict, state_bytes: int, compute) -> Footprint:
    elements = sum(by_dtype.values())
    weight_bytes = sum(_nbytes(n, t) for t, n in by_dtype.items()) + sum(_nbytes(n, t) for t, n in extra.items())
    size = path.stat().st_size
    macs, elementwise = compute if compute is not None else (None, None)
    return Footprint(elements, weight_bytes, state_bytes, macs, elementwise, size, size - weight_bytes,
                     dict(sorted(by_dtype.items())))


READERS = {"onnx": onnx_footprint, "tflite": tflite_footprint}


def weight_bytes(path, fmt: str) -> int | None:
    """``Footprint.weight_bytes`` alone (no run for the compute figures): what ``--quant auto``
    ranks its candidates by. None for a format without a reader here."""
    path = Path(path)
    if fmt == "onnx":
        import onnx

        by_dtype, extra = _onnx_weights(onnx.load(str(path))), {}
    elif fmt == "tflite":
        by_dtype, extra = _tflite_weights(_tflite_model(path))
    else:
        return None
    return sum(_nbytes(n, t) for t, n in by_dtype.items()) + sum(_nbytes(n, t) for t, n in extra.items())


def footprint(path, fmt: str, graph: str, state_inputs: list[str]) -> Footprint | None:
    """The footprint of an artifact file, or None for a format without a reader here."""
    if fmt == "onnx":
        return onnx_footprint(path, state_inputs)
    if fmt == "tflite":
        return tflite_footprint(path, state_inputs, step=graph == "step")
    return None
