"""PyTorch graph -> fp32 .tflite with litert-torch (no TensorFlow).

The graph is traced with keyword inputs and returns a dict, so the file's signature
``serving_default`` has exactly the canonical names: inputs ``x, dt, h(, c)`` and outputs
``y, h_out(, c_out)``. The tensors themselves are called ``serving_default_x`` ...
``serving_default_y_output``; a runner binds through the signature keys.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
from torch import nn

from ..graphs import StepGraph, WindowGraph, io_names, sample_inputs
from .readback import SIGNATURE, TFLiteExportError, read_io

GRAPHS = ("step", "seq")


class _Named(nn.Module):
    """Keyword inputs in, dict out: litert-torch names the signature after them."""

    def __init__(self, graph: nn.Module, inputs: list[str], outputs: list[str]):
        super().__init__()
        self.wrapped = graph  # not "graph": that name clashes with fx.GraphModule.graph
        self.inputs = list(inputs)
        self.outputs = list(outputs)

    def forward(self, **feeds):
        results = self.wrapped(*[feeds[name] for name in self.inputs])
        return {name: value for name, value in zip(self.outputs, results)}


@contextlib.contextmanager
def _quiet_progress():
    """litert-torch prints a progress tree to stdout unless told not to (env var)."""
    key = "LITERT_TORCH_SHOW_PROGRESS"
    old = os.environ.get(key)
    os.environ[key] = "n"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def _graph_and_sample(model, graph: str, chunk: int | None, batch: int = 1):
    if graph == "step":
        return StepGraph(model), sample_inputs(model, batch=batch)
    if graph == "seq":
        if chunk is None or int(chunk) < 1:
            raise ValueError("the TFLite seq graph is a fixed window: give chunk >= 1")
        return WindowGraph(model, int(chunk)), sample_inputs(model, batch=1, steps=int(chunk))
    raise ValueError(f"unknown graph {graph!r}; use one of: {', '.join(GRAPHS)}")


def convert(model, graph: str, out_path, chunk: int | None = None, *, batch: int = 1) -> dict:
    """Convert ``model``'s step cell (graph "step") or a ``chunk``-step window (graph "seq").

    Batch 1 (a step graph: ``batch`` streams, one row each), float32 in and out, state in and out. Returns ``{"io": {"inputs": [...],
    "outputs": [...]}, "note": str, "signature": "serving_default"}``; ``io`` lists the
    signature names in canonical order (x, dt, states / y, states_out).
    """
    import litert_torch

    inputs, outputs = io_names(model)
    module, sample = _graph_and_sample(model, graph, chunk, batch)
    model.eval()
    named = _Named(module, inputs, outputs).eval()
    feeds = {name: t.to(torch.float32) for name, t in zip(inputs, sample)}
    with torch.no_grad():
        expected = [tuple(t.shape) for t in module(*sample)]
    out_path = Path(out_path)
    try:
        with _quiet_progress(), torch.no_grad():
            edge = litert_torch.convert(named, sample_kwargs=feeds)
            edge.export(str(out_path))
    except Exception as exc:  # litert-torch raises many kinds; keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TFLiteExportError(
            f"litert-torch could not convert the {model.kind} {graph} graph: {first}") from exc

    io = read_io(out_path)
    _check_io(io, inputs, outputs,
              {n: tuple(t.shape) for n, t in feeds.items()}, dict(zip(outputs, expected)))
    note = (f"litert-torch {litert_torch.__version__}, signature {SIGNATURE!r}"
            + (f", window of {int(chunk)} steps (unrolled)" if graph == "seq" else "")
            + (f", batch of {batch} streams" if batch != 1 else ""))
    return {"io": {"inputs": inputs, "outputs": outputs}, "note": note, "signature": SIGNATURE}


def _check_io(io: dict, inputs, outputs, in_shapes: dict, out_shapes: dict) -> None:
    """The written file must have exactly the canonical names, shapes and float32."""
    for kind, names, shapes in (("input", inputs, in_shapes), ("output", outputs, out_shapes)):
        found = io[f"{kind}s"]
        if sorted(found) != sorted(names):
            raise TFLiteExportError(
                f"the .tflite {kind}s are {sorted(found)}, expected {sorted(names)}")
        for name in names:
            shape, dtype = found[name]
            if tuple(shape) != tuple(shapes[name]) or dtype != "float32":
                raise TFLiteExportError(
                    f"the .tflite {kind} {name!r} is {dtype}{list(shape)}, "
                    f"expected float32{list(shapes[name])}")
