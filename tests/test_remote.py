"""Remote benchmarks against a REAL OpenSSH server on 127.0.0.1 (tests/sshd.py).

The "device" Python is a separate virtualenv with only numpy, onnxruntime and ai-edge-litert
(no torch), so these tests prove that the device path needs no torch. Host key checking stays
on: the client gets the server's key in a temporary known_hosts.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgelnn.bench.rows import check_row
from edgelnn.targets import (AuthenticationError, DeviceRuntimeMissingError, DiskSpaceError,
                             HostKeyError, HostUnreachableError, PythonMissingError,
                             RemoteTimeoutError, bench_local,
                             bench_remote, bench_targets, check_target, load_profile,
                             parse_profile, setup_target)
from sshd import _keygen, _pinned, free_port

FAST = {"warmup": 5, "min_runs": 20, "min_seconds": 0.01, "max_eval_sequences": 4}
NO_MEM = {**FAST, "memory": False}
EXTRA_KEYS = {"providers_requested", "provider_fallback", "provider_note"}


def table(server, python, name="loop", *, providers=("CPUExecutionProvider",),
          runtimes=("onnxruntime", "litert"), pip=None, **conn) -> dict:
    data = {"description": "this machine over a test sshd", "arch": "native",
            "runtimes": list(runtimes), "onnx_providers": list(providers), "threads": 1,
            "schemes": ["fp32", "int8-dynamic"],
            "connection": server.connection(python=str(python), venv="", **conn)}
    if pip:
        data["pip"] = pip
    return data


def profile(server, python, name="loop", **kw):
    return parse_profile(table(server, python, name, **kw), name)


def to_toml(data: dict) -> str:
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v) if isinstance(v, str) else str(v)
    top = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            top += ["", f"[{k}]"] + [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    return "\n".join(top) + "\n"


def artifact(bundle: Path, fmt: str, graph: str = "step", scheme: str = "fp32") -> str:
    manifest = json.loads((bundle / "manifest.json").read_text())
    return next(a["file"] for a in manifest["artifacts"]
                if (a["format"], a["graph"], a["scheme"]) == (fmt, graph, scheme))


# -- the main path: a real bundle benched on the "device" --------------------------------------
@pytest.fixture(scope="module")
def remote_run(sshd_server, device_python, tiny_bundle, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("device-workdir")
    p = profile(sshd_server, device_python, workdir=str(workdir))
    lines: list[str] = []
    rows = bench_remote(tiny_bundle, p, settings=FAST, progress=lines.append)
    return rows, workdir, lines


def test_device_python_has_no_torch(device_python):
    out = subprocess.run([str(device_python), "-c", "import torch"], capture_output=True, text=True)
    assert out.returncode != 0 and "No module named 'torch'" in out.stderr
    out = subprocess.run([str(device_python), "-c", "import numpy, onnxruntime, ai_edge_litert"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_remote_bench_rows_equal_local_rows_in_schema(remote_run, tiny_bundle, sshd_server):
    rows, workdir, lines = remote_run
    local = bench_local(tiny_bundle, load_profile("host"), settings=NO_MEM)
    assert [r["artifact"] for r in rows] == [r["artifact"] for r in local]
    for remote_row, local_row in zip(rows, local):
        assert check_row(remote_row) == [], remote_row
        assert set(remote_row) == set(local_row)
        assert set(remote_row) - set(check_row.__globals__["ROW_FIELDS"]) <= EXTRA_KEYS
        assert remote_row["status"] == local_row["status"]
        assert remote_row["target"] == "loop"
        on = remote_row["measured_on"]
        assert on["address"] == f"{sshd_server.user}@127.0.0.1:{sshd_server.port}"
        assert on["via"] == "ssh" and on["on_target"] is True and on["hostname"]
        # The device's own environment: its venv, no torch.
        assert "device-" in remote_row["env"]["executable"]
    assert {r["bundle"] for r in rows} == {tiny_bundle.name}
    passed = [r for r in rows if r["status"] == "passed"]
    assert len(passed) >= 5
    for r in passed:
        assert r["golden_ok"] and r["latency_us"]["n"] >= 20
        assert r["peak_rss_mb"] >= r["baseline_rss_mb"] > 0     # memory subprocess ran from the zipapp
        assert r["accuracy"] is not None
    assert {r["runtime"] for r in passed} == {"onnxruntime", "litert", "c"}
    # C artifacts were compiled on the device by its own compiler and timed step and run
    c_rows = [r for r in passed if r["runtime"] == "c"]
    assert c_rows and all(r["runtime_version"] and r["run_per_sample_us"] > 0 for r in c_rows)
    assert any("golden check" in ln for ln in lines)             # device progress streamed back
    assert list(workdir.iterdir()) == []                          # mktemp folder removed


def test_fleet_in_parallel_one_unreachable(sshd_server, device_python, tiny_bundle, tmp_path,
                                           monkeypatch):
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "lab-a.toml").write_text(to_toml(table(sshd_server, device_python)))
    (folder / "lab-dead.toml").write_text(to_toml(table(sshd_server, device_python)))
    monkeypatch.setenv("EDGELNN_TARGETS_DIR", str(folder))
    dead_port = free_port()                                     # nothing listens there
    lines: list[str] = []
    rows = bench_targets(tiny_bundle, ["lab-dead", "lab-a"], [f"lab-dead=127.0.0.1:{dead_port}"],
                         artifacts=[artifact(tiny_bundle, "onnx")], settings=NO_MEM,
                         progress=lines.append)
    dead = [r for r in rows if r["target"] == "lab-dead"]
    good = [r for r in rows if r["target"] == "lab-a"]
    assert len(dead) == 1 and dead[0]["status"] == "failed"
    assert "host unreachable" in dead[0]["error"] and "Connection refused" in dead[0]["error"]
    assert dead[0]["measured_on"]["address"] == f"{sshd_server.user}@127.0.0.1:{dead_port}"
    assert check_row(dead[0]) == []
    assert [r["status"] for r in good] == ["passed"]
    assert good[0]["measured_on"]["via"] == "ssh"


def test_jetson_providers_fall_back_to_cpu_and_say_so(sshd_server, device_python, tiny_bundle):
    jetson = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    p = profile(sshd_server, device_python, "jetson-like", providers=jetson)
    rows = bench_remote(tiny_bundle, p, artifacts=[artifact(tiny_bundle, "onnx")], settings=NO_MEM)
    (row,) = rows
    assert row["status"] == "passed"
    assert row["providers_requested"] == list(jetson)
    assert row["providers_used"] == ["CPUExecutionProvider"]
    assert row["provider_fallback"] is True and row["provider_note"].startswith("fallback:")


# -- refusals and one-line errors ---------------------------------------------------------------
def test_unknown_host_key_is_refused(sshd_server, device_python, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    p = profile(sshd_server, device_python, known_hosts=str(empty))
    with pytest.raises(HostKeyError, match="unknown host key"):
        check_target(p)
    assert empty.read_text() == ""                   # nothing was added behind the user's back


def test_changed_host_key_is_refused(sshd_server, device_python, tmp_path):
    _keygen(tmp_path / "other")
    kind, key = (tmp_path / "other.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd_server.port} {kind} {key}\n")
    p = profile(sshd_server, device_python, known_hosts=str(known))
    with pytest.raises(HostKeyError, match="CHANGED"):
        check_target(p)


def test_wrong_key_gives_the_authentication_error(sshd_server, device_python, tiny_bundle,
                                                  tmp_path):
    _keygen(tmp_path / "stranger")
    p = profile(sshd_server, device_python, identity_file=str(tmp_path / "stranger"))
    with pytest.raises(AuthenticationError, match="authentication refused.*ssh-copy-id"):
        bench_remote(tiny_bundle, p)


def test_missing_runtime_on_the_device_gives_the_pip_line(sshd_server, numpy_only_python,
                                                          tiny_bundle):
    p = profile(sshd_server, numpy_only_python)
    with pytest.raises(DeviceRuntimeMissingError) as err:
        bench_remote(tiny_bundle, p, settings=NO_MEM)
    msg = str(err.value)
    assert f"{numpy_only_python} -m pip install onnxruntime ai-edge-litert" in msg
    assert "edgelnn targets setup loop" in msg and "\n" not in msg


def test_runtime_missing_for_some_artifacts_fails_only_their_rows(sshd_server, device_python,
                                                                   tiny_bundle):
    p = profile(sshd_server, device_python, runtimes=("onnxruntime", "tflite-runtime"))
    rows = bench_remote(tiny_bundle, p, settings=NO_MEM,
                        artifacts=[artifact(tiny_bundle, "onnx"), artifact(tiny_bundle, "tflite")])
    by_fmt = {r["format"]: r for r in rows}
    assert by_fmt["onnx"]["status"] == "passed"
    assert by_fmt["tflite"]["status"] == "failed"
    assert f"{device_python} -m pip install tflite-runtime (on " in by_fmt["tflite"]["error"]


def test_tampered_artifact_is_refused_on_the_device(sshd_server, device_python, bundle_copy):
    name = artifact(bundle_copy, "onnx")
    data = bytearray((bundle_copy / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle_copy / name).write_bytes(bytes(data))
    rows = bench_remote(bundle_copy, profile(sshd_server, device_python), artifacts=[name],
                        settings=NO_MEM)
    (row,) = rows
    assert row["status"] == "failed" and row["latency_us"] is None
    assert "sha256" in row["error"] and "modified" in row["error"]
    assert row["measured_on"]["via"] == "ssh"


def test_python_missing_on_the_device(sshd_server, tiny_bundle):
    p = profile(sshd_server, "/nonexistent/bin/python3")
    with pytest.raises(PythonMissingError, match="not found on the device.*python3-venv"):
        bench_remote(tiny_bundle, p)


def test_not_enough_disk_is_checked_before_copying(sshd_server, device_python, tiny_bundle,
                                                   tmp_path, monkeypatch):
    from edgelnn.targets import remote

    monkeypatch.setattr(remote, "DISK_MARGIN_KB", 1 << 40)      # ask for a petabyte
    workdir = tmp_path / "wd"
    p = profile(sshd_server, device_python, workdir=str(workdir))
    with pytest.raises(DiskSpaceError, match="not enough disk in .* MB free"):
        bench_remote(tiny_bundle, p, settings=NO_MEM)
    assert list(workdir.iterdir()) == []


def test_unreachable_single_target_is_one_line(device_python, sshd_server, tiny_bundle):
    p = profile(sshd_server, device_python, port=free_port())
    with pytest.raises(HostUnreachableError, match=r"loop \(.*\): host unreachable"):
        bench_remote(tiny_bundle, p)


def test_run_timeout_stops_the_device_and_cleans_up(sshd_server, device_python, tiny_bundle,
                                                    tmp_path):
    workdir = tmp_path / "wd"
    p = profile(sshd_server, device_python, workdir=str(workdir), run_timeout=3)
    with pytest.raises(RemoteTimeoutError, match="3 s timeout"):
        bench_remote(tiny_bundle, p, artifacts=[artifact(tiny_bundle, "onnx")],
                     settings={**NO_MEM, "min_seconds": 60.0})
    assert list(workdir.iterdir()) == []


# -- check and setup -------------------------------------------------------------------------
def test_check_reports_device_facts(sshd_server, device_python):
    rep = check_target(profile(sshd_server, device_python))
    assert rep.ok, rep.missing
    f = rep.facts
    assert f["machine"] and f["cores"] >= 1 and f["memory_mb"] > 0 and f["os"]
    assert f["numpy"] and f["runtimes"]["onnxruntime"]["ok"] and f["runtimes"]["litert"]["ok"]
    assert f["torch"] is None and f["free_mb"] > 0 and f["in_venv"]


def test_cli_check_and_its_errors(sshd_server, device_python, tmp_path):
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "lab.toml").write_text(to_toml(table(sshd_server, device_python)))
    env = {**os.environ, "EDGELNN_TARGETS_DIR": str(folder), "COLUMNS": "200"}
    cmd = [sys.executable, "-c", "from edgelnn.cli import main; main()", "targets", "check", "lab"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "lab: ready" in out.stdout and "onnxruntime" in out.stdout
    out = subprocess.run(cmd + ["--host", f"127.0.0.1:{free_port()}"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 1 and "error: lab (" in out.stderr and "host unreachable" in out.stderr
    assert "Traceback" not in out.stderr


def test_setup_makes_a_venv_with_the_runtimes(sshd_server, tmp_path):
    """`targets setup`: a venv on the device with numpy + the profile's runtimes, no torch."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    venv = tmp_path / "device-venv"
    pins = dict(zip(("numpy", "onnxruntime"), _pinned(("numpy", "onnxruntime"))))
    data = table(sshd_server, base, runtimes=("onnxruntime",), pip=pins)
    data["connection"].update(python="auto", venv=str(venv))
    rep = setup_target(parse_profile(data, "fresh"))
    assert rep.ok, rep.missing
    assert rep.facts["executable"] == str(venv / "bin" / "python")
    assert rep.facts["torch"] is None and rep.facts["runtimes"]["onnxruntime"]["ok"]
