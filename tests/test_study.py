"""`edgelnn study`: parameter budgets, resumable state, and one tiny end-to-end run (CLI)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from edgelnn.study import StudyConfig, resolve_units, units_for_budget
from edgelnn.study.config import fingerprint
from edgelnn.study.state import StudyState

CLI = [sys.executable, "-c", "from edgelnn.cli import main; main()"]
TINY = ["study", "--dataset", "basicmotions", "--models", "cfc,lstm", "--seeds", "1", "--epochs", "1",
        "--units", "8", "--formats", "onnx", "--graphs", "step", "--schemes", "fp32,int8-dynamic"]


def test_param_budget_lands_near_the_budget():
    from edgelnn.models import create

    for kind in ("lstm", "ltc", "cfc-ncp"):
        choice = units_for_budget(kind, 6, 4, 2000)
        assert abs(choice.params - 2000) / 2000 < 0.15, choice
        assert create(kind, 6, 4, units=choice.units).param_count() == choice.params
        for other in (choice.units - 1, choice.units + 1):  # no neighbour is closer
            p = create(kind, 6, 4, units=other).param_count()
            assert abs(p - 2000) >= abs(choice.params - 2000)
    units = resolve_units(StudyConfig(dataset="basicmotions", models=("gru", "lstm"), param_budget=1500))
    assert units["gru"] > units["lstm"]  # a GRU has 3 gates to the LSTM's 4


def test_state_resumes_only_matching_finished_steps(tmp_path):
    out = tmp_path / "x.pt"
    state = StudyState(tmp_path)
    fp = fingerprint("train", "cfc", 0)
    assert not state.done("train cfc-s0", fp, out)
    state.record("train cfc-s0", fp, out, 1.0)
    assert not state.done("train cfc-s0", fp, out)  # output missing
    out.write_text("x")
    again = StudyState(tmp_path)  # re-read from disk
    assert again.done("train cfc-s0", fp, out)
    assert not again.done("train cfc-s0", fingerprint("train", "cfc", 1), out)


def test_bad_study_options_are_one_line(tmp_path):
    proc = subprocess.run([*CLI, "study", "--models", "cfc,nope", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:") and "nope" in proc.stderr


@pytest.mark.slow
def test_tiny_study_end_to_end_and_resume(tmp_path):
    out = tmp_path / "study"
    first = subprocess.run([*CLI, *TINY, "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    report = out / "report"
    for name in ("report.md", "report.html", "results.csv"):
        assert (report / name).is_file()
    assert str(report / "report.html") in first.stdout.replace("\n", "")
    with (report / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["model"] for r in rows} == {"cfc", "lstm"}
    assert {r["scheme"] for r in rows} == {"fp32", "int8-dynamic"}
    assert all(r["status"] == "passed" for r in rows), [(r["artifact"], r["error"]) for r in rows]
    md = (report / "report.md").read_text()
    assert "The review's claims" in md and "Quantization sensitivity" in md
    ckpts = sorted((out / "checkpoints").glob("*.pt"))
    assert len(ckpts) == 2
    mtimes = [c.stat().st_mtime_ns for c in ckpts]

    second = subprocess.run([*CLI, *TINY, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("skipped train") == 2
    assert second.stdout.count("skipped export") == 2 and second.stdout.count("skipped bench") == 2
    assert [c.stat().st_mtime_ns for c in ckpts] == mtimes
    state = json.loads((out / "study.json").read_text())
    assert state["last_run"]["ran"] == 0
    assert (report / "report.html").is_file()
