"""Reading facts back from an ONNX file: io names/shapes/dtypes, how its weights are stored."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from ..errors import ShapeError

_DTYPES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16", TensorProto.DOUBLE: "float64",
           TensorProto.INT64: "int64", TensorProto.INT32: "int32", TensorProto.INT8: "int8",
           TensorProto.UINT8: "uint8"}
_INTEGER_WEIGHTS = (TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16, TensorProto.UINT16,
                    TensorProto.INT4, TensorProto.UINT4)
QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger",
             "DynamicQuantizeMatMul", "ConvInteger", "QLinearMatMul", "QLinearConv", "QGemm",
             "MatMulIntegerToFloat", "DynamicQuantizeLSTM"}


def _dims(value_info) -> list:
    return [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else "?")
            for d in value_info.type.tensor_type.shape.dim]


def describe_io(proto: onnx.ModelProto) -> dict:
    """{"inputs": [{name, shape, dtype}], "outputs": [...]} as declared in the file
    (initializers listed as graph inputs are skipped)."""
    inits = {i.name for i in proto.graph.initializer}
    row = lambda v: {"name": v.name, "shape": _dims(v),  # noqa: E731
                     "dtype": _DTYPES.get(v.type.tensor_type.elem_type, str(v.type.tensor_type.elem_type))}
    return {"inputs": [row(v) for v in proto.graph.input if v.name not in inits],
            "outputs": [row(v) for v in proto.graph.output]}


def check_io(proto: onnx.ModelProto, spec: dict, what: str) -> None:
    """Names, order, shapes and dtypes exactly as ``spec`` says, dynamic axes symbolic.

    Raises ShapeError naming the first difference (e.g. a dynamic dimension frozen to 4).
    """
    actual = describe_io(proto)
    for side in ("inputs", "outputs"):
        want, got = spec[side], actual[side]
        if [w["name"] for w in want] != [g["name"] for g in got]:
            raise ShapeError(f"{what}: {side} are {[g['name'] for g in got]}, "
                             f"expected {[w['name'] for w in want]}")
        for w, g in zip(want, got):
            if g["dtype"] != w["dtype"]:
                raise ShapeError(f"{what}: {w['name']} has dtype {g['dtype']}, expected {w['dtype']}")
            if len(g["shape"]) != len(w["shape"]):
                raise ShapeError(f"{what}: {w['name']} has rank {len(g['shape'])}, expected {len(w['shape'])}")
            for axis, (ws, gs) in enumerate(zip(w["shape"], g["shape"])):
                if isinstance(ws, str) and not isinstance(gs, str):
                    raise ShapeError(f"{what}: dynamic axis {axis} ({ws}) of {w['name']} was frozen to {gs}")
                if isinstance(ws, int) and gs != ws:
                    raise ShapeError(f"{what}: {w['name']} axis {axis} is {gs}, expected {ws}")


def conform_io(proto: onnx.ModelProto, spec: dict) -> list[str]:
    """Give declared dims their spec names: symbolic dims of dynamic axes get the spec's name,
    static axes an exporter left symbolic (TorchScript Loop outputs) get their value.
    Frozen dynamic axes and wrong static sizes are left alone for ``check_io`` to report."""
    changes = []
    graph_vals = {v.name: v for v in [*proto.graph.input, *proto.graph.output]}
    for w in [*spec["inputs"], *spec["outputs"]]:
        v = graph_vals.get(w["name"])
        if v is None or len(v.type.tensor_type.shape.dim) != len(w["shape"]):
            continue
        for ws, d in zip(w["shape"], v.type.tensor_type.shape.dim):
            if d.dim_param and isinstance(ws, str) and d.dim_param != ws:
                d.dim_param = ws
            elif d.dim_param and isinstance(ws, int):
                changes.append(f"{w['name']}:{d.dim_param}->{ws}")
                d.dim_value = ws
    return changes


def _all_nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)
            for g in attr.graphs:
                yield from _all_nodes(g)


def _all_initializers(graph):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_initializers(attr.g)
            for g in attr.graphs:
                yield from _all_initializers(g)
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    yield attr.t


def strip_metadata(proto: onnx.ModelProto) -> int:
    """Drop per-node metadata (stack traces, fx names) and doc strings; returns how many."""
    count = 0
    for node in _all_nodes(proto.graph):
        count += len(node.metadata_props) + bool(node.doc_string)
        del node.metadata_props[:]
        node.doc_string = ""
    return count


def op_types(proto: onnx.ModelProto) -> set[str]:
    return {n.op_type for n in _all_nodes(proto.graph)}


def weight_storage(proto: onnx.ModelProto) -> dict:
    """How the weights (initializers with >= 16 elements) are stored, read from the file.

    Returns {"elements": {"float32": n, "float16": n, "int8": n, ...}, "quant_ops": [...]}.
    """
    elements: dict[str, int] = {}
    for init in _all_initializers(proto.graph):
        n = int(np.prod(init.dims)) if len(init.dims) else 1
        if n < 16:
            continue
        key = _DTYPES.get(init.data_type, onnx.helper.tensor_dtype_to_np_dtype(init.data_type).name)
        elements[key] = elements.get(key, 0) + n
    return {"elements": elements, "quant_ops": sorted(op_types(proto) & QUANT_OPS)}


def reduced_fraction(storage: dict, scheme: str) -> float:
    """Fraction of weight elements stored in the scheme's reduced type (fp16 / integer)."""
    el = storage["elements"]
    total = sum(el.values()) or 1
    if scheme == "fp16":
        return el.get("float16", 0) / total
    integer = sum(v for k, v in el.items() if k.startswith(("int", "uint")) and k not in ("int64", "int32"))
    return integer / total


def toposort(graph: onnx.GraphProto, outer: set[str] | frozenset = frozenset()) -> bool:
    """Reorder ``graph.node`` so that every node comes after the producers of its inputs (the
    ONNX spec's rule; onnxruntime re-sorts silently, the reference evaluator and strict tools do
    not). Original order is kept where it is already valid; subgraphs are sorted too.
    Returns True when the order changed. A cycle or an input nobody produces is left in place
    (the checker then names it)."""
    known = set(outer) | {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    order: list = []
    while pending:
        rest = []
        for node in pending:
            if all(n in known for n in node.input) and all(n in known for n in _captured(node)):
                order.append(node)
                known.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):        # stuck: keep the remainder as it was
            order += rest
            break
        pending = rest
    for node in order:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                toposort(sub, known)
    changed = [id(n) for n in order] != [id(n) for n in graph.node]
    if changed:
        nodes = [onnx.NodeProto() for _ in order]
        for dst, src in zip(nodes, order):
            dst.CopyFrom(src)
        del graph.node[:]
        graph.node.extend(nodes)
    return changed


def _captured(node) -> set[str]:
    """Names a node's subgraphs read from the enclosing scope (they must exist before it)."""
    names: set[str] = set()
    for attr in node.attribute:
        for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
            local = {i.name for i in sub.input} | {i.name for i in sub.initializer} | {""}
            for n in sub.node:
                local.update(n.output)
            for n in sub.node:
                names.update(i for i in n.input if i not in local)
                names.update(i for i in _captured(n) if i not in local)
            names.update(o.name for o in sub.output if o.name not in local)
    return names


def free_batch(proto: onnx.ModelProto, name: str = "batch") -> None:
    """Make axis 0 of every graph input and output the symbolic ``name`` (a step graph traced at
    batch 1 whose nodes never fix the batch: Gemm, element-wise, reductions over other axes) and
    drop the intermediate shapes recorded at batch 1."""
    for v in [*proto.graph.input, *proto.graph.output]:
        dims = v.type.tensor_type.shape.dim
        if len(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == 1:
            dims[0].dim_param = name
    del proto.graph.value_info[:]
