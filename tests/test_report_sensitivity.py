"""Per-layer quantization sensitivity on a real bundle (the shared tiny LSTM bundle)."""
from __future__ import annotations

import json
import math

import numpy as np

from edgelnn.report.sensitivity import analyse, compare


def test_compare_measures_sqnr():
    ref = np.array([1.0, -1.0, 1.0, -1.0])
    assert compare(ref, ref)[0] == math.inf
    sqnr, rel, mx = compare(ref, ref * 1.1)
    assert sqnr == np.float64(20.0) or abs(sqnr - 20.0) < 1e-9
    assert abs(rel - 0.1) < 1e-12 and abs(mx - 0.1) < 1e-12


def test_every_int8_step_artifact_is_explained(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    int8 = [a for a in manifest["artifacts"] if "int8" in a["scheme"] and a["graph"] == "step"
            and a["format"] != "c"]           # C artifacts are per-layer plain code: no graph to probe
    assert {a["format"] for a in int8} == {"onnx", "tflite"}
    for art in int8:
        s = analyse(tiny_bundle, art["file"])
        assert s.error is None, (art["file"], s.error)
        assert s.reference.endswith(f"step.fp32.{art['format']}") and s.steps > 0
        assert s.output_sqnr_db is not None and s.output_sqnr_db > 5
        acts = [t for t in s.tensors if t.kind == "activation"]
        assert acts and all(t.label for t in acts)
        worst = s.worst(3)
        assert worst[0].added is not None and worst[0].added >= worst[-1].added
        if art["format"] == "onnx":  # LSTM ops carry readable names
            labels = {t.label for t in acts}
            assert {"input projection W_ih·[x, dt]", "forget gate f", "output head"} <= labels
            assert any(t.kind == "weight" and math.isfinite(t.sqnr_db) for t in s.tensors)


def test_missing_pieces_are_reported_not_raised(tiny_bundle, tmp_path):
    s = analyse(tiny_bundle, "no-such.onnx")
    assert s.error and "not in the bundle" in s.error
    s = analyse(tmp_path, "x.onnx")
    assert s.error
