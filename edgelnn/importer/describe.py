"""The user's module -> a JSON structure that ``edgelnn.models.imported`` rebuilds (one pass per
module family, keyed by the module's type). Nothing is pickled: the structure is plain data and
the weights keep the user's parameter names."""
from __future__ import annotations

from torch import nn

from ..errors import InputError
from ..models.imported import HEAD_LAYERS, wiring_spec

SUPPORTED = ("ncps.torch CfC, LTC, CfCCell, WiredCfCCell, LTCCell (any wiring: FullyConnected, NCP, AutoNCP, "
             "Random); torch.nn LSTM, GRU, RNN (any num_layers, batch_first either way, bias on/off, LSTM "
             "proj_size; not bidirectional); an edgelnn model (SequenceModel)")
HEADS = ("Linear, a Sequential of " + ", ".join(k for k in HEAD_LAYERS if k != "Sequential")
         + ", None, or a module of your own whose forward torch.fx can trace into these and known tensor ops")


class UnsupportedModuleError(InputError):
    """A module type the importer cannot rebuild."""


def _activation(cell) -> str:
    from ncps.torch.cfc_cell import LeCun

    if cell.backbone is None:
        return "lecun_tanh"
    names = {LeCun: "lecun_tanh", nn.SiLU: "silu", nn.ReLU: "relu", nn.Tanh: "tanh", nn.GELU: "gelu"}
    for layer in cell.backbone:
        for cls, name in names.items():
            if type(layer) is cls:
                return name
    return "lecun_tanh"


def _backbone(cell) -> dict:
    units = cell.backbone[0].out_features if cell.backbone_layers > 0 else 0
    drop = [m.p for m in (cell.backbone or []) if isinstance(m, nn.Dropout)]
    return {"activation": _activation(cell), "backbone_units": int(units),
            "backbone_layers": int(cell.backbone_layers), "backbone_dropout": float(drop[0]) if drop else 0.0}


def _ltc_args(cell) -> dict:
    return {"input_mapping": cell._input_mapping, "output_mapping": cell._output_mapping,
            "ode_unfolds": int(cell._ode_unfolds), "epsilon": float(cell._epsilon),
            "implicit_param_constraints": bool(cell._implicit_param_constraints)}


def describe_rnn(module: nn.Module) -> dict:
    """{"type", "args"} of a supported recurrent module; else UnsupportedModuleError."""
    from ncps.torch import LTC, CfC, CfCCell, LTCCell, WiredCfCCell

    if isinstance(module, CfC):
        cell = module.rnn_cell
        args = {"input_size": int(module.input_size) if not isinstance(module.input_size, nn.Module) else None,
                "proj_size": module.proj_size, "mixed_memory": bool(module.use_mixed), "mode": cell.mode
                if isinstance(cell, CfCCell) else cell._layers[0].mode}
        if isinstance(cell, WiredCfCCell):
            args.update(wiring=wiring_spec(cell._wiring), input_size=int(cell._wiring.input_dim))
        else:
            args.update(units=int(cell.hidden_size), input_size=int(cell.input_size), **_backbone(cell))
        return {"type": "ncps.CfC", "args": args, "batch_first": bool(module.batch_first),
                "return_sequences": bool(module.return_sequences)}
    if isinstance(module, LTC):
        cell = module.rnn_cell
        args = {"input_size": int(cell._wiring.input_dim), "mixed_memory": bool(module.use_mixed),
                "wiring": wiring_spec(cell._wiring), **_ltc_args(cell)}
        return {"type": "ncps.LTC", "args": args, "batch_first": bool(module.batch_first),
                "return_sequences": bool(module.return_sequences)}
    if isinstance(module, WiredCfCCell):
        return {"type": "ncps.WiredCfCCell", "args": {"input_size": int(module._wiring.input_dim),
                                                      "wiring": wiring_spec(module._wiring),
                                                      "mode": module._layers[0].mode}}
    if isinstance(module, CfCCell):
        if module.sparsity_mask is not None:
            raise UnsupportedModuleError("a CfCCell with its own sparsity_mask: wrap it as WiredCfCCell with a wiring")
        return {"type": "ncps.CfCCell", "args": {"input_size": int(module.input_size),
                                                 "hidden_size": int(module.hidden_size), "mode": module.mode,
                                                 **_backbone(module)}}
    if isinstance(module, LTCCell):
        return {"type": "ncps.LTCCell", "args": {"input_size": int(module._wiring.input_dim),
                                                 "wiring": wiring_spec(module._wiring), **_ltc_args(module)}}
    if type(module) in (nn.LSTM, nn.GRU, nn.RNN):
        if module.bidirectional:
            raise UnsupportedModuleError(f"{type(module).__name__}(bidirectional=True): a bidirectional RNN reads "
                                         "the future and cannot stream on a device; train it unidirectional")
        args = {"input_size": int(module.input_size), "hidden_size": int(module.hidden_size),
                "num_layers": int(module.num_layers), "bias": bool(module.bias)}
        if isinstance(module, nn.LSTM):
            args["proj_size"] = int(module.proj_size)
        if isinstance(module, nn.RNN):
            args["nonlinearity"] = module.nonlinearity
        return {"type": f"torch.{type(module).__name__}", "args": args, "batch_first": bool(module.batch_first)}
    raise UnsupportedModuleError(f"cannot import a {type(module).__module__}.{type(module).__name__}; "
                                 f"supported: {SUPPORTED}")


def describe_head(head) -> dict | None:
    """The head as a tree of torch's own layers, or, for a head of the user's own class (or a tree
    holding one), its forward traced into a graph of known ops (``trace_head``)."""
    if head is None:
        return None
    try:
        return describe_layer(head)
    except UnsupportedModuleError:
        from .trace_head import describe_graph_head

        return describe_graph_head(head)


def describe_layer(layer) -> dict:
    """One of torch's own layers (``HEAD_LAYERS``, Sequential of them) as {"type", "args"}."""
    kind = type(layer).__name__
    if type(layer).__module__.split(".")[0] != "torch" or kind not in HEAD_LAYERS:
        raise UnsupportedModuleError(f"cannot import a head of type {type(layer).__module__}.{kind}; supported "
                                     f"heads: {HEADS}")
    if isinstance(layer, nn.Sequential):
        return {"type": "Sequential", "children": [[name, describe_layer(child)] for name, child
                                                   in layer.named_children()]}
    args = {}
    if isinstance(layer, nn.Linear):
        args = {"in_features": layer.in_features, "out_features": layer.out_features, "bias": layer.bias is not None}
    elif isinstance(layer, nn.ELU):
        args = {"alpha": layer.alpha}
    elif isinstance(layer, nn.LeakyReLU):
        args = {"negative_slope": layer.negative_slope}
    elif isinstance(layer, nn.Softplus):
        args = {"beta": layer.beta, "threshold": layer.threshold}
    elif isinstance(layer, nn.GELU):
        args = {"approximate": layer.approximate}
    elif isinstance(layer, nn.Dropout):
        args = {"p": layer.p}
    elif isinstance(layer, nn.LayerNorm):
        args = {"normalized_shape": list(layer.normalized_shape), "eps": layer.eps,
                "elementwise_affine": layer.elementwise_affine, "bias": layer.bias is not None}
    elif isinstance(layer, (nn.Softmax, nn.LogSoftmax)):
        args = {"dim": layer.dim}
    return {"type": kind, "args": args}


def output_size(structure: dict, rnn: nn.Module, head: nn.Module | None) -> int:
    """The step output's width: the head's out_features, else the recurrent module's output."""
    import torch

    from ..models.imported import ImportedStep

    cell = ImportedStep(1, 1, 1, structure)
    x = torch.zeros(1, int(structure["args"]["input_size"]))
    with torch.no_grad():
        try:
            y, _ = cell(x, torch.ones(1, 1), torch.zeros(1, cell.state_spec[0][1]))
        except RuntimeError as exc:
            raise UnsupportedModuleError(f"the head does not fit the {structure['type']} module's output "
                                         f"({str(exc).splitlines()[0][:120]}); return the head your module was "
                                         "trained with") from None
    return int(y.shape[1])
