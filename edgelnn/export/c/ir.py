"""The step graph the C generator works on: an exported fp32 ONNX step graph, constants folded,
every tensor's shape known, checked against onnxruntime.

``load(onnx_path, io)`` -> ``Graph``. Inputs are ``x``, ``dt`` and the states in manifest order;
outputs ``y`` and the new states. Nothing here is specific to a model kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedError
from .ops import OPS, supported


@dataclass
class Node:
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    name: str = ""


@dataclass
class Graph:
    nodes: list[Node]
    consts: dict[str, np.ndarray]
    inputs: list[str]                    # x, dt, states (canonical order)
    outputs: list[str]                   # y, states out
    shapes: dict[str, tuple] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)     # what the header tells its caller (c_meta)

    def producer(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    out.setdefault(i, []).append(n)
        return out

    def evaluate(self, feeds: dict[str, np.ndarray], keep: bool = False) -> dict[str, np.ndarray]:
        """Run the graph in numpy (the generator's reference semantics)."""
        env = dict(self.consts)
        env.update({k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()})
        for n in self.nodes:
            run_node(n, env)
        return env if keep else {o: env[o] for o in self.outputs}


def run_node(n: Node, env: dict) -> None:
    ins = [env[i] if i else None for i in n.inputs]
    attrs = dict(n.attrs)
    if n.op == "Split":
        attrs["_n_out"] = len(n.outputs)
    outs = OPS[n.op].eval(ins, attrs)
    for name, value in zip(n.outputs, outs):
        if name:
            env[name] = np.asarray(value)


def _attrs(node) -> dict:
    import onnx

    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, onnx.TensorProto):
            value = onnx.numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        out[a.name] = value
    return out


def from_onnx(proto, io: dict) -> Graph:
    """Graph of an ONNX ModelProto; ``io`` = {"inputs": [...], "outputs": [...]} canonical names."""
    from onnx import numpy_helper

    g = proto.graph
    if any(a.type == a.GRAPH or a.graphs for n in g.node for a in n.attribute):
        raise UnsupportedError("the step graph has a control-flow op (Loop/Scan/If); the C generator "
                               "lowers straight-line step graphs only")
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = []
    for k, n in enumerate(g.node):
        attrs = _attrs(n)
        if n.op_type == "Constant":
            value = attrs.get("value")
            if value is None:
                for key in ("value_float", "value_int", "value_floats", "value_ints"):
                    if key in attrs:
                        value = np.asarray(attrs[key], dtype=np.float32 if "float" in key else np.int64)
            if value is None:
                raise UnsupportedError(f"Constant node {n.name or k} has no supported value attribute")
            consts[n.output[0]] = np.asarray(value)
            continue
        if n.op_type not in OPS:
            raise UnsupportedError(f"op {n.op_type} (node {n.name or k}) is not supported by the C "
                                   f"generator; supported: {', '.join(supported())}")
        nodes.append(Node(n.op_type, list(n.input), list(n.output), attrs, n.name or f"n{k}"))
    graph = Graph(nodes, consts, list(io["inputs"]), list(io["outputs"]))
    names = {v.name for v in g.input} | set(consts) | {o for n in nodes for o in n.outputs}
    missing = [i for i in graph.inputs if i not in {v.name for v in g.input}]
    if missing:
        raise UnsupportedError(f"the step graph lacks input(s) {missing}")
    missing = [o for o in graph.outputs if o not in names]
    if missing:
        raise UnsupportedError(f"the step graph lacks output(s) {missing}")
    return graph


def fold_constants(graph: Graph) -> None:
    """Evaluate every node whose inputs are all constants (masks times weights, softplus of
    parameters, shape arithmetic) and drop it."""
    kept = []
    for n in graph.nodes:
        if all((not i) or i in graph.consts for i in n.inputs):
            env = dict(graph.consts)
            run_node(n, env)
            for o in n.outputs:
                if o:
                    graph.consts[o] = env[o]
        else:
            if OPS[n.op].kind == "const":
                raise UnsupportedError(f"op {n.op} (node {n.name}) on a run-time tensor is not supported "
                                       "by the C generator")
            kept.append(n)
    graph.nodes = kept
    used = {i for n in graph.nodes for i in n.inputs} | set(graph.outputs)
    graph.consts = {k: v for k, v in graph.consts.items() if k in used}


def infer_shapes(graph: Graph, feeds: dict[str, np.ndarray]) -> None:
    env = graph.evaluate(feeds, keep=True)
    graph.shapes = {k: tuple(int(d) for d in np.shape(v)) for k, v in env.items()}
    for k, v in env.items():
        if k not in graph.consts and np.asarray(v).dtype not in (np.float32,):
            raise UnsupportedError(f"tensor {k} is {np.asarray(v).dtype} at run time; the C generator "
                                   "handles float32 activations only")


def load(path, io: dict, sizes: dict[str, int], check_runs: int = 3, seed: int = 0) -> Graph:
    """The step graph of an fp32 ONNX file, folded and shaped, its numpy semantics checked
    against onnxruntime on ``check_runs`` random feeds (UnsupportedError when they differ)."""
    import onnx

    proto = onnx.load(str(path))
    graph = from_onnx(proto, io)
    fold_constants(graph)
    rng = np.random.default_rng(seed)
    feeds = [random_feeds(graph, sizes, rng) for _ in range(max(1, check_runs))]
    infer_shapes(graph, feeds[0])
    _check_against_onnxruntime(path, graph, feeds)
    return graph


def random_feeds(graph: Graph, sizes: dict[str, int], rng) -> dict[str, np.ndarray]:
    """x ~ N(0, 1), dt in [0.2, 3] (never 0), states ~ N(0, 0.5)."""
    feeds = {}
    for name in graph.inputs:
        n = sizes[name]
        if name == "dt":
            feeds[name] = rng.uniform(0.2, 3.0, (1, 1)).astype(np.float32)
        elif name == "x":
            feeds[name] = rng.standard_normal((1, n)).astype(np.float32)
        else:
            feeds[name] = (0.5 * rng.standard_normal((1, n))).astype(np.float32)
    return feeds


def _check_against_onnxruntime(path, graph: Graph, feeds: list[dict]) -> None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    for f in feeds:
        want = sess.run(graph.outputs, f)
        got = graph.evaluate(f)
        for name, w in zip(graph.outputs, want):
            err = float(np.max(np.abs(np.asarray(got[name], np.float64) - w))) if w.size else 0.0
            if not err <= 1e-4 * max(1.0, float(np.max(np.abs(w)))):
                raise UnsupportedError(f"the C generator's reading of the step graph differs from "
                                       f"onnxruntime on {name} (max error {err:.3g})")
