"""ONNX side of the sensitivity analysis (``edgelnn.export.sensitivity``): every node output exposed, both models on the same
inputs (fp32 state, teacher-forced), per-tensor errors matched by tensor name.

QDQ models keep the fp32 tensor names and add ``<name>_DequantizeLinear_Output`` (what consumers
see, compared when present); dynamic quantization keeps the names of the ops it replaces.
Weights: ``<w>_quantized`` / ``<w>_Transposed_quantized`` with ``_scale`` and ``_zero_point``.
"""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from .labels import Node, label_nodes, weight_label
from .core import TensorError, added_at_ops, compare, peak_added_at_ops, span

DQ_SUFFIX = "_DequantizeLinear_Output"


def session_exposing(model: onnx.ModelProto, names) -> ort.InferenceSession:
    """A session of ``model`` whose outputs also hold the tensors ``names`` (intermediate values),
    unoptimised so nodes stay as stored, on one thread: reading each tensor's value (here) or
    shape (``edgelnn.export.footprint``)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    have = {o.name for o in model.graph.output}
    for name in names:
        if name and name not in have:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
            have.add(name)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _scopes(node) -> list[str]:
    for p in node.metadata_props:
        if p.key == "pkg.torch.onnx.name_scopes":
            try:
                return list(json.loads(p.value.replace("'", '"')))
            except ValueError:
                return []
    return []


def _dequantized(qinit: dict[str, np.ndarray], stem: str) -> np.ndarray | None:
    wq, scale = qinit.get(stem + "_quantized"), qinit.get(stem + "_scale")
    if wq is None or scale is None:
        return None
    wq, scale = wq.astype(np.float64), scale.astype(np.float64)
    zp = qinit.get(stem + "_zero_point", np.zeros_like(scale)).astype(np.float64)
    if scale.ndim == 1 and scale.size > 1:  # per-channel: the axis whose length matches
        axis = next((a for a in range(wq.ndim) if wq.shape[a] == scale.size), 0)
        shape = [1] * wq.ndim
        shape[axis] = scale.size
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (wq - zp) * scale


def _weights(ref: onnx.ModelProto, q: onnx.ModelProto) -> list[TensorError]:
    """fp32 weight ``w`` vs the dequantized ``<w>[_suffix]_quantized`` of the int8 model."""
    qinit = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    stems = [n[: -len("_quantized")] for n in qinit if n.endswith("_quantized")]
    out = []
    for init in sorted(ref.graph.initializer, key=lambda i: -len(i.name)):
        w = numpy_helper.to_array(init)
        if w.dtype != np.float32 or w.size < 2:
            continue
        for stem in [s for s in stems if s == init.name or s.startswith(init.name + "_")]:
            deq = _dequantized(qinit, stem)
            if deq is None:
                continue
            # MatMul rewrites store W transposed; a square W fits both ways: the right one is
            # the orientation that matches (quantization error is small next to a transpose)
            options = [d for d in ((deq, deq.T) if deq.ndim == 2 else (deq,)) if d.shape == w.shape]
            if not options:
                continue
            stems.remove(stem)
            sqnr, rel, mx = max((compare(w, d) for d in options), key=lambda e: e[0])
            out.append(TensorError(init.name, weight_label(init.name), "weight", "weight", sqnr, rel, mx,
                                   tensor=init.name))
            break
    return out


def node_labels(proto: onnx.ModelProto, kind: str) -> dict[str, str]:
    """Readable label of each node, keyed by its first output."""
    nodes = [n for n in proto.graph.node if n.op_type not in ("Constant",) and n.output]
    inits = {i.name for i in proto.graph.initializer}
    described = [Node(n.op_type, n.output[0], _scopes(n), [i for i in n.input if i in inits])
                 for n in nodes]
    return dict(zip([n.output[0] for n in nodes], label_nodes(kind, described)))


def analyse_onnx(ref_path, q_path, ref_entry: dict, q_entry: dict, seqs, kind: str):
    """-> (tensor errors, output SQNR, steps) for a step-graph pair."""
    ref, q = onnx.load(str(ref_path)), onnx.load(str(q_path))
    nodes = [n for n in ref.graph.node if n.op_type not in ("Constant",)]
    outs = [n.output[0] for n in nodes if n.output]
    labels = node_labels(ref, kind)
    ops = {n.output[0]: n.op_type for n in nodes}
    inputs_of = {n.output[0]: list(n.input) for n in nodes}
    q_names = {o for n in q.graph.node for o in n.output}
    pairs = {t: (t + DQ_SUFFIX if t + DQ_SUFFIX in q_names else t) for t in outs}
    pairs = {t: qt for t, qt in pairs.items() if qt in q_names}
    s_ref = session_exposing(ref, outs)
    s_q = session_exposing(q, list(pairs.values()))
    ref_io, q_io = ref_entry["io"], q_entry["io"]
    ref_out_names = [o.name for o in s_ref.get_outputs()]
    q_out_names = [o.name for o in s_q.get_outputs()]
    acc_ref: dict[str, list] = {t: [] for t in pairs}
    acc_q: dict[str, list] = {t: [] for t in pairs}
    y_ref, y_q, steps = [], [], 0
    dims = {i.name: i.type.tensor_type.shape.dim for i in ref.graph.input}
    state_sizes = [int(dims[name][-1].dim_value) for name in ref_io["inputs"][2:]]
    for x, dt in seqs:
        state = [np.zeros((1, n), np.float32) for n in state_sizes]
        for t in range(len(x)):
            feeds = [x[t][None], np.array([[dt[t]]], np.float32), *state]
            r = dict(zip(ref_out_names, s_ref.run(None, dict(zip(ref_io["inputs"], feeds)))))
            o = dict(zip(q_out_names, s_q.run(None, dict(zip(q_io["inputs"], feeds)))))
            for name, qname in pairs.items():
                if name in r and qname in o and np.asarray(r[name]).dtype == np.float32 \
                        and np.shape(r[name]) == np.shape(o[qname]):
                    acc_ref[name].append(np.asarray(r[name]).ravel())
                    acc_q[name].append(np.asarray(o[qname], np.float32).ravel())
            y_ref.append(r[ref_io["outputs"][0]].ravel())
            y_q.append(o[q_io["outputs"][0]].ravel())
            state = [r[name] for name in ref_io["outputs"][1:]]
            steps += 1
    errors = {t: compare(np.concatenate(acc_ref[t]), np.concatenate(acc_q[t]))
              for t in pairs if acc_ref[t]}
    spans = {t: span(np.concatenate(acc_ref[t])) for t in errors}
    added = added_at_ops(errors, inputs_of)
    peak = peak_added_at_ops(errors, spans, inputs_of)
    tensors = [TensorError(t, labels.get(t, ""), ops.get(t, ""), "activation", *errors[t], added[t], t, peak[t])
               for t in errors]
    tensors += _weights(ref, q)
    out_sqnr = compare(np.concatenate(y_ref), np.concatenate(y_q))[0] if y_ref else None
    return tensors, out_sqnr, steps
