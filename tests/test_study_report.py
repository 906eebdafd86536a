"""The study report from synthetic study folders (no training): verdicts, the Holm family, the
family rule, the competence gate, what a quick or few-seed run may not claim, every file."""
from __future__ import annotations

import csv
import json
import statistics

import pytest

from edgelnn.study import records as rec
from edgelnn.study.competence import PUBLISHED, assessable, best_published, competent
from edgelnn.study.report import build_study_report
from edgelnn.study.studydata import load_study
from edgelnn.study.verdicts import (INCONCLUSIVE, LIQUID_BETTER, NO_VERDICT, NOT_ASSESSABLE, RNN_BETTER,
                                    analyse)
from study_fixtures import check_study_report, write_synthetic_study

ONE = dict(datasets=("irregular-sine",), budgets=(1000,), arms=("plain",), shifts={}, bench=False)


def claim(a, question, liquid, rnn, **kw):
    hits = [c for c in a.claims if c.question == question and c.liquid == liquid and c.rnn == rnn
            and all(getattr(c, k) == v for k, v in kw.items())]
    assert len(hits) == 1, [c.id for c in hits]
    return hits[0]


def test_known_difference_is_covered_and_the_verdict_is_right(tmp_path):
    acc = {"cfc": 0.90, "gru": 0.84, "ltc": 0.80, "lstm": 0.86}
    write_synthetic_study(tmp_path, models=("cfc", "ltc", "lstm", "gru"), accuracy=lambda d, m, b, a: acc[m],
                          seed_noise=0.01, **ONE)
    a = analyse(load_study(tmp_path))
    c = claim(a, "accuracy", "cfc", "gru")
    assert c.lo < 6.0 < c.hi and c.lo > 0
    assert c.verdict == LIQUID_BETTER and c.p_holm <= 0.05
    c = claim(a, "accuracy", "ltc", "lstm")  # the RNN is better: sign and verdict
    assert c.hi < 0 and c.lo < -6.0 < c.hi
    assert c.verdict == RNN_BETTER


def test_no_difference_is_inconclusive(tmp_path):
    write_synthetic_study(tmp_path, models=("cfc", "gru"), accuracy=lambda *a: 0.85, seed_noise=0.01, **ONE)
    a = analyse(load_study(tmp_path))
    c = claim(a, "accuracy", "cfc", "gru")
    assert c.lo < 0 < c.hi
    assert c.verdict == INCONCLUSIVE
    assert a.family_size == 1


def test_holm_turns_a_borderline_verdict(tmp_path):
    """cfc is 4 points better than gru (p ~ 0.02): a verdict alone, inconclusive among 4 claims."""
    acc = lambda d, m, b, a: 0.85 + (0.04 if m == "cfc" else 0.0)  # noqa: E731
    write_synthetic_study(tmp_path / "two", models=("cfc", "gru"), accuracy=acc, seed_noise=0.01, **ONE)
    write_synthetic_study(tmp_path / "four", models=("cfc", "ltc", "lstm", "gru"), accuracy=acc, seed_noise=0.01,
                          **ONE)
    alone = claim(analyse(load_study(tmp_path / "two")), "accuracy", "cfc", "gru")
    among = analyse(load_study(tmp_path / "four"))
    c = claim(among, "accuracy", "cfc", "gru")
    assert c.p == pytest.approx(alone.p)           # same data, same test
    assert 0.05 / 4 < c.p < 0.05                   # borderline: significant alone, not after Holm
    assert alone.verdict == LIQUID_BETTER and alone.p_holm == pytest.approx(alone.p)
    assert among.family_size == 4 and c.p_holm > 0.05 and c.verdict == INCONCLUSIVE


def drop_study(tmp_path, cfc_robust: bool):
    def shifted(ds, m, b, arm, shift, lvl, p):
        robust = m == "ltc" or (m == "cfc" and cfc_robust)
        return p - (0.03 if robust else 0.30)
    return write_synthetic_study(tmp_path, models=("cfc", "ltc", "lstm", "gru"), accuracy=lambda *a: 0.9,
                                 shifted=shifted, shifts={"drop": ["0.2", "0.4"]}, datasets=("irregular-sine",),
                                 budgets=(1000,), arms=("plain",), bench=False, seed_noise=0.01)


def test_family_rule_names_the_model_that_carries_a_claim(tmp_path):
    """Only ltc is robust to dropped samples: the text names ltc and never says 'LNNs'."""
    files = build_study_report(drop_study(tmp_path, cfc_robust=False))
    a = files.analysis
    assert claim(a, "robustness", "ltc", "gru", shift="drop").verdict == LIQUID_BETTER
    assert claim(a, "robustness", "cfc", "gru", shift="drop").verdict == INCONCLUSIVE
    text = files.findings_text
    assert "**ltc** loses a smaller share of its accuracy above chance than lstm and gru" in text
    robust_lines = [ln for ln in text.splitlines() if "dropped samples" in ln and "loses a smaller share" in ln]
    assert robust_lines and not any("LNNs" in ln for ln in robust_lines)
    review = next(ln for ln in text.splitlines() if "robust to irregular sampling" in ln)
    assert "holds only for the named models" in review and "ltc vs gru" in review
    assert "as a family" not in review


def test_family_rule_allows_lnns_when_every_liquid_model_carries_it(tmp_path):
    files = build_study_report(drop_study(tmp_path, cfc_robust=True))
    text = files.findings_text
    assert ("**LNNs** (every liquid model: cfc and ltc) lose a smaller share of their accuracy above chance than "
            "every RNN model (lstm and gru)") in text
    review = next(ln for ln in text.splitlines() if "robust to irregular sampling" in ln)
    assert "holds for LNNs as a family on irregular-sine (drop)" in review


def test_competence_gate_makes_comparisons_not_assessable(tmp_path):
    """ItalyPowerDemand's best published accuracy is 0.970: a pair where both models are below
    0.940 is not assessable; a pair with one side within 3 points is."""
    acc = {"cfc": 0.80, "ltc": 0.955, "gru": 0.90}
    write_synthetic_study(tmp_path, datasets=("italypowerdemand",), models=("cfc", "ltc", "gru"), budgets=(1000,),
                          arms=("plain",), shifts={}, bench=False, accuracy=lambda d, m, b, a: acc[m],
                          n_items=400)
    a = analyse(load_study(tmp_path))
    dead = claim(a, "accuracy", "cfc", "gru")
    assert dead.verdict == NOT_ASSESSABLE and not dead.assessable and dead.p_holm is None
    live = claim(a, "accuracy", "ltc", "gru")
    assert live.assessable and live.verdict == LIQUID_BETTER
    assert a.family_size == 1  # the gated pair is not part of the Holm family
    rows = {r.model: r for r in a.competence}
    assert rows["ltc"].within and not rows["cfc"].within and rows["gru"].published == pytest.approx(0.9696)


def test_published_table():
    assert best_published("italypowerdemand").accuracy == pytest.approx(0.9696)
    assert best_published("japanesevowels").accuracy == pytest.approx(0.993)
    assert best_published("basicmotions").accuracy == pytest.approx(1.0)
    assert best_published("irregular-sine") is None and best_published("co2") is None
    assert all(p.source for p in PUBLISHED)
    assert competent("co2", 0.1) is None
    assert assessable("irregular-sine", 0.1, 0.1)[0]
    assert not assessable("japanesevowels", 0.60, 0.95)[0] and assessable("japanesevowels", 0.60, 0.97)[0]


def test_few_seeds_and_quick_issue_no_verdicts(tmp_path):
    acc = lambda d, m, b, a: 0.95 if m == "cfc" else 0.70  # noqa: E731
    write_synthetic_study(tmp_path / "few", models=("cfc", "gru"), accuracy=acc, seeds=3, **ONE)
    files = build_study_report(tmp_path / "few")
    c = claim(files.analysis, "accuracy", "cfc", "gru")
    assert c.verdict == NO_VERDICT and c.lo > 0  # a clear interval, still no verdict
    assert "3 seed(s) per model (< 5): no verdicts" in files.findings_text
    assert "**cfc** is more accurate" not in files.findings_text
    write_synthetic_study(tmp_path / "quick", models=("cfc", "gru"), accuracy=acc, quick=True, **ONE)
    files = build_study_report(tmp_path / "quick")
    assert claim(files.analysis, "accuracy", "cfc", "gru").verdict == NO_VERDICT
    assert "quick look" in files.findings_text.lower() and "quick look" in files.markdown.read_text().lower()
    assert json.loads(files.summary.read_text())["quick"] is True


def test_parameter_efficiency_from_the_curves(tmp_path):
    """ltc is at its plateau from 250 active parameters; gru needs 4,000. (The 'within 1 point of
    the best' threshold is itself estimated: with ~600 items two models tied at the plateau leave
    this inconclusive; 3,000 items make it clear.)"""
    acc = {("ltc", 250): 0.93, ("ltc", 1000): 0.93, ("ltc", 4000): 0.93,
           ("gru", 250): 0.70, ("gru", 1000): 0.80, ("gru", 4000): 0.93}
    write_synthetic_study(tmp_path, models=("ltc", "gru"), datasets=("irregular-sine",), budgets=(250, 1000, 4000),
                          arms=("plain",), shifts={}, bench=False, accuracy=lambda d, m, b, a: acc[(m, b)],
                          n_items=3000)
    a = analyse(load_study(tmp_path))
    curves = {c.model: c for c in a.curves}
    assert curves["ltc"].reach == 250 and curves["gru"].reach == 4000
    c = claim(a, "efficiency", "ltc", "gru")
    assert c.estimate == 2 and c.liquid_value == 250 and c.rnn_value == 4000
    assert c.verdict == LIQUID_BETTER and c.method == "percentile"


def test_regression_dataset_lower_rmse_wins(tmp_path):
    """co2 (RMSE): per-item squared errors; the model with lower RMSE is the better one."""
    write_synthetic_study(tmp_path, models=("cfc", "gru"), **ONE)
    rng_scores = {"cfc": 0.5, "gru": 2.0}
    for path in (tmp_path / "records").rglob("*.json"):
        r = rec.read(path)
        r.dataset, r.metric = "co2", "rmse"
        r.test_scores = [rng_scores[r.model] * (1 + 0.1 * ((i * 7 + r.seed) % 5)) for i in range(len(r.test_scores))]
        r.test_metric = (sum(r.test_scores) / len(r.test_scores)) ** 0.5
        out = tmp_path / "records" / "co2" / path.name
        rec.write(r, out)
        path.unlink()
    a = analyse(load_study(tmp_path))
    c = claim(a, "accuracy", "cfc", "gru")
    assert c.liquid_value < c.rnn_value and c.estimate > 0 and c.verdict == LIQUID_BETTER
    assert c.gate.startswith("gate not applied")
    # the competence table names a regression row's metrics (never "accuracy"), and picks the
    # cell with the lowest validation RMSE
    from edgelnn.study.report_sections import competence_section
    table = next(b for b in competence_section(a).blocks if getattr(b, "id", "") == "competence")
    assert not any("accuracy" in col for col in table.columns)
    for row in table.rows:
        assert row[4].endswith("(RMSE)") and row[6].endswith(("(RMSE)", "(relative MSE)")), row
    for r in a.competence:
        cells = [c for c in load_study(tmp_path).cells.values() if c.model == r.model]
        assert r.val == min(statistics.fmean(x.val_metric for x in c.runs) for c in cells) and r.within is None


def test_damaged_record_is_reported_not_hidden(tmp_path):
    write_synthetic_study(tmp_path, models=("cfc", "gru"), **ONE)
    bad = tmp_path / "records" / "irregular-sine" / "cfc-b1000-plain-s4.json"
    bad.write_text("{not json")
    files = build_study_report(tmp_path)
    assert any("cfc-b1000-plain-s4.json" in p for p in files.problems)
    assert "## Problems" in files.markdown.read_text()
    assert claim(files.analysis, "accuracy", "cfc", "gru").seeds == 4


def test_inconsistent_metric_and_scores_are_a_problem(tmp_path):
    write_synthetic_study(tmp_path, models=("cfc", "gru"), **ONE)
    path = tmp_path / "records" / "irregular-sine" / "gru-b1000-plain-s0.json"
    r = rec.read(path)
    r.test_metric = 0.5  # disagrees with its per-item scores
    rec.write(r, path)
    data = load_study(tmp_path)
    assert any("disagrees with its per-item scores" in p for p in data.problems)


def test_empty_folder_is_one_clear_error(tmp_path):
    (tmp_path / "records").mkdir()
    with pytest.raises(ValueError, match="no usable final-run records"):
        build_study_report(tmp_path)


def test_report_builds_with_every_file(tmp_path):
    acc = {"cfc": 0.88, "ltc": 0.93, "lstm": 0.93, "gru": 0.86}
    folder = write_synthetic_study(tmp_path / "study", accuracy=lambda d, m, b, a: acc[m] + (0.02 if b > 250 else 0),
                                   seed_noise=0.01)
    files = build_study_report(folder)
    summary = check_study_report(files)
    assert {p.name for p in files.plots} >= {"curves-irregular-sine.png", "curves-italypowerdemand.png",
                                             "robustness-irregular-sine.png", "cd.png"}
    assert summary["family_size"] == sum(c["in_family"] for c in summary["claims"]) > 0
    with (files.out / "pairs.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(summary["claims"]) and {"estimate", "lo", "hi", "p_holm", "verdict"} <= set(rows[0])
    with (files.out / "records.csv").open() as f:
        recs = list(csv.DictReader(f))
    # train_seconds of a stacked run is its share of the stack: the CSV says so beside it
    assert {"stacked", "val_items", "retry", "training_failure", "train_seconds", "train_metric"} <= set(recs[0])
    with (files.out / "footprint.csv").open() as f:
        foot = list(csv.DictReader(f))
    assert foot and foot[0]["macs_per_step"] and foot[0]["runtime_rss_mb"]
    md = files.markdown.read_text()
    assert "runtime's cost" in md and "outside ±15 %" not in md
    assert md.count("Synthetic study: no training ran") == 1  # the engine's notes once, at the Design's top
    assert files.findings.read_text() in md  # the findings are quoted verbatim in the report
    # every verdict sentence names a dataset and its test
    for line in files.findings_text.splitlines():
        if line.startswith("- On ") and ("more accurate" in line or "loses less" in line):
            assert "Holm p" in line and ("irregular-sine" in line or "italypowerdemand" in line)
    # the existing bench-rows report still builds from the study's results
    from edgelnn.report import build_report
    rows_report = build_report(sorted((folder / "results").rglob("*.jsonl")), tmp_path / "bench-report",
                               sensitivity=False)
    assert rows_report.html.is_file()


def test_study_report_html_in_chromium(tmp_path):
    from test_browser import CHROMIUM, inspect_page

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    folder = write_synthetic_study(tmp_path / "study", seed_noise=0.01,
                                   accuracy=lambda d, m, b, a: {"cfc": 0.88, "ltc": 0.93, "lstm": 0.93, "gru": 0.86}[m])
    files = build_study_report(folder)
    page = inspect_page(files.html, tmp_path / "profile", tmp_path / "report.png")
    assert page["console_errors"] == []
    assert all(u.startswith(("file:", "data:")) for u in page["requests"]), page["requests"]
    assert len(page["images"]) == len(files.plots)
    for img in page["images"]:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
    from study_fixtures import REPORT_TABLES
    for table in REPORT_TABLES:
        assert table in page["tables"], table


def test_edgelnn_report_on_a_study_folder(tmp_path):
    import subprocess
    import sys

    folder = write_synthetic_study(tmp_path / "study", models=("cfc", "gru"), datasets=("irregular-sine",),
                                   budgets=(250, 1000), shifts={"drop": ["0.2"]}, bench=False)
    before = sorted(p.read_bytes() for p in (folder / "records").rglob("*.json"))

    def edgelnn(*args):
        return subprocess.run([sys.executable, "-m", "edgelnn", *map(str, args)], capture_output=True, text=True,
                              timeout=600)

    proc = edgelnn("report", folder)
    assert proc.returncode == 0, proc.stderr
    assert "in the Holm family" in proc.stdout and (folder / "report" / "findings.md").is_file()
    assert sorted(p.read_bytes() for p in (folder / "records").rglob("*.json")) == before  # nothing changed
    proc = edgelnn("report", tmp_path / "empty-dir-that-is-missing")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = edgelnn("report", tmp_path / "empty")
    assert proc.returncode != 0 and "no usable final-run records" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_poor_model_is_not_called_robust(tmp_path):
    """cfc is near chance on clean data and so loses little under noise; gru is accurate and loses
    more. The loss comparison is not assessable: cfc starts far below the top."""
    acc = {"cfc": 0.40, "ltc": 0.90, "gru": 0.90}

    def shifted(ds, m, b, arm, shift, lvl, p):
        return p - (0.01 if m == "cfc" else 0.10)
    write_synthetic_study(tmp_path, models=("cfc", "ltc", "gru"), accuracy=lambda d, m, b, a: acc[m], shifted=shifted,
                          shifts={"noise": ["10"]}, datasets=("irregular-sine",), budgets=(1000,), arms=("plain",),
                          bench=False, seed_noise=0.01)
    files = build_study_report(tmp_path)
    c = claim(files.analysis, "robustness", "cfc", "gru", shift="noise")
    assert c.verdict == NOT_ASSESSABLE and c.p_holm is None
    assert "; cfc 0." in c.gate and "below)" in c.gate and "gru 0." not in c.gate.split(";")[-1]
    assert claim(files.analysis, "robustness", "ltc", "gru", shift="noise").assessable
    assert "**cfc** loses" not in files.findings_text
    assert "a side is not competent on clean data" in files.findings_text


def test_nan_scores_leave_the_cell_out_and_say_so(tmp_path):
    write_synthetic_study(tmp_path, models=("cfc", "ltc", "gru"), **ONE)
    path = tmp_path / "records" / "irregular-sine" / "ltc-b1000-plain-s2.json"
    r = rec.read(path)
    r.test_scores[3] = float("nan")
    rec.write(r, path)
    files = build_study_report(tmp_path)
    assert any("ltc-b1000-plain-s2: NaN or infinite" in p for p in files.problems)
    assert not [c for c in files.analysis.claims if c.liquid == "ltc"]
    assert claim(files.analysis, "accuracy", "cfc", "gru").seeds == 5


def test_the_study_report_needs_no_torch(tmp_path):
    """The report runs where the base package is installed (no torch): a fresh process that builds
    it must not import torch."""
    import subprocess
    import sys

    folder = write_synthetic_study(tmp_path / "study", models=("cfc", "gru"), **ONE)
    code = ("import sys; from edgelnn.study.report import build_study_report; "
            f"build_study_report({str(folder)!r}); print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
