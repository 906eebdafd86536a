"""PyTorch graph -> fp32 .onnx: the dynamo exporter first, the TorchScript exporter as fallback.

step: ``StepGraph`` traced at batch 1, its batch axis then made dynamic (B streams, each row with
its own dt and state) once a batch of 3 is checked to equal each row run alone; where it is not,
the graph stays at batch 1 and the note says why. seq: dynamic batch and time, state in/out — ``ScanGraph``
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
from .inspect import check_io, conform_io, free_batch, strip_metadata

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


BATCH_TOL = 1e-6      # a row's result in a batch vs alone: kernels may sum in another order


def _batch_dynamic(proto: onnx.ModelProto, model, spec: dict) -> str:
    """Free the step graph's batch axis when a batch of 3 streams equals each stream alone
    (within BATCH_TOL relative: onnxruntime's kernels may sum in another order at another batch
    size; rows that meet differ by far more); else leave batch 1, pin ``spec`` to it and say why."""
    import numpy as np
    import onnxruntime as ort

    trial = onnx.ModelProto()
    trial.CopyFrom(proto)
    free_batch(trial)
    rng = np.random.default_rng(0)
    names = [i["name"] for i in spec["inputs"]]
    feeds = {n: rng.standard_normal((3, int(i["shape"][1]))).astype(np.float32) for n, i in
             zip(names, spec["inputs"])}
    feeds["dt"] = rng.uniform(0.2, 3.0, (3, 1)).astype(np.float32)
    why = ""
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(trial.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        big = sess.run(None, feeds)
        for r in range(3):
            one = sess.run(None, {k: v[r:r + 1] for k, v in feeds.items()})
            if any(not np.allclose(b[r:r + 1], o, rtol=BATCH_TOL, atol=BATCH_TOL) for b, o in zip(big, one)):
                why = "a batch of streams differs from each stream alone"
                break
    except Exception as exc:  # noqa: BLE001 - onnxruntime refuses the freed graph: keep batch 1
        why = f"onnxruntime cannot run it at batch 3 ({type(exc).__name__})"
    if why:
        for side in ("inputs", "outputs"):
            for t in spec[side]:
                t["shape"] = [1, *t["shape"][1:]]
        return f"batch 1 only: {why}"
    free_batch(proto)
    return "batch of streams dynamic"


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
            batch_note = _batch_dynamic(proto, model, spec) if graph == "step" else ""
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
        if batch_note:
            note += f"; {batch_note}"
        if pinned:
            note += f"; static dims restored: {', '.join(pinned)}"
        if failures:
            note += f"; fallback after {failures[0]}"
        ins, outs = io_names(model)
        return {"io": {"inputs": ins, "outputs": outs}, "note": note, "exporter": name, "loop": loop}
    raise ConversionError(f"ONNX export of the {graph} graph failed: {' | '.join(failures)}")
