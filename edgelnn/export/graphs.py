"""Torch modules with the exact signatures that get exported.

Each wraps ``model.cell.export_module()``: the cell's function in the form the exporters handle
(LTC: ncps's dense cell; it trains over its active synapses only, see models.ltc_fast).

``StepGraph``: (x, dt, *state) -> (y, *state_out), the streaming cell.
``WindowGraph``: (x[B,T,C], dt[B,T], *state) -> (y[B,T,O], *state_out) for a fixed T
(the loop is unrolled; used where a runtime cannot lower a dynamic loop, e.g. TFLite).
"""
from __future__ import annotations

import torch
from torch import nn


class StepGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.cell = model.cell.export_module()

    def forward(self, x, dt, *state):
        _rebind_param_dicts(self.cell)  # else the ONNX exporter stores LTC's weights once per use
        return tuple(self.cell(x, dt, *state))


class WindowGraph(nn.Module):
    def __init__(self, model, chunk: int):
        super().__init__()
        self.cell = model.cell.export_module()
        self.chunk = int(chunk)

    def forward(self, x, dt, *state):
        outputs = []
        for t in range(self.chunk):
            y, *state = self.cell(x[:, t], dt[:, t:t + 1], *state)
            outputs.append(y)
        return (torch.stack(outputs, dim=1), *state)


def io_names(model) -> tuple[list[str], list[str]]:
    """Canonical input and output names: [x, dt, h(, c)] and [y, h_out(, c_out)]."""
    states = [name for name, _ in model.state_spec]
    return ["x", "dt", *states], ["y", *[f"{s}_out" for s in states]]


def sample_inputs(model, batch: int = 1, steps: int | None = None):
    """Example tensors for tracing; dt > 0 (LTC divides by it)."""
    if steps is None:
        x = torch.randn(batch, model.input_size)
        dt = torch.ones(batch, 1)
    else:
        x = torch.randn(batch, steps, model.input_size)
        dt = torch.ones(batch, steps)
    return (x, dt, *model.initial_state(batch))


def _rebind_param_dicts(module: nn.Module) -> None:
    """ncps LTC keeps its parameters in a plain dict as well; point it at the registered
    ones so that torch.export sees the (fake) parameters instead of real tensors."""
    for sub in module.modules():
        params = getattr(sub, "_params", None)
        if isinstance(params, dict) and all(isinstance(getattr(sub, k, None), nn.Parameter) for k in params):
            sub._params = {k: getattr(sub, k) for k in params}


class ScanGraph(nn.Module):
    """(x[B,T,C], dt[B,T], *state) -> (y[B,T,O], *state_out) with B and T dynamic.

    The time loop is ``torch._higher_order_ops.scan``, which the dynamo ONNX exporter
    lowers to an ONNX ``Scan``.
    """

    def __init__(self, model):
        super().__init__()
        self.cell = model.cell.export_module()

    def forward(self, x, dt, *state):
        from torch._higher_order_ops.scan import scan

        _rebind_param_dicts(self.cell)

        def combine(carry, inputs):
            xt, dtt = inputs
            y, *new = self.cell(xt, dtt, *carry)
            return [s.clone() for s in new], y

        carry, ys = scan(combine, list(state), [x.transpose(0, 1), dt.transpose(0, 1).unsqueeze(-1)])
        return (ys.transpose(0, 1), *carry)


def scripted_loop(model) -> torch.jit.ScriptModule:
    """The same seq graph as a TorchScript loop (traced cell inside a scripted ``for``);
    the TorchScript ONNX exporter lowers it to an ONNX ``Loop`` (the fallback path)."""
    n_state = len(model.state_spec)
    cell = torch.jit.trace(StepGraph(model).eval(), sample_inputs(model, 1))
    module = (_Loop1 if n_state == 1 else _Loop2)(cell)
    return torch.jit.script(module)


class _Loop1(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x, dt, h):
        ys: list[torch.Tensor] = []
        for t in range(x.shape[1]):
            y, h = self.cell(x[:, t], dt[:, t:t + 1], h)
            ys.append(y)
        return torch.stack(ys, 1), h


class _Loop2(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x, dt, h, c):
        ys: list[torch.Tensor] = []
        for t in range(x.shape[1]):
            y, h, c = self.cell(x[:, t], dt[:, t:t + 1], h, c)
            ys.append(y)
        return torch.stack(ys, 1), h, c
