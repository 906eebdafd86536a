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
HEADS = ("Linear, a Sequential of " + ", ".join(k for k in HEAD_LAYERS if k != "Sequential") + ", or None")


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
    """The head as a tree of known layers; a custom module is refused (its forward is code)."""
    if head is None:
        return None
    kind = type(head).__name__
    if type(head).__module__.split(".")[0] != "torch" or kind not in HEAD_LAYERS:
        raise UnsupportedModuleError(f"cannot import a head of type {type(head).__module__}.{kind}; supported "
                                     f"heads: {HEADS}")
    if isinstance(head, nn.Sequential):
        return {"type": "Sequential", "children": [[name, describe_head(child)] for name, child
                                                   in head.named_children()]}
    args = {}
    if isinstance(head, nn.Linear):
        args = {"in_features": head.in_features, "out_features": head.out_features, "bias": head.bias is not None}
    elif isinstance(head, nn.ELU):
        args = {"alpha": head.alpha}
    elif isinstance(head, nn.LeakyReLU):
        args = {"negative_slope": head.negative_slope}
    elif isinstance(head, nn.Softplus):
        args = {"beta": head.beta, "threshold": head.threshold}
    elif isinstance(head, nn.GELU):
        args = {"approximate": head.approximate}
    elif isinstance(head, nn.Dropout):
        args = {"p": head.p}
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
