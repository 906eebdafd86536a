"""Packaging (issue 11): ``pip install edgelnn`` is torch-free and benchmarks a bundle; commands
that need an extra say which; tflite-runtime is a tested fallback whose golden check passes what
it computes right and refuses what it miscomputes.

Both use real virtual environments (cached under ``~/.cache/edgelnn-test-device-venv`` like the
device venvs of the remote tests), filled by pip from the package index.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sshd import device_venv

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "ncps", "onnx", "onnxscript", "litert-torch", "ai-edge-quantizer")


def _base_requirements() -> list[str]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """A wheel of this source tree (what `pip install edgelnn` installs)."""
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"          # a clean copy: no stale build/ of an earlier tree in the wheel
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".pytest_cache", "build", "dist", "__pycache__", "*.egg-info", "runs"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "--disable-pip-version-check", "-w", str(out), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return next(out.glob("edgelnn-*.whl"))


@pytest.fixture(scope="session")
def base_venv(wheel) -> Path:
    """A fresh venv where the wheel was pip-installed with its dependencies (no extras). The venv
    is kept between runs, keyed by the base requirements; the wheel is reinstalled every run."""
    base = Path(os.environ.get("EDGELNN_TEST_DEVICE_VENV", "~/.cache/edgelnn-test-device-venv")).expanduser()
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    key = hashlib.sha256(json.dumps([sys.version, base_python, _base_requirements()]).encode()).hexdigest()[:12]
    venv = base / f"base-install-{key}"
    base.mkdir(parents=True, exist_ok=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    with open(base / "base-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".ready").is_file():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([base_python, "-m", "venv", str(venv)], check=True, capture_output=True)
        proc = subprocess.run([*pip, "install", "--force-reinstall", "--no-deps", str(wheel)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        proc = subprocess.run([*pip, "install", str(wheel)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        (venv / ".ready").write_text("\n".join(_base_requirements()) + "\n")
    return venv


def test_base_requirements_hold_no_torch():
    names = [r.split(";")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower() for r in _base_requirements()]
    assert not set(names) & set(HEAVY), names


def test_a_fresh_resolution_of_the_wheel_pulls_no_torch(wheel, base_venv, tmp_path):
    """pip's own resolver, ignoring what is installed: everything `pip install edgelnn` brings."""
    report = tmp_path / "report.json"
    proc = subprocess.run([str(base_venv / "bin" / "python"), "-m", "pip", "install", "--dry-run",
                           "--ignore-installed", "-q", "--report", str(report), str(wheel)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "edgelnn" in names and "onnxruntime" in names
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_pip_installed_edgelnn_benches_a_bundle_without_torch(base_venv, tiny_bundle, tmp_path):
    py = base_venv / "bin" / "python"
    assert subprocess.run([str(py), "-c", "import torch"], capture_output=True).returncode != 0
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True)
    assert not {p["name"].lower() for p in json.loads(listed.stdout)} & set(HEAVY)
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    step = {a["format"]: a["file"] for a in manifest["artifacts"] if a["graph"] == "step" and a["scheme"] == "fp32"}
    exe = str(base_venv / "bin" / "edgelnn")
    out = tmp_path / "results.jsonl"
    proc = subprocess.run([exe, "bench", str(tiny_bundle), *[x for f in step.values() for x in ("-a", f)],
                           "--min-runs", "20", "--min-seconds", "0", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["artifact"] for r in rows} == set(step.values())
    assert all(r["status"] == "passed" and r["latency_us"]["n"] >= 20 for r in rows)
    assert all(r["peak_rss_mb"] for r in rows)                     # the fresh-process probe ran too
    for name in step.values():
        assert name.split(".")[0] in proc.stdout
    proc = subprocess.run([exe, "report", str(out), "--out", str(tmp_path / "rep"), "--json"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Path(json.loads(proc.stdout)["html"]).is_file()
    proc = subprocess.run([exe, "targets", "list", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0 and "rpi5" in {t["name"] for t in json.loads(proc.stdout)}


@pytest.mark.parametrize("args", [["train", "-m", "gru", "-d", "basicmotions", "--out", "m.pt"],
                                  ["models"], ["export", "m.pt"], ["info", "m.pt"]])
def test_a_command_without_its_extra_says_which_to_install(base_venv, args, tmp_path):
    proc = subprocess.run([str(base_venv / "bin" / "edgelnn"), *args], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "pip install 'edgelnn[train]'" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == []


def test_a_study_report_without_scipy_says_which_extra_to_install(base_venv, tmp_path):
    """The base package reports bundles; a study folder's report needs the `stats` extra (scipy):
    one error line naming it, and nothing written into the study folder."""
    from study_fixtures import write_synthetic_study

    folder = write_synthetic_study(tmp_path / "study", models=("cfc", "gru"), datasets=("irregular-sine",),
                                   budgets=(1000,), arms=("plain",), shifts={}, bench=False, seeds=2, n_items=20)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    proc = subprocess.run([str(base_venv / "bin" / "edgelnn"), "report", str(folder)], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "pip install 'edgelnn[stats]'" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


# -- tflite-runtime, the fallback --------------------------------------------------------------
TFLITE_RUNTIME = ("numpy<2", "tflite-runtime==2.14.0")


@pytest.fixture(scope="session")
def tflite_runtime_python() -> Path:
    """A venv with tflite-runtime 2.14.0 and numpy < 2 only (no ai-edge-litert, no torch)."""
    if sys.version_info >= (3, 12):
        pytest.skip("tflite-runtime 2.14.0 has wheels for CPython 3.9-3.11 only")
    return device_venv("tflite-runtime", TFLITE_RUNTIME)


def test_tflite_runtime_fallback_golden_check(tflite_runtime_python, tiny_bundle, tmp_path):
    from edgelnn.targets.package import build_runner
    from edgelnn.targets.protocol import find_document

    py = str(tflite_runtime_python)
    for module in ("ai_edge_litert", "torch"):
        assert subprocess.run([py, "-c", f"import {module}"], capture_output=True).returncode != 0
    runner = build_runner(tmp_path / "runner.pyz")
    proc = subprocess.run([py, str(runner), "golden", str(tiny_bundle), "--runtimes", "tflite-runtime"],
                          capture_output=True, text=True, timeout=600)
    doc = find_document(proc.stdout)
    assert doc and doc["ok"], proc.stdout[-2000:] + proc.stderr[-2000:]
    tflite = {(r["graph"], r["scheme"]): r for r in doc["results"] if r["format"] == "tflite"}
    assert tflite and all(r["runtime"] == "tflite-runtime" for r in tflite.values())
    assert tflite[("step", "fp32")]["passed"], tflite[("step", "fp32")]
    bad = tflite[("step", "int8-dynamic")]
    assert not bad["passed"] and bad["max_abs"] is not None and bad["max_abs"] > bad["tolerance"], bad
    # every artifact either passed or says why not; none crashed the runner
    assert all(r["passed"] or r["error"] for r in tflite.values())


def test_bench_and_runtime_import_neither_targets_nor_torch():
    code = ("import sys, edgelnn.bench, edgelnn.runtime, edgelnn.report.rows, edgelnn.schema; "
            "bad = [m for m in sys.modules if m.startswith('edgelnn.targets') or m.split('.')[0] == 'torch']; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
