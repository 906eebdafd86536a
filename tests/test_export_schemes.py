"""Every quantization scheme: the file is what the manifest says (sha256, bytes, size ratio,
quantized flag, parity figures), int8 is really small, golden.npz replays."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from edgelnn import data, models, schema
from edgelnn.export import bundle as bundle_mod
from edgelnn.export.formats import FORMATS
from edgelnn.export.manifest import sha256
from edgelnn.export.onnx.inspect import reduced_fraction, weight_storage
from edgelnn.export.validate import Reference, compare, parse_tolerances, run_artifact
from edgelnn.runtime import load_bundle
from format_checks import assert_artifacts_valid

KINDS = ("cfc", "lstm")
TFLITE = FORMATS["tflite"].available() is None
INT8 = ("int8-weight", "int8-dynamic", "int8-static")


def _manifest(path):
    return json.loads((path / "manifest.json").read_text())


@pytest.mark.parametrize("kind", KINDS)
def test_every_scheme_is_exported_and_described(kind, scheme_bundle):
    path, report = scheme_bundle(kind)
    m = _manifest(path)
    produced = {(r.format, r.scheme) for r in report.results if r.status in ("passed", "rejected")}
    expected = {("onnx", s) for s in FORMATS["onnx"].schemes}
    if TFLITE:
        expected |= {("tflite", s) for s in FORMATS["tflite"].schemes}
    assert produced == expected, report.to_json()
    assert not report.by_status("failed"), report.to_json()
    assert assert_artifacts_valid(path) == len(m["artifacts"])     # every format's own checker
    fp32 = {a["format"]: a["bytes"] for a in m["artifacts"] if a["scheme"] == "fp32"}
    for a in m["artifacts"]:
        f = path / a["file"]
        assert f.is_file() and sha256(f) == a["sha256"] and f.stat().st_size == a["bytes"]
        assert a["file_ratio"] == pytest.approx(a["bytes"] / fp32[a["format"]], abs=1e-4)
        assert a["parity"]["passed"] and a["golden"]["tolerance"] >= a["golden"]["max_abs_host"]
        assert a["tools"]["torch"]
        assert "size_ratio" not in a                           # one name for the file ratio (bench rows': file_ratio)
    # files of rejected artifacts are not in the bundle
    for r in m["rejected"]:
        assert not (path / r["file"]).exists()
    # every file an artifact uses (the artifact and its extra files: LiteRT's batched step files)
    listed = {name for a in m["artifacts"] for name, _ in schema.artifact_files(a)}
    for a in m["artifacts"]:
        for name, digest in schema.artifact_files(a):
            assert sha256(path / name) == digest, name
    on_disk = {p.name for p in path.iterdir() if p.suffix in (".onnx", ".tflite")}
    assert on_disk == listed


@pytest.mark.parametrize("kind", KINDS)
def test_int8_artifacts_are_small(kind, scheme_bundle):
    path, _ = scheme_bundle(kind)
    for a in _manifest(path)["artifacts"] + _manifest(path)["rejected"]:
        if a["scheme"] in INT8 and "bytes" in a:
            assert a["quantized"], a
            assert a["file_ratio"] <= 0.45, f"{a['file']}: {a['file_ratio']}"


@pytest.mark.parametrize("kind", KINDS)
def test_parity_figures_are_reproducible(kind, scheme_bundle, export_checkpoint):
    """Rerun each kept artifact on the gate's own data: the same figures as the manifest."""
    path, _ = scheme_bundle(kind)
    m = _manifest(path)
    model = models.load(export_checkpoint(kind, units=64))
    ds = data.load(m["dataset"]["name"], seed=m["model"]["seed"])
    _, idx = bundle_mod._calibration(model, ds)
    split, source = bundle_mod._parity_split(ds, idx)
    ref = Reference.from_split(model, split, ds.task, ds.target_std, source)
    tols = parse_tolerances(None)
    sizes = [s["size"] for s in m["tensors"]["step"]["state"]]
    for a in m["artifacts"]:
        got = compare(run_artifact(path / a["file"], a, sizes, ref.x, ref.dt, ref.lengths), ref, tols[a["scheme"]])
        for key in ("max_abs", "rel_range", "metric", "metric_delta", "steps", "sequences"):
            assert got[key] == pytest.approx(a["parity"][key], rel=1e-3, abs=1e-7), (a["file"], key)
        assert a["parity"]["data"] == source


def test_quantized_flag_is_read_from_the_file(scheme_bundle):
    path, _ = scheme_bundle("cfc")
    for a in _manifest(path)["artifacts"]:
        if a["format"] != "onnx" or a["scheme"] == "fp32":
            continue
        storage = weight_storage(onnx.load(str(path / a["file"])))
        assert (reduced_fraction(storage, a["scheme"]) >= 0.5) == a["quantized"]
        if a["scheme"] == "int8-dynamic":
            assert "MatMulInteger" in storage["quant_ops"]
            assert "reduce_range=True" in a["note"]  # targets/host.toml asks for it
        if a["scheme"] == "int8-static":
            assert "QuantizeLinear" in storage["quant_ops"]


@pytest.mark.parametrize("kind", KINDS)
def test_golden_replays_through_the_runtime_loader(kind, scheme_bundle):
    path, _ = scheme_bundle(kind)
    b = load_bundle(path)
    g = b.golden()
    for entry in b.artifacts:
        with b.open(entry) as runner:
            worst = 0.0
            for n, length in enumerate(g.lengths):
                runner.reset()
                y = runner.run(g.x[n, :length], g.dt[n, :length])
                worst = max(worst, float(np.abs(y - g.y[n, :length]).max()))
        assert worst <= entry["golden"]["tolerance"], (entry["file"], worst)
        assert worst == pytest.approx(entry["golden"]["max_abs_host"], rel=1e-3, abs=1e-7)
    ev = b.evaluation()
    from edgelnn.data import shift_suite
    m_shifts = _manifest(path)["evaluation"]["shifts"]
    assert [(s["shift"], s["level"]) for s in m_shifts] == shift_suite("basicmotions")
    assert {s["shift"] for s in m_shifts} == {"noise", "offset-drift", "drop", "sampling-rate"}  # no horizon for basicmotions
    assert ev is not None
