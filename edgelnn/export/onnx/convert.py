"""PyTorch graph -> fp32 .onnx: the dynamo exporter first, the TorchScript exporter as fallback.

step: ``StepGraph`` at batch 1. seq: dynamic batch and time, state in/out — ``ScanGraph``
(ONNX Scan) through dynamo, else a scripted loop (ONNX Loop) through TorchScript.
After every export: per-node metadata stripped, io names/shapes/dtypes asserted
(``check_io``), ``onnx.checker`` run.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import onnx
import torch

from ..errors import ConversionError, ShapeError
from ..graphs import ScanGraph, StepGraph, io_names, sample_inputs, scripted_loop
from ..specs import BATCH, TIME, tensor_specs
from .inspect import check_io, conform_io, strip_metadata

GRAPHS = ("step", "seq")
EXPORTERS = ("dynamo", "torchscript")
TORCHSCRIPT_OPSET = 17


@contextlib.contextmanager
def _quiet():
    """The exporters log per-op warnings (torchvision missing, deprecations) we do not act on."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "torch.fx",
                                               "torch._dynamo", "torch.onnx._internal")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _seq_sample(model):
    return sample_inputs(model, batch=2, steps=3)


def _dynamo(model, graph: str) -> onnx.ModelProto:
    ins, outs = io_names(model)
    if graph == "step":
        module, args, dyn = StepGraph(model), sample_inputs(model, 1), None
    else:
        b, t = torch.export.Dim(BATCH), torch.export.Dim(TIME)
        module, args = ScanGraph(model), _seq_sample(model)
        dyn = {"x": {0: b, 1: t}, "dt": {0: b, 1: t}, "state": tuple({0: b} for _ in model.state_spec)}
    program = torch.onnx.export(module.eval(), args, None, dynamo=True, input_names=ins,
                                output_names=outs, dynamic_shapes=dyn, optimize=True,
                                verbose=False, report=False)
    return program.model_proto


def _torchscript(model, graph: str) -> onnx.ModelProto:
    ins, outs = io_names(model)
    if graph == "step":
        module, args, axes = StepGraph(model).eval(), sample_inputs(model, 1), None
    else:
        module, args = scripted_loop(model), _seq_sample(model)
        axes = {"x": {0: BATCH, 1: TIME}, "dt": {0: BATCH, 1: TIME}, "y": {0: BATCH, 1: TIME},
                **{n: {0: BATCH} for n in [*ins[2:], *outs[1:]]}}
    buf = io.BytesIO()
    torch.onnx.export(module, args, buf, dynamo=False, input_names=ins, output_names=outs,
                      dynamic_axes=axes, opset_version=TORCHSCRIPT_OPSET)
    return onnx.load_from_string(buf.getvalue())


_EXPORTERS = {"dynamo": _dynamo, "torchscript": _torchscript}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("-", "#"))]
    # torch.onnx puts the cause under "## Exception summary"
    if "Exception summary" in text:
        tail = text.split("Exception summary", 1)[1].strip().splitlines()
        lines = [ln for ln in tail if ln.strip()][:2] or lines
    return f"{type(exc).__name__}: {' '.join(lines[:2])[:240]}" if lines else type(exc).__name__


def convert(model, graph: str, out_path, chunk: int | None = None, *, exporter: str | None = None) -> dict:
    """Export ``graph`` ("step" or "seq") of ``model`` to ``out_path`` as fp32 ONNX.

    ``exporter`` None tries dynamo, then TorchScript; naming one uses only it.
    Returns {"io": {"inputs": [...], "outputs": [...]}, "note": str, "exporter": str,
    "ops": loop op ("Scan"/"Loop") or None}. ``chunk`` is ignored (ONNX seq graphs are dynamic).
    """
    if graph not in GRAPHS:
        raise ValueError(f"unknown graph {graph!r}; use one of: {', '.join(GRAPHS)}")
    order = EXPORTERS if exporter is None else (exporter,)
    if any(e not in _EXPORTERS for e in order):
        raise ValueError(f"unknown ONNX exporter {exporter!r}; use one of: {', '.join(EXPORTERS)}")
    model.eval()
    spec = tensor_specs(model, graph)
    failures = []
    for name in order:
        try:
            with _quiet(), torch.no_grad():
                proto = _EXPORTERS[name](model, graph)
            strip_metadata(proto)
            pinned = conform_io(proto, spec)
            check_io(proto, spec, f"{graph} graph ({name} exporter)")
            onnx.checker.check_model(proto, full_check=False)
        except ShapeError as exc:
            failures.append(f"{name}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - exporters raise anything; we keep the cause
            failures.append(f"{name}: {_first_line(exc)}")
            continue
        out_path = Path(out_path)
        onnx.save_model(proto, str(out_path))
        check_io(onnx.load(str(out_path), load_external_data=False), spec, out_path.name)
        loop = next((op for op in ("Scan", "Loop") if any(n.op_type == op for n in proto.graph.node)), None)
        note = f"{name} exporter, opset {proto.opset_import[0].version}"
        if loop:
            note += f", ONNX {loop}"
        if pinned:
            note += f"; static dims restored: {', '.join(pinned)}"
        if failures:
            note += f"; fallback after {failures[0]}"
        ins, outs = io_names(model)
        return {"io": {"inputs": ins, "outputs": outs}, "note": note, "exporter": name, "loop": loop}
    raise ConversionError(f"ONNX export of the {graph} graph failed: {' | '.join(failures)}")
