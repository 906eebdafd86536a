"""edgelnn.bench and `edgelnn bench` on a real tiny bundle: rows, golden gate, memory, CLI errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgelnn.bench import (BenchSettings, bench_bundle, check_row, read_rows, time_calls)
from edgelnn.runtime import load_bundle

REPO = Path(__file__).resolve().parents[1]
FAST = BenchSettings(warmup=2, min_runs=20, min_seconds=0.01, max_eval_sequences=16)


def cli(*args, pre: str = "", env=None) -> subprocess.CompletedProcess:
    code = f"import sys; {pre}\nfrom edgelnn.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env={**os.environ, **(env or {})})


def assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for f in fragments:
        assert f in errors[0], errors[0]


@pytest.fixture(scope="module")
def rows(tiny_bundle):
    return bench_bundle(tiny_bundle, settings=FAST)


def test_rows_follow_schema_and_are_consistent(rows, tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    assert [check_row(r) for r in rows] == [[] for _ in rows]
    passed = [r for r in rows if r["status"] == "passed"]
    assert {r["artifact"] for r in passed} == {a["file"] for a in bundle.artifacts}
    for r in passed:
        lat = r["latency_us"]
        assert lat["p50"] <= lat["p90"] <= lat["p99"] and lat["n"] >= FAST.min_runs
        assert 0 < lat["min"] <= lat["p50"] <= lat["max"]
        assert r["peak_rss_mb"] >= r["baseline_rss_mb"] > 0
        assert r["model_rss_mb"] == pytest.approx(r["peak_rss_mb"] - r["baseline_rss_mb"], abs=1e-2)
        assert r["golden_ok"] and r["golden_max_abs"] <= r["golden_tolerance"]
        assert r["accuracy"] is not None and r["accuracy_fp32"] is None   # subset: no PyTorch figure
        assert r["agreement"] is not None and 0 <= r["agreement"] <= 1
        assert [s["key"] for s in r["shifts"]] == [s["key"] for s in bundle.manifest["evaluation"]["shifts"]]
        assert r["eval_sequences"] == 16
        assert r["runtime_version"] and r["providers_used"] and r["env"]["runtimes"]
        assert r["measured_on"]["on_target"] is True and r["measured_on"]["hostname"]
        if r["graph"] == "seq":
            assert r["chunk"] and r["per_sample_us"] == pytest.approx(lat["p50"] / r["chunk"])
    statuses = {r["status"] for r in rows}
    assert {"rejected", "unsupported"} <= statuses
    assert all(r["error"] for r in rows if r["status"] != "passed")
    json.dumps(rows, allow_nan=False)


def test_fp32_artifacts_match_pytorch_accuracy(rows, tiny_bundle):
    for r in rows:
        if r["status"] == "passed" and r["scheme"] == "fp32":
            assert r["agreement"] == 1.0
    name = f"{tiny_bundle.name}.step.fp32.tflite"
    (row,) = bench_bundle(tiny_bundle, artifacts=[name],
                          settings=BenchSettings(latency=False, memory=False))
    assert row["status"] == "passed" and row["eval_sequences"] == len(load_bundle(tiny_bundle)
                                                                          .evaluation().y)
    assert row["accuracy"] == pytest.approx(row["accuracy_fp32"], abs=1e-9)
    for s in row["shifts"]:
        assert s["accuracy"] == pytest.approx(s["accuracy_fp32"], abs=0.01)


def test_bundle_from_before_the_shift_rename_still_benches(bundle_copy):
    """Bundles written when "sampling-rate" was called "length" bench as before, under the new name."""
    path = bundle_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    renamed = 0
    for s in manifest["evaluation"]["shifts"]:
        if s["shift"] == "sampling-rate":
            s["shift"], renamed = "length", renamed + 1
    assert renamed
    path.write_text(json.dumps(manifest))
    name = f"{bundle_copy.name}.step.fp32.onnx"
    (row,) = bench_bundle(bundle_copy, artifacts=[name], settings=BenchSettings(
        latency=False, memory=False, max_eval_sequences=8))
    assert row["status"] == "passed"
    names = [s["shift"] for s in row["shifts"]]
    assert names.count("sampling-rate") == renamed and "length" not in names


def test_golden_failure_reports_no_numbers(bundle_copy):
    g = dict(np.load(bundle_copy / "golden.npz"))
    g["y"] = g["y"] + 1.0
    np.savez(bundle_copy / "golden.npz", **g)
    rows = bench_bundle(bundle_copy, settings=FAST)
    benched = [r for r in rows if r["status"] not in ("rejected", "unsupported")]
    assert benched and all(r["status"] == "golden_failed" for r in benched)
    for r in benched:
        assert r["golden_ok"] is False and "golden check failed" in r["error"]
        assert r["latency_us"] is None and r["per_sample_us"] is None
        assert r["peak_rss_mb"] is None and r["accuracy"] is None
        assert check_row(r) == []


def test_tampered_artifact_is_a_failed_row(bundle_copy):
    bundle = load_bundle(bundle_copy)
    path = bundle.artifact_path(bundle.artifacts[0])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    rows = bench_bundle(bundle_copy, artifacts=[path.name], settings=FAST)
    assert len(rows) == 1 and rows[0]["status"] == "failed"
    assert "was modified: sha256" in rows[0]["error"] and rows[0]["latency_us"] is None


def test_time_calls_meets_count_and_duration():
    import time

    settings = BenchSettings(warmup=3, min_runs=10, min_seconds=0.05)
    calls = []
    t0 = time.perf_counter()
    samples = time_calls(lambda f: calls.append(f), [[1], [2]], settings)
    assert time.perf_counter() - t0 >= 0.05
    assert len(samples) >= 10 and len(calls) == len(samples) + 3


def test_cli_writes_rows_and_table(tiny_bundle, tmp_path):
    out = tmp_path / "r.jsonl"
    art = f"{tiny_bundle.name}.step.fp32.tflite"
    for _ in range(2):     # appends
        proc = cli("bench", tiny_bundle, "--artifact", art, "--min-runs", 10, "--min-seconds",
                   0.01, "--warmup", 1, "--no-memory", "--out", out)
        assert proc.returncode == 0, proc.stderr
    assert "step.tflite" in proc.stdout and "passed" in proc.stdout
    rows = read_rows(out)
    assert len(rows) == 2 and all(check_row(r) == [] for r in rows)


def test_c_row_size_is_the_compiled_object_also_for_a_relative_bundle_path(tiny_bundle, tmp_path):
    """On a host a C row's size is its object's text + rodata, its .c file's bytes beside it -- also
    when the bundle is named relative to the working folder (`edgelnn bench export/mine`, as the
    README runs it; the object was compiled in the artifact's folder and the path did not resolve)."""
    out = tmp_path / "r.jsonl"
    art = f"{tiny_bundle.name}.step.fp32.c"
    proc = subprocess.run([sys.executable, "-c", "from edgelnn.cli import main; main()", "bench",
                           tiny_bundle.name, "--artifact", art, "--min-runs", "10", "--min-seconds",
                           "0.01", "--warmup", "1", "--no-memory", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tiny_bundle.parent,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    (row,) = read_rows(out)
    source = (tiny_bundle / art).stat().st_size
    assert row["source_bytes"] == source and 0 < row["size_bytes"] < source


def test_cli_bad_inputs_one_line(tiny_bundle, bundle_copy, tmp_path):
    assert_one_line_error(cli("bench", tmp_path), "not an export bundle")
    assert_one_line_error(cli("bench", tiny_bundle, "--target", "nowhere"), "unknown target")
    # onnxruntime made unimportable: the failed rows name the pip line, exit non-zero
    proc = cli("bench", tiny_bundle, "--artifact", f"{tiny_bundle.name}.step.fp32.onnx",
               "--no-memory", pre="sys.modules['onnxruntime'] = None")
    assert_one_line_error(proc, "pip install onnxruntime")
    proc = cli("bench", tiny_bundle, "--runtime", "onnxruntime", pre="sys.modules['onnxruntime'] = None")
    assert_one_line_error(proc, "pip install onnxruntime")
    # NaN in the replayed inputs
    g = dict(np.load(bundle_copy / "golden.npz"))
    g["x"][0, 0, 0] = np.nan
    np.savez(bundle_copy / "golden.npz", **g)
    proc = cli("bench", bundle_copy, "--artifact", f"{bundle_copy.name}.step.fp32.onnx",
               "--no-memory")
    assert_one_line_error(proc, "NaN")


def test_device_main_runs_without_torch(tiny_bundle, tmp_path):
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('no torch on the device')\n")
    out = tmp_path / "rows.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(REPO)])}
    proc = subprocess.run(
        [sys.executable, "-m", "edgelnn.bench.device_main", "--bundle", str(tiny_bundle),
         "--out", str(out), "--artifact", f"{tiny_bundle.name}.seq.fp32.tflite",
         "--min-runs", "10", "--min-seconds", "0.01", "--warmup", "1", "--target", "pi5",
         "--device", "Raspberry Pi 5"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == {"passed": 1}
    (row,) = read_rows(out)
    assert row["target"] == "pi5" and row["measured_on"]["device"] == "Raspberry Pi 5"
    assert row["peak_rss_mb"] >= row["baseline_rss_mb"] > 0 and check_row(row) == []
