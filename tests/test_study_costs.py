"""The study's cost corrections (edgelnn.study.costs.correction) and the fit that produces them
(benchmarks/study_costs.py): a known correction is recovered from jobs generated with it."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from edgelnn.study import costs


def _fitter():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "study_costs.py"
    spec = importlib.util.spec_from_file_location("study_costs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_kind_or_dataset_not_fitted_is_not_corrected():
    assert costs.correction("my-own-data", "my-kind", 1000) == 1.0
    assert costs.correction("co2", "gru", 1000) == pytest.approx(
        costs.KIND_CORRECTION["gru"][0] * costs.DATASET_CORRECTION["co2"])
    # the slope: a bigger budget of the same kind is corrected by its own factor
    f, s = costs.KIND_CORRECTION["ltc"]
    assert costs.correction("co2", "ltc", 4000) / costs.correction("co2", "ltc", 1000) == pytest.approx(4 ** s)


def test_the_fit_recovers_a_known_correction():
    fit = _fitter().fit
    # one slope for both kinds (a kind's own slope is shrunk towards the common one), and a third
    # kind measured at one budget only, which gets that common slope
    kinds = {"gru": (0.1, 0.3), "ltc": (0.4, 0.3), "cfc": (0.7, 0.3)}
    dsets = {"a": 2.0, "b": 0.5}          # geometric mean 1
    rows = []
    for k, (f, s) in kinds.items():
        for d, g in dsets.items():
            for b in ((250, 1000, 4000) if k != "cfc" else (250,)):
                for e in (40, 90):
                    per_epoch = 1.0 * b / 250
                    cpu = costs.JOB_OVERHEAD + f * math.exp(s * math.log(b / 1000)) * g * e * per_epoch
                    rows.append({"model": k, "dataset": d, "budget": b, "epochs": e, "per_epoch": per_epoch, "cpu": cpu})
    got = fit(rows)
    for k, (f, s) in kinds.items():
        assert got["kind"][k][0] == pytest.approx(f, rel=0.02)
        assert got["kind"][k][1] == pytest.approx(s, abs=0.02)
    for d, g in dsets.items():
        assert got["dataset"][d] == pytest.approx(g, rel=0.02)
    assert got["epochs"] == {"a": 65, "b": 65}


def test_the_fit_adds_up_to_what_the_jobs_cost():
    """Jobs scatter around the model (log-normal here): a fit in logs alone matches the geometric
    mean and its sums come out low by ~exp(var / 2); a plan adds jobs up, so each kind's factor is
    scaled until its jobs' summed estimate equals their summed CPU."""
    mod = _fitter()
    rng = np.random.default_rng(0)
    rows = []
    for k, f in (("gru", 0.1), ("ltc", 0.4)):
        for d in ("a", "b"):
            for b in (250, 1000, 4000):
                for _ in range(30):
                    per_epoch = b / 250
                    cpu = costs.JOB_OVERHEAD + f * 60 * per_epoch * math.exp(rng.normal(0, 0.6))
                    rows.append({"model": k, "dataset": d, "budget": b, "epochs": 60, "per_epoch": per_epoch,
                                 "cpu": cpu, "score": 0.0})
    got = mod.fit(rows)
    for k in ("gru", "ltc"):
        mine = [r for r in rows if r["model"] == k]
        estimate = sum(mod.predict(r, got, expected_epochs=False) for r in mine)
        assert estimate == pytest.approx(sum(r["cpu"] for r in mine), rel=2e-3)   # the printed terms are rounded
        # the log fit's own factor sits near the median, below the mean by about exp(0.6^2 / 2) = 1.2
        assert 1.1 < got["kind"][k][0] / [0.1, 0.4][k == "ltc"] < 1.35


def test_the_fit_reads_stack_members_the_way_the_plan_prices_them():
    """A stack member's CPU is its share of the stack's, overhead included, and the plan scales a
    member's whole estimate by its share: the fit recovers the factor from members of stacks of any
    size, and its estimate of each member is what the member cost."""
    mod = _fitter()
    rows = []
    for share in (1.0, 0.5, 0.125):
        for b in (250, 1000, 4000):
            per_epoch = b / 500
            cpu = (costs.JOB_OVERHEAD + 0.3 * 50 * per_epoch) * share
            rows.append({"model": "gru", "dataset": "a", "budget": b, "epochs": 50, "per_epoch": per_epoch,
                         "share": share, "cpu": cpu, "score": 0.0, "kind": "tune"})
    got = mod.fit(rows)
    assert got["kind"]["gru"][0] == pytest.approx(0.3, rel=0.01) and got["kind"]["gru"][1] == pytest.approx(0, abs=0.01)
    for r in rows:
        assert mod.predict(r, got, expected_epochs=False) == pytest.approx(r["cpu"], rel=0.01)
