"""Heads of imported models, rebuilt from plain data (no pickled code).

Two forms of spec:
- a layer tree: ``{"type": "Linear" | "Sequential" | ..., "args": {...}}`` for torch's own layers
  (``LAYERS``: constructor arguments, all JSON);
- a graph: ``{"type": "Graph", "nodes": [...], "modules": {...}, "attrs": {...}}`` for a head of
  the user's own class, traced by ``torch.fx`` at import (``edgelnn.importer.trace_head``) into
  calls of known layers, functions (``FUNCTIONS``) and tensor methods (``METHODS``).
  ``GraphHead`` runs the nodes in order; exporters trace through it and see plain tensor ops.

A graph's modules and parameters sit at the user's own attribute paths, so the user's state dict
loads into the rebuilt head as it is.
"""
from __future__ import annotations

import builtins
import operator

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError

# head layers rebuilt from their type name; args are the constructor's (all JSON)
LAYERS = {
    "Linear": lambda a: nn.Linear(a["in_features"], a["out_features"], bias=a["bias"]),
    "Identity": lambda a: nn.Identity(),
    "ReLU": lambda a: nn.ReLU(),
    "Tanh": lambda a: nn.Tanh(),
    "Sigmoid": lambda a: nn.Sigmoid(),
    "SiLU": lambda a: nn.SiLU(),
    "ELU": lambda a: nn.ELU(alpha=a.get("alpha", 1.0)),
    "LeakyReLU": lambda a: nn.LeakyReLU(a.get("negative_slope", 0.01)),
    "Softplus": lambda a: nn.Softplus(beta=a.get("beta", 1.0), threshold=a.get("threshold", 20.0)),
    "GELU": lambda a: nn.GELU(approximate=a.get("approximate", "none")),
    "Dropout": lambda a: nn.Dropout(a.get("p", 0.0)),   # identity in eval: what runs on a device
    "LayerNorm": lambda a: nn.LayerNorm(a["normalized_shape"], eps=a["eps"],
                                        elementwise_affine=a["elementwise_affine"], bias=a["bias"]),
    "Softmax": lambda a: nn.Softmax(dim=a["dim"]),
    "LogSoftmax": lambda a: nn.LogSoftmax(dim=a["dim"]),
    "Sequential": None,                                   # children rebuilt in order
}

# functions a traced head may call, keyed by the name stored in the spec
FUNCTIONS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "neg": operator.neg, "pow": operator.pow, "matmul": operator.matmul, "getitem": operator.getitem,
    "torch.add": torch.add, "torch.sub": torch.sub, "torch.mul": torch.mul, "torch.div": torch.div,
    "torch.neg": torch.neg, "torch.matmul": torch.matmul, "torch.tanh": torch.tanh, "torch.sigmoid": torch.sigmoid,
    "torch.relu": torch.relu, "torch.exp": torch.exp, "torch.abs": torch.abs, "torch.sqrt": torch.sqrt,
    "torch.clamp": torch.clamp, "torch.cat": torch.cat, "torch.sum": torch.sum, "torch.mean": torch.mean,
    "torch.softmax": torch.softmax, "torch.reshape": torch.reshape, "torch.flatten": torch.flatten,
    "F.linear": F.linear, "F.relu": F.relu, "F.gelu": F.gelu, "F.silu": F.silu, "F.elu": F.elu,
    "F.leaky_relu": F.leaky_relu, "F.softplus": F.softplus, "F.tanh": F.tanh, "F.sigmoid": F.sigmoid,
    "F.dropout": F.dropout, "F.layer_norm": F.layer_norm, "F.softmax": F.softmax,
    "F.log_softmax": F.log_softmax, "F.hardtanh": F.hardtanh,
}
# tensor methods a traced head may call (x.relu(), x.view(-1, 4), x.size(-1), ...)
METHODS = {"add", "sub", "mul", "div", "neg", "pow", "matmul", "tanh", "sigmoid", "relu", "exp", "abs", "sqrt",
           "clamp", "sum", "mean", "softmax", "log_softmax", "reshape", "view", "flatten", "unsqueeze", "squeeze",
           "contiguous", "size"}
ATTRIBUTES = {"shape"}     # getattr(x, "shape") of a traced value


def build_head(spec: dict | None) -> nn.Module:
    if spec is None:
        return nn.Identity()
    kind = spec.get("type")
    if kind == "Graph":
        return GraphHead(spec)
    if kind not in LAYERS:
        raise InputError(f"unknown head layer {kind!r}; known: {', '.join(LAYERS)}, Graph")
    if kind == "Sequential":
        seq = nn.Sequential()
        for name, child in spec["children"]:
            seq.add_module(name, build_head(child))
        return seq
    return LAYERS[kind](spec.get("args", {}))


def decode(value, env: dict):
    """A stored argument -> its value (node references looked up in ``env``)."""
    if isinstance(value, list):
        return [decode(v, env) for v in value]
    if isinstance(value, dict):
        if "node" in value:
            return env[value["node"]]
        if "tuple" in value:
            return tuple(decode(v, env) for v in value["tuple"])
        if "slice" in value:
            return slice(*value["slice"])
        if "ellipsis" in value:
            return Ellipsis
        raise InputError(f"unknown argument form in a head graph: {sorted(value)}")
    return value


def _place(root: nn.Module, path: str) -> tuple[nn.Module, str]:
    """The module that holds ``path`` (containers made on the way) and the last name."""
    *parents, last = path.split(".")
    owner = root
    for name in parents:
        if not hasattr(owner, name):
            owner.add_module(name, nn.Module())
        owner = getattr(owner, name)
    return owner, last


class GraphHead(nn.Module):
    """A traced head: its known layers and parameters at the user's paths, run node by node."""

    def __init__(self, spec: dict):
        super().__init__()
        for path, layer in spec.get("modules", {}).items():
            owner, name = _place(self, path)
            owner.add_module(name, build_head(layer))
        for path, attr in spec.get("attrs", {}).items():
            owner, name = _place(self, path)
            if attr["kind"] == "constant":
                owner.register_buffer(name, torch.tensor(attr["value"], dtype=getattr(torch, attr["dtype"])),
                                      persistent=False)
            elif hasattr(owner, name):
                continue                       # a parameter of a layer rebuilt above
            elif attr["kind"] == "parameter":
                owner.register_parameter(name, nn.Parameter(torch.zeros(attr["shape"])))
            else:
                owner.register_buffer(name, torch.zeros(attr["shape"]))
        self.nodes = spec["nodes"]
        for n in self.nodes:
            known = {"call_function": FUNCTIONS, "call_method": METHODS, "call_module": None, "get_attr": None,
                     "placeholder": None, "output": None}
            if n["op"] not in known or (known[n["op"]] is not None and n["target"] not in known[n["op"]]
                                        and not (n["op"] == "call_function" and n["target"] == "getattr")):
                raise InputError(f"unknown head graph node {n['op']} {n['target']!r}")

    def forward(self, x):
        env: dict = {}
        for n in self.nodes:
            op, target, name = n["op"], n["target"], n["name"]
            if op == "placeholder":
                env[name] = x
                continue
            if op == "output":
                return decode(n["args"][0], env)
            args, kwargs = decode(n["args"], env), {k: decode(v, env) for k, v in n["kwargs"].items()}
            if op == "get_attr":
                owner, last = _place(self, target)
                env[name] = getattr(owner, last)
            elif op == "call_module":
                env[name] = self.get_submodule(target)(*args, **kwargs)
            elif op == "call_method":
                env[name] = getattr(args[0], target)(*args[1:], **kwargs)
            elif target == "getattr":
                if args[1] not in ATTRIBUTES:
                    raise InputError(f"head graph reads attribute {args[1]!r}; known: {', '.join(ATTRIBUTES)}")
                env[name] = builtins.getattr(args[0], args[1])
            else:
                env[name] = FUNCTIONS[target](*args, **kwargs)
        raise InputError("head graph has no output node")
