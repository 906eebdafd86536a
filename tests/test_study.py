"""`edgelnn study`: the design, equal tuning, resume and its safety, and tiny studies run through the
CLI in this process, on the default local Dask cluster and on a separately started Dask cluster
(with a worker killed mid-job, and with the scheduler gone) -- all giving the same results."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgelnn.study import StudyDesign, default_design, quick_design
from edgelnn.study import plan, search
from edgelnn.study.records import TrialRecord
from edgelnn.study.state import StudyState, StudyStateError, clear_stale

CLI = [sys.executable, "-c", "from edgelnn.cli import main; main()"]
# Two datasets (one with irregular dt), a liquid and an RNN model, two budgets, two seeds, both
# arms, two tuning rates (1e-4, 1e-1: the best is always on an edge, so every group extends its grid
# once), two epochs; the chosen points of one dataset exported (ONNX fp32). One tuning seed even on
# italypowerdemand (--min-val-items 0: its small folds would add 3 per setting; test_study_validation),
# and no budget rung added (--extra-budgets 0: the later stages are tested in test_study_stages).
TINY = ["study", "--datasets", "italypowerdemand,irregular-sine", "--models", "cfc,gru", "--budgets", "250,1000",
        "--seeds", "2", "--trials", "2", "--arms", "plain,time-aug", "--max-epochs", "2", "--patience", "2",
        "--tune-budget", "250", "--tune-seeds", "1", "--batch-factors", "1", "--max-extensions", "1",
        "--aug-datasets", "all", "--export-datasets", "italypowerdemand", "--formats", "onnx", "--schemes", "fp32",
        "--max-run-seconds", "0", "--min-val-items", "0", "--extra-budgets", "0"]
N_JOBS = 12 + 24 + 4 + 4   # trials (8 + 4 extensions), final runs (16 plain + 8 time-aug), exports, benches
VOLATILE = {"worker", "seconds", "train_seconds", "train_peak_mb"}  # where and how fast: may differ


def cli(*args, timeout=900, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


def results_of(folder: Path) -> dict:
    """Everything a study produced that must not depend on where it ran."""
    out = {}
    for top in ("tuning", "records"):
        for path in sorted((folder / top).glob("*/*.json")):
            data = json.loads(path.read_text())
            out[path.relative_to(folder).as_posix()] = {k: v for k, v in data.items() if k not in VOLATILE}
    for path in sorted((folder / "checkpoints").glob("*/*.pt")):
        out[path.relative_to(folder).as_posix()] = path.read_bytes()
    for path in sorted((folder / "bundles").glob("*/*/manifest.json")):
        m = json.loads(path.read_text())
        out[path.relative_to(folder).as_posix()] = sorted((a["file"], a["sha256"]) for a in m["artifacts"])
    for path in sorted((folder / "results").glob("*/*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        out[path.relative_to(folder).as_posix()] = sorted((r["artifact"], r["status"], r.get("accuracy"))
                                                          for r in rows)
    return out


def assert_same_results(a: Path, b: Path) -> None:
    ra, rb = results_of(a), results_of(b)
    assert sorted(ra) == sorted(rb)
    different = [k for k in ra if ra[k] != rb[k]]
    assert not different, different[:5]


# -- the design -----------------------------------------------------------------------------------
def test_equal_tuning_gives_every_model_the_same_learning_rates():
    rates = {m: [t["lr"] for t in search.trial_settings(m, 4, 16)] for m in ("cfc", "ltc", "gru", "gru-d")}
    assert len({tuple(r) for r in rates.values()}) == 1 and len(set(rates["gru"])) == 4
    lo, hi = search.LR_RANGE
    assert rates["gru"][0] == pytest.approx(lo) and rates["gru"][-1] == pytest.approx(hi)
    assert lo <= 1e-4 and hi >= 1e-1                                       # the grid spans 1e-4..1e-1
    cfc = search.trial_settings("cfc", 4, 16)
    assert {t["search"]["backbone_ratio"] for t in cfc} == {1.0, 2.0, 4.0}  # CfC's own option, every value
    assert {(t["lr"], t["batch_size"]) for t in cfc} == {(r, b) for r in rates["gru"] for b in (8, 16)}
    assert all(t["search"] == {} for t in search.trial_settings("gru", 4, 16))


def test_tuning_picks_the_lowest_validation_loss_and_final_runs_follow_it():
    def trial(k, loss, lr):
        return TrialRecord("italypowerdemand", "cfc", 1000, k, {"lr": lr, "backbone_ratio": 2.0, "options": {},
                           "max_epochs": 150, "patience": 20, "batch_size": 16}, 5, 1000, 0, 0.9, loss, 3, 23, 1.0)
    chosen = plan.choose([trial(0, 0.40, 0.001), trial(1, float("nan"), 0.01), trial(2, 0.31, 0.05)])
    assert chosen == {"lr": 0.05, "batch_size": 16, "search": {"backbone_ratio": 2.0}, "trial": 2, "extensions": 0}
    d = StudyDesign(datasets=("italypowerdemand",), models=("cfc",), budgets=(250, 1000), seeds=2)
    a = plan.final_job(d, "italypowerdemand", "cfc", 250, "plain", 1, chosen)
    b = plan.final_job(d, "italypowerdemand", "cfc", 250, "plain", 1, {**chosen, "lr": 0.01})
    assert a.spec["lr"] == 0.05 and a.spec["options"]["backbone_units"] >= 2
    assert a.fingerprint != b.fingerprint  # a different choice redoes the run; the same choice does not
    assert plan.final_job(d, "italypowerdemand", "cfc", 250, "plain", 1, dict(chosen)).fingerprint == a.fingerprint


def test_default_design_meets_the_contract():
    d = default_design()
    assert len(d.datasets) >= 3 and "irregular-sine" in d.datasets
    assert {"cfc", "cfc-ncp", "ltc", "lstm", "gru", "gru-d"} <= set(d.models)
    assert len(d.budgets) >= 3 and max(d.budgets) / min(d.budgets) >= 10
    assert d.seeds >= 5 and d.max_epochs >= 150 and d.patience >= 20 and d.trials >= 2
    assert set(d.arms) == {"plain", "time-aug"}
    q = quick_design()
    assert q.quick and q.seeds < d.seeds


def test_a_changed_setting_redoes_only_what_depends_on_it():
    base = StudyDesign(datasets=("italypowerdemand",), models=("gru",), budgets=(250, 1000), seeds=2)
    more_seeds = base.replace(seeds=3)
    fps = lambda d: {j.key: j.fingerprint for j in plan.tuning_jobs(d)}  # noqa: E731
    assert fps(base) == fps(more_seeds)                          # seeds do not touch tuning
    assert fps(base) != fps(base.replace(max_epochs=20))         # training settings do
    chosen = {"lr": 0.01, "search": {}, "trial": 0}
    f1 = plan.final_job(base, "italypowerdemand", "gru", 250, "plain", 0, chosen)
    e1 = plan.export_job(base, f1)
    e2 = plan.export_job(base.replace(schemes=("fp32",)), f1)
    assert e1.fingerprint != e2.fingerprint and e1.deps == [f1.key]  # export settings: export redone, not training
    assert plan.bench_job(base, e1).fingerprint != plan.bench_job(base.replace(bench={}), e1).fingerprint


# -- study.json -------------------------------------------------------------------------------------
def test_state_resumes_only_matching_finished_jobs(tmp_path):
    state = StudyState(tmp_path)
    assert not state.done("final x", "fp1", ["records/x.json"])
    state.record("final x", "fp1", ["records/x.json"], worker="w")
    assert not state.done("final x", "fp1", ["records/x.json"])   # output missing
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "x.json").write_text("{}")
    again = StudyState.read(tmp_path)
    assert again.done("final x", "fp1", ["records/x.json"]) and not again.done("final x", "fp2", ["records/x.json"])


@pytest.mark.parametrize("content", ["{not json", json.dumps({"schema": "something-else"}),
                                     json.dumps({"schema": "edgelnn-study", "schema_version": 1, "steps": {}})])
def test_a_damaged_study_json_is_an_error_never_discarded(tmp_path, content):
    (tmp_path / "study.json").write_text(content)
    with pytest.raises(StudyStateError, match="--fresh"):
        StudyState.read(tmp_path)
    assert (tmp_path / "study.json").read_text() == content


def test_corrupt_study_json_through_the_cli_is_one_line_and_keeps_the_file(tmp_path):
    (tmp_path / "study.json").write_text('{"schema": "edgelnn-study", "jobs": {')
    proc = cli(*TINY, "--workers", "0", "--out", tmp_path, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert str(tmp_path / "study.json") in lines[0] and "--fresh" in lines[0]
    assert (tmp_path / "study.json").read_text() == '{"schema": "edgelnn-study", "jobs": {'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.json"]


def test_resume_clears_temporary_files_of_a_killed_run(tmp_path):
    (tmp_path / "records" / "d").mkdir(parents=True)
    (tmp_path / "records" / "d" / "m.json.tmp").write_text("half")
    (tmp_path / "bundles" / "d" / ".m-b250.tmp-123").mkdir(parents=True)
    (tmp_path / "records" / "d" / "kept.json").write_text("{}")
    removed = clear_stale(tmp_path)
    assert len(removed) == 2 and (tmp_path / "records" / "d" / "kept.json").exists()
    assert not (tmp_path / "bundles" / "d" / ".m-b250.tmp-123").exists()


def test_bad_study_options_are_one_line(tmp_path):
    for args in (["--models", "cfc,nope"], ["--datasets", "nowhere"], ["--arms", "plain,sideways"],
                 ["--budgets", "250,abc"]):
        proc = cli("study", *args, "--workers", "0", "--out", tmp_path / "s", timeout=120)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert proc.stderr.strip().splitlines()[-1].startswith("error:") or "Usage" in proc.stderr, proc.stderr
    assert not (tmp_path / "s").exists()


def test_an_unreachable_scheduler_is_one_line_and_leaves_no_study_state(tmp_path):
    from dask_cluster import free_port

    start = time.monotonic()
    proc = cli(*TINY, "--scheduler", f"tcp://127.0.0.1:{free_port()}", "--out", tmp_path / "s", timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Dask scheduler"), proc.stderr
    assert not (tmp_path / "s").exists()
    assert time.monotonic() - start < 90


def test_plan_prints_the_estimate_and_runs_nothing(tmp_path):
    proc = cli("study", "--plan", "--out", tmp_path / "s", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "estimated wall time on" in proc.stdout and not (tmp_path / "s").exists()
    # the fast LTC's costliest runs fit the default limit: no cell of the table is deferred (the
    # 16,000 rung's allowance line may name added cells that would be, should that rung fire)
    assert "│ deferred" not in proc.stdout
    capped = cli("study", "--plan", "--max-run-seconds", "100", timeout=120)
    assert capped.returncode == 0 and "deferred" in capped.stdout and "ltc" in capped.stdout
    everything = cli("study", "--plan", "--max-run-seconds", "0", "--tune-budget", "each", timeout=120)
    assert everything.returncode == 0 and "deferred" not in everything.stdout
    assert "'tune_budget': None" in everything.stdout and "'max_run_seconds': None" in everything.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_study_exits_130_and_keeps_what_finished(tmp_path, sig):
    out = tmp_path / "s"
    proc = subprocess.Popen([*CLI, *TINY, "--workers", "0", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list((out / "tuning").glob("*/*.json")):          # one job finished
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "error: interrupted" and "Traceback" not in stderr, stderr
    state = json.loads((out / "study.json").read_text())        # intact: the next run resumes from it
    assert state["jobs"]                                          # the finished jobs are recorded
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


# -- tiny studies, end to end -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The tiny study run in this process (no Dask): the results every other run must equal."""
    out = tmp_path_factory.mktemp("study") / "in-process"
    proc = cli(*TINY, "--workers", "0", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    return out, proc


@pytest.mark.slow
def test_tiny_study_through_the_cli(reference):
    out, proc = reference
    report = out / "report"
    for name in ("report.md", "report.html", "findings.md", "summary.json", "curves.csv", "pairs.csv",
                 "competence.csv"):
        assert (report / name).is_file(), name
    md = (report / "report.md").read_text()
    for section in ("Design", "Competence", "pair", "Where jobs ran", "Equal tuning"):
        assert section in md, section
    assert list((report / "plots").glob("curves-*.png"))
    summary = json.loads((report / "summary.json").read_text())
    assert {c["model"] for c in summary["curves"]} == {"cfc", "gru"}
    assert {r["dataset"] for r in summary["competence"]} >= {"italypowerdemand"}
    assert summary["claims"], "the pair table is empty"
    assert len(list((out / "records").glob("*/*.json"))) == 24 and len(list((out / "tuning").glob("*/*.json"))) == 12
    assert len(list((out / "results").glob("italypowerdemand/*.jsonl"))) == 4
    for path in (out / "records").glob("*/*.json"):   # each seed validated on its own fold (study.validation)
        rec = json.loads(path.read_text())
        assert rec["val_items"] == {"italypowerdemand": [14, 14], "irregular-sine": [120, 120]}[rec["dataset"]][rec["seed"]]
    # each final run is scored on its own training split too (the competence table's fit column)
    from edgelnn import data as data_mod
    from edgelnn.models import checkpoint
    from edgelnn.study.validation import folds_for
    from edgelnn.train.loop import evaluate
    for path in sorted((out / "records").glob("*/*-plain-s1.json"))[:2]:
        rec = json.loads(path.read_text())
        ds = data_mod.load(rec["dataset"], seed=rec["seed"], folds=folds_for(rec["dataset"]))
        model = checkpoint.load(out / rec["checkpoint"])
        assert rec["train_metric"] == pytest.approx(evaluate(model, ds.train, ds), abs=1e-12), path.name
    assert not list((out / "bundles").glob("irregular-sine/*"))
    state = json.loads((out / "study.json").read_text())
    assert len(state["jobs"]) == N_JOBS and state["invocations"][-1]["status"] == "finished"
    # resume: nothing is redone, nothing changes
    before = {p: p.stat().st_mtime_ns for p in (out / "checkpoints").rglob("*.pt")}
    again = cli(*TINY, "--workers", "0", "--out", out, "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout)       # --json: one document on stdout, progress on stderr
    assert (summary["ran"], summary["resumed"], summary["failed"]) == (0, N_JOBS, [])
    assert summary["report"]["comparisons"] >= 1 and Path(summary["report"]["markdown"]).is_file()
    assert f"0 job(s) run, {N_JOBS} resumed" in again.stderr.replace("\n", " ")
    assert {p: p.stat().st_mtime_ns for p in before} == before


@pytest.mark.slow
def test_the_default_local_cluster_gives_the_same_results(reference, tmp_path):
    out = tmp_path / "local"
    proc = cli(*TINY, "--out", out)  # no --workers: a LocalCluster, one worker per core
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "local Dask cluster" in proc.stdout
    state = json.loads((out / "study.json").read_text())
    assert all(j["worker"].startswith("tcp://127.0.0.1:") for j in state["jobs"].values())
    assert_same_results(reference[0], out)


@pytest.mark.slow
def test_a_separately_started_cluster_gives_the_same_results_with_a_worker_killed(reference, tmp_path):
    from dask_cluster import start_cluster

    cluster = start_cluster(tmp_path / "cluster", n_workers=2)
    out = tmp_path / "remote"
    try:
        study = subprocess.Popen([*CLI, *TINY, "--scheduler", cluster.address, "--out", str(out)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        victim = _kill_a_busy_worker(cluster, "final ")
        stdout, stderr = study.communicate(timeout=900)
        assert study.returncode == 0, stderr[-3000:]
        assert victim is not None, "no worker was caught running a job"
    finally:
        cluster.stop()
    state = json.loads((out / "study.json").read_text())
    workers = {j["worker"] for j in state["jobs"].values()}
    assert workers and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    assert_same_results(reference[0], out)


def _kill_a_busy_worker(cluster, prefix: str, timeout: float = 300.0):
    """SIGKILL the worker process that is running a job whose key starts with ``prefix``."""
    deadline = time.monotonic() + timeout
    with cluster.client() as client:
        while time.monotonic() < deadline:
            try:
                busy = {addr: tasks for addr, tasks in client.processing().items()
                        if any(str(t).startswith(prefix) for t in tasks)}
                names = {addr: w["name"] for addr, w in client.scheduler_info()["workers"].items()}
            except OSError:
                return None
            if busy:
                name = names[sorted(busy)[0]]
                proc = cluster.workers[int(str(name).lstrip("w"))]
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return name
            time.sleep(0.05)
    return None


@pytest.mark.slow
def test_the_scheduler_gone_is_one_line_and_the_next_run_resumes(reference, tmp_path):
    from dask_cluster import start_cluster

    out = tmp_path / "resumed"
    first = start_cluster(tmp_path / "c1", n_workers=2)
    try:
        study = subprocess.Popen([*CLI, *TINY, "--scheduler", first.address, "--out", str(out)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and study.poll() is None:
            try:
                if len(json.loads((out / "study.json").read_text())["jobs"]) >= 6:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        first.scheduler.kill()
        _, stderr = study.communicate(timeout=300)
    finally:
        first.stop()
    assert study.returncode == 1 and "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: lost the Dask scheduler"), stderr
    assert "study.json" in lines[0]
    done = len(json.loads((out / "study.json").read_text())["jobs"])
    assert 6 <= done < N_JOBS
    second = start_cluster(tmp_path / "c2", n_workers=2)
    try:
        proc = cli(*TINY, "--scheduler", second.address, "--out", out)
    finally:
        second.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{done} resumed" in proc.stdout.replace("\n", " ")
    assert_same_results(reference[0], out)
