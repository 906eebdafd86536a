"""Readable layer names for exported graph tensors.

Built from what the ONNX exporter records: the PyTorch module scope of each node
(``pkg.torch.onnx.name_scopes``) and the names of the parameters it consumes
(``cell.rnn_cell.time_a.weight``), plus per-model knowledge of the cell's equations for ops that
belong to no submodule (the CfC time gate arithmetic, the LTC ODE unfolds, LSTM/GRU gates).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# CfC (ncps CfCCell): h = (1 - s) * ff1 + s * ff2,  s = sigmoid(time_a(x) * dt + time_b(x)).
CFC_MODULES = {
    "backbone": "backbone", "ff1": "ff1 branch", "ff2": "ff2 branch", "tanh": "ff1/ff2 tanh",
    "time_a": "time gate time_a", "time_b": "time gate time_b",
    "sigmoid": "time gate sigmoid(time_a·dt + time_b)",
}
NCP_LAYERS = {"layer_0": "inter", "layer_1": "command", "layer_2": "motor"}
RNN_PARAMS = {"weight_ih": "input projection W_ih·[x, dt]", "weight_hh": "recurrent projection W_hh·h"}
RNN_GATES = {  # torch's decomposition order of LSTMCell / GRUCell
    "lstm": {("Sigmoid", 1): "input gate i", ("Sigmoid", 2): "forget gate f",
             ("Tanh", 1): "cell candidate g", ("Sigmoid", 3): "output gate o", ("Tanh", 2): "tanh(c)"},
    "gru": {("Sigmoid", 1): "reset gate r", ("Sigmoid", 2): "update gate z", ("Tanh", 1): "candidate n"},
    "rnn": {("Tanh", 1): "tanh(W_ih·x + W_hh·h)"},
}


@dataclass
class Node:
    op: str
    output: str
    scopes: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # names of initializers it consumes


def strip(path: str) -> str:
    """'cell.rnn_cell.time_a.weight' -> 'time_a.weight'; 'cell.rnn_cell' -> ''."""
    for prefix in ("cell.", "rnn_cell."):
        if path.startswith(prefix):
            path = path[len(prefix):]
    return "" if path in ("cell", "rnn_cell") else path


def module_of(node: Node) -> str:
    """The submodule a node belongs to: from a consumed parameter, else its name scope."""
    for p in node.params:
        if p.endswith((".weight", ".bias")) and p.startswith("cell."):
            return strip(p.rsplit(".", 1)[0])
    mods = [s for s in node.scopes[:-1] if s]
    return strip(mods[-1]) if mods else ""


def label_nodes(kind: str, nodes: list[Node]) -> list[str]:
    """One readable label per node, in graph order."""
    return LABELLERS.get(kind, _generic)(nodes)


def _generic(nodes):
    return [module_of(n) or "cell" for n in nodes]


def _cfc(nodes):
    labels, phase, layer = [], "input", ""
    for n in nodes:
        mod = module_of(n)
        if mod == "head":
            labels.append("output head")
            continue
        parts = mod.split(".")
        if parts[0] in NCP_LAYERS:
            layer = f"{parts[0].replace('_', ' ')} ({NCP_LAYERS[parts[0]]}) "
            parts = parts[1:]
        sub = parts[0] if parts and parts[0] else ""
        if n.op == "Concat":
            labels.append(f"{layer}input concat [x, h]" if n.output != "h_out" else "state concat")
        elif n.op == "Split" and not mod:
            labels.append("state split per layer")
        elif sub in CFC_MODULES:
            labels.append(layer + CFC_MODULES[sub])
            phase = {"time_b": "gate", "sigmoid": "blend"}.get(sub, phase)
        elif phase == "gate":
            labels.append(f"{layer}time gate time_a·dt + time_b")
        elif phase == "blend":
            labels.append(f"{layer}state blend (1-s)·ff1 + s·ff2")
        else:
            labels.append(f"{layer}{sub or 'cell'}")
    return labels


def _ltc(nodes):
    """ncps LTCCell: one sigmoid for the sensory synapses, then one per fused ODE unfold."""
    labels, sigmoids = [], 0
    for n in nodes:
        if module_of(n) == "head":
            labels.append("output head")
            continue
        if n.op == "Sigmoid":
            sigmoids += 1
        labels.append("input mapping" if sigmoids == 0 else "sensory synapses" if sigmoids == 1
                      else f"ODE unfold {sigmoids - 1}")
    return labels


def _rnn_for(kind):
    def label(nodes):
        counts: dict[str, int] = {}
        out = []
        for n in nodes:
            mod = module_of(n)
            if mod == "head":
                out.append("output head")
                continue
            counts[n.op] = counts.get(n.op, 0) + 1
            param = next((RNN_PARAMS[k] for k in RNN_PARAMS if any(p.endswith(k) for p in n.params)), None)
            if param:
                out.append(param)
            elif n.op == "Concat":
                out.append("input concat [x, dt]")
            else:
                out.append(RNN_GATES[kind].get((n.op, counts[n.op]), "state update"))
        return out
    return label


def _gru_d(nodes):
    """GRU-D: the decay gamma = exp(-relu(w·dt + b)) and gamma ⊙ h come before the GRU update."""
    labels: list[str | None] = [None] * len(nodes)
    in_gru = False
    for i, n in enumerate(nodes):
        mod = module_of(n)
        in_gru = in_gru or mod.startswith("weight") or any("rnn_cell" in p for p in n.params)
        if mod == "decay":
            labels[i] = "time decay w·dt + b"
        elif not in_gru and n.op in ("Relu", "Neg", "Exp"):
            labels[i] = "time decay γ = exp(-max(0, w·dt + b))"
        elif not in_gru and n.op == "Mul":
            labels[i] = "decayed state γ⊙h"
    rest = [n for n, lab in zip(nodes, labels) if lab is None]
    gru = iter(_rnn_for("gru")(rest))
    return [lab if lab is not None else next(gru) for lab in labels]


LABELLERS = {"cfc": _cfc, "cfc-ncp": _cfc, "ltc": _ltc, "ltc-ncp": _ltc,
             "lstm": _rnn_for("lstm"), "gru": _rnn_for("gru"), "gru-d": _gru_d, "rnn": _rnn_for("rnn")}


def weight_label(name: str) -> str:
    return strip(name)
