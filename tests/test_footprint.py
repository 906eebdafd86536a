"""Model-scale memory and compute read from the exported files (edgelnn/export/footprint.py)."""
from __future__ import annotations

import json

import pytest

from edgelnn import models
from edgelnn.bench import BenchSettings, bench_bundle
from edgelnn.export.formats import FORMATS

TFLITE = FORMATS["tflite"].available() is None


def _artifacts(bundle):
    return json.loads((bundle / "manifest.json").read_text())["artifacts"]


def test_dense_step_graph_counts_match_the_model_exactly(fp32_bundle, export_checkpoint):
    """GRU: every parameter is stored once in fp32; one step's matrix products are
    W_ih [3u, in+1], W_hh [3u, u] and the head [out, u]; the state is h (u floats)."""
    bundle, report = fp32_bundle("gru")
    model = models.load(export_checkpoint("gru"))
    u, i, o = model.config["units"], model.input_size, model.output_size
    macs = 3 * u * (i + 1) + 3 * u * u + o * u
    step = [a for a in _artifacts(bundle) if a["graph"] == "step"]
    assert {a["format"] for a in step} == ({"onnx", "tflite"} if TFLITE else {"onnx"})
    for a in step:
        fp = a["footprint"]
        assert fp["weight_elements"] == model.param_count(), a["file"]
        assert fp["weight_bytes"] == 4 * model.param_count() and fp["weights_by_dtype"] == {"float32": model.param_count()}
        assert fp["macs_per_step"] == macs
        assert fp["state_bytes"] == 4 * u
        assert fp["file_bytes"] == a["bytes"] == (bundle / a["file"]).stat().st_size
        assert fp["structure_bytes"] == fp["file_bytes"] - fp["weight_bytes"] > 0
        assert fp["elementwise_per_step"] > 0
    seq = next(a for a in _artifacts(bundle) if a["graph"] == "seq" and a["format"] == "onnx")
    assert seq["footprint"]["macs_per_step"] == macs and seq["footprint"]["macs_from"].endswith(".step.fp32.onnx")
    assert seq["footprint"]["weight_elements"] == model.param_count()


def test_ltc_stores_its_masks_and_computes_elementwise(fp32_bundle, export_checkpoint):
    """LTC's synapses are elementwise arithmetic over units x units (x 6 ODE unfolds), not
    matrix products; an NCP-wired LTC's file also holds the fixed wiring masks as constants (a
    fully connected one's masks are all ones, which a converter may fold away)."""
    bundle, _ = fp32_bundle("ltc-ncp")
    model = models.load(export_checkpoint("ltc-ncp"))
    cell = model.cell.rnn_cell
    masks = cell.sparsity_mask.numel() + cell.sensory_sparsity_mask.numel()
    # untrained, the affine input/output mappings are x*1+0: a converter may fold them away
    identity = 2 * model.input_size + 2 * model.output_size
    for a in _artifacts(bundle):
        # each weight stored once: parameters, the two masks and a few constant scalars (the ONNX
        # exporter used to lift ncps's plain-dict parameters once per ODE unfold: 5.8x the weights)
        stored = a["footprint"]["weight_elements"]
        assert model.param_count() + masks - identity <= stored <= model.param_count() + masks + 16, a["file"]
    onnx_step = next(a for a in _artifacts(bundle) if a["graph"] == "step" and a["format"] == "onnx")
    fp = onnx_step["footprint"]
    u = model.config["units"]
    assert fp["elementwise_per_step"] >= 6 * 4 * u * u  # w·sigmoid(mu, sigma)·mask·erev per unfold
    assert fp["macs_per_step"] <= model.output_size * u + 1  # only the output head is a Gemm
    assert fp["state_bytes"] == 4 * u


def test_quantized_files_count_weights_and_scales_as_stored(tiny_bundle):
    """int8 files: the int8 weights plus their float scales / zero points; fewer weight bytes
    than fp32, same MACs per step (the same products, on int8)."""
    arts = {(a["format"], a["scheme"]): a["footprint"] for a in _artifacts(tiny_bundle) if a["graph"] == "step"}
    fp32 = arts[("onnx", "fp32")]
    q = arts[("onnx", "int8-dynamic")]
    assert q["weights_by_dtype"].get("int8", 0) + q["weights_by_dtype"].get("uint8", 0) > 0
    assert q["weights_by_dtype"].get("float32", 0) > 0  # biases and scales stay float
    assert q["weight_bytes"] < 0.6 * fp32["weight_bytes"]
    assert q["macs_per_step"] == fp32["macs_per_step"]
    assert arts[("onnx", "fp16")]["weight_bytes"] == pytest.approx(fp32["weight_bytes"] / 2, rel=0.02)
    if TFLITE:
        t = arts[("tflite", "int8-dynamic")]
        int8 = t["weights_by_dtype"]["int8"]
        # int8 weights + float32 rest + per-channel scales (4 B) and zero points (8 B, int64 as stored)
        assert t["weight_bytes"] > int8 + 4 * t["weights_by_dtype"].get("float32", 0)
        assert arts[("tflite", "fp32")]["macs_per_step"] == t["macs_per_step"]


def test_bench_rows_carry_the_manifest_footprint(tiny_bundle):
    name = f"{tiny_bundle.name}.step.fp32.onnx"
    (row,) = bench_bundle(tiny_bundle, artifacts=[name], settings=BenchSettings(
        latency=False, memory=False, accuracy=False))
    entry = next(a for a in _artifacts(tiny_bundle) if a["file"] == name)
    assert row["footprint"] == entry["footprint"] and row["footprint"]["macs_per_step"] > 0
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert row["params_active"] == manifest["model"]["params_active"] == manifest["model"]["params"]
