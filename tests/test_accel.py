"""Accelerator options in target profiles: parsed, validated (one line), reaching the real
onnxruntime session / LiteRT interpreter on this CPU, recorded in rows with any fallback."""
from __future__ import annotations

import pytest

from edgelnn.errors import EdgeLNNError
from edgelnn.runtime import load_bundle
from edgelnn.runtime.accel import check_accel, ort_providers

JETSON = """
description = "test"
arch = "aarch64"
cpu = "Cortex-A78AE"
cores = 6
memory_mb = 8192
runtimes = ["onnxruntime", "litert"]
onnx_providers = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
schemes = ["fp16", "fp32"]
{extra}
[connection]
kind = "local"

[onnx_provider_options.TensorrtExecutionProvider]
fp16 = true
int8 = true
engine_cache = "~/.cache/edgelnn/trt"
workspace_mb = 512

[onnx_provider_options.CUDAExecutionProvider]
device_id = 1

[litert_options]
xnnpack = true
threads = 2
"""


def _profile(tmp_path, text):
    from edgelnn.targets.profile import load_profile_file

    path = tmp_path / "gw.toml"
    path.write_text(text)
    return load_profile_file(path)


def test_profile_options_parse_and_translate(tmp_path):
    p = _profile(tmp_path, JETSON.format(extra=""))
    assert p.accel["onnxruntime"]["TensorrtExecutionProvider"]["fp16"] is True
    assert p.accel["litert"] == {"xnnpack": True, "threads": 2}
    providers, threads = ort_providers(p.onnx_providers, p.accel["onnxruntime"])
    trt, cuda, cpu = providers
    assert trt[0] == "TensorrtExecutionProvider" and trt[1]["trt_fp16_enable"] == "True"
    assert trt[1]["trt_int8_enable"] == "True" and trt[1]["trt_engine_cache_enable"] == "True"
    assert trt[1]["trt_max_workspace_size"] == str(512 * 2 ** 20) and "~" not in trt[1]["trt_engine_cache_path"]
    assert cuda == ("CUDAExecutionProvider", {"device_id": "1"}) and cpu == "CPUExecutionProvider"
    assert threads is None
    assert p.to_dict()["accel"] == p.accel


@pytest.mark.parametrize("bad, says", [
    ("[onnx_provider_options.CUDAExecutionProvider]\ndevice = 0\n", "unknown option 'device'"),
    ("[onnx_provider_options.CUDAExecutionProvider]\ndevice_id = \"zero\"\n", "must be an integer"),
    ("[onnx_provider_options.OpenVINOExecutionProvider]\nthreads = 2\n", "unknown provider"),
    ("[onnx_provider_options.XnnpackExecutionProvider]\nthreads = 2\n", "do not list XnnpackExecutionProvider"),
    ("[litert_options]\nfp16 = true\n", "unknown option 'fp16'"),
    ("[litert_options]\nthreads = 0\n", "must be >= 1"),
])
def test_bad_options_are_one_line(tmp_path, bad, says):
    from edgelnn.targets.errors import ProfileError

    base = JETSON.split("[onnx_provider_options")[0].format(extra="")
    with pytest.raises(ProfileError) as exc:
        _profile(tmp_path, base + bad)
    assert says in str(exc.value) and "\n" not in str(exc.value) and "gw.toml" in str(exc.value)


def test_bad_options_on_the_command_line_are_one_line(tmp_path, monkeypatch, capsys, tiny_bundle):
    from cli_inprocess import run_cli

    (tmp_path / "gw.toml").write_text(JETSON.split("[onnx_provider_options")[0].format(extra="")
                                      + "[litert_options]\ngpu = 1\n")
    monkeypatch.setenv("EDGELNN_TARGETS_DIR", str(tmp_path))
    code, out, err = run_cli(monkeypatch, capsys, "bench", tiny_bundle, "--target", "gw", "--no-memory")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error:") and "litert_options.gpu" in lines[0]


def _entry(bundle, suffix):
    return next(a for a in bundle.artifacts if a["file"].endswith(suffix))


def test_options_reach_the_onnxruntime_session(tiny_bundle):
    b = load_bundle(tiny_bundle)
    accel = {"onnxruntime": {"CPUExecutionProvider": {"threads": 2},
                             "TensorrtExecutionProvider": {"fp16": True}}}
    with b.open(_entry(b, "step.fp32.onnx"), providers=["TensorrtExecutionProvider", "CPUExecutionProvider"],
                accel=accel) as r:
        assert r._session.get_session_options().intra_op_num_threads == 2
        assert r.accel["intra_op_threads"] == 2 and r.accel["requested"] == accel["onnxruntime"]
        assert any("TensorrtExecutionProvider is not available" in f for f in r.accel["fallback"])
        assert "CPUExecutionProvider" in r.accel["session"]
    with pytest.raises(EdgeLNNError, match="unknown option 'thread'"):
        b.open(_entry(b, "step.fp32.onnx"), accel={"onnxruntime": {"CPUExecutionProvider": {"thread": 2}}})


def test_options_reach_the_litert_interpreter(tiny_bundle):
    b = load_bundle(tiny_bundle)
    entry = _entry(b, "step.fp32.tflite")
    with b.open(entry, accel={"litert": {"xnnpack": True}}) as on, \
            b.open(entry, accel={"litert": {"xnnpack": False, "gpu": True, "threads": 2}}) as off:
        assert on.accel["interpreter"]["xnnpack_delegate"] is True and not on.accel["fallback"]
        assert off.accel["interpreter"] == {"xnnpack_delegate": False, "threads": 2}
        assert any(f.startswith("gpu:") for f in off.accel["fallback"])
        assert on.threads == 1 and off.threads == 2


def test_trt_int8_calibration_table_from_the_bundle(tiny_bundle, tmp_path):
    """int8 for a float graph: a TensorRT calibration table made from calibration.npz."""
    from edgelnn.runtime.accel import trt_calibration_table

    b = load_bundle(tiny_bundle)
    path = b.artifact_path(_entry(b, "step.fp32.onnx"))
    providers, _ = ort_providers(
        ["TensorrtExecutionProvider", "CPUExecutionProvider"],
        {"TensorrtExecutionProvider": {"int8": True, "engine_cache": str(tmp_path / "cache")}},
        calibration_table=lambda folder: trt_calibration_table(path, path.parent / "calibration.npz", folder))
    opts = providers[0][1]
    assert opts["trt_int8_calibration_table_name"] == "calibration.flatbuffers"
    table = tmp_path / "cache" / "calibration.json"
    assert table.is_file() and "h" in table.read_text()


def test_rows_record_options_and_fallback(tiny_bundle):
    from edgelnn.bench import BenchSettings
    from edgelnn.bench.harness import bench_bundle
    from edgelnn.bench.rows import check_row

    b = load_bundle(tiny_bundle)
    names = [_entry(b, "step.fp32.onnx")["file"], _entry(b, "step.fp32.tflite")["file"]]
    accel = check_accel({"onnxruntime": {"CPUExecutionProvider": {"threads": 1}},
                         "litert": {"xnnpack_fp16": True}})
    rows = bench_bundle(tiny_bundle, artifacts=names, accel=accel,
                        settings=BenchSettings(latency=False, memory=False, accuracy=False))
    by_format = {r["format"]: r for r in rows}
    assert all(r["status"] == "passed" and not check_row(r) for r in rows)
    assert by_format["onnx"]["accelerator"]["intra_op_threads"] == 1
    assert by_format["tflite"]["accelerator"]["fallback"][0].startswith("xnnpack_fp16")
