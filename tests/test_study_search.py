"""Tuning per cell (edgelnn.study.search): the grid, its extension past an edge -- the same rule for
every model -- and the choice that never takes a flagged setting."""
import math

import pytest

from edgelnn.study import StudyDesign, plan, search
from edgelnn.study.design import DEFAULT_MODELS
from edgelnn.study.records import TrialRecord


def _record(model, setting, seed, loss, flagged=False):
    hp = {"lr": setting["lr"], "batch_size": setting["batch_size"], **setting["search"], "options": {},
          "max_epochs": 10, "patience": 2}
    return TrialRecord("italypowerdemand", model, 1000, setting["trial"], hp, 8, 1000, seed, 0.9, loss, 5, 9, 1.0,
                       extension=setting["extension"], training_failure=["constant-output"] if flagged else [])


def _search(model, objective, design):
    """Run the search on a synthetic objective (validation loss as a function of the rate) the way the
    engine does: the base grid, then extension rounds until the rule says stop."""
    group = ("italypowerdemand", model, 1000)
    jobs = plan.trial_jobs(design, group, search.trial_settings(model, design.trials, 16, design.batch_factors))
    records = []
    while jobs:
        records += [_record(model, {**j.spec, "trial": j.spec["trial"]}, j.spec["seed"], objective(j.spec["lr"]))
                    for j in jobs]
        jobs = plan.extension_jobs(design, group, records)
    return records


@pytest.mark.parametrize("optimum, expect", [(3e-6, [1e-5, 1e-6]), (4.0, [1.0, 10.0]), (2e-3, [])])
def test_an_optimum_beyond_the_grid_extends_it_alike_for_every_model(optimum, expect):
    design = StudyDesign(datasets=("italypowerdemand",), models=DEFAULT_MODELS, budgets=(1000,), trials=4,
                         tune_seeds=2, batch_factors=(0.5, 1.0), max_extensions=2)
    objective = lambda lr: (math.log10(lr) - math.log10(optimum)) ** 2  # noqa: E731
    seen = {}
    for model in DEFAULT_MODELS:
        records = _search(model, objective, design)
        added = sorted({r.hparams["lr"] for r in records if r.extension}, reverse=optimum < 1)
        assert added == pytest.approx(expect), model
        # (rates) x batch sizes x seeds (italypowerdemand's small folds: 4, edgelnn.study.validation)
        assert len(records) == (4 + len(expect)) * 2 * len(design.tuning_seeds("italypowerdemand"))
        assert {r.extension for r in records} == set(range(len(expect) + 1))
        chosen = search.choose(records)
        assert chosen["extensions"] == len(expect)
        seen[model] = (tuple(added), len(records), chosen["lr"])
    assert len(set(seen.values())) == 1                          # every model alike


def test_no_extension_without_trials_budget_and_flagged_settings_are_not_chosen():
    settings = search.trial_settings("gru", 4, 16)
    for k, s in enumerate(settings):
        s["trial"] = k
    # the lowest loss is flagged (a collapsed run): the best unflagged one wins
    records = [_record("gru", s, 0, 0.1 if s["lr"] == 1e-1 else 1.0 - s["lr"], flagged=s["lr"] == 1e-1)
               for s in settings]
    assert search.choose(records)["lr"] == pytest.approx(1e-2)
    rows = search.landscape(records)
    assert search.extension(rows, 4, max_extensions=0) == []
    assert [r["flagged"] for r in rows].count(True) == 2


def test_a_cell_whose_validation_score_falls_with_capacity_is_flagged_beyond_seed_noise():
    from edgelnn.study.failures import failed_cells, flag_runs
    from edgelnn.study.records import RunRecord

    def run(model, budget, seed, val):
        return RunRecord("japanesevowels", model, "liquid", budget, "plain", seed, 8, budget, budget, {}, "accuracy",
                         val, val, [1.0])
    runs = ([run("cfc", 1000, s, v) for s, v in enumerate((0.86, 0.87, 0.85))]
            + [run("cfc", 4000, s, v) for s, v in enumerate((0.64, 0.66, 0.62))]       # falls: a failure
            + [run("gru", 1000, s, v) for s, v in enumerate((0.90, 0.96, 0.93))]
            + [run("gru", 4000, s, v) for s, v in enumerate((0.92, 0.89, 0.95))])      # within seed noise
    assert flag_runs(runs) == {("japanesevowels", "cfc", 4000, "plain")}
    assert failed_cells(runs) == {("japanesevowels", "cfc", 4000, "plain"): ["falls-with-capacity"]}
    assert all(r.training_failure == [] for r in runs if r.model == "gru" or r.budget == 1000)
