"""`edgelnn export` / `edgelnn inspect`: bad input is one clear line, exit 1, no traceback and
nothing left in --out; a good export prints the table and the bundle inspects."""
from __future__ import annotations


import pytest

from edgelnn.cli.app import run_app
from cli_inprocess import run_cli as _cli




def _assert_clean_failure(code, out, err, out_dir, match):
    assert code == 1, (out, err)
    assert "Traceback" not in out + err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], err
    assert not out_dir.exists() or not any(out_dir.iterdir())
    leftovers = [p.name for p in out_dir.parent.iterdir() if p.name.startswith(f".{out_dir.name}.")] \
        if out_dir.parent.exists() else []
    assert not leftovers


@pytest.mark.parametrize("args,match", [
    (["--quant", "int9"], "unknown scheme 'int9'"),
    (["--format", "coreml"], "unknown format 'coreml'"),
    (["--format", "onnx", "--quant", "int8-weight"], "not offered by onnx"),
    (["--tolerance", "int8-static=lots"], "must be a number"),
    (["--target", "mars"], "unknown target 'mars'"),
])
def test_bad_names(monkeypatch, capsys, export_checkpoint, tmp_path, args, match):
    out = tmp_path / "b"
    _assert_clean_failure(*_cli(monkeypatch, capsys, "export", export_checkpoint("cfc"), "--out", out, *args),
                          out, match)


def test_corrupt_checkpoint(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "b"
    _assert_clean_failure(*_cli(monkeypatch, capsys, "export", bad, "--out", out), out, "not a readable checkpoint")


def test_unwritable_out(monkeypatch, capsys, export_checkpoint, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    out = blocker / "bundle"
    code, o, e = _cli(monkeypatch, capsys, "export", export_checkpoint("cfc"), "--out", out, "--format", "onnx")
    assert code == 1 and "Traceback" not in o + e and e.startswith("error: cannot write to")
    assert blocker.read_text().startswith("a file")


def test_out_that_is_not_a_bundle_is_refused(monkeypatch, capsys, export_checkpoint, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    code, o, e = _cli(monkeypatch, capsys, "export", export_checkpoint("cfc"), "--out", out)
    assert code == 1 and "not an export bundle" in e and (out / "thesis.tex").read_text() == "keep me"


def test_missing_tflite_extra(monkeypatch, capsys, export_checkpoint, tmp_path):
    import edgelnn.export.tflite as tfl

    msg = "TFLite export needs litert-torch (No module named 'litert_torch'); install it with pip install 'edgelnn[tflite]'"
    monkeypatch.setattr(tfl, "available", lambda: msg)
    out = tmp_path / "b"
    # asked for explicitly: an error before any work
    _assert_clean_failure(*_cli(monkeypatch, capsys, "export", export_checkpoint("cfc"), "--out", out,
                                "--format", "tflite"), out, "pip install 'edgelnn[tflite]'")
    # with the default formats: skipped with a visible note, onnx exported
    code, o, e = _cli(monkeypatch, capsys, "export", export_checkpoint("cfc"), "--out", out,
                      "--quant", "fp32", "--graph", "step")
    assert code == 0, e
    assert "tflite skipped" in o and "edgelnn[tflite]" in o
    assert (out / "manifest.json").is_file() and not list(out.glob("*.tflite"))


def test_export_then_inspect(monkeypatch, capsys, export_checkpoint, tmp_path):
    out = tmp_path / "cfc-basicmotions"
    code, o, e = _cli(monkeypatch, capsys, "export", export_checkpoint("cfc"), "--out", out, "--format", "onnx",
                      "--quant", "fp32", "--quant", "int8-dynamic", "--graph", "step",
                      "--report-json", tmp_path / "report.json")
    assert code == 0, e
    assert "passed" in o and "int8-dynamic" in o and "artifact(s) in" in o
    assert (tmp_path / "report.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == [
        "calibration.npz", "cfc-basicmotions.step.fp32.onnx", "cfc-basicmotions.step.int8-dynamic.onnx",
        "eval.npz", "golden.npz", "manifest.json"]
    code, o, e = _cli(monkeypatch, capsys, "inspect", out)
    assert code == 0, e
    assert "cfc-basicmotions" in o and "int8-dynamic" in o and "ok" in o
    # a changed file is caught
    f = out / "cfc-basicmotions.step.fp32.onnx"
    f.write_bytes(f.read_bytes() + b"\0")
    code, o, e = _cli(monkeypatch, capsys, "inspect", out)
    assert code == 1 and "MISMATCH" in o and "do not match their sha256" in e
    code, o, e = _cli(monkeypatch, capsys, "inspect", tmp_path)
    assert code == 1 and "not an export bundle" in e
