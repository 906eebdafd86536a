"""A head of the user's own class -> a graph spec that ``edgelnn.models.heads.GraphHead`` rebuilds.

``torch.fx.symbolic_trace`` turns the head's forward into calls of torch's own layers (leaves),
functions and tensor methods; each must be one ``models.heads`` knows, else the import is refused
in one line naming the op. Parameters and buffers keep the user's attribute paths (their values
come with the state dict); a plain tensor attribute is stored in the spec as a constant.
"""
from __future__ import annotations

import builtins

import torch
from torch import nn

from ..models.heads import ATTRIBUTES, FUNCTIONS, LAYERS, METHODS
from .describe import UnsupportedModuleError, describe_layer

_NAMES = {id(fn): name for name, fn in FUNCTIONS.items()}
MAX_CONSTANT = 4096        # elements of a plain tensor attribute stored in the spec


def _fn_name(fn) -> str:
    mod = getattr(fn, "__module__", None) or ""
    return f"{mod}.{getattr(fn, '__name__', repr(fn))}".lstrip(".")


def _encode(value, where: str):
    import torch.fx as fx

    if isinstance(value, fx.Node):
        return {"node": value.name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, slice):
        return {"slice": [_encode(v, where) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    raise UnsupportedModuleError(f"{where}: an argument of type {type(value).__name__} ({value!r:.60}) "
                                 "cannot be stored")


def describe_graph_head(head: nn.Module) -> dict:
    """Trace ``head`` and describe it; UnsupportedModuleError names the first op that cannot be
    represented."""
    import torch.fx as fx

    cls = type(head).__qualname__
    supported = (f"supported in a head's forward: torch layers {', '.join(k for k in LAYERS if k != 'Sequential')}; "
                 f"functions {', '.join(FUNCTIONS)}; tensor methods {', '.join(sorted(METHODS))}")
    try:
        graph = fx.symbolic_trace(head).graph
    except Exception as exc:  # noqa: BLE001 - the user's forward: report it in one line
        first = (str(exc).strip().splitlines() or [""])[0]
        raise UnsupportedModuleError(f"the head {cls} cannot be traced by torch.fx ({type(exc).__name__}: "
                                     f"{first[:160]}): its forward must not branch on tensor values") from None
    state = head.state_dict()
    nodes, modules, attrs = [], {}, {}
    for n in graph.nodes:
        where = f"the head {cls}"
        target = n.target
        if n.op == "placeholder":
            if nodes:
                raise UnsupportedModuleError(f"{where} takes a second input {n.name!r}; a head takes the step's "
                                             "output only")
        elif n.op == "call_module":
            layer = head.get_submodule(target)
            try:
                modules[target] = describe_layer(layer)
            except UnsupportedModuleError:
                raise UnsupportedModuleError(f"{where} calls {type(layer).__module__}.{type(layer).__name__} "
                                             f"({target!r}), which cannot be represented; {supported}") from None
        elif n.op == "get_attr":
            value = _attr(head, target)
            if not isinstance(value, torch.Tensor):
                raise UnsupportedModuleError(f"{where} reads {target!r}, a {type(value).__name__}, not a tensor")
            if target in state:
                attrs[target] = {"kind": "parameter" if isinstance(value, nn.Parameter) else "buffer",
                                 "shape": list(value.shape)}
            elif value.numel() <= MAX_CONSTANT and value.dtype in (torch.float32, torch.float64, torch.int64):
                dtype = "float32" if value.is_floating_point() else "int64"     # as the weights: float32
                attrs[target] = {"kind": "constant", "value": value.tolist(), "dtype": dtype}
            else:
                raise UnsupportedModuleError(f"{where} reads the tensor {target!r} ({value.dtype}, {value.numel()} "
                                             "elements), which is neither in its state_dict nor a small constant; "
                                             "register it as a parameter or buffer")
        elif n.op == "call_function":
            if target is builtins.getattr and n.args[1] in ATTRIBUTES:
                target = "getattr"
            elif id(target) in _NAMES:
                target = _NAMES[id(target)]
            else:
                raise UnsupportedModuleError(f"{where} calls {_fn_name(target)}, which cannot be represented; "
                                             f"{supported}")
        elif n.op == "call_method":
            if target not in METHODS:
                raise UnsupportedModuleError(f"{where} calls the tensor method .{target}(), which cannot be "
                                             f"represented; {supported}")
        elif n.op == "output":
            if not isinstance(n.args[0], fx.Node):
                raise UnsupportedModuleError(f"{where} returns {type(n.args[0]).__name__}; a head returns one tensor")
        nodes.append({"op": n.op, "name": n.name, "target": target if isinstance(target, str) else str(target),
                      "args": _encode(list(n.args), where), "kwargs": {k: _encode(v, where)
                                                                      for k, v in n.kwargs.items()}})
    return {"type": "Graph", "class": cls, "nodes": nodes, "modules": modules, "attrs": attrs}


def _attr(root: nn.Module, path: str):
    value = root
    for name in path.split("."):
        value = getattr(value, name)
    return value
