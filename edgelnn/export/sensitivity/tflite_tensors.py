"""TFLite side of the sensitivity analysis: LiteRT interpreters with every tensor preserved
(``experimental_preserve_all_tensors``), same inputs and fp32 state, tensors matched by name.

ai-edge-quantizer quantizes a float model in place, so tensor names survive; int8/int16
tensors are dequantized with their own scale and zero point before comparing.
"""
from __future__ import annotations

import re
import warnings

import numpy as np

from .labels import CFC_MODULES, NCP_LAYERS, RNN_PARAMS
from .core import TensorError, added_at_ops, compare, peak_added_at_ops, span


def _interpreter(path):
    """A LiteRT interpreter without the XNNPACK delegate (which would fuse the ops away)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging": it is
        interp = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True, num_threads=1,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp


def _bind(interp, names: list[str], outputs: bool) -> list[dict]:
    """Input/output details in the manifest's canonical order: by signature name, then by
    tensor name (``serving_default_<name>...``), then in file order."""
    details = interp.get_output_details() if outputs else interp.get_input_details()
    by_index = {d["index"]: d for d in details}
    try:
        runner = interp.get_signature_runner()
        sig = runner.get_output_details() if outputs else runner.get_input_details()
        if all(n in sig for n in names):
            return [by_index[int(sig[n]["index"])] for n in names]
    except (ValueError, KeyError):
        pass
    out = []
    for i, name in enumerate(names):
        pat = re.compile(rf"(^|[_/:]){re.escape(name)}(_output)?(_dequant)?(:\d+)?$")
        hit = next((d for d in details if d["name"] == name or pat.search(d["name"])), None)
        out.append(hit if hit is not None else details[i])
    return out


def short_name(name: str) -> str:
    """'cell/ncps...CfCCell_rnn_cell/torch.nn.modules.linear.Linear_time_b;...' -> 'Linear_time_b'."""
    head = name.split(";")[0].rstrip("/")
    last = head.rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[-1] if "." in last else last


def _value(interp, d: dict) -> np.ndarray | None:
    try:
        v = interp.get_tensor(d["index"])
    except ValueError:
        return None
    if v.dtype == np.float32:
        return v
    scale, zp = d.get("quantization", (0.0, 0))
    qp = d.get("quantization_parameters") or {}
    scales = np.asarray(qp.get("scales", []), np.float64)
    if scales.size > 1:
        zps = np.asarray(qp.get("zero_points", []), np.float64)
        zps = zps if zps.size == scales.size else np.full(scales.size, zps.flat[0] if zps.size else 0.0)
        shape = [1] * v.ndim
        shape[int(qp.get("quantized_dimension", 0))] = scales.size
        return ((v.astype(np.float64) - zps.reshape(shape)) * scales.reshape(shape)).astype(np.float32)
    if v.dtype in (np.int8, np.uint8, np.int16) and scale:
        return ((v.astype(np.float64) - zp) * scale).astype(np.float32)
    return None


def label(name: str, op: str = "") -> str:
    """Best readable name from a TFLite tensor name (which embeds the PyTorch module path)."""
    if name.startswith("serving_default_"):
        return "output " + re.sub(r"(_output)?(_dequant)?(:\d+)?$", "", name[len("serving_default_"):])
    layer = next((f"{k.replace('_', ' ')} ({v}) " for k, v in NCP_LAYERS.items() if k in name), "")
    for key, text in {**CFC_MODULES, **RNN_PARAMS}.items():
        if re.search(rf"(^|[./_;]){re.escape(key)}([./_;:]|$)", name):
            return layer + text
    if re.search(r"(^|[./_;])head([./_;:]|$)", name):
        return "output head"
    if op == "CONCATENATION":
        return layer + "input concat"
    return layer + (f"cell {op.lower()}" if op else short_name(name))


def analyse_tflite(ref_path, q_path, ref_entry: dict, q_entry: dict, seqs, kind: str):
    """-> (tensor errors, output SQNR, steps) for a step-graph pair."""
    ref, q = _interpreter(ref_path), _interpreter(q_path)
    r_in = _bind(ref, ref_entry["io"]["inputs"], outputs=False)
    q_in = _bind(q, q_entry["io"]["inputs"], outputs=False)
    r_out = _bind(ref, ref_entry["io"]["outputs"], outputs=True)
    q_y = _bind(q, q_entry["io"]["outputs"], outputs=True)[0]
    r_tensors = {d["name"]: d for d in ref.get_tensor_details()}
    q_tensors = {d["name"]: d for d in q.get_tensor_details()}
    common = [n for n in r_tensors if n in q_tensors and n]
    produced, inputs_of, ops = set(), {}, {}
    try:
        by_index = {d["index"]: d["name"] for d in ref.get_tensor_details()}
        for op in ref._get_ops_details():  # noqa: SLF001 - the only way to get the graph
            for o in op["outputs"]:
                name = by_index.get(o)
                produced.add(name)
                ops[name] = op["op_name"]
                inputs_of[name] = [by_index.get(i) for i in op["inputs"] if i in by_index]
    except Exception:  # noqa: BLE001 - older interpreters: no op details, treat all as activations
        produced = set(common)
    acc_r: dict[str, list] = {n: [] for n in common}
    acc_q: dict[str, list] = {n: [] for n in common}
    weights_done, y_r, y_q, steps = set(), [], [], 0
    sizes = [int(np.prod(d["shape"][1:])) for d in r_in[2:]]
    for x, dt in seqs:
        state = [np.zeros((1, n), np.float32) for n in sizes]
        for t in range(len(x)):
            feeds = [x[t][None], np.array([[dt[t]]], np.float32), *state]
            for interp, dets in ((ref, r_in), (q, q_in)):
                for d, v in zip(dets, feeds):
                    interp.set_tensor(d["index"], v.reshape(d["shape"]).astype(np.float32))
                interp.invoke()
            for n in common:
                if n not in produced and n in weights_done:
                    continue
                a, b = _value(ref, r_tensors[n]), _value(q, q_tensors[n])
                if a is not None and b is not None and a.shape == b.shape:
                    acc_r[n].append(a.ravel().copy())
                    acc_q[n].append(b.ravel().copy())
                if n not in produced:
                    weights_done.add(n)
            y_r.append(ref.get_tensor(r_out[0]["index"]).ravel().copy())
            y_q.append(_value(q, q_y).ravel().copy())
            state = [ref.get_tensor(d["index"]).copy() for d in r_out[1:]]
            steps += 1
    errors = {n: compare(np.concatenate(acc_r[n]), np.concatenate(acc_q[n])) for n in common if acc_r[n]}
    act = {n: e for n, e in errors.items() if n in produced}
    added = added_at_ops(act, inputs_of)
    peak = peak_added_at_ops(act, {n: span(np.concatenate(acc_r[n])) for n in act}, inputs_of)
    input_names = {d["name"] for d in r_in}
    tensors = [TensorError(short_name(n), label(n, ops.get(n, "")), ops.get(n, ""), "activation", *e, added[n], n, peak[n])
               for n, e in act.items() if n not in input_names]
    tensors += [TensorError(short_name(n), label(n), "weight", "weight", *e, tensor=n) for n, e in errors.items()
                if n not in produced and n not in input_names and np.isfinite(e[0])]
    out_sqnr = compare(np.concatenate(y_r), np.concatenate(y_q))[0] if y_r else None
    return tensors, out_sqnr, steps
