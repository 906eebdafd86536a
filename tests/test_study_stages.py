"""The study's later stages (edgelnn.study.stages): the budget ladder grows where the best model still
improves at the top budget, and a cell whose validation score falls with capacity is re-tuned -- by
rules over validation results, the same for every model.

The rules are decisions over results, so the engine test below runs them in a synthetic world: a
study whose train jobs return records from a known formula (no training), which makes both rules
fire where they should. Real training runs through the same engine in tests/test_study.py."""
import json
import math

import numpy as np
import pytest

from edgelnn.study import StudyDesign, plan, run_study, search, stages
from edgelnn.study.executors import InProcess
from edgelnn.study.jobs import run_train, run_train_stack
from edgelnn.study.records import RunRecord, TrialRecord, to_dict
from edgelnn.study.studydata import load_study


def _run(model, budget, seed, val, metric="accuracy", dataset="italypowerdemand", failure=()):
    return RunRecord(dataset, model, "rnn", budget, "plain", seed, 8, budget, budget, {"lr": 0.01}, metric,
                     val, val, [1.0], training_failure=list(failure))


def _runs(table, metric="accuracy"):
    """{(model, budget): [val per seed]} -> RunRecords."""
    return [_run(m, b, s, v, metric) for (m, b), vals in table.items() for s, v in enumerate(vals)]


# -- the budget ladder -----------------------------------------------------------------------------------
def test_the_ladder_grows_where_the_best_model_still_improves_beyond_seed_noise():
    improving = _runs({("gru", 1000): [0.90, 0.91, 0.90], ("gru", 4000): [0.95, 0.96, 0.95],
                       ("cfc", 1000): [0.80, 0.80, 0.81], ("cfc", 4000): [0.80, 0.81, 0.80]})
    why = stages.still_improving(improving, "italypowerdemand", [250, 1000, 4000])
    assert why["model"] == "gru" and why["budget"] == 16000 and why["gain"] == pytest.approx(0.05)
    # within noise: the same gain with seeds spread over 10 points
    noisy = _runs({("gru", 1000): [0.80, 1.00, 0.90], ("gru", 4000): [0.85, 1.05, 0.95]})
    assert stages.still_improving(noisy, "italypowerdemand", [1000, 4000]) is None
    # only the best model at the top budget counts: a weaker one improving does not grow the ladder
    weaker = _runs({("gru", 1000): [0.95, 0.95, 0.96], ("gru", 4000): [0.96, 0.95, 0.95],
                    ("cfc", 1000): [0.70, 0.70, 0.71], ("cfc", 4000): [0.90, 0.90, 0.91]})
    assert stages.still_improving(weaker, "italypowerdemand", [1000, 4000]) is None
    # a training failure at the top is not "the best model"
    failed = weaker + [_run("lstm", 1000, s, 0.5) for s in range(3)] + \
        [_run("lstm", 4000, s, 0.99, failure=["early-best-epoch"]) for s in range(3)]
    assert stages.still_improving(failed, "italypowerdemand", [1000, 4000]) is None
    # lower is better for regression: RMSE falling is improving
    rmse = _runs({("gru", 1000): [0.50, 0.51, 0.50], ("gru", 4000): [0.40, 0.41, 0.40]}, "rmse")
    assert stages.still_improving(rmse, "italypowerdemand", [1000, 4000])["gain"] == pytest.approx(0.1)


def test_the_plan_states_what_the_later_stages_can_cost():
    from edgelnn.study.costs import plan_time

    d = StudyDesign(datasets=("italypowerdemand", "japanesevowels"), models=("gru", "cfc", "ltc"), budgets=(250, 1000),
                    trials=4, arms=("plain",), max_run_seconds=None)
    est, off = plan_time(d), plan_time(d.replace(extra_budgets=0, capacity_retry=False))
    assert est.ladder_max > 0 and est.retry_max > 0 and off.ladder_max == off.retry_max == 0
    # the rung's allowance is what running 4,000 as part of the design would cost (tuning and finals;
    # LTC stacks at 1,000 but not at 4,000)
    full = plan_time(d.replace(budgets=(250, 1000, 4000), extra_budgets=0, capacity_retry=False))
    assert est.ladder_max == pytest.approx(full.tune + full.final - off.tune - off.final, rel=0.1)
    assert est.wall == off.wall          # an allowance, stated beside the estimate, not in it


# -- the capacity retry ----------------------------------------------------------------------------------
def test_a_capacity_retry_adds_a_rate_below_the_grid_with_the_chosen_options():
    settings = search.trial_settings("cfc", 4, 16)
    trials = []
    for k, s in enumerate(settings):
        hp = {"lr": s["lr"], "batch_size": s["batch_size"], **s["search"], "options": {}, "max_epochs": 5,
              "patience": 2}
        trials.append(TrialRecord("italypowerdemand", "cfc", 4000, k, hp, 8, 4000, 0, 0.9, 1.0 + k / 100, 5, 9, 1.0))
    added = stages.retry_settings(trials, 4)
    assert [a["lr"] for a in added] == [1e-5, 1e-5] and [a["batch_size"] for a in added] == [8, 16]
    assert {a["retry"] for a in added} == {stages.RETRY} and [a["trial"] for a in added] == [8, 9]
    assert all(a["search"] == {"backbone_ratio": settings[0]["search"]["backbone_ratio"]} for a in added)
    jobs = plan.trial_jobs(StudyDesign(datasets=("italypowerdemand",), models=("cfc",), budgets=(4000,)),
                           ("italypowerdemand", "cfc", 4000), added)
    assert all(j.spec["retry"] == stages.RETRY for j in jobs)


# -- both stages through the engine, on synthetic results ---------------------------------------------------
OPT = {("gru", 4000): 1e-7}     # the rate a cell trains best at (else 0.1, the grid's top)
LEVEL = {"gru": {250: 0.80, 1000: 0.90, 4000: 0.95, 16000: 0.96},
         "cfc": {250: 0.70, 1000: 0.75, 4000: 0.75, 16000: 0.75},
         "lstm": {250: 0.80, 1000: 0.90, 4000: 0.80, 16000: 0.80}}   # falls at 4,000 whatever its rate


def synthetic_train(spec: dict) -> dict:
    """A train job's payload from a formula: validation is best at OPT's rate and falls 5 points a
    decade away from it; gru keeps improving with budget, cfc flattens out."""
    d, m, b, s = spec["dataset"], spec["model"], spec["budget"], spec["seed"]
    off = abs(math.log10(spec["lr"]) - math.log10(OPT.get((m, b), 1e-1)))
    val = LEVEL[m][b] - 0.05 * off + 0.002 * (s % 3)
    if spec["type"] == "trial":
        rec = TrialRecord(d, m, b, spec["trial"], {"lr": spec["lr"], "batch_size": spec["batch_size"]}, spec["units"],
                          spec["params_active"], s, val, 1.0 - val, 10, 20, 0.1, extension=spec.get("extension", 0),
                          val_items=13, retry=spec.get("retry", ""))
        return {"record": to_dict(rec), "files": {}, "worker": "synthetic", "cpu_seconds": 0.1, "seconds": 0.1}
    scores = (np.arange(1029) < round(val * 1029)).astype(float).tolist()
    rec = RunRecord(d, m, "liquid" if m == "cfc" else "rnn", b, spec["arm"], s, spec["units"], spec["params_active"],
                    spec["params_active"], {"lr": spec["lr"], "batch_size": spec["batch_size"]}, "accuracy", val,
                    float(np.mean(scores)), scores, best_epoch=10, epochs_run=20, checkpoint=spec["checkpoint"],
                    val_items=13, retry=spec.get("retry", ""))
    return {"record": to_dict(rec), "files": {spec["checkpoint"]: b"synthetic"}, "worker": "synthetic",
            "cpu_seconds": 0.1, "seconds": 0.1}


def synthetic_stack(specs: list[dict]) -> dict:
    return {"members": [synthetic_train(s) for s in specs], "worker": "synthetic", "cpu_seconds": 0.1, "seconds": 0.1}


class SyntheticTraining(InProcess):
    """The in-process executor, with the synthetic trainer in place of training (alone or stacked)."""

    def submit(self, job, fn, args, priority, pin=False):
        fn = {run_train: synthetic_train, run_train_stack: synthetic_stack}.get(fn, fn)
        super().submit(job, fn, args, priority, pin)


def test_the_engine_grows_the_ladder_and_retries_a_falling_cell_and_resumes_without_rerunning(tmp_path):
    design = StudyDesign(datasets=("italypowerdemand",), models=("cfc", "gru", "lstm"), budgets=(250, 1000, 4000), seeds=3,
                         arms=("plain",), aug_budgets=(), aug_datasets=(), trials=2, tune_seeds=1, batch_factors=(1.0,),
                         max_extensions=0, min_val_items=0, export=False, max_run_seconds=None)
    out = tmp_path / "study"
    first = run_study(design, out, executor=SyntheticTraining())
    assert not first.failed
    recs = {p.name for p in (out / "records" / "italypowerdemand").glob("*.json")}
    # gru at 4,000 trained at the grid's lowest rate 1e-4 fell from 1,000: re-tuned with 1e-7, rerun
    assert {f"gru-b4000-plain-s{s}-capacity.json" for s in range(3)} <= recs
    assert not any(r.startswith(("cfc", "lstm")) and "capacity" in r for r in recs)
    reruns = [json.loads((out / "records/italypowerdemand" / f"gru-b4000-plain-s{s}-capacity.json").read_text())
              for s in range(3)]
    assert {r["hparams"]["lr"] for r in reruns} == {1e-7} and all(r["retry"] == "capacity" for r in reruns)
    # the best model (gru) still improved at 4,000 beyond noise: both models ran at 16,000
    assert {f"{m}-b16000-plain-s{s}.json" for m in ("cfc", "gru") for s in range(3)} <= recs
    trials = [json.loads(p.read_text()) for p in (out / "tuning").glob("*/*.json")]
    assert {t["budget"] for t in trials} == {250, 1000, 4000, 16000}
    # one batch size, one tuning seed: one retry trial each for gru and lstm at 4,000
    assert sorted(t["model"] for t in trials if t["retry"] == "capacity") == ["gru", "lstm"]
    # the report analyses the reruns, lists the replaced runs, and no failure remains
    data = load_study(out)
    assert data.cell("italypowerdemand", "gru", 4000).runs[0].retry == "capacity"
    assert len(data.replaced) == 3 and not data.cell("italypowerdemand", "gru", 4000).failure
    # lstm's lower rate did not win: its first runs stand and the fall is reported, never a verdict
    assert "falls-with-capacity" in data.cell("italypowerdemand", "lstm", 4000).failure
    assert data.budgets("italypowerdemand") == [250, 1000, 4000, 16000]
    md = (out / "report" / "report.md").read_text()
    assert "Capacity retries" in md and "budget ladder" not in md.lower().split("later stages")[0][-5:]
    assert "italypowerdemand: gru (best at 4,000) improved" in md and "gru at 4,000: validation score fell" in md
    assert "lstm at 4,000: validation score fell" in md and "the choice did not change, the first runs stand" in md
    # resume: every job replays from the records (the later stages included), nothing reruns or moves
    again = run_study(design, out, executor=SyntheticTraining())
    assert (again.ran, again.superseded) == (0, None) and again.resumed == first.ran + first.resumed
    # a design without the later stages moves their outputs aside and keeps the rest
    plain = run_study(design.replace(extra_budgets=0, capacity_retry=False), out, executor=SyntheticTraining())
    assert plain.ran == 0 and plain.superseded
    left = {p.name for p in (out / "records" / "italypowerdemand").glob("*.json")}
    assert not any("16000" in n or "capacity" in n for n in left) and len(left) == 3 * 3 * 3
    data = load_study(out)
    assert data.cell("italypowerdemand", "gru", 4000).failure     # without the retry the fall stays: reported
