"""The parity gate rejects broken artifacts; floats are never shown as int8; exporter fallbacks
and shape assertions; names are checked before any work."""
from __future__ import annotations

import importlib
import io
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from edgelnn import models
from edgelnn.export import export_bundle
from edgelnn.export.errors import ShapeError, UnknownNameError
from edgelnn.export.formats import resolve
from edgelnn.export.onnx.inspect import check_io
from edgelnn.export.specs import tensor_specs
from edgelnn.export.validate import parse_tolerances

# the modules (edgelnn.export.onnx re-exports functions of the same names)
convert_mod = importlib.import_module("edgelnn.export.onnx.convert")
quantize_mod = importlib.import_module("edgelnn.export.onnx.quantize")


def _perturbed_copy(src, dst, calibration, settings):
    """A 'quantizer' that ships wrong weights: every weight matrix + 5 % noise."""
    proto = onnx.load(str(src))
    rng = np.random.default_rng(0)
    for i, init in enumerate(proto.graph.initializer):
        w = numpy_helper.to_array(init)
        if w.ndim == 2:
            w = (w + 0.05 * rng.standard_normal(w.shape) * (np.abs(w).mean() + 1e-3)).astype(w.dtype)
            proto.graph.initializer[i].CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save_model(proto, str(dst))
    return "deliberately perturbed weights"


def test_gate_rejects_a_broken_artifact(monkeypatch, export_checkpoint, tmp_path):
    monkeypatch.setitem(quantize_mod._SCHEMES, "fp16", _perturbed_copy)
    out = tmp_path / "broken"
    report = export_bundle(export_checkpoint("cfc"), out, formats=["onnx"], schemes=["fp32", "fp16"],
                           graphs=["step"])
    status = {r.scheme: r for r in report.results}
    assert status["fp32"].status == "passed"
    bad = status["fp16"]
    assert bad.status == "rejected" and "max_abs" in bad.reason and bad.max_abs > 1e-2
    assert not report.ok
    m = json.loads((out / "manifest.json").read_text())
    assert [a["scheme"] for a in m["artifacts"]] == ["fp32"]
    (rej,) = m["rejected"]
    assert rej["scheme"] == "fp16" and rej["parity"]["max_abs"] == bad.max_abs and rej["reason"]
    assert not (out / rej["file"]).exists()


def test_gate_rejects_an_unsorted_onnx_graph(monkeypatch, export_checkpoint, tmp_path):
    """The fp16 converter's own output (input Casts after their consumers) without the re-sort:
    onnxruntime runs it, but it is not valid ONNX, so the gate rejects it with the checker's
    message; the sorted fp16 graph of the normal path passes the checker and the reference
    evaluator (issue 20)."""
    from edgelnn.export.checks import check_format

    ckpt = export_checkpoint("cfc")
    monkeypatch.setattr(quantize_mod, "toposort", lambda graph: False)
    out = tmp_path / "unsorted"
    report = export_bundle(ckpt, out, formats=["onnx"], schemes=["fp32", "fp16"], graphs=["step"])
    bad = next(r for r in report.results if r.scheme == "fp16")
    assert bad.status == "rejected" and "onnx.checker" in bad.reason and "topologically sorted" in bad.reason
    m = json.loads((out / "manifest.json").read_text())
    assert [a["scheme"] for a in m["artifacts"]] == ["fp32"] and not (out / bad.file).exists()
    monkeypatch.undo()
    good = tmp_path / "sorted.onnx"
    quantize_mod.quantize(out / m["artifacts"][0]["file"], "fp16", None, good)
    assert check_format("onnx", good).startswith("onnx.checker full_check")
    onnx.checker.check_model(onnx.load(str(good)), full_check=True)


def test_unquantized_scheme_is_reported_as_float(export_checkpoint, tmp_path):
    """LTC's weights are elementwise (no MatMul): ORT dynamic quantization leaves them float."""
    report = export_bundle(export_checkpoint("ltc"), tmp_path / "ltc", formats=["onnx"],
                           schemes=["int8-dynamic"], graphs=["step"],
                           tolerances={"int8-dynamic": {"metric_delta": 1.0}})
    r = next(r for r in report.results if r.scheme == "int8-dynamic")
    assert r.status in ("passed", "rejected")
    assert r.quantized is False and r.file_ratio > 0.9 and "NOT quantized" in r.note


@pytest.mark.parametrize("kind", ["cfc", "ltc", "lstm"])
def test_torchscript_exporter_fallback_step(kind, export_checkpoint, tmp_path):
    model = models.load(export_checkpoint(kind))
    path = tmp_path / "step.onnx"
    info = convert_mod.convert(model, "step", path, exporter="torchscript")
    assert info["exporter"] == "torchscript"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    state = [np.zeros((1, s), np.float32) for _, s in model.state_spec]
    tstate = model.initial_state(1)
    for _ in range(20):
        x = rng.standard_normal((1, model.input_size)).astype(np.float32)
        dt = rng.uniform(0.1, 2.0, (1, 1)).astype(np.float32)
        out = sess.run(None, dict(zip(info["io"]["inputs"], [x, dt, *state])))
        with torch.no_grad():
            y, *tstate = model.cell(torch.from_numpy(x), torch.from_numpy(dt), *tstate)
        state = out[1:]
        assert np.abs(out[0] - y.numpy()).max() <= 1e-5


@pytest.mark.parametrize("kind", ["cfc", "ltc"])
def test_seq_falls_back_to_torchscript_loop(kind, monkeypatch, export_checkpoint, tmp_path):
    def broken(model, graph):
        raise RuntimeError("dynamo cannot lower this")

    monkeypatch.setitem(convert_mod._EXPORTERS, "dynamo", broken)
    model = models.load(export_checkpoint(kind))
    info = convert_mod.convert(model, "seq", tmp_path / "seq.onnx")
    assert info["exporter"] == "torchscript" and info["loop"] == "Loop"
    assert "fallback after dynamo" in info["note"]
    sess = ort.InferenceSession(str(tmp_path / "seq.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((3, 11, model.input_size)).astype(np.float32)
    dt = np.full((3, 11), 0.7, np.float32)
    out = sess.run(None, {"x": x, "dt": dt, "h": np.zeros((3, model.state_spec[0][1]), np.float32)})
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.from_numpy(dt)).numpy()
    assert np.abs(out[0] - ref).max() <= 1e-5


def test_frozen_dynamic_dimension_is_a_shape_error(export_checkpoint):
    """An exporter that silently freezes batch/time must not pass the io assertion."""
    from edgelnn.export.graphs import io_names, sample_inputs, scripted_loop

    model = models.load(export_checkpoint("rnn"))
    ins, outs = io_names(model)
    buf = io.BytesIO()
    # a seq graph exported without dynamic axes: batch 2 and time 5 frozen
    torch.onnx.export(scripted_loop(model), sample_inputs(model, 2, 5), buf, dynamo=False,
                      input_names=ins, output_names=outs, opset_version=17)
    proto = onnx.load_from_string(buf.getvalue())
    with pytest.raises(ShapeError, match="frozen"):
        check_io(proto, tensor_specs(model, "seq"), "seq")


def test_names_are_checked_before_any_work():
    with pytest.raises(UnknownNameError, match="unknown format"):
        resolve(["onnx", "coreml"], None)
    with pytest.raises(UnknownNameError, match="unknown scheme"):
        resolve(["onnx"], ["int4"])
    with pytest.raises(UnknownNameError, match="not offered by onnx"):
        resolve(["onnx"], ["int16x8-static"])
    formats, schemes = resolve(None, None)
    assert [f.name for f in formats] == ["onnx", "tflite", "c"] and schemes[0] == "fp32"
    tol = parse_tolerances(["int8-static=0.2", "fp16.metric_delta=0.1", "fp32=1e-5"])
    assert tol["int8-static"].rel_range == 0.2 and tol["fp16"].metric_delta == 0.1
    assert tol["fp32"].max_abs == 1e-5
    with pytest.raises(UnknownNameError):
        parse_tolerances(["int8-static=abc"])
