"""Every model kind: fp32 step artifacts (ONNX, TFLite) reproduce PyTorch in their real runtimes
over >= 100-step rollouts with irregular dt; the ONNX seq graph is truly dynamic.

Liquid kinds here; the RNN kinds run the same checks in test_export_kinds_rnn.py (two files
keep each under a minute of conversions)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgelnn import models
from edgelnn.export.formats import FORMATS
from edgelnn.runtime import open_runner
from format_checks import assert_artifacts_valid

TFLITE = FORMATS["tflite"].available() is None


def _irregular(steps: int, channels: int, batch: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, channels)).astype(np.float32)
    dt = rng.uniform(0.05, 3.0, (batch, steps)).astype(np.float32)  # irregular sampling
    return x, dt


def _torch(model, x, dt, state=None):
    with torch.no_grad():
        y, st = model(torch.from_numpy(x), torch.from_numpy(dt), state=state, return_state=True)
    return y.numpy(), [s.numpy() for s in st]


LIQUID = ("cfc", "cfc-ncp", "ltc", "ltc-ncp")


def check_fp32_step_artifacts(kind, fp32_bundle, export_checkpoint):
    bundle, report = fp32_bundle(kind)
    model = models.load(export_checkpoint(kind))
    import json

    manifest = json.loads((bundle / "manifest.json").read_text())
    wanted = {"onnx", "tflite"} if TFLITE else {"onnx"}
    fp32 = {a["format"]: a for a in manifest["artifacts"] if a["scheme"] == "fp32" and a["graph"] == "step"}
    assert set(fp32) == wanted, report.to_json()
    assert_artifacts_valid(bundle)            # step and seq graphs: every format's own checker
    x, dt = _irregular(150, model.input_size, seed=1)
    ref, _ = _torch(model, x, dt)
    sizes = [s for _, s in model.state_spec]
    for fmt, entry in fp32.items():
        # the gate's own figures: whole 100-step dataset sequences, max abs <= 1e-4
        assert entry["parity"]["passed"] and entry["parity"]["max_abs"] <= 1e-4
        assert entry["parity"]["max_steps"] >= 100
        runner = open_runner(bundle / entry["file"], entry, sizes)
        assert runner.runtime == {"onnx": "onnxruntime", "tflite": "litert"}[fmt]
        y = np.stack([runner.step(x[0, t], float(dt[0, t])) for t in range(x.shape[1])])
        runner.close()
        err = float(np.abs(y - ref[0]).max())
        assert err <= 1e-4, f"{kind} {fmt}: max abs {err:.2e} over 150 irregular steps"


def check_onnx_seq_graph(kind, fp32_bundle, export_checkpoint):
    import json

    import onnxruntime as ort

    bundle, report = fp32_bundle(kind)
    model = models.load(export_checkpoint(kind))
    entry = next(a for a in json.loads((bundle / "manifest.json").read_text())["artifacts"]
                 if a["format"] == "onnx" and a["graph"] == "seq")
    assert entry["parity"]["passed"] and entry["chunk"] is None
    sess = ort.InferenceSession(str(bundle / entry["file"]), providers=["CPUExecutionProvider"])
    dims = [d for i in sess.get_inputs()[:1] for d in i.shape]
    assert dims[:2] == ["batch", "time"], dims
    names = entry["io"]["inputs"]
    x, dt = _irregular(130, model.input_size, batch=4, seed=2)
    results = {}
    for batch in (1, 4):
        for steps in (7, 50, 130):
            xs, dts = x[:batch, :steps], dt[:batch, :steps]
            state = [np.zeros((batch, s), np.float32) for _, s in model.state_spec]
            out = sess.run(None, dict(zip(names, [xs, dts, *state])))
            ref, ref_state = _torch(model, xs, dts)
            assert out[0].shape == (batch, steps, model.output_size)
            assert float(np.abs(out[0] - ref).max()) <= 1e-4, (kind, batch, steps)
            for got, want in zip(out[1:], ref_state):
                assert float(np.abs(got - want).max()) <= 1e-4
            results[(batch, steps)] = out[0]
    # the same result whatever the length and batch: prefixes agree
    assert np.abs(results[(4, 130)][:, :50] - results[(4, 50)]).max() <= 1e-5
    assert np.abs(results[(1, 130)][0, :7] - results[(4, 7)][0]).max() <= 1e-5


@pytest.mark.parametrize("kind", LIQUID)
def test_fp32_step_artifacts_reproduce_pytorch(kind, fp32_bundle, export_checkpoint):
    check_fp32_step_artifacts(kind, fp32_bundle, export_checkpoint)


@pytest.mark.parametrize("kind", LIQUID)
def test_onnx_seq_graph_is_dynamic(kind, fp32_bundle, export_checkpoint):
    check_onnx_seq_graph(kind, fp32_bundle, export_checkpoint)
