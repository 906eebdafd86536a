"""Bad input, the hostile user's way (issue 20): every file a bundle runs is verified, the runtime
asked for is the runtime used, values are checked at the boundary, Dask addresses are refused
before any work, result rows are validated when read, one writer per folder, leftovers of killed
runs removed, disk failures (ENOSPC, EROFS) are one line.

Same contract as tests/test_bad_input.py (whose workspace and checks this file reuses): exit code,
exactly one ``error:`` line, no traceback, the user's files unchanged (sha256 of the workspace).
In-process where no real process is needed; a real ``edgelnn`` process for the lock, signal and
disk cases. The class of each case is the first word of its id (``integrity-...``), so

    pytest tests/test_bad_input.py tests/test_cli_contract.py tests/test_bad_input_hostile.py \
        --collect-only -q | sed -n 's/.*\\[\\([a-z0-9]*\\)-.*/\\1/p' | sort | uniq -c

counts the suite by class.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgelnn.errors import EdgeLNNError
from test_bad_input import (Case, DELETE, check_one_error, manifest_edit, onnx_fp32, quick_bench, row_edit,
                            run_case, snapshot, user_files, write, ws)  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("c_cache")   # compiled C libraries in a test folder


# -- workspace edits ---------------------------------------------------------------------------
def _manifest(ws: Path) -> dict:
    return json.loads((ws / "bundle" / "manifest.json").read_text())


def c_entry(ws: Path, scheme: str = "fp32") -> dict:
    return next(a for a in _manifest(ws)["artifacts"] if a["format"] == "c" and a["scheme"] == scheme)


def c_file(ws: Path) -> str:
    return c_entry(ws)["file"]


def edit_c(fn):
    """Apply ``fn(entry)`` to the fp32 C artifact's manifest entry."""
    def change(m):
        fn(next(a for a in m["artifacts"] if a["format"] == "c" and a["scheme"] == "fp32"))
    return manifest_edit(change)


def edit_header(ws: Path) -> None:
    header = ws / "bundle" / c_entry(ws)["extra_files"][0]["file"]
    header.write_text(header.read_text() + "\n/* edited */\n")


def both(*steps):
    def setup(ws):
        for s in steps:
            s(ws)
    return setup


def drop_header_sha(e):
    e["extra_files"][0].pop("sha256")


def only(fmt: str, graph: str = "step"):
    """``-a`` for the first artifact of a format (the bench of one artifact)."""
    def args(ws, *rest):
        a = next(a for a in _manifest(ws)["artifacts"] if a["format"] == fmt and a["graph"] == graph)
        return ["-a", a["file"], *rest]
    return args


def bench_one(fmt: str, *extra):
    return lambda ws: ["bench", "bundle", *only(fmt)(ws), *quick_bench(), *extra]


def row_json(text: str):
    """The results line replaced by raw JSON text (NaN / Infinity literals, deep nesting)."""
    return write("results.jsonl", text + "\n")


def row_with(**fields) -> str:
    from edgelnn.bench.rows import ResultRow
    row = ResultRow(bundle="bundle", model="lstm", dataset="japanesevowels", artifact=None, format="onnx",
                    graph="step", scheme="int8-static", status="unsupported", error="not produced").to_dict()
    row.update(fields)
    return json.dumps(row)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


REPORT = ["report", "results.jsonl", "--out", "rep", "--no-sensitivity"]
EXPORT_AUTO = ["export", "model.pt", "--out", "b2", "--quant", "auto"]
STUDY = ["study", "--out", "st", "--datasets", "italypowerdemand", "--models", "gru"]

# -- the cases ---------------------------------------------------------------------------------
CASES = [
    # 2. every file an artifact uses carries a sha256 and a plain name, checked everywhere
    Case("integrity-inspect-header-sha-deleted", ["inspect", "bundle"], "missing sha256",
         setup=both(edit_header, edit_c(drop_header_sha))),
    Case("integrity-inspect-extra-files-deleted", ["inspect", "bundle"], "lists no header",
         setup=both(edit_header, edit_c(lambda e: e.pop("extra_files")))),
    Case("integrity-inspect-extra-files-empty", ["inspect", "bundle"], "lists no header",
         setup=edit_c(lambda e: e.update(extra_files=[]))),
    Case("integrity-inspect-header-sha-malformed", ["inspect", "bundle"], "malformed sha256",
         setup=edit_c(lambda e: e["extra_files"][0].update(sha256="xyz"))),
    Case("integrity-inspect-header-sha-number", ["inspect", "bundle"], "malformed sha256",
         setup=edit_c(lambda e: e["extra_files"][0].update(sha256=12345))),
    Case("integrity-inspect-header-edited", ["inspect", "bundle"], "do not match", setup=edit_header),
    Case("integrity-inspect-header-missing", ["inspect", "bundle"], "missing",
         setup=lambda ws: (ws / "bundle" / c_entry(ws)["extra_files"][0]["file"]).unlink()),
    Case("integrity-inspect-header-dotdot", ["inspect", "bundle"], "plain file name",
         setup=edit_c(lambda e: e["extra_files"][0].update(file="../notes.txt"))),
    Case("integrity-inspect-header-absolute", ["inspect", "bundle"], "plain file name",
         setup=edit_c(lambda e: e["extra_files"][0].update(file="/etc/passwd"))),
    Case("integrity-inspect-extra-not-list", ["inspect", "bundle"], "must be a list",
         setup=edit_c(lambda e: e.update(extra_files="x.h"))),
    Case("integrity-inspect-extra-not-object", ["inspect", "bundle"], "must be a list of objects",
         setup=edit_c(lambda e: e.update(extra_files=["x.h"]))),
    Case("integrity-inspect-onnx-extra-sha-missing", ["inspect", "bundle"], "missing sha256",
         setup=manifest_edit(lambda m: next(a for a in m["artifacts"] if a["format"] == "onnx")
                             .update(extra_files=[{"file": "notes.txt"}]))),
    Case("integrity-bench-header-sha-deleted", lambda ws: ["bench", "bundle", "-a", c_file(ws), *quick_bench()],
         "missing sha256", setup=both(edit_header, edit_c(drop_header_sha))),
    Case("integrity-bench-extra-files-deleted", lambda ws: ["bench", "bundle", "-a", c_file(ws), *quick_bench()],
         "lists no header", setup=both(edit_header, edit_c(lambda e: e.pop("extra_files")))),
    Case("integrity-bench-header-sha-malformed", lambda ws: ["bench", "bundle", "-a", c_file(ws), *quick_bench()],
         "malformed sha256", setup=edit_c(lambda e: e["extra_files"][0].update(sha256="0" * 63))),
    Case("integrity-bench-header-edited", lambda ws: ["bench", "bundle", "-a", c_file(ws), *quick_bench()],
         "was modified", setup=edit_header),
    Case("integrity-bench-header-edited-runtime-c", lambda ws: ["bench", "bundle", "-a", c_file(ws), "-r", "c",
                                                                 *quick_bench()], "was modified", setup=edit_header),
    Case("integrity-bench-source-edited", lambda ws: ["bench", "bundle", "-a", c_file(ws), *quick_bench()],
         "was modified", setup=lambda ws: (ws / "bundle" / c_file(ws)).write_text(
             (ws / "bundle" / c_file(ws)).read_text() + "\n/* x */\n")),
    Case("integrity-bench-mcu-header-edited", lambda ws: ["bench", "bundle", "-a", c_file(ws), "-t", "cortex-m4",
                                                           *quick_bench()], "was modified", setup=edit_header),
    Case("integrity-bench-artifact-sha-uppercase-edited", lambda ws: ["bench", "bundle", "-a", onnx_fp32(ws),
                                                                       *quick_bench()], "was modified",
         setup=both(manifest_edit(lambda m: [a.update(sha256=a["sha256"].upper()) for a in m["artifacts"]]),
                    lambda ws: (ws / "bundle" / onnx_fp32(ws)).write_bytes(
                        (ws / "bundle" / onnx_fp32(ws)).read_bytes() + b"\0"))),
    Case("integrity-bench-mcu-m0-header-sha-deleted", lambda ws: ["bench", "bundle", "-a", c_file(ws), "-t",
                                                                   "cortex-m0plus", *quick_bench()], "missing sha256",
         setup=both(edit_header, edit_c(drop_header_sha))),
    Case("runtime-cortex-m4-onnx-export", ["export", "model.pt", "--target", "cortex-m4", "--format", "onnx",
                                           "--out", "b2"], "does not run on cortex-m4"),
    Case("runtime-cortex-m4-scheme", ["export", "model.pt", "--target", "cortex-m4", "--quant", "int8-dynamic",
                                      "--out", "b2"], "not offered by c"),
    Case("runtime-cortex-m0-tflite-export", ["export", "model.pt", "--target", "cortex-m0plus", "--format",
                                             "tflite", "--out", "b2"], "does not run on cortex-m0plus"),
    # 3. the runtime asked for is the runtime used
    Case("runtime-c-on-onnx-only", bench_one("onnx", "-r", "c"), "runs c artifacts"),
    Case("runtime-onnxruntime-on-c-only", bench_one("c", "-r", "onnxruntime"), "runs onnx artifacts"),
    Case("runtime-litert-on-c-only", bench_one("c", "-r", "litert"), "runs tflite artifacts"),
    Case("runtime-litert-on-onnx-only", bench_one("onnx", "-r", "litert"), "runs tflite artifacts"),
    Case("runtime-c-on-tflite-only", bench_one("tflite", "-r", "c"), "runs c artifacts"),
    Case("runtime-one-of-two-missing", bench_one("onnx", "-r", "onnxruntime", "-r", "c"), "runs c artifacts"),
    Case("runtime-providers-empty", bench_one("onnx", "--providers", ""), "--providers"),
    Case("runtime-providers-comma", bench_one("onnx", "--providers", ","), "--providers"),
    Case("runtime-providers-trailing-comma", bench_one("onnx", "--providers", "CPUExecutionProvider,"),
         "--providers"),
    Case("runtime-providers-unknown", bench_one("onnx", "--providers", "NoSuchExecutionProvider"),
         "unknown onnxruntime provider"),
    Case("runtime-providers-lowercase", bench_one("onnx", "--providers", "cpuexecutionprovider"),
         "unknown onnxruntime provider"),
    Case("runtime-providers-on-c", bench_one("c", "--providers", "CPUExecutionProvider"), "--providers applies"),
    Case("runtime-providers-with-litert", bench_one("onnx", "-r", "onnxruntime", "--providers", "CPUExecutionProvider",
                                                    "-r", "litert"), "runs tflite artifacts"),
    Case("runtime-unknown-name-case", bench_one("onnx", "-r", "ONNXRuntime"), "unknown runtime"),
    # 4. values at the boundary: finite numbers, typed manifest fields, UTF-8, bounded nesting, maxima
    Case("boundary-max-drop-inf", [*EXPORT_AUTO, "--max-drop", "inf"], "--max-drop"),
    Case("boundary-max-drop-nan", [*EXPORT_AUTO, "--max-drop", "nan"], "--max-drop"),
    Case("boundary-max-drop-negative", [*EXPORT_AUTO, "--max-drop", "-1"], "--max-drop"),
    Case("boundary-max-drop-above-100", [*EXPORT_AUTO, "--max-drop", "101"], "--max-drop"),
    Case("boundary-max-error-inf", [*EXPORT_AUTO, "--max-error", "inf"], "--max-error"),
    Case("boundary-max-error-nan", [*EXPORT_AUTO, "--max-error", "nan"], "--max-error"),
    Case("boundary-tolerance-inf", ["export", "model.pt", "--out", "b2", "--tolerance", "fp32=inf"], "finite"),
    Case("boundary-tolerance-bound-inf", ["export", "model.pt", "--out", "b2", "--tolerance",
                                          "int8-static.rel_range=inf"], "finite"),
    Case("boundary-warmup-huge", ["bench", "bundle", "--warmup", str(10 ** 20)], "--warmup", code=2),
    Case("boundary-min-runs-huge", ["bench", "bundle", "--min-runs", str(10 ** 20)], "--min-runs", code=2),
    Case("boundary-min-runs-1e20", ["bench", "bundle", "--min-runs", "1e20"], "--min-runs", code=2),
    Case("boundary-min-seconds-huge", ["bench", "bundle", "--min-seconds", "1e20"], "min_seconds"),
    Case("boundary-min-seconds-inf", ["bench", "bundle", "--min-seconds", "inf"], "min_seconds"),
    Case("boundary-seq-chunk-huge", ["bench", "bundle", "--seq-chunk", str(10 ** 12)], "--seq-chunk", code=2),
    Case("boundary-eval-limit-huge", ["bench", "bundle", "--eval-limit", str(10 ** 12)], "--eval-limit", code=2),
    Case("boundary-train-epochs-huge", ["train", "-m", "gru", "-d", "basicmotions", "--epochs", str(10 ** 20),
                                        "--out", "x.pt"], "--epochs", code=2),
    Case("boundary-train-units-huge", ["train", "-m", "gru", "-d", "basicmotions", "--units", str(10 ** 9),
                                       "--out", "x.pt"], "--units", code=2),
    Case("boundary-train-threads-huge", ["train", "-m", "gru", "-d", "basicmotions", "--threads", "100000",
                                         "--out", "x.pt"], "--threads", code=2),
    Case("boundary-bench-threads-huge", ["bench", "bundle", "--threads", "100000"], "--threads", code=2),
    Case("boundary-cpus-absent-core", ["bench", "bundle", "--cpus", "4095"], "--cpus"),
    Case("boundary-manifest-model-string", ["inspect", "bundle"], "model must be an object",
         setup=manifest_edit(lambda m: m.update(model="lstm"))),
    Case("boundary-manifest-dataset-list", ["bench", "bundle", *quick_bench()], "dataset must be an object",
         setup=manifest_edit(lambda m: m.update(dataset=[1]))),
    Case("boundary-manifest-io-string", ["bench", "bundle", *quick_bench()], "io must be an object",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(io="x"))),
    Case("boundary-manifest-io-inputs-number", ["bench", "bundle", *quick_bench()], "io.inputs",
         setup=manifest_edit(lambda m: m["artifacts"][0]["io"].update(inputs=5))),
    Case("boundary-manifest-golden-string", ["bench", "bundle", *quick_bench()], "golden must be an object",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(golden="tight"))),
    Case("boundary-manifest-golden-tolerance-text", ["bench", "bundle", *quick_bench()], "golden.tolerance",
         setup=manifest_edit(lambda m: m["artifacts"][0]["golden"].update(tolerance="1e-3"))),
    Case("boundary-manifest-golden-tolerance-negative", ["bench", "bundle", *quick_bench()], "golden.tolerance",
         setup=manifest_edit(lambda m: m["artifacts"][0]["golden"].update(tolerance=-1))),
    Case("boundary-manifest-golden-tolerance-nan", ["bench", "bundle", *quick_bench()], "golden.tolerance",
         setup=both(manifest_edit(lambda m: m["artifacts"][0]["golden"].update(tolerance="@NAN@")),
                    lambda ws: (ws / "bundle" / "manifest.json").write_text(
                        (ws / "bundle" / "manifest.json").read_text().replace('"@NAN@"', "NaN")))),
    Case("boundary-manifest-chunk-zero", ["bench", "bundle", *quick_bench()], "chunk",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(chunk=0))),
    Case("boundary-manifest-format-number", ["bench", "bundle", *quick_bench()], "format must be a string",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(format=5))),
    Case("boundary-manifest-format-unknown", ["bench", "bundle", *quick_bench()], "is not one of",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(format="pdf"))),
    Case("boundary-manifest-graph-unknown", ["bench", "bundle", *quick_bench()], "step or seq",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(graph="loop"))),
    Case("boundary-manifest-shifts-string", ["bench", "bundle", *quick_bench()], "evaluation.shifts",
         setup=manifest_edit(lambda m: m["evaluation"].update(shifts="all"))),
    Case("boundary-manifest-shift-list", ["bench", "bundle", *quick_bench()], "evaluation.shifts[0]",
         setup=manifest_edit(lambda m: m["evaluation"].update(shifts=[[1]]))),
    Case("boundary-manifest-state-size-text", ["bench", "bundle", *quick_bench()], "state[0].size",
         setup=manifest_edit(lambda m: m["tensors"]["step"]["state"][0].update(size="8"))),
    Case("boundary-manifest-state-size-zero", ["bench", "bundle", *quick_bench()], "size must be >= 1",
         setup=manifest_edit(lambda m: m["tensors"]["step"]["state"][0].update(size=0))),
    Case("boundary-manifest-reference-text", ["bench", "bundle", *quick_bench()], "reference.test",
         setup=manifest_edit(lambda m: m["reference"].update(test="high"))),
    Case("boundary-manifest-target-std-text", ["bench", "bundle", *quick_bench()], "target_std",
         setup=manifest_edit(lambda m: m["dataset"].update(target_std="1"))),
    Case("boundary-manifest-units-text", ["inspect", "bundle"], "model.units",
         setup=manifest_edit(lambda m: m["model"].update(units="8"))),
    Case("boundary-manifest-nested", ["inspect", "bundle"], "nested deeper",
         setup=manifest_edit(lambda m: m.update(deep=json.loads(nested(80))))),
    Case("boundary-manifest-very-deep", ["inspect", "bundle"], "nested deeper",
         setup=write("bundle/manifest.json", nested(100000))),
    Case("boundary-manifest-not-utf8", ["inspect", "bundle"], "not valid JSON",
         setup=write("bundle/manifest.json", b'{"schema": "\xff"}')),
    Case("boundary-profile-not-utf8", ["bench", "bundle", "-t", "bad", *quick_bench()], "not UTF-8",
         setup=write("targets/bad.toml", b'name = "bad\xff"\narch = "native"\n')),
    Case("boundary-profile-not-utf8-show", ["targets", "show", "bad"], "not UTF-8",
         setup=write("targets/bad.toml", b'\xfe\xffname = "bad"\n')),
    Case("boundary-bench-out-nested-line", ["bench", "bundle", "--out", "deep.jsonl", *quick_bench()], "nested deeper",
         setup=write("deep.jsonl", nested(100000) + "\n")),
    # 5. Dask addresses: refused before any work, one line
    Case("dask-scheduler-empty", [*STUDY, "--scheduler", ""], "--scheduler is empty"),
    Case("dask-scheduler-blank", [*STUDY, "--scheduler", "   "], "--scheduler is empty"),
    Case("dask-scheduler-http", [*STUDY, "--scheduler", "http://127.0.0.1:8786"], "scheme 'http'"),
    Case("dask-scheduler-no-port", [*STUDY, "--scheduler", "tcp://127.0.0.1"], "port"),
    Case("dask-scheduler-port-huge", [*STUDY, "--scheduler", "tcp://127.0.0.1:99999"], "port"),
    Case("dask-scheduler-port-text", [*STUDY, "--scheduler", "tcp://127.0.0.1:abc"], "port"),
    Case("dask-scheduler-space", [*STUDY, "--scheduler", "tcp://a b:8786"], "spaces"),
    Case("dask-scheduler-path", [*STUDY, "--scheduler", "tcp://127.0.0.1:8786/x"], "nothing else"),
    Case("dask-scheduler-user", [*STUDY, "--scheduler", "tcp://me@127.0.0.1:8786"], "nothing else"),
    Case("dask-scheduler-refused", lambda ws: [*STUDY, "--scheduler", f"tcp://127.0.0.1:{_free_port()}"],
         "cannot reach the Dask scheduler"),
    Case("dask-scheduler-unknown-host", [*STUDY, "--scheduler", "tcp://nosuchhost.invalid:8786"],
         "cannot reach the Dask scheduler"),
    Case("dask-scheduler-not-dask", lambda ws: [*STUDY, "--scheduler", f"tcp://127.0.0.1:{_mute_listener()}"],
         "does not answer like a Dask scheduler"),
    Case("dask-scheduler-talks-http", lambda ws: [*STUDY, "--scheduler", f"tcp://127.0.0.1:{_http_listener()}"],
         "does not answer like a Dask scheduler"),
    # 6. result rows validated when read
    Case("rows-latency-nan", REPORT, "latency_us.p50", setup=row_json(
        row_with(status="passed", golden_ok=True).replace('"latency_us": null', '"latency_us": {"p50": NaN}'))),
    Case("rows-latency-infinity", REPORT, "finite", setup=row_json(
        row_with().replace('"per_sample_us": null', '"per_sample_us": Infinity'))),
    Case("rows-latency-negative", REPORT, "latency_us.p99", setup=row_edit(latency_us={"p50": 1, "p90": 2, "p99": -3})),
    Case("rows-accuracy-above-1", REPORT, "accuracy", setup=row_edit(accuracy=1.5)),
    Case("rows-accuracy-negative", REPORT, "accuracy", setup=row_edit(accuracy=-0.1)),
    Case("rows-accuracy-fp32-above-1", REPORT, "accuracy_fp32", setup=row_edit(accuracy_fp32=7)),
    Case("rows-accuracy-text", REPORT, "must be a number", setup=row_edit(accuracy="0.9")),
    Case("rows-agreement-above-1", REPORT, "agreement", setup=row_edit(agreement=2.0)),
    Case("rows-shift-accuracy-above-1", REPORT, "shifts[0].accuracy",
         setup=row_edit(shifts=[{"shift": "noise", "level": 0.1, "accuracy": 3.0}])),
    Case("rows-shift-level-negative", REPORT, "shifts[0].level",
         setup=row_edit(shifts=[{"shift": "noise", "level": -1, "accuracy": 0.5}])),
    Case("rows-shifts-string", REPORT, "shifts must be a list", setup=row_edit(shifts="noise")),
    Case("rows-shift-not-object", REPORT, "shifts[0] must be an object", setup=row_edit(shifts=["noise"])),
    Case("rows-peak-rss-negative", REPORT, "peak_rss_mb", setup=row_edit(peak_rss_mb=-1)),
    Case("rows-size-text", REPORT, "size_bytes", setup=row_edit(size_bytes="big")),
    Case("rows-threads-negative", REPORT, "threads", setup=row_edit(threads=-2)),
    Case("rows-chunk-infinity", REPORT, "chunk", setup=row_json(row_with(chunk="@INF@").replace('"@INF@"', "Infinity"))),
    Case("rows-latency-string", REPORT, "latency_us must be an object", setup=row_edit(latency_us="fast")),
    Case("rows-measured-on-string", REPORT, "measured_on must be an object", setup=row_edit(measured_on="pi")),
    Case("rows-footprint-list", REPORT, "footprint must be an object", setup=row_edit(footprint=[1])),
    Case("rows-footprint-negative", REPORT, "footprint.weight_bytes", setup=row_edit(footprint={"weight_bytes": -5})),
    Case("rows-model-object", REPORT, "model must be text", setup=row_edit(model={"kind": "lstm"})),
    Case("rows-error-list", REPORT, "error must be text", setup=row_edit(error=["x"])),
    Case("rows-nested-deep", REPORT, "nested deeper", setup=row_json(nested(100000))),
    Case("rows-nested-80", REPORT, "nested deeper", setup=row_json(row_with(extra=json.loads(nested(80))))),
    Case("rows-same-file-twice", ["report", "results.jsonl", "results.jsonl", "--out", "rep"], "given twice"),
    Case("rows-same-file-two-spellings", ["report", "results.jsonl", "./results.jsonl", "--out", "rep"], "given twice"),
    Case("rows-bundles-missing", [*REPORT, "--bundles", "nosuch"], "--bundles nosuch"),
    Case("rows-bundles-is-file", [*REPORT, "--bundles", "notes.txt"], "no such folder"),
    Case("rows-rmse-negative", REPORT, "accuracy", setup=row_edit(metric="rmse", accuracy=-2.0)),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listener(reply: bytes | None) -> int:
    """A TCP server on 127.0.0.1 that accepts connections and stays silent (``reply`` None) or
    sends ``reply`` -- what a proxy or a web server on the scheduler's port looks like."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve():
        conns = []
        srv.settimeout(30)
        try:
            while True:
                conn, _ = srv.accept()
                conns.append(conn)
                if reply:
                    conn.sendall(reply)
        except OSError:
            pass
        finally:
            for c in conns:
                c.close()
            srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def _mute_listener() -> int:
    return _listener(None)


def _http_listener() -> int:
    return _listener(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, ws):
    err = run_case(case, ws)
    for raw in RAW_PYTHON:                  # Python's own wording never reaches the user
        assert raw not in err, err


RAW_PYTHON = ("[Errno", "object has no attribute", "cannot convert float", "Traceback", "KeyError",
              "TypeError", "RecursionError")


# -- the Python API (the remote runner and the MCU path use these) ---------------------------
def _open_c(ws):
    from edgelnn.runtime import load_bundle
    return load_bundle(ws / "bundle").open(c_file(ws))


def _verify_c(ws):
    from edgelnn.runtime.integrity import verify_artifact
    return verify_artifact(ws / "bundle", c_entry(ws))


def _external_data(ws):
    """An ONNX file whose weights live in an unlisted file next to it (sha256 of the .onnx right)."""
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    from edgelnn.runtime import load_bundle
    from edgelnn.runtime.integrity import sha256_file

    name = onnx_fp32(ws)
    proto = onnx.load(str(ws / "bundle" / name))
    convert_model_to_external_data(proto, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save_model(proto, str(ws / "bundle" / name))
    manifest_edit(lambda m: next(a for a in m["artifacts"] if a["file"] == name).update(
        sha256=sha256_file(ws / "bundle" / name)))(ws)
    return load_bundle(ws / "bundle").open(name)


API = [
    ("integrity-api-open-header-edited", lambda ws: (edit_header(ws), _open_c(ws)), "was modified"),
    ("integrity-api-verify-header-sha-deleted", lambda ws: (edit_header(ws), edit_c(drop_header_sha)(ws), _verify_c(ws)),
     "missing sha256"),
    ("integrity-api-crunner-header-not-listed", lambda ws: __import__("edgelnn.runtime.c.runner", fromlist=["x"])
     .CRunner(ws / "bundle" / c_file(ws), {**c_entry(ws), "extra_files": []}, [8, 8]), "lists no header"),
    ("integrity-api-crunner-header-sha-deleted", lambda ws: (edit_header(ws), __import__(
        "edgelnn.runtime.c.runner", fromlist=["x"]).CRunner(
        ws / "bundle" / c_file(ws), {**c_entry(ws), "extra_files": [{"file": c_entry(ws)["extra_files"][0]["file"]}]},
        [8, 8])), "missing sha256"),
    ("integrity-api-onnx-unlisted-external-data", _external_data, "external data"),
    ("boundary-api-bench-settings-warmup", lambda ws: __import__("edgelnn.bench", fromlist=["x"]).BenchSettings(
        warmup=10 ** 20), "warmup"),
    ("boundary-api-bench-settings-seconds", lambda ws: __import__("edgelnn.bench", fromlist=["x"]).BenchSettings(
        min_seconds=1e20), "min_seconds"),
    ("boundary-api-budget-inf", lambda ws: __import__("edgelnn.export.mixed.search", fromlist=["x"]).Budget(
        float("inf")), "--max-drop"),
    ("rows-api-load-results-nan", lambda ws: (row_json(row_with().replace('"accuracy": null', '"accuracy": NaN'))(ws),
                                             __import__("edgelnn.report.rows", fromlist=["x"]).load_results(
                                                 [ws / "results.jsonl"])), "accuracy"),
    ("dask-api-address-wrong-scheme", lambda ws: __import__("edgelnn.study.executors", fromlist=["x"])
     .check_scheduler_address("udp://h:1"), "scheme"),
]


@pytest.mark.parametrize("name, call, expect", API, ids=[a[0] for a in API])
def test_hostile_api(name, call, expect, ws):
    with pytest.raises(EdgeLNNError) as info:
        call(ws)
    assert expect.lower() in str(info.value).lower(), str(info.value)
    assert len(str(info.value).strip().splitlines()) == 1


def test_a_header_still_verified_is_accepted(ws):
    """The same bundle untouched: the C artifact's every file verifies and it runs."""
    paths = _verify_c(ws)
    assert [p.suffix for p in paths] == [".c", ".h"]
    with _open_c(ws) as r:
        assert np.isfinite(r.step(np.zeros(r.input_size, np.float32), 1.0)).all()


# -- real processes: disk, lock, signal ----------------------------------------------------------
def edgelnn(ws: Path, *args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgelnn", *map(str, args)], cwd=ws, capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "EDGELNN_TARGETS_DIR": str(ws / "targets"), **(env or {})})


def one_error(proc: subprocess.CompletedProcess, expect: str, code: int = 1) -> str:
    check_one_error(proc.returncode, proc.stdout, proc.stderr, Case("x", [], expect, code=code))
    return next(ln for ln in proc.stderr.splitlines() if ln.startswith("error:"))


@pytest.fixture
def mount():
    """mount(path, options) -> a small tmpfs at ``path`` (root only); unmounted after the test."""
    mounted = []

    def make(path: Path, options: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'}); the disk cases need one")
        mounted.append(path)
        return path

    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("the disk cases mount a small tmpfs: they need root and mount(8)")
    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> None:
    """Use up every byte of the file system holding ``folder``."""
    fd = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def report_results(user_files, tmp_path_factory):
    """A results file a report can be written from: one passed row."""
    from edgelnn.bench.rows import ResultRow

    root = tmp_path_factory.mktemp("rows")
    row = ResultRow(bundle="bundle", model="lstm", dataset="japanesevowels", artifact="a.onnx", format="onnx",
                    graph="step", scheme="fp32", status="passed", golden_ok=True, runtime="onnxruntime",
                    latency_us={"p50": 10.0, "p90": 11.0, "p99": 12.0}, accuracy=0.9, accuracy_fp32=0.9,
                    size_bytes=1000).to_dict()
    (root / "results.jsonl").write_text(json.dumps(row) + "\n")
    return root / "results.jsonl"


def test_disk_report_full_disk_leaves_nothing(ws, mount, report_results):
    shutil.copy(report_results, ws / "ok.jsonl")
    full = mount(ws / "full", "size=64k")
    fill(full)
    before = snapshot(ws)
    proc = edgelnn(ws, "report", "ok.jsonl", "--out", "full/rep", "--no-sensitivity")
    line = one_error(proc, "full/")
    assert "No space left" in line and "Errno" not in line, line
    assert snapshot(ws) == before and not any(p.name != ".filler" for p in full.iterdir())


def test_disk_report_read_only_is_one_line(ws, mount, report_results):
    shutil.copy(report_results, ws / "ok.jsonl")
    mount(ws / "ro", "ro,size=64k")
    before = snapshot(ws)
    line = one_error(edgelnn(ws, "report", "ok.jsonl", "--out", "ro/rep", "--no-sensitivity"), "ro")
    assert "Read-only" in line and "Errno" not in line, line
    assert snapshot(ws) == before


def test_disk_train_out_full_disk(ws, mount):
    full = mount(ws / "full", "size=64k")
    fill(full)
    before = snapshot(ws)
    proc = edgelnn(ws, "train", "-m", "gru", "-d", "basicmotions", "--units", "4", "--epochs", "1",
                   "--out", "full/m.pt")
    line = one_error(proc, "full/m.pt")
    assert "internal error" not in line and "space" in line.lower(), line
    assert snapshot(ws) == before and [p.name for p in full.iterdir()] == [".filler"]


def test_disk_bench_out_full_disk(ws, mount):
    full = mount(ws / "full", "size=64k")
    fill(full)
    before = snapshot(ws)
    proc = edgelnn(ws, "bench", "bundle", "-a", onnx_fp32(ws), *quick_bench(), "--out", "full/r.jsonl")
    line = one_error(proc, "full/")
    assert "Errno" not in line and "internal error" not in line, line
    assert snapshot(ws) == before


def test_disk_read_only_compile_cache_falls_back(ws, mount):
    """A C runtime whose compile cache is read-only builds in a private temporary folder."""
    cache = mount(ws / "cache", "ro,size=64k")
    proc = edgelnn(ws, "bench", "bundle", "-a", c_file(ws), "-r", "c", *quick_bench(), "--json",
                   env={"EDGELNN_CACHE_DIR": str(cache)})
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["status"] == "passed" and row["runtime"] == "c"


def _hold_lock(folder: Path, command: str) -> subprocess.Popen:
    """Another edgelnn process holding the folder's writer lock until killed."""
    code = ("import sys, time; from edgelnn.outdir import writer_lock\n"
            f"with writer_lock({str(folder)!r}, {command!r}):\n"
            "    print('held', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("command", ["report", "export", "study"])
def test_lock_second_writer_gets_the_holders_pid(command, ws, report_results):
    shutil.copy(report_results, ws / "ok.jsonl")
    out = ws / "out"
    holder = _hold_lock(out, command)
    try:
        before = snapshot(ws)
        args = {"report": ["report", "ok.jsonl", "--out", "out", "--no-sensitivity"],
                "export": ["export", "model.pt", "--out", "out", "--format", "onnx", "--quant", "fp32",
                           "--graph", "step"],
                "study": ["study", "--workers", "0", "--out", "out", "--datasets", "basicmotions",
                          "--models", "gru", "--budgets", "300", "--seeds", "1", "--trials", "1"]}[command]
        line = one_error(edgelnn(ws, *args), f"pid {holder.pid}")
        assert f"another edgelnn {command}" in line, line
        assert {k: v for k, v in snapshot(ws).items() if not k.startswith(".out.lock")} == \
            {k: v for k, v in before.items() if not k.startswith(".out.lock")}
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_writer_is_stale_and_leftovers_go(ws, report_results):
    """A writer SIGKILLed while holding the lock and a temporary folder: the next report takes
    the lock (the dead pid is not running) and removes the leftover."""
    shutil.copy(report_results, ws / "ok.jsonl")
    holder = _hold_lock(ws / "rep", "report")
    leftover = ws / ".rep.tmp-killed"
    (leftover / "plots").mkdir(parents=True)
    (leftover / "report.md").write_text("half a report")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (ws / ".rep.lock").read_text().split()[0] == str(holder.pid)     # the stale lock is there
    proc = edgelnn(ws, "report", "ok.jsonl", "--out", "rep", "--no-sensitivity")
    assert proc.returncode == 0, proc.stderr
    assert (ws / "rep" / "report.md").is_file() and not leftover.exists() and not (ws / ".rep.lock").exists()


def test_signal_killed_export_leaves_a_folder_the_next_run_removes(ws):
    """SIGKILL an export while it works: its hidden .NAME.tmp-* folder stays behind (nothing can
    clean up after SIGKILL); the next export to the same --out removes it and writes the bundle."""
    args = [sys.executable, "-m", "edgelnn", "export", "model.pt", "--out", "kb", "--format", "onnx",
            "--quant", "fp32", "--graph", "step"]
    proc = subprocess.Popen(args, cwd=ws, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list(ws.glob(".kb.tmp-*")) and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = list(ws.glob(".kb.tmp-*"))
    if not left:
        pytest.skip("the export finished before it could be killed (machine too fast for this case)")
    done = edgelnn(ws, "export", "model.pt", "--out", "kb", "--format", "onnx", "--quant", "fp32", "--graph", "step")
    assert done.returncode == 0, done.stderr
    assert not any(p.exists() for p in left) and (ws / "kb" / "manifest.json").is_file()
    assert not list(ws.glob(".kb.*"))


def test_the_suite_is_large_enough():
    """Issue 20: >= 300 bad-input cases in all (this file's tables and real-process cases, plus
    tests/test_bad_input.py's tables; tests/test_cli_contract.py adds more)."""
    import test_bad_input

    real = [name for name in globals() if name.startswith(("test_disk_", "test_lock_", "test_signal_"))]
    ours = len(CASES) + len(API) + len(real)
    theirs = len(test_bad_input.CLI_CASES) + len(test_bad_input.API_CASES)
    assert len({c.id for c in CASES} | {a[0] for a in API}) == len(CASES) + len(API)
    assert ours >= 120 and ours + theirs >= 300, (ours, theirs)


def test_disk_export_full_disk(ws, mount):
    full = mount(ws / "full", "size=256k")
    fill(full)
    before = snapshot(ws)
    proc = edgelnn(ws, "export", "model.pt", "--out", "full/b", "--format", "onnx", "--quant", "fp32",
                   "--graph", "step")
    line = one_error(proc, "full")
    assert "No space left" in line and "Errno" not in line, line
    assert snapshot(ws) == before and [p.name for p in full.iterdir()] == [".filler"]


def test_lock_leftover_old_folder_is_put_back(tmp_path):
    """A run killed between moving the old folder aside and renaming the new one in: the next
    run restores the old folder (the user's) instead of deleting it, and removes the rest."""
    from edgelnn.outdir import remove_leftovers

    (tmp_path / ".rep.old-1" / "plots").mkdir(parents=True)
    (tmp_path / ".rep.old-1" / "report.md").write_text("the user's report")
    (tmp_path / ".rep.tmp-x").mkdir()
    remove_leftovers(tmp_path / "rep")
    assert (tmp_path / "rep" / "report.md").read_text() == "the user's report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
