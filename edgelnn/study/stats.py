"""Study statistics (numpy and scipy): what every verdict of the study report rests on.

- **Paired bootstrap over seeds x test items.** All models of a dataset share the seeds and the
  test items (shifted variants too: drawn with a fixed seed per shift and level); a resample
  applies the *same* draw to every model -- that is the pairing. The statistic (difference of
  mean accuracies, of losses under a shift, of RMSEs) is recomputed on each resample.
  Interval of a smooth statistic: ``estimate +- t(nu) * SE`` with SE^2 = v_seeds + v_items, the
  variances of the statistic when only the seeds, or only the items, are resampled (each
  rescaled to unbiasedness: S/(S-1), N/(N-1)), and nu the Welch-Satterthwaite degrees of
  freedom (about S-1 when the seed spread dominates). Why not the plain percentile interval of
  the crossed bootstrap: with 5 seeds it treats the seed spread as known; in a simulation with
  unstable training (seed std ~5 points) it covered 0.897 instead of 0.95, the t(nu) interval
  0.955 (``benchmarks/study_coverage.py``). Summing both one-way parts counts the seed x item
  interaction twice: the interval is conservative when items, not seeds, dominate. p:
  two-sided from t(nu) (exact to any size, as Holm needs).
  A discrete statistic (the budget at which a curve reaches the best) uses the crossed
  bootstrap (seeds and items drawn together): percentile interval, and p by CI inversion,
  ``2 * min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (B + 1)``.
- **Holm-Bonferroni** step-down adjusted p-values over a family of claims (strong control of
  the family-wise error rate, no independence assumption).
- **Across datasets** (scipy): Wilcoxon signed-rank per pair (``scipy.stats.wilcoxon``; exact
  over all 2^n sign patterns, ties and all, by ``PermutationMethod`` up to 20 datasets), the
  Friedman test (``scipy.stats.friedmanchisquare``, tie-corrected; Iman-Davenport F beside it) and
  the Nemenyi critical difference CD = q_alpha * sqrt(k (k + 1) / (6 N)), q_alpha the studentized
  range quantile (``scipy.stats.studentized_range``, df = inf) over sqrt(2) (Demsar 2006, JMLR
  7:1-30); the mean difference over datasets with a BCa interval (``scipy.stats.bootstrap``).
  scipy has no bootstrap over two crossed factors (seeds x items): the paired bootstrap above is
  ours, and checked against ``scipy.stats.bootstrap`` where the two coincide (one factor).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

MAX_BOOT = 100_000


@dataclass
class Interval:
    """A statistic, its percentile CI and its CI-inversion p-value."""

    estimate: float
    lo: float
    hi: float
    p: float
    n_boot: int
    level: float = 0.95
    p_bound: bool = False     # percentile method, no resample beyond 0: p is an upper bound
    se: float | None = None   # t method: standard error and degrees of freedom
    df: float | None = None
    method: str = "percentile"

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "lo": self.lo, "hi": self.hi, "p": self.p, "n_boot": self.n_boot,
                "level": self.level, "p_bound": self.p_bound, "se": self.se, "df": self.df,
                "method": self.method}


@dataclass
class Series:
    """One model's per-item scores on one test variant: rows = seeds, columns = items."""

    seeds: list[int]
    scores: np.ndarray

    def __post_init__(self):
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if self.scores.ndim != 2 or self.scores.shape[0] != len(self.seeds):
            raise ValueError(f"scores must be (seeds, items), got {self.scores.shape} for "
                             f"{len(self.seeds)} seeds")
        if not np.all(np.isfinite(self.scores)):
            raise ValueError("scores contain NaN or inf")

    @property
    def n_items(self) -> int:
        return self.scores.shape[1]


Stat = Callable[[dict], np.ndarray]  # means by series name (arrays) -> statistic (array)


def n_boot_for(m: int, alpha: float = 0.05) -> int:
    """Resamples so the smallest Holm threshold alpha/m is >= 10x the p-value resolution."""
    return int(min(MAX_BOOT, max(2000, math.ceil(20 * max(m, 1) / alpha))))


def _counts(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """(b, n) multiplicities of a with-replacement draw of n out of n, per resample."""
    idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


class PairedBootstrap:
    """One joint resampling of seeds and items for every series of one dataset.

    Series with the same number of items share the item draw (same items, same order, per the
    study records); every series uses the seed draw restricted to its own seeds.
    """

    def __init__(self, series: dict[str, Series], *, n_boot: int = 2000, seed: int = 0,
                 ci_boot: int = 10_000, chunk: int = 5000, level: float = 0.95):
        if not series:
            raise ValueError("no series to resample")
        self.series, self.n_boot, self.seed = series, int(n_boot), seed
        self.ci_boot, self.chunk, self.level = min(int(ci_boot), self.n_boot), int(chunk), level
        self.seeds = sorted({s for x in series.values() for s in x.seeds})
        self._seed_col = {s: i for i, s in enumerate(self.seeds)}
        self.by_items: dict[int, list[str]] = {}
        for name, x in series.items():
            self.by_items.setdefault(x.n_items, []).append(name)

    def observed(self) -> dict[str, float]:
        return {name: float(x.scores.mean()) for name, x in self.series.items()}

    def _means(self, seed_w: np.ndarray, item_w: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for n, names in self.by_items.items():
            stack = np.concatenate([self.series[k].scores for k in names], axis=0)  # (sum S, n)
            t = item_w[n] @ stack.T / n  # (b, sum S): each seed's mean over the drawn items
            col = 0
            for k in names:
                x = self.series[k]
                w = seed_w[:, [self._seed_col[s] for s in x.seeds]]
                part = t[:, col:col + len(x.seeds)]
                col += len(x.seeds)
                total = w.sum(axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[k] = np.where(total > 0, (part * w).sum(axis=1) / total, np.nan)
        return out

    def _draws(self, rng, b: int, mode: str):
        seed_w = (_counts(rng, b, len(self.seeds)) if mode in ("crossed", "seeds")
                  else np.ones((b, len(self.seeds))))
        item_w = {n: (_counts(rng, b, n) if mode in ("crossed", "items") else np.ones((b, n)))
                  for n in self.by_items}
        return seed_w, item_w

    def variances(self, stats: dict[str, Stat], n_boot: int | None = None) -> dict[str, tuple]:
        """(estimate, v_seeds, v_items) of every statistic: its variance when only the seeds, or
        only the items, are resampled (paired), rescaled by S/(S-1) and N/(N-1)."""
        rng = np.random.default_rng(self.seed)
        b_total = n_boot or self.n_boot
        obs_means = {k: np.array([v]) for k, v in self.observed().items()}
        out = {k: [float(np.asarray(f(obs_means)).reshape(-1)[0])] for k, f in stats.items()}
        n_min = min(self.by_items)
        for mode, rescale in (("seeds", len(self.seeds) / max(len(self.seeds) - 1, 1)),
                              ("items", n_min / max(n_min - 1, 1))):
            acc = {k: [] for k in stats}
            done = 0
            while done < b_total:
                b = min(self.chunk, b_total - done)
                means = self._means(*self._draws(rng, b, mode))
                for k, f in stats.items():
                    d = np.asarray(f(means), dtype=np.float64)
                    acc[k].append(d[np.isfinite(d)])
                done += b
            for k in stats:
                d = np.concatenate(acc[k])
                out[k].append(float(d.var(ddof=1)) * rescale if d.size > 1 else math.nan)
        return {k: tuple(v) for k, v in out.items()}

    def t_intervals(self, stats: dict[str, Stat], sizes: dict[str, tuple[int, int]] | None = None,
                    n_boot: int | None = None) -> dict[str, Interval]:
        """t(nu) interval and p of every smooth statistic; ``sizes``: (seeds, items) per statistic."""
        out = {}
        for k, (est, vs, vi) in self.variances(stats, n_boot).items():
            s_, n_ = (sizes or {}).get(k, (len(self.seeds), min(self.by_items)))
            out[k] = t_interval(est, vs, vi, s_, n_, self.level, n_boot or self.n_boot)
        return out

    def run(self, stats: dict[str, Stat]) -> dict[str, Interval]:
        """Crossed bootstrap: estimate, percentile CI and CI-inversion p of every statistic."""
        rng = np.random.default_rng(self.seed)
        obs_means = {k: np.array([v]) for k, v in self.observed().items()}
        est = {k: float(np.asarray(f(obs_means)).reshape(-1)[0]) for k, f in stats.items()}
        le = dict.fromkeys(stats, 0)
        ge = dict.fromkeys(stats, 0)
        valid = dict.fromkeys(stats, 0)
        kept: dict[str, list[np.ndarray]] = {k: [] for k in stats}
        done = 0
        while done < self.n_boot:
            b = min(self.chunk, self.n_boot - done)
            means = self._means(*self._draws(rng, b, "crossed"))
            for k, f in stats.items():
                d = np.asarray(f(means), dtype=np.float64)
                d = d[np.isfinite(d)]
                le[k] += int(np.sum(d <= 0))
                ge[k] += int(np.sum(d >= 0))
                valid[k] += d.size
                if done < self.ci_boot:
                    kept[k].append(d[: max(0, self.ci_boot - done)])
            done += b
        out = {}
        tail = (1 - self.level) / 2
        for k in stats:
            d = np.concatenate(kept[k]) if kept[k] else np.array([])
            if valid[k] == 0 or d.size == 0 or not math.isfinite(est[k]):
                out[k] = Interval(est[k], math.nan, math.nan, 1.0, 0, self.level)
                continue
            lo, hi = np.quantile(d, [tail, 1 - tail])
            p = min(1.0, 2 * min(le[k] + 1, ge[k] + 1) / (valid[k] + 1))
            out[k] = Interval(est[k], float(lo), float(hi), float(p), valid[k], self.level,
                              min(le[k], ge[k]) == 0)
        return out


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (df = inf: the normal)."""
    from scipy import stats as sps

    return float(sps.norm.sf(t) if not math.isfinite(df) else sps.t.sf(t, df))


def t_quantile(upper: float, df: float) -> float:
    """t such that P(T > t) = upper."""
    from scipy import stats as sps

    return float(sps.norm.isf(upper) if not math.isfinite(df) else sps.t.isf(upper, df))


def t_interval(estimate: float, v_seeds: float, v_items: float, n_seeds: int, n_items: int,
               level: float = 0.95, n_boot: int = 0) -> Interval:
    """estimate +- t(nu) SE with SE^2 = v_seeds + v_items and Welch-Satterthwaite nu."""
    var = v_seeds + v_items
    if not (math.isfinite(var) and math.isfinite(estimate)):
        return Interval(estimate, math.nan, math.nan, 1.0, n_boot, level, method="t")
    if var <= 0:
        p = 1.0 if estimate == 0 else 0.0
        return Interval(estimate, estimate, estimate, p, n_boot, level, se=0.0, df=math.inf, method="t")
    denom = (v_seeds ** 2 / max(n_seeds - 1, 1) if v_seeds > 0 else 0.0) + \
            (v_items ** 2 / max(n_items - 1, 1) if v_items > 0 else 0.0)
    df = var ** 2 / denom if denom > 0 else math.inf
    se = math.sqrt(var)
    q = t_quantile((1 - level) / 2, df)
    p = min(1.0, 2 * t_sf(abs(estimate) / se, df))
    return Interval(estimate, estimate - q * se, estimate + q * se, p, n_boot, level, se=se, df=df, method="t")


def better_by(metric: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(mean score of a, of b) -> how much better a is than b, in the metric's units.

    accuracy: per-item 1/0, a - b. rmse: per-item squared errors, sqrt(b) - sqrt(a).
    """
    if metric == "accuracy":
        return lambda a, b: a - b
    if metric == "rmse":
        return lambda a, b: np.sqrt(b) - np.sqrt(a)
    raise ValueError(f"unknown metric {metric!r}")


def to_metric(metric: str, mean_score):
    """Mean per-item score -> the metric (accuracy as is, RMSE = sqrt of the mean squared error)."""
    return np.sqrt(mean_score) if metric == "rmse" else mean_score


def paired_bootstrap(a, b, *, metric: str = "accuracy", n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95) -> Interval:
    """How much better model a is than model b, paired over seeds x items (both (S, N) arrays)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have the same shape, got {a.shape} and {b.shape}")
    seeds = list(range(a.shape[0]))
    f = better_by(metric)
    boot = PairedBootstrap({"a": Series(seeds, a), "b": Series(seeds, b)}, n_boot=n_boot, seed=seed,
                           level=level)
    return boot.t_intervals({"d": lambda m: f(m["a"], m["b"])})["d"]


def paired_drop_bootstrap(a_clean, a_shift, b_clean, b_shift, *, metric: str = "accuracy",
                          n_boot: int = 2000, seed: int = 0) -> Interval:
    """How much less model a loses under a shift than model b (drop = clean - shifted, paired)."""
    seeds = list(range(np.asarray(a_clean).shape[0]))
    f = better_by(metric)
    boot = PairedBootstrap({k: Series(seeds, v) for k, v in
                            {"ac": a_clean, "as": a_shift, "bc": b_clean, "bs": b_shift}.items()},
                           n_boot=n_boot, seed=seed)
    # drop of x = how much better clean is than shifted; a more robust = b's drop - a's drop
    return boot.t_intervals({"d": lambda m: f(m["bc"], m["bs"]) - f(m["ac"], m["as"])})["d"]


# -- multiplicity ----------------------------------------------------------------------------
def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj = np.maximum.accumulate(adj)
    out = np.empty(m)
    out[order] = adj
    return out


# -- across datasets (scipy) -----------------------------------------------------------------
@dataclass
class Wilcoxon:
    n: int            # non-zero differences
    w_plus: float     # sum of ranks of positive differences
    p: float          # two-sided, exact up to EXACT_MAX units
    p_min: float      # smallest two-sided p attainable with n units
    method: str = "exact"

    def to_dict(self) -> dict:
        return {"n": self.n, "w_plus": self.w_plus, "p": self.p, "p_min": self.p_min, "method": self.method}


EXACT_MAX = 20  # units up to which the Wilcoxon p enumerates all 2^n sign patterns


def wilcoxon_signed_rank(differences) -> Wilcoxon:
    """Two-sided Wilcoxon signed-rank test of paired differences (zeros dropped), by scipy.

    Up to ``EXACT_MAX`` units the p-value is exact over all sign patterns, ties included (scipy's
    ``method='exact'`` assumes no ties; its ``PermutationMethod`` enumerates every pattern when
    the resample count covers them); beyond, scipy's normal approximation."""
    from scipy import stats as sps

    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d) & (d != 0)]
    n = d.size
    if n == 0:
        return Wilcoxon(0, 0.0, 1.0, 1.0)
    w_plus = float(sps.rankdata(np.abs(d))[d > 0].sum())
    if n == 1:  # two sign patterns, one in each tail (scipy's resampling needs two units)
        return Wilcoxon(1, w_plus, 1.0, 1.0)
    if n <= EXACT_MAX:
        res = sps.wilcoxon(d, method=sps.PermutationMethod(n_resamples=2 ** n))
        method = "exact"
    else:
        res = sps.wilcoxon(d, method="approx")
        method = "normal approximation"
    return Wilcoxon(n, w_plus, float(min(1.0, res.pvalue)), float(min(1.0, 2 / 2 ** n)), method)


def mean_interval(values, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``values`` and its BCa bootstrap interval (``scipy.stats.bootstrap``); the interval
    is NaN with fewer than 3 values or none that differ."""
    from scipy import stats as sps

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 3 or np.all(v == v[0]):
        return mean, math.nan, math.nan
    res = sps.bootstrap((v,), np.mean, confidence_level=level, n_resamples=9999, method="BCa",
                        rng=np.random.default_rng(seed))
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass
class Friedman:
    models: list[str]
    avg_ranks: list[float]  # 1 = best
    n_blocks: int
    chi2: float             # scipy.stats.friedmanchisquare (tie-corrected)
    p_chi2: float
    f: float                # Iman-Davenport
    p_f: float
    cd: float               # Nemenyi critical difference at alpha
    alpha: float
    blocks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"models": self.models, "avg_ranks": self.avg_ranks, "n_blocks": self.n_blocks,
                "blocks": self.blocks, "chi2": self.chi2, "p_chi2": self.p_chi2, "f": self.f,
                "p_f": self.p_f, "nemenyi_cd": self.cd, "alpha": self.alpha}


def friedman(scores, models: list[str], *, higher_is_better=True, alpha: float = 0.05,
             blocks: list[str] | None = None) -> Friedman:
    """Friedman test on an (N blocks, k >= 3 models) table; ranks within each block, 1 = best.

    ``higher_is_better`` may be one bool or one per block (e.g. accuracy and RMSE datasets)."""
    from scipy import stats as sps

    x = np.asarray(scores, dtype=np.float64)
    n, k = x.shape
    if k < 3:
        raise ValueError(f"the Friedman test needs >= 3 models, got {k}")
    hib = np.broadcast_to(np.asarray(higher_is_better, dtype=bool), (n,))
    oriented = np.where(hib[:, None], -x, x)  # rank 1 = best in every block
    ranks = sps.rankdata(oriented, axis=1)
    r = ranks.mean(axis=0)
    res = sps.friedmanchisquare(*oriented.T)
    chi2 = float(res.statistic)
    denom = n * (k - 1) - chi2
    ff = (n - 1) * chi2 / denom if denom > 0 else math.inf
    p_f = float(sps.f.sf(ff, k - 1, (k - 1) * (n - 1))) if math.isfinite(ff) and n > 1 else (0.0 if n > 1 else 1.0)
    return Friedman(list(models), [float(v) for v in r], n, chi2, float(res.pvalue), float(ff), p_f,
                    nemenyi_cd(k, n, alpha), alpha, list(blocks or []))


@functools.lru_cache(maxsize=64)
def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Demsar's q_alpha: the studentized range quantile (df = inf) divided by sqrt(2)."""
    from scipy import stats as sps

    if k < 2:
        return 0.0
    return float(sps.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Critical difference of average ranks for k models over n blocks (Nemenyi)."""
    if k < 2 or n < 1:
        return math.inf
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n))
