"""The rules the study's verdicts rest on, from synthetic study folders (no training): gates read
validation data, robustness is a share of (clean - chance) lost, censored budget reach, training
failures, the declared Holm family and its sensitivity line, Friedman / Nemenyi across datasets,
and the declared analysis in the report and in docs/study-design.md."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgelnn.study import declared, stats
from edgelnn.study import records as rec
from edgelnn.study.report import build_study_report
from edgelnn.study.studydata import load_study
from edgelnn.study.verdicts import (HOLM_FAMILY, INCONCLUSIVE, LIQUID_BETTER, NOT_ASSESSABLE, RNN_BETTER,
                                    TRAINING_FAILURE, Claim, _holm_by_family, analyse, family_changes,
                                    loss_share)
from study_fixtures import write_synthetic_study

ROOT = Path(__file__).resolve().parents[1]


def claim(a, question, liquid, rnn, **kw):
    hits = [c for c in a.claims if c.question == question and c.liquid == liquid and c.rnn == rnn
            and all(getattr(c, k) == v for k, v in kw.items())]
    assert len(hits) == 1, [c.id for c in hits]
    return hits[0]


def set_val(folder: Path, val: dict) -> None:
    """Overwrite each run's validation accuracy: val[model] (test scores are left as drawn)."""
    for path in (folder / "records").rglob("*.json"):
        r = rec.read(path)
        if r.model in val:
            r.val_metric = val[r.model]
            rec.write(r, path)


# -- gates read validation data ---------------------------------------------------------------
def test_the_competence_gate_follows_validation_not_test(tmp_path):
    """ItalyPowerDemand (published 0.970, gate 0.940). On test, cfc is competent (0.96) and lstm is
    not (0.91); on validation it is the other way round (cfc 0.90, lstm 0.96). The gate, the
    competence table and which pairs are assessable follow validation; test is shown beside it."""
    acc = {"cfc": 0.96, "ltc": 0.91, "lstm": 0.91, "gru": 0.91}
    write_synthetic_study(tmp_path, datasets=("italypowerdemand",), models=("cfc", "ltc", "lstm", "gru"),
                          budgets=(1000,), arms=("plain",), shifts={}, bench=False,
                          accuracy=lambda d, m, b, a: acc[m], n_items=400)
    set_val(tmp_path, {"cfc": 0.90, "ltc": 0.90, "lstm": 0.96, "gru": 0.90})
    a = analyse(load_study(tmp_path))
    rows = {r.model: r for r in a.competence}
    assert rows["lstm"].within and not rows["cfc"].within
    assert rows["lstm"].val == pytest.approx(0.96) and rows["lstm"].test == pytest.approx(0.91, abs=0.003)
    assert rows["cfc"].test == pytest.approx(0.96, abs=0.003)
    # cfc vs gru: on test cfc would pass; on validation neither side does
    assert claim(a, "accuracy", "cfc", "gru").verdict == NOT_ASSESSABLE
    # cfc vs lstm: lstm is competent on validation, so the pair carries a verdict (cfc 5 points better on test)
    c = claim(a, "accuracy", "cfc", "lstm")
    assert c.assessable and c.verdict == LIQUID_BETTER
    assert claim(a, "accuracy", "ltc", "gru").verdict == NOT_ASSESSABLE


# -- robustness: share of (clean - chance) lost ------------------------------------------------

def test_the_competence_table_shows_the_cells_fit_to_its_training_data(tmp_path):
    """The training-split score sits beside validation: under-fitting (cfc: low on both) reads
    apart from over-fitting (lstm: 1.0 on train, low on validation); records without it show '-'."""
    from edgelnn.study.report_sections import competence_section

    write_synthetic_study(tmp_path, datasets=("italypowerdemand",), models=("cfc", "ltc", "lstm", "gru"),
                          budgets=(1000, 4000), arms=("plain",), shifts={}, bench=False, n_items=200)
    train = {("cfc", 1000): 0.70, ("cfc", 4000): 0.72, ("lstm", 1000): 1.0, ("lstm", 4000): 0.99, ("gru", 1000): 0.95}
    for path in (tmp_path / "records").rglob("*.json"):
        r = rec.read(path)
        t = train.get((r.model, r.budget))
        if t is not None:
            r.train_metric = t - 0.01 * r.seed      # seeds differ: the table shows their mean
            rec.write(r, path)
    set_val(tmp_path, {"cfc": 0.68, "lstm": 0.80})
    a = analyse(load_study(tmp_path))
    rows = {r.model: r for r in a.competence}
    assert rows["cfc"].train == pytest.approx({1000: 0.68, 4000: 0.70}[rows["cfc"].best_budget])
    assert rows["lstm"].train == pytest.approx({1000: 0.98, 4000: 0.97}[rows["lstm"].best_budget])
    assert rows["ltc"].train is None                 # no record of the cell carries it
    # gru's best cell by validation is whichever budget; only its 1,000 cell carries a train score
    assert (rows["gru"].train is None) == (rows["gru"].best_budget != 1000)
    table = next(b for b in competence_section(a).blocks if getattr(b, "id", "") == "competence")
    col = table.columns.index("train (same cell)")
    assert table.columns[col + 1] == "validation (gate)"
    shown = {row[1]: row[col] for row in table.rows}
    assert shown["cfc"] == f"{rows['cfc'].train:.4f}" and shown["ltc"] == "–"


def test_the_findings_name_each_models_fit_where_no_published_figure_gates_it(tmp_path):
    """A dataset without a published figure (irregular-sine) gets no gate, but the findings still
    rank its models by validation with test and train beside them; a gated one (italypowerdemand)
    shows train in the same brackets. Nothing about train where a record lacks it."""
    from edgelnn.study.findings import competence_block

    acc = {"cfc": 0.70, "ltc": 0.80, "lstm": 0.95, "gru": 0.96}
    write_synthetic_study(tmp_path, datasets=("italypowerdemand", "irregular-sine"), models=("cfc", "ltc", "lstm", "gru"),
                          budgets=(1000,), arms=("plain",), shifts={}, bench=False, n_items=200,
                          accuracy=lambda d, m, b, a: acc[m])
    for path in (tmp_path / "records").rglob("*.json"):
        r = rec.read(path)
        if r.model != "ltc":
            r.train_metric = {"cfc": 0.72, "lstm": 1.0, "gru": 0.99}[r.model]
            rec.write(r, path)
    text = competence_block(analyse(load_study(tmp_path)))
    sine = next(ln for ln in text.splitlines() if ln.startswith("- irregular-sine"))
    assert "the gate is not applied. Best validation accuracy: gru 0.960 (test " in sine
    order = [sine.index(f"{m} 0.") for m in ("gru", "lstm", "ltc", "cfc")]
    assert order == sorted(order), sine
    assert "cfc 0.700 (test 0." in sine and ", train 0.720)" in sine and ", train 1.000)" in sine
    ltc_fig = sine.split("ltc 0.800 (")[1].split(")")[0]
    assert "train" not in ltc_fig                       # no train score recorded: none shown
    ipd = next(ln for ln in text.splitlines() if ln.startswith("- italypowerdemand"))
    assert "gru 0.960 (test 0." in ipd and ", train 0.990)" in ipd

def test_loss_share_on_known_numbers():
    assert loss_share(0.96, 0.73, 0.5, "accuracy") == pytest.approx(50.0)     # 23 of 46 points
    assert loss_share(0.60, 0.55, 0.5, "accuracy") == pytest.approx(50.0)     # 5 of 10: as bad
    assert loss_share(0.90, 0.92, 0.5, "accuracy") == pytest.approx(-5.0)     # a gain is negative
    assert loss_share(0.45, 0.40, 0.5, "accuracy") is None                    # below chance: no share
    assert loss_share(0.90, 0.80, None, "accuracy") is None
    assert loss_share(2.0, 3.0, 4.0, "rmse") == pytest.approx(50.0)           # lower is better


def test_robustness_is_assessable_when_both_are_competent_whatever_they_lose(tmp_path):
    """The LTC sampling-rate case of issue 17: on italypowerdemand (2 classes: chance 0.5) ltc loses
    ~2 points under a rate change, gru ~40, both competent on clean data (validation 0.96): the
    comparison is assessable and ltc wins, in shares of clean - chance and in points."""
    def shifted(ds, m, b, arm, shift, lvl, p):
        return p - (0.02 if m == "ltc" else 0.40)
    write_synthetic_study(tmp_path, datasets=("italypowerdemand",), models=("ltc", "gru"), budgets=(1000,),
                          arms=("plain",), shifts={"sampling-rate": ["0.5", "2"]}, bench=False,
                          accuracy=lambda *a: 0.96, shifted=shifted, n_items=500, seed_noise=0.005)
    set_val(tmp_path, {"ltc": 0.96, "gru": 0.96})
    files = build_study_report(tmp_path)
    c = claim(files.analysis, "robustness", "ltc", "gru", shift="sampling-rate")
    assert c.assessable and c.normalised and c.unit == "% of clean − chance"
    clean_ltc, clean_gru = c.liquid_value, c.rnn_value  # absolute losses in points
    assert clean_ltc == pytest.approx(2.0, abs=0.5) and clean_gru == pytest.approx(40.0, abs=0.5)
    assert c.liquid_share == pytest.approx(100 * 0.02 / 0.46, abs=1.5)
    assert c.rnn_share == pytest.approx(100 * 0.40 / 0.46, abs=1.5)
    assert c.estimate == pytest.approx(c.rnn_share - c.liquid_share, abs=1e-6)
    assert c.abs_estimate == pytest.approx(38.0, abs=0.5) and c.abs_lo < 38 < c.abs_hi
    assert c.verdict == LIQUID_BETTER
    assert "loses a smaller share of its accuracy above chance than gru" in files.findings_text
    assert "ltc 4 % (2.0 points)" in files.findings_text
    rows = [r for r in json.loads(files.summary.read_text())["claims"] if r["question"] == "robustness"]
    assert rows and rows[0]["liquid_share"] is not None


def test_a_model_incompetent_on_clean_data_is_not_compared_for_robustness(tmp_path):
    """gru's validation accuracy (0.90) is more than 3 points below the published 0.970: the
    robustness comparison is not assessable, however little ltc loses."""
    write_synthetic_study(tmp_path, datasets=("italypowerdemand",), models=("ltc", "gru"), budgets=(1000,),
                          arms=("plain",), shifts={"noise": ["10"]}, bench=False, accuracy=lambda *a: 0.96,
                          shifted=lambda ds, m, b, arm, s, lvl, p: p - (0.01 if m == "ltc" else 0.3))
    set_val(tmp_path, {"ltc": 0.96, "gru": 0.90})
    a = analyse(load_study(tmp_path))
    c = claim(a, "robustness", "ltc", "gru", shift="noise")
    assert c.verdict == NOT_ASSESSABLE and "gru 0.900 below" in c.gate and "ltc" not in c.gate.split(";")[-1]
    assert claim(a, "accuracy", "ltc", "gru").assessable  # the pair gate: one competent side suffices


# -- budget reach: censored, not imputed -------------------------------------------------------
def test_budget_reach_never_attained_is_censored(tmp_path):
    acc = {("ltc", 250): 0.93, ("ltc", 1000): 0.93, ("gru", 250): 0.70, ("gru", 1000): 0.80}
    write_synthetic_study(tmp_path, models=("ltc", "gru"), datasets=("irregular-sine",), budgets=(250, 1000),
                          arms=("plain",), shifts={}, bench=False, accuracy=lambda d, m, b, a: acc[(m, b)],
                          n_items=2000)
    files = build_study_report(tmp_path)
    a = files.analysis
    curves = {c.model: c for c in a.curves}
    assert curves["gru"].reach is None and curves["gru"].censored and not curves["ltc"].censored
    c = claim(a, "efficiency", "ltc", "gru")
    assert c.censored == "rnn" and c.rnn_value is None and c.liquid_value == 250
    assert c.estimate == 2 and c.hi == math.inf and c.lo > 0  # a lower bound, open above
    assert c.verdict == LIQUID_BETTER
    assert "by at least 2 budget steps" in files.findings_text and "censored" in files.findings_text
    assert "no budget of the study (censored)" in files.findings_text
    assert "censored: not within at any budget" in files.markdown.read_text()
    summary = json.loads(files.summary.read_text())
    eff = next(x for x in summary["claims"] if x["question"] == "efficiency")
    assert eff["hi"] is None and eff["censored"] == "rnn"  # JSON: no infinity


# -- training failures -------------------------------------------------------------------------
def test_a_training_failure_is_never_a_verdict(tmp_path):
    acc = {"cfc": 0.60, "ltc": 0.90, "gru": 0.90}
    write_synthetic_study(tmp_path, models=("cfc", "ltc", "gru"), accuracy=lambda d, m, b, a: acc[m],
                          datasets=("irregular-sine",), budgets=(1000,), arms=("plain",), shifts={}, bench=False,
                          seed_noise=0.01)
    data = load_study(tmp_path)
    data.cell("irregular-sine", "cfc", 1000).runs[2].training_failure = "best epoch 1 (<= 3)"
    a = analyse(data)
    c = claim(a, "accuracy", "cfc", "gru")
    assert c.verdict == TRAINING_FAILURE and c.p_holm is None and "best epoch 1" in c.why
    assert claim(a, "accuracy", "ltc", "gru").verdict == INCONCLUSIVE
    assert a.family_size == 1
    # without the flag the same data give a verdict: the flag, not the numbers, removed it
    assert claim(analyse(load_study(tmp_path)), "accuracy", "cfc", "gru").verdict == RNN_BETTER


# -- the Holm family: declared, and the other choice as a sensitivity line ----------------------
def test_declared_family_decides_and_the_other_choice_is_only_shown():
    cs = [Claim(f"c{i}", q, "d", "cfc", "gru", "accuracy", estimate=1.0, p=p)
          for i, (q, p) in enumerate([("accuracy", 0.02), ("robustness", 0.3), ("robustness", 0.4),
                                      ("robustness", 0.5)])]
    assert HOLM_FAMILY == "all"
    sizes = _holm_by_family(cs, "all", 0.05)
    alt = _holm_by_family(cs, "question", 0.05)
    assert sizes == {"all": 4} and alt == {"accuracy": 1, "robustness": 3}
    assert cs[0].p_holm == pytest.approx(0.08) and cs[0].verdict == INCONCLUSIVE
    assert cs[0].p_holm_alt == pytest.approx(0.02) and cs[0].verdict_alt == LIQUID_BETTER
    assert cs[0].family == "all"

    class A:  # the part of Analysis family_changes reads
        claims = cs
    assert family_changes(A) == [cs[0]]


# -- across datasets: Friedman and Nemenyi on a known ranking -----------------------------------
def test_friedman_and_nemenyi_on_a_known_ranking():
    """4 models, 6 datasets, the same strict order everywhere: average ranks 1, 2, 3, 4; chi2 =
    12 N / (k (k+1)) * (sum R^2 - k (k+1)^2 / 4) = 18; CD = 2.569 * sqrt(20 / 36) = 1.915."""
    sp = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    base = np.array([0.95, 0.90, 0.85, 0.80])
    table = base + rng.uniform(0, 0.02, (6, 1))
    fr = stats.friedman(table, ["a", "b", "c", "d"])
    assert fr.avg_ranks == [1.0, 2.0, 3.0, 4.0]
    assert fr.chi2 == pytest.approx(18.0) and fr.p_chi2 == pytest.approx(sp.chi2.sf(18.0, 3))
    ref = sp.friedmanchisquare(*table.T)
    assert fr.chi2 == pytest.approx(ref.statistic) and fr.p_chi2 == pytest.approx(ref.pvalue)
    assert fr.cd == pytest.approx(2.569 * math.sqrt(20 / 36), abs=0.002)
    assert stats.nemenyi_q(4) == pytest.approx(sp.studentized_range.ppf(0.95, 4, np.inf) / math.sqrt(2))
    with pytest.raises(ValueError, match=">= 3 models"):
        stats.friedman(table[:, :2], ["a", "b"])


def test_cross_dataset_report_on_six_datasets(tmp_path):
    """Six datasets where cfc > ltc > gru > lstm everywhere: the report shows Friedman, the CD diagram
    and the pairs Nemenyi separates; each Wilcoxon agrees with scipy's."""
    sp = pytest.importorskip("scipy.stats")
    datasets = tuple(f"synthetic-{i}" for i in range(6))
    base = {"cfc": 0.92, "ltc": 0.88, "gru": 0.84, "lstm": 0.80}
    slope = {"cfc": 1.0, "ltc": 0.6, "gru": 0.3, "lstm": 0.0}  # the differences vary over datasets
    write_synthetic_study(tmp_path, datasets=datasets, models=("cfc", "ltc", "lstm", "gru"), budgets=(1000,),
                          arms=("plain",), shifts={}, bench=False, seeds=2, n_items=200,
                          accuracy=lambda d, m, b, a: base[m] + 0.01 * int(d[-1]) * slope[m])
    files = build_study_report(tmp_path)
    fr = files.analysis.cross["friedman"]
    ranks = dict(zip(fr["models"], fr["avg_ranks"]))
    assert ranks == {"cfc": 1.0, "ltc": 2.0, "gru": 3.0, "lstm": 4.0} and fr["n_blocks"] == 6
    assert fr["p_chi2"] < 0.001
    assert any(p.name == "cd.png" for p in files.plots)
    assert "cfc ranks better than lstm" in files.findings_text and "cfc ranks better than gru" in files.findings_text
    assert "cfc ranks better than ltc" not in files.findings_text  # 1 rank < CD 1.91
    for w in files.analysis.cross["wilcoxon"]:
        assert w["n"] == 6 and w["method"] == "exact"
        assert w["p"] == pytest.approx(sp.wilcoxon(w["differences"], method="exact").pvalue)
        assert w["mean_lo"] <= w["mean"] <= w["mean_hi"]
    assert "Holm over the 4 pairs" in files.findings_text


# -- the declared analysis, before the results ---------------------------------------------------
def test_declared_analysis_is_in_the_design_doc_and_before_the_results(tmp_path):
    doc = (ROOT / "docs" / "study-design.md").read_text(encoding="utf-8")
    assert declared.updated(doc) == doc, "run: python scripts/update_design_doc.py"
    text = declared.markdown()
    for phrase in ("*validation* metric", "one family over every claim", "one family per question",
                   "(clean - shifted) / (clean - chance)", "censored", "training failure", "Friedman"):
        assert phrase.lower() in text.lower(), phrase
    write_synthetic_study(tmp_path, models=("cfc", "gru"), datasets=("irregular-sine",), budgets=(1000,),
                          arms=("plain",), shifts={}, bench=False)
    md = build_study_report(tmp_path).markdown.read_text()
    assert md.index("## Analysis declared before the results") < md.index("## Findings")
    assert text in md


# -- regression: claims on relative MSE ---------------------------------------------------------
def test_regression_claims_are_on_relative_mse(tmp_path):
    """co2 records carry RMSE (per-item squared errors); the claims are made on relative MSE (the
    squared errors over the test split's predict-the-mean MSE): cfc at 0.2 of the baseline, gru at
    0.5; under noise 0.3 and 0.8 -- cfc loses 12.5 % of what it gained over the baseline, gru 60 %."""
    from edgelnn.study.metrics import baseline_mse

    base, n = baseline_mse("co2")
    write_synthetic_study(tmp_path, models=("cfc", "gru"), datasets=("irregular-sine",), budgets=(1000,),
                          arms=("plain",), shifts={"noise": ["10"]}, bench=False, n_items=n)
    clean, noisy = {"cfc": 0.2, "gru": 0.5}, {"cfc": 0.3, "gru": 0.8}
    for path in list((tmp_path / "records").rglob("*.json")):
        r = rec.read(path)
        rng = np.random.default_rng(r.seed)
        r.dataset, r.metric = "co2", "rmse"
        r.test_scores = (base * clean[r.model] * rng.uniform(0.5, 1.5, n)).tolist()
        r.test_metric = float(np.sqrt(np.mean(r.test_scores)))
        s = (base * noisy[r.model] * rng.uniform(0.5, 1.5, n)).tolist()
        r.shifts = {"noise": {"10": rec.ShiftScore(float(np.sqrt(np.mean(s))), s)}}
        rec.write(r, tmp_path / "records" / "co2" / path.name)
        path.unlink()
    files = build_study_report(tmp_path)
    a = files.analysis
    c = claim(a, "accuracy", "cfc", "gru")
    assert c.metric == "relative-mse" and c.unit == "% of the baseline MSE"
    assert c.liquid_value == pytest.approx(0.2, abs=0.01) and c.rnn_value == pytest.approx(0.5, abs=0.02)
    assert c.estimate == pytest.approx(30, abs=2) and c.verdict == LIQUID_BETTER
    r = claim(a, "robustness", "cfc", "gru", shift="noise")
    assert r.normalised and r.liquid_share == pytest.approx(12.5, abs=2) and r.rnn_share == pytest.approx(60, abs=4)
    assert r.verdict == LIQUID_BETTER
    assert "co2" in files.findings_text and not files.problems
    assert "loses a smaller share of its gain over the predict-the-mean baseline than gru" in files.findings_text
