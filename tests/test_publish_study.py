"""scripts/publish_study.py: a study's report replaces docs/example-report, README findings follow it."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "publish_study.py"
START, END = "<!-- study-findings:start -->", "<!-- study-findings:end -->"
CAVEAT_START, CAVEAT_END = "<!-- study-caveat:start -->", "<!-- study-caveat:end -->"


@pytest.fixture(scope="module")
def publish():
    spec = importlib.util.spec_from_file_location("publish_study", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _study(path: Path, *, quick: bool, findings: str) -> Path:
    report = path / "report"
    (report / "plots").mkdir(parents=True)
    (report / "report.md").write_text("# report\n", encoding="utf-8")
    (report / "findings.md").write_text(findings, encoding="utf-8")
    (report / "summary.json").write_text(json.dumps({"quick": quick}), encoding="utf-8")
    (report / "plots" / "curves-a.png").write_bytes(b"\x89PNG new")
    (path / "study.json").write_text(json.dumps({
        "design": {"quick": quick},
        # killed once (no seconds: counts until its last finished job, 20 min), then resumed (10 min)
        "invocations": [{"started": "2026-12-07T03:00:00+00:00", "status": "running",
                         "executor": "a local Dask cluster"},
                        {"started": "2026-12-07T04:00:00+00:00", "status": "finished",
                         "finished": "2026-12-07T04:10:00+00:00", "seconds": 600,
                         "executor": "a local Dask cluster"}],
        "jobs": {"tune a": {"cpu_seconds": 120, "finished": "2026-12-07T03:20:00+00:00"},
                 "final b": {"cpu_seconds": 60, "finished": "2026-12-07T04:05:00+00:00"}}}), encoding="utf-8")
    return path


def _repo(root: Path) -> Path:
    old = root / "docs" / "example-report"
    (old / "plots").mkdir(parents=True)
    (old / "report.md").write_text("# old\n", encoding="utf-8")
    (old / "plots" / "curves-gone.png").write_bytes(b"old")
    (root / "README.md").write_text(f"intro\n\n{CAVEAT_START}\nDo not cite\n{CAVEAT_END}\n\n"
                                    f"{START}\nold findings\n{END}\noutro\n", encoding="utf-8")
    return root


def test_publish_replaces_report_and_findings(tmp_path, publish):
    root = _repo(tmp_path / "repo")
    study = _study(tmp_path / "study", quick=False, findings="**Competence gate** new text\n")
    assert publish.main([str(study), "--root", str(root), "--check"]) == 1
    assert publish.main([str(study), "--root", str(root)]) == 0
    dest = root / "docs" / "example-report"
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == \
        ["findings.md", "plots/curves-a.png", "report.md", "summary.json"]      # the old plot is gone
    assert (dest / "report.md").read_text() == "# report\n"
    readme = (root / "README.md").read_text()
    assert readme.startswith(f"intro\n\n{START}\n*Generated from the report of `edgelnn study`, finished "
                             "2026-12-07T04:10:00+00:00 on a local Dask cluster; 2 invocations (resumed where "
                             "it stopped), 30 min of study time and 3 CPU min in all.*")
    assert readme.endswith(f"**Competence gate** new text\n{END}\noutro\n") and "old findings" not in readme
    assert not list((root / "docs").glob("example-report.*"))                  # no .new / .old left
    assert publish.main([str(study), "--root", str(root), "--check"]) == 0
    (dest / "plots" / "curves-a.png").write_bytes(b"edited")
    assert publish.main([str(study), "--root", str(root), "--check"]) == 1


def test_quick_look_and_missing_report_change_nothing(tmp_path, publish, capsys):
    root = _repo(tmp_path / "repo")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    quick = _study(tmp_path / "quick", quick=True, findings="quick text\n")
    assert publish.main([str(quick), "--root", str(root)]) == 1
    assert "is a quick look" in capsys.readouterr().err
    assert publish.main([str(tmp_path / "nowhere"), "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "report.md" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert publish.main([str(quick), "--root", str(root), "--allow-quick"]) == 0
    assert "(quick look)" in (root / "README.md").read_text()


def test_caveat_left_counts_as_stale_and_a_broken_one_changes_nothing(tmp_path, publish, capsys):
    root = _repo(tmp_path / "repo")
    study = _study(tmp_path / "study", quick=False, findings="new text\n")
    assert publish.main([str(study), "--root", str(root)]) == 0
    readme = root / "README.md"
    published = readme.read_text()
    assert CAVEAT_START not in published and "Do not cite" not in published
    readme.write_text(published.replace("intro\n", f"intro\n{CAVEAT_START}\nstale\n{CAVEAT_END}\n"))
    assert publish.main([str(study), "--root", str(root), "--check"]) == 1      # a caveat left is not published
    readme.write_text(published.replace("intro\n", f"intro\n{CAVEAT_END}\nx\n{CAVEAT_START}\n"))
    before = readme.read_text()
    assert publish.main([str(study), "--root", str(root)]) == 1
    assert capsys.readouterr().err.startswith("error: ") and readme.read_text() == before
