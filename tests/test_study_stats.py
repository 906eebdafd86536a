"""Study statistics: paired bootstrap intervals, Holm, exact Wilcoxon, Friedman / Nemenyi.

Known answers: synthetic scores with a known difference, textbook values (Demsar 2006's
q_alpha table), and scipy (the `stats` extra) where our bootstrap and scipy's overlap.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgelnn.study import stats


def scores(rng, p: float, seeds: int, items: int, difficulty=None) -> np.ndarray:
    """Per-item 1/0 scores of a model with accuracy ~p; ``difficulty`` shared between models
    (what makes items paired)."""
    base = np.log(p / (1 - p))
    logit = base - (difficulty if difficulty is not None else 0.0)
    return (rng.random((seeds, items)) < 1 / (1 + np.exp(-logit))).astype(float)


def test_interval_covers_a_known_difference_and_excludes_zero():
    rng = np.random.default_rng(0)
    a = np.zeros((5, 400))
    b = np.zeros((5, 400))
    for s in range(5):  # exactly 90 % and 85 % correct per seed, items shuffled
        a[s, rng.permutation(400)[:360]] = 1
        b[s, rng.permutation(400)[:340]] = 1
    iv = stats.paired_bootstrap(a, b)
    assert iv.estimate == pytest.approx(0.05)
    assert iv.lo < 0.05 < iv.hi
    assert iv.lo > 0 and iv.p < 0.01
    assert iv.method == "t" and iv.df > 4


def test_no_difference_gives_an_interval_across_zero():
    rng = np.random.default_rng(1)
    d = rng.normal(0, 1.5, 300)
    a, b = scores(rng, 0.85, 5, 300, d), scores(rng, 0.85, 5, 300, d)
    iv = stats.paired_bootstrap(a, b)
    assert iv.lo < 0 < iv.hi
    assert iv.p > 0.05


def test_interval_is_calibrated_with_unstable_seeds():
    """Training instability (a seed offset of ~5 points): the t(nu) interval keeps ~95 %
    coverage with 5 seeds, where the crossed percentile interval would not."""
    rng = np.random.default_rng(5)
    reps, hits = 120, 0
    for r in range(reps):
        d = rng.normal(0, 1.5, 200)
        off_a, off_b = rng.normal(0, 0.6, (5, 1)), rng.normal(0, 0.6, (5, 1))
        pa = 1 / (1 + np.exp(-(2.2 + off_a - d)))
        pb = 1 / (1 + np.exp(-(2.2 + off_b - d)))
        a = (rng.random((5, 200)) < pa).astype(float)
        b = (rng.random((5, 200)) < pb).astype(float)
        iv = stats.paired_bootstrap(a, b, n_boot=600, seed=r)
        hits += iv.lo <= 0 <= iv.hi
    assert hits / reps >= 0.9  # nominal 0.95; the crossed percentile interval gave 0.895 here


def test_pairing_narrows_the_interval():
    """Shared item difficulty: the paired interval is narrower than one on unrelated items."""
    rng = np.random.default_rng(2)
    d = rng.normal(0, 2.0, 500)
    a, b = scores(rng, 0.9, 5, 500, d), scores(rng, 0.85, 5, 500, d)
    paired = stats.paired_bootstrap(a, b)
    unpaired = stats.paired_bootstrap(a, b[:, rng.permutation(500)])
    assert paired.hi - paired.lo < unpaired.hi - unpaired.lo


def test_rmse_difference_is_oriented_lower_is_better():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1.0, (5, 300)) ** 2   # squared errors, RMSE ~1
    b = rng.normal(0, 1.5, (5, 300)) ** 2   # RMSE ~1.5
    iv = stats.paired_bootstrap(a, b, metric="rmse")
    assert iv.estimate == pytest.approx(math.sqrt(b.mean()) - math.sqrt(a.mean()))
    assert iv.lo > 0


def test_drop_difference_paired_per_item():
    rng = np.random.default_rng(4)
    ac, bc = scores(rng, 0.9, 5, 300), scores(rng, 0.9, 5, 300)
    as_, bs = ac * (rng.random((5, 300)) > 0.05), bc * (rng.random((5, 300)) > 0.40)
    iv = stats.paired_drop_bootstrap(ac, as_, bc, bs)
    true = (bc.mean() - bs.mean()) - (ac.mean() - as_.mean())
    assert iv.estimate == pytest.approx(true)
    assert iv.lo > 0.2


def test_crossed_percentile_bootstrap_and_p_by_inversion():
    rng = np.random.default_rng(6)
    a, b = scores(rng, 0.9, 5, 300), scores(rng, 0.8, 5, 300)
    pb = stats.PairedBootstrap({"a": stats.Series(list(range(5)), a), "b": stats.Series(list(range(5)), b)},
                               n_boot=3000)
    iv = pb.run({"d": lambda m: m["a"] - m["b"]})["d"]
    assert iv.lo < a.mean() - b.mean() < iv.hi and iv.lo > 0
    assert iv.p == pytest.approx(2 / 3001) and iv.p_bound
    same = pb.run({"z": lambda m: m["a"] - m["a"]})["z"]
    assert same.p == 1.0


def test_series_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        stats.Series([0, 1], [[1.0, float("nan")], [0.0, 1.0]])
    with pytest.raises(ValueError, match="seeds, items"):
        stats.Series([0, 1, 2], [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="same shape"):
        stats.paired_bootstrap(np.ones((5, 10)), np.ones((5, 11)))


def test_holm_adjusts_and_turns_a_borderline_p():
    adj = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adj == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert 0.04 <= 0.05 < stats.holm([0.04, 0.5, 0.6])[0]  # alone significant, in a family not
    assert stats.holm([]).size == 0


def test_n_boot_resolution_fits_holm():
    for m in (1, 10, 300):
        b = stats.n_boot_for(m)
        assert 2 / (b + 1) <= 0.05 / m / 10 or b == stats.MAX_BOOT


def test_wilcoxon_ties_use_average_ranks():
    # |d| = 1, 1, 2: ranks 1.5, 1.5, 3; W+ of (+1, -1, +2) = 4.5; sign patterns give
    # W+ in {0, 1.5, 1.5, 3, 3, 4.5, 4.5, 6}: P(W+ >= 4.5) = 3/8, two-sided 0.75
    w = stats.wilcoxon_signed_rank([1.0, -1.0, 2.0])
    assert w.w_plus == 4.5 and w.p == pytest.approx(0.75)


def test_wilcoxon_exact_small_n():
    w = stats.wilcoxon_signed_rank([1.0, 2.0, 3.0])
    assert w.p == pytest.approx(0.25) and w.p_min == pytest.approx(0.25) and w.w_plus == 6
    w = stats.wilcoxon_signed_rank([0.5, -0.2, 1.1, 0.0, 0.9, 0.3, 1.4, 0.8])  # one zero dropped
    assert w.n == 7 and w.w_plus == 27
    assert w.p == pytest.approx(4 / 128)  # W+ = 27 of 28: two patterns each tail
    assert stats.wilcoxon_signed_rank([]).p == 1.0


def test_wilcoxon_matches_scipy_exact_without_ties():
    sp = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(7)
    for n in (5, 9, 12):
        d = rng.normal(0.3, 1, n)
        assert stats.wilcoxon_signed_rank(d).p == pytest.approx(sp.wilcoxon(d, method="exact").pvalue, rel=1e-9)
    assert stats.wilcoxon_signed_rank([0.7]).p == 1.0


def test_t_interval_quantiles_are_students():
    sp = pytest.importorskip("scipy.stats")
    assert stats.t_quantile(0.025, 4) == pytest.approx(sp.t.ppf(0.975, 4), rel=1e-12)
    iv = stats.t_interval(2.0, 0.5, 0.5, 5, 300)  # se 1, nu from Welch-Satterthwaite
    assert iv.p == pytest.approx(2 * sp.t.sf(2.0, iv.df), rel=1e-12)
    assert iv.hi - iv.estimate == pytest.approx(sp.t.ppf(0.975, iv.df), rel=1e-12)


def test_friedman_ranks_and_direction():
    table = [[0.9, 0.8, 0.7], [0.95, 0.85, 0.8], [0.91, 0.7, 0.75]]
    fr = stats.friedman(table, ["a", "b", "c"])
    assert fr.avg_ranks == pytest.approx([1.0, 2 + 1 / 3, 2 + 2 / 3])
    rmse = stats.friedman([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0]], ["a", "b", "c"], higher_is_better=False)
    assert rmse.avg_ranks[0] == 1.0


def test_nemenyi_q_matches_demsar_table():
    demsar = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}
    for k, q in demsar.items():
        assert stats.nemenyi_q(k) == pytest.approx(q, abs=0.002)
    assert stats.nemenyi_cd(6, 3) == pytest.approx(2.850 * math.sqrt(6 * 7 / 18), abs=0.01)


def test_paired_bootstrap_agrees_with_scipy_where_they_overlap():
    """One seed: resampling seeds x items reduces to the paired item bootstrap scipy.stats.bootstrap
    does. Its variance (before our N/(N-1) rescaling) and its percentile interval must agree."""
    sp = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(11)
    d = rng.normal(0, 1.5, 400)
    a, b = scores(rng, 0.9, 1, 400, d), scores(rng, 0.82, 1, 400, d)
    pb = stats.PairedBootstrap({"a": stats.Series([0], a), "b": stats.Series([0], b)}, n_boot=20_000, seed=1,
                               ci_boot=20_000)
    est, v_seeds, v_items = pb.variances({"d": lambda m: m["a"] - m["b"]})["d"]
    ref = sp.bootstrap((a[0], b[0]), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis), paired=True,
                       n_resamples=20_000, method="percentile", rng=np.random.default_rng(2))
    assert est == pytest.approx(a.mean() - b.mean()) and v_seeds == pytest.approx(0.0, abs=1e-20)
    assert v_items * (399 / 400) == pytest.approx(ref.standard_error ** 2, rel=0.05)
    iv = pb.run({"d": lambda m: m["a"] - m["b"]})["d"]
    assert iv.lo == pytest.approx(ref.confidence_interval.low, abs=0.004)
    assert iv.hi == pytest.approx(ref.confidence_interval.high, abs=0.004)
