"""The study's claims, one per (liquid model, RNN model) pair, with their verdicts.

Every rule below is declared before any result is looked at (``edgelnn.study.declared`` prints
them; the report and docs/study-design.md show that text). A claim carries a verdict when it is
assessable by the competence gate (validation accuracy), neither side is a training failure, it
has >= ``MIN_SEEDS`` seeds common to both sides and it is not a quick look. Holm corrects over the
family ``HOLM_FAMILY`` (one over every such claim); the report shows the other choice
(``FAMILY_CHOICES``) as a sensitivity line. Four kinds of claims, per dataset:

- ``accuracy``: test accuracy (regression: relative MSE) at each matched budget, plain arm;
- ``efficiency``: the budget at which each model's accuracy-vs-active-parameters curve first
  comes within 1 point (relative MSE: 0.01; RMSE, where a dataset keeps it: 1 %) of the dataset's best
  (any model, any budget), plain arm;
  the statistic is the difference in budget steps, recomputed on every resample. A curve that
  never comes within is *censored* at the top budget: the difference is then a bound (its sign,
  and so the p-value, stays exact), never an imputed value;
- ``robustness``: per shift, the fraction of the clean accuracy above chance that the shift
  takes away ((clean - shifted) / (clean - chance), paired per item, averaged over the shift's
  levels) at the reference budget, plain arm, with the absolute loss beside it; only between
  models that are both competent on clean data at that budget (validation), whatever they lose;
- ``time-aug``: per time shift (drop, sampling-rate), accuracy under the shift (mean over its
  levels) at the reference budget, liquid plain and liquid time-aug vs the RNN trained with
  time augmentation.

Every statistic is "how much better the liquid model is" (> 0: liquid better), estimated with
the paired bootstrap of :mod:`edgelnn.study.stats`. Verdict: Holm-adjusted p <= alpha ->
"liquid better" or "RNN better" by the sign; else "inconclusive". Outside the family:
"training failure" (a side the trainer flagged), "not assessable" (gate) and "no verdict" (fewer
seeds, quick look).
"""
from __future__ import annotations

import math
import statistics
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np

from . import competence as comp
from . import metrics as mx
from .stats import PairedBootstrap, Series, friedman, holm, mean_interval, n_boot_for, wilcoxon_signed_rank
from .studydata import Cell, StudyData

SMOOTH_BOOT = 2000  # resamples per one-way part (seeds only, items only): SE to ~3 %

ALPHA = 0.05
MIN_SEEDS = 5
WITHIN_POINTS = 1.0
TIME_SHIFTS = ("drop", "sampling-rate")
BOOT_SEED = 20261127

LIQUID_BETTER, RNN_BETTER, INCONCLUSIVE = "liquid better", "RNN better", "inconclusive"
NOT_ASSESSABLE, NO_VERDICT, NOT_RUN = "not assessable", "no verdict", "not run"
TRAINING_FAILURE = "training failure"
# The Holm family, declared before the data: one family over every claim that can carry a
# verdict (the findings publish all verdicts together). The other reasonable choice is shown as
# a sensitivity line, never used for a verdict.
FAMILY_CHOICES = {
    "all": "one family over every claim of the study that can carry a verdict",
    "question": "one family per question (accuracy, efficiency, robustness, time-aug)",
}
HOLM_FAMILY = "all"
ALT_FAMILY = "question"
QUESTIONS = {
    "accuracy": "accuracy at matched budget",
    "efficiency": "parameter efficiency (smallest budget within 1 point of the dataset's best)",
    "robustness": "robustness (share of the clean accuracy above chance lost under the shift, paired per item)",
    "time-aug": "accuracy under the shift vs the RNN trained with time augmentation",
}
SHIFT_NAMES = {
    "noise": "input noise",
    "offset-drift": "non-stationary inputs (a slow offset drift over the sequence)",
    "drop": "dropped samples (irregular sampling, true dt kept)",
    "sampling-rate": "a sampling-rate change over the same span",
    "horizon": "sequences longer than any seen in training (horizon)",
}


@dataclass
class Claim:
    id: str
    question: str
    dataset: str
    liquid: str
    rnn: str
    metric: str
    liquid_arm: str = "plain"
    rnn_arm: str = "plain"
    budget: int | None = None
    shift: str | None = None
    levels: list[str] = field(default_factory=list)
    liquid_value: float | None = None  # the side's own figure (accuracy, loss, budget reached)
    rnn_value: float | None = None
    estimate: float = math.nan         # liquid better by (points / RMSE units / budget steps)
    lo: float = math.nan
    hi: float = math.nan
    p: float = 1.0
    p_holm: float | None = None
    p_bound: bool = False              # p (and Holm p) are upper bounds: bootstrap resolution
    se: float | None = None            # t method: standard error (same units) and df
    df: float | None = None
    method: str = ""
    seeds: int = 0
    items: int = 0
    n_boot: int = 0
    assessable: bool = True
    gate: str = ""
    verdict: str = ""
    why: str = ""
    family: str = ""                   # the Holm family the claim belongs to (declared rule)
    # robustness: the statistic is the share of (clean - chance) lost, in % (normalised); the
    # absolute loss difference (metric units x scale) and each side's share lost sit beside it
    normalised: bool = False
    liquid_share: float | None = None
    rnn_share: float | None = None
    abs_estimate: float | None = None
    abs_lo: float | None = None
    abs_hi: float | None = None
    # efficiency: which side never came within 1 point at any budget ("liquid", "rnn", "both")
    censored: str = ""
    # sensitivity: Holm p and verdict under the other family choice (ALT_FAMILY)
    p_holm_alt: float | None = None
    verdict_alt: str = ""

    @property
    def in_family(self) -> bool:
        return self.p_holm is not None

    @property
    def unit(self) -> str:
        if self.question == "efficiency":
            return "budget steps"
        if self.normalised:
            return "% of clean − chance"
        return mx.get(self.metric).unit

    def to_dict(self) -> dict:
        return {**asdict(self), "unit": self.unit, "in_family": self.in_family}


@dataclass
class CurvePoint:
    """mean: the metric over all seeds' items pooled (RMSE: root of the pooled mean squared error,
    as the tests use it); std: spread of the per-seed metric."""

    budget: int
    params_active: float
    params_total: float
    units: float
    mean: float
    std: float
    seeds: int


@dataclass
class Curve:
    dataset: str
    model: str
    family: str
    arm: str
    metric: str
    points: list[CurvePoint]
    reach: int | None = None  # smallest budget within 1 point of the dataset's best (plain arm)

    @property
    def censored(self) -> bool:
        """Never within 1 point at any budget of the study: the reach lies beyond the top budget
        (unknown by how much), not one step past it."""
        return self.arm == "plain" and self.reach is None


@dataclass
class CompetenceRow:
    """A model's best cell on a dataset, chosen by validation (mean over seeds; any budget and
    arm, training failures excluded), and the gate on its validation metric; the test metric of
    the same cell is shown beside the published figure, never used by the gate."""

    dataset: str
    model: str
    family: str
    val: float | None             # the gate's figure: mean validation metric of the chosen cell
    test: float | None            # mean test metric of the same cell (beside the published figure)
    best_budget: int | None
    best_arm: str | None
    published: float | None
    method: str
    source: str
    within: bool | None  # None: no published figure (or not a classification dataset)
    val_items: int = 0   # validation items behind ``val``, summed over seeds (0: not recorded)
    # the metrics ``val`` and ``test`` are in: the same for accuracy; a regression cell's validation
    # figure is the records' RMSE (target standard deviations), its test one relative MSE
    val_metric: str = "accuracy"
    test_metric: str = "accuracy"
    # the same cell's mean metric on its training splits (val_metric's form; None: not recorded):
    # beside validation it tells under-fitting (both low) from over-fitting (train high, val low)
    train: float | None = None


@dataclass
class Analysis:
    claims: list[Claim]
    curves: list[Curve]
    competence: list[CompetenceRow]
    ref_budget: dict[str, int]
    best: dict[str, dict]
    family_size: int
    alpha: float
    n_boot: int
    min_seeds: int
    quick: bool
    cannot_carry: list[str]
    cross: dict
    boot_seed: int = BOOT_SEED
    smooth_boot: int = SMOOTH_BOOT
    holm_family: str = HOLM_FAMILY
    alt_family: str = ALT_FAMILY
    families: dict[str, int] = field(default_factory=dict)      # family -> size (declared choice)
    alt_families: dict[str, int] = field(default_factory=dict)  # the same under the other choice

    def claims_of(self, question: str) -> list[Claim]:
        return [c for c in self.claims if c.question == question]


# -- helpers ---------------------------------------------------------------------------------
def goodness(metric: str):
    """Mean per-item score -> 'higher is better' value (the metric, or minus it)."""
    return mx.goodness(metric)


def scale(metric: str) -> float:
    return mx.get(metric).scale


def sign_of(metric: str) -> int:
    return 1 if mx.get(metric).higher_is_better else -1


def within_delta(metric: str, best):
    """How far below the best a value may be and still count as 'within 1 point' (a metric in
    points: 1 point; any other: 1 % of the best)."""
    m = mx.get(metric)
    if m.within_abs is not None:
        return m.within_abs * WITHIN_POINTS
    return np.abs(best) * WITHIN_POINTS / 100


def cell_value(cell: Cell) -> float:
    """The cell's test metric from its per-item scores (mean over seeds)."""
    return float(mx.get(cell.metric).from_mean(cell.test_series().scores.mean()))


def cell_val(cell: Cell) -> float | None:
    """The cell's validation metric, mean over seeds (what every gate reads); None if missing."""
    vals = [r.val_metric for r in cell.runs if r.val_metric is not None and math.isfinite(r.val_metric)]
    return statistics.fmean(vals) if vals else None


class _Registry:
    """Series of one dataset, restricted to given seeds, registered once under a stable name."""

    def __init__(self):
        self.series: dict[str, Series] = {}

    def add(self, cell: Cell, seeds: list[int], shift: str | None = None, level: str | None = None) -> str:
        tag = ",".join(map(str, seeds))
        name = f"{cell.name}|{shift or 'clean'}|{level or ''}|{tag}"
        if name not in self.series:
            rows = [cell.seeds.index(s) for s in seeds]
            full = cell.shift_series(shift, level) if shift else cell.test_series()
            self.series[name] = Series(list(seeds), full.scores[rows])
        return name


def common_seeds(*cells: Cell) -> list[int]:
    sets = [set(c.seeds) for c in cells]
    return sorted(set.intersection(*sets)) if sets else []


def failures(cells) -> str:
    """'' when no cell is a training failure; else which are, and why (the trainer's reason)."""
    bad = [f"{c.model} at {c.budget:,} ({c.arm}): {c.failure}" for c in cells if c is not None and c.failure]
    return "; ".join(dict.fromkeys(bad))


# -- analysis --------------------------------------------------------------------------------
def reference_budget(data: StudyData, dataset: str) -> int:
    """Budget of the robustness and time-aug claims: the one the time-aug arm ran at (middle
    one if several), else the middle budget of the design."""
    aug = sorted({c.budget for c in data.cells.values() if c.dataset == dataset and c.arm == "time-aug"})
    pool = aug or data.budgets(dataset)
    return pool[(len(pool) - 1) // 2]


def curves_of(data: StudyData) -> list[Curve]:
    out = []
    for ds in data.datasets:
        for model in data.models(ds):
            for arm in data.arms():
                pts = []
                for b in data.budgets(ds):
                    c = data.cell(ds, model, b, arm)
                    if c is None:
                        continue
                    m = mx.get(c.metric)
                    vals = [float(m.from_mean(np.mean(r.test_scores) / c.divisor)) for r in c.runs]
                    pts.append(CurvePoint(b, c.mean("params_active"), c.mean("params_total"),
                                          c.mean("units"), cell_value(c),
                                          statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals)))
                if pts:
                    out.append(Curve(ds, model, data.families[model], arm, data.metric(ds), pts))
    for ds in data.datasets:
        plain = [c for c in out if c.dataset == ds and c.arm == "plain"]
        if not plain:
            continue
        metric = plain[0].metric
        sign = sign_of(metric)
        best = max(sign * p.mean for c in plain for p in c.points)
        thr = best - float(within_delta(metric, best))
        for c in plain:
            c.reach = next((p.budget for p in c.points if sign * p.mean >= thr - 1e-12), None)
    return out


def _train_mean(cell) -> float | None:
    vals = [getattr(r, "train_metric", None) for r in cell.runs]
    return float(np.mean(vals)) if vals and all(v is not None for v in vals) else None


def competence_rows(data: StudyData) -> list[CompetenceRow]:
    """Each model's best cell per dataset by *validation* (training failures left out unless
    every cell failed), its validation and test metric, and the gate on the validation one."""
    out = []
    for ds in data.datasets:
        ref = comp.best_published(ds)
        for model in data.models(ds):
            cells = [c for c in data.cells.values() if c.dataset == ds and c.model == model]
            cells = [c for c in cells if not c.failure] or cells
            sign = sign_of(cells[0].metric)
            best = max(cells, key=lambda c: -math.inf if cell_val(c) is None else sign * cell_val(c))
            val = cell_val(best)
            is_cls = best.metric == "accuracy"
            out.append(CompetenceRow(
                ds, model, best.family, val, cell_value(best), best.budget, best.arm,
                ref.accuracy if ref else None, ref.method if ref else "",
                ref.source if ref else comp.no_figure_reason(ds),
                comp.competent(ds, val) if (ref and is_cls) else None,
                sum(getattr(r, "val_items", 0) or 0 for r in best.runs),
                best.runs[0].metric if best.runs else best.metric, best.metric, _train_mean(best)))
    return out


def _family_key(choice: str):
    if choice == "all":
        return lambda c: "all"
    if choice == "question":
        return lambda c: c.question
    raise ValueError(f"unknown Holm family choice {choice!r} (known: {', '.join(FAMILY_CHOICES)})")


def _holm_by_family(claims: list[Claim], choice: str, alpha: float) -> dict[str, int]:
    """Holm within each family of ``choice``; returns family -> size. Sets p_holm and verdict for
    the declared choice (HOLM_FAMILY), p_holm_alt and verdict_alt for any other."""
    key = _family_key(choice)
    groups: dict[str, list[Claim]] = {}
    for c in claims:
        groups.setdefault(key(c), []).append(c)
    primary = choice == HOLM_FAMILY
    for fam, cs in groups.items():
        for c, p in zip(cs, holm([c.p for c in cs])):
            p = float(p)
            if p <= alpha and c.estimate != 0:
                verdict = LIQUID_BETTER if c.estimate > 0 else RNN_BETTER
                why = f"Holm-adjusted p {'<=' if c.p_bound else '='} {p:.2g} <= {alpha:g}"
            else:
                verdict, why = INCONCLUSIVE, f"Holm-adjusted p = {p:.2g} > {alpha:g}"
            if primary:
                c.family, c.p_holm, c.verdict, c.why = fam, p, verdict, why
            else:
                c.p_holm_alt, c.verdict_alt = p, verdict
    return {fam: len(cs) for fam, cs in groups.items()}


def analyse(data: StudyData, *, alpha: float = ALPHA, min_seeds: int = MIN_SEEDS, quick: bool = False,
            n_boot: int | None = None) -> Analysis:
    """Every claim of the study with its bootstrap interval, Holm-adjusted p and verdict."""
    curves = curves_of(data)
    comp_rows = competence_rows(data)
    val_of = {(r.dataset, r.model): r.val for r in comp_rows}
    claims: list[Claim] = []
    plans: dict[str, tuple] = {}
    ref_budget = {}
    for ds in data.datasets:
        reg, smooth, discrete = _Registry(), {}, {}
        ref_budget[ds] = reference_budget(data, ds)
        claims += _enumerate(data, ds, ref_budget[ds], reg, smooth, discrete, val_of)
        plans[ds] = (reg, smooth, discrete)

    cannot = []
    seeds_all = data.seeds
    if quick:
        cannot.append("This is a quick look (`--quick`): it issues no verdicts; intervals are shown "
                      "for orientation only.")
    if len(seeds_all) < min_seeds:
        cannot.append(f"{len(seeds_all)} seed(s) per model (< {min_seeds}): no verdicts; one seed of an "
                      "unstable model can flip a comparison (CfC seed 1 on ItalyPowerDemand: 0.877 on "
                      "one CPU, 0.934 on another).")
    for c in claims:
        if c.verdict:  # a training failure, set when the claim was made
            continue
        if not c.assessable:
            c.verdict, c.why = NOT_ASSESSABLE, c.gate
        elif quick:
            c.verdict, c.why = NO_VERDICT, "quick look"
        elif c.seeds < min_seeds:
            c.verdict, c.why = NO_VERDICT, f"{c.seeds} common seeds < {min_seeds}"
    family = [c for c in claims if not c.verdict]
    boot = n_boot or n_boot_for(len(family), alpha)

    by_id = {c.id: c for c in claims}
    for ds, (reg, smooth, discrete) in plans.items():
        seed = BOOT_SEED + zlib.crc32(ds.encode()) % 10_000
        results = {}
        if smooth:
            pb = PairedBootstrap(reg.series, n_boot=n_boot or SMOOTH_BOOT, seed=seed)
            results.update(pb.t_intervals(smooth, {k: (by_id[k.split("#")[0]].seeds, by_id[k.split("#")[0]].items)
                                                   for k in smooth}))
        if discrete:
            names = {n for fn in discrete.values() for n in fn.series}
            pb = PairedBootstrap({n: reg.series[n] for n in names}, n_boot=boot, seed=seed + 1)
            results.update(pb.run(discrete))
        for key, iv in results.items():
            cid, _, part = key.partition("#")
            c = by_id[cid]
            if part == "abs":  # the absolute loss difference beside a normalised robustness claim
                k = scale(c.metric)
                c.abs_estimate, c.abs_lo, c.abs_hi = iv.estimate * k, iv.lo * k, iv.hi * k
                continue
            k = 1.0 if c.question == "efficiency" else 100.0 if c.normalised else scale(c.metric)
            c.estimate, c.lo, c.hi, c.p, c.n_boot = iv.estimate * k, iv.lo * k, iv.hi * k, iv.p, iv.n_boot
            c.p_bound, c.se, c.df, c.method = iv.p_bound, (iv.se * k if iv.se is not None else None), iv.df, iv.method
            if c.censored in ("rnn", "both"):    # the RNN's reach lies beyond the top budget: the
                c.hi = math.inf                  # difference is a lower bound, its CI open above
            if c.censored in ("liquid", "both"):
                c.lo = -math.inf
    sizes = _holm_by_family(family, HOLM_FAMILY, alpha) if family else {}
    alt_sizes = _holm_by_family(family, ALT_FAMILY, alpha) if family else {}
    best = {}
    for ds in data.datasets:
        plain = [c for c in curves if c.dataset == ds and c.arm == "plain"]
        if plain:
            sign = sign_of(plain[0].metric)
            cv, pt = max(((c, p) for c in plain for p in c.points), key=lambda cp: sign * cp[1].mean)
            best[ds] = {"model": cv.model, "budget": pt.budget, "value": pt.mean, "metric": cv.metric}
    analysis = Analysis(claims, curves, comp_rows, ref_budget, best, len(family), alpha, boot,
                        min_seeds, quick, cannot, {}, smooth_boot=n_boot or SMOOTH_BOOT,
                        families=sizes, alt_families=alt_sizes)
    analysis.cross = cross_dataset(data, analysis)
    return analysis


def family_changes(a: Analysis) -> list[Claim]:
    """Claims whose verdict differs under the other family choice (the sensitivity line)."""
    return [c for c in a.claims if c.in_family and c.verdict_alt and c.verdict_alt != c.verdict]


def _enumerate(data: StudyData, ds: str, ref: int, reg: _Registry, stats: dict, discrete: dict,
               val_of: dict) -> list[Claim]:
    """Claims of one dataset; registers their series and statistics (smooth -> ``stats``,
    the budget-reach statistic -> ``discrete``)."""
    metric = data.metric(ds)
    g = goodness(metric)
    out: list[Claim] = []

    def new(question, x, y, cells, **kw) -> Claim:
        ok, why = comp.assessable(ds, val_of.get((ds, x)), val_of.get((ds, y)))
        cid = "|".join(str(v) for v in (question, ds, x, kw.get("liquid_arm", "plain"), y,
                                         kw.get("rnn_arm", "plain"), kw.get("budget"), kw.get("shift")))
        c = Claim(cid, question, ds, x, y, metric, assessable=ok, gate=why, **kw)
        failed = failures(cells)
        if failed:
            c.verdict, c.why = TRAINING_FAILURE, f"training failure flagged by the trainer: {failed}"
        return c

    liquid, rnn, budgets = data.liquid(ds), data.rnn(ds), data.budgets(ds)
    # accuracy at matched budget
    for b in budgets:
        for x in liquid:
            for y in rnn:
                cx, cy = data.cell(ds, x, b), data.cell(ds, y, b)
                if cx is None or cy is None:
                    continue
                seeds = common_seeds(cx, cy)
                if not seeds:
                    continue
                c = new("accuracy", x, y, [cx, cy], budget=b, liquid_value=cell_value(cx), rnn_value=cell_value(cy),
                        seeds=len(seeds), items=cx.test_series().n_items)
                nx, ny = reg.add(cx, seeds), reg.add(cy, seeds)
                stats[c.id] = lambda m, nx=nx, ny=ny: g(m[nx]) - g(m[ny])
                out.append(c)
    # parameter efficiency from the curves (all plain cells of the dataset, common seeds)
    plain = [c for c in data.cells.values() if c.dataset == ds and c.arm == "plain"]
    if len(budgets) >= 2 and liquid and rnn and plain:
        seeds = common_seeds(*plain)
        if seeds:
            grid = {m: [reg.add(data.cell(ds, m, b), seeds) if data.cell(ds, m, b) else None
                        for b in budgets] for m in data.models(ds)}
            reach = _reach_fn(grid, len(budgets), metric)
            obs = {m: _observed_reach(data, ds, m, budgets, metric) for m in data.models(ds)}
            for x in liquid:
                for y in rnn:
                    if not any(grid[x]) or not any(grid[y]):
                        continue
                    censored = {(True, True): "both", (True, False): "liquid", (False, True): "rnn"}.get(
                        (obs[x] is None, obs[y] is None), "")
                    c = new("efficiency", x, y, [data.cell(ds, m, b) for m in (x, y) for b in budgets], liquid_value=obs[x], rnn_value=obs[y], seeds=len(seeds),
                            items=next(s for s in reg.series.values()).n_items, censored=censored)
                    discrete[c.id] = _Discrete(lambda m, x=x, y=y: (reach(m)[y] - reach(m)[x]).astype(np.float64),
                                               [n for names in grid.values() for n in names if n])
                    out.append(c)
    # robustness per shift at the reference budget (plain arm), and the time-aug comparisons
    ch = mx.chance(metric, ds)
    g_chance = None if ch is None else sign_of(metric) * ch
    for x in liquid:
        for y in rnn:
            cx, cy = data.cell(ds, x, ref), data.cell(ds, y, ref)
            if cx is None or cy is None:
                continue
            clean_gate = _clean_gate(data, ds, [cx, cy])
            lx, ly = cx.shift_levels(), cy.shift_levels()
            seeds = common_seeds(cx, cy)
            for shift in _ordered_shifts(set(lx) & set(ly)):
                levels = [lvl for lvl in lx[shift] if lvl in ly[shift]]
                if not levels or not seeds:
                    continue
                norm = g_chance is not None
                c = new("robustness", x, y, [cx, cy], budget=ref, shift=shift, levels=levels,
                        liquid_value=_loss(cx, shift, levels), rnn_value=_loss(cy, shift, levels),
                        seeds=len(seeds), items=cx.shift_series(shift, levels[0]).n_items, normalised=norm,
                        liquid_share=_share(cx, shift, levels, g_chance), rnn_share=_share(cy, shift, levels, g_chance))
                # robustness needs both models competent on clean data, not just one (the pair gate)
                c.assessable, c.gate = (False, clean_gate) if clean_gate else (True, _clean_ok(data, ds))
                dx = _drop_fn(reg, cx, seeds, shift, levels, g)
                dy = _drop_fn(reg, cy, seeds, shift, levels, g)
                if norm:
                    sx = _share_fn(reg, cx, seeds, g, dx, g_chance)
                    sy = _share_fn(reg, cy, seeds, g, dy, g_chance)
                    stats[c.id] = lambda m, sx=sx, sy=sy: sy(m) - sx(m)
                    stats[c.id + "#abs"] = lambda m, dx=dx, dy=dy: dy(m) - dx(m)
                else:
                    stats[c.id] = lambda m, dx=dx, dy=dy: dy(m) - dx(m)
                out.append(c)
            cy_aug = data.cell(ds, y, ref, "time-aug")
            if cy_aug is None:
                continue
            for x_arm in ("plain", "time-aug"):
                cxa = data.cell(ds, x, ref, x_arm)
                if cxa is None:
                    continue
                lxa, lya = cxa.shift_levels(), cy_aug.shift_levels()
                seeds = common_seeds(cxa, cy_aug)
                for shift in [s for s in TIME_SHIFTS if s in lxa and s in lya]:
                    levels = [lvl for lvl in lxa[shift] if lvl in lya[shift]]
                    if not levels or not seeds:
                        continue
                    c = new("time-aug", x, y, [cxa, cy_aug], liquid_arm=x_arm, rnn_arm="time-aug", budget=ref,
                            shift=shift, levels=levels, liquid_value=_under(cxa, shift, levels),
                            rnn_value=_under(cy_aug, shift, levels), seeds=len(seeds),
                            items=cxa.shift_series(shift, levels[0]).n_items)
                    ux = _under_fn(reg, cxa, seeds, shift, levels, g)
                    uy = _under_fn(reg, cy_aug, seeds, shift, levels, g)
                    stats[c.id] = lambda m, ux=ux, uy=uy: ux(m) - uy(m)
                    out.append(c)
    return out


def clean_reference(data: StudyData, ds: str) -> tuple[float, str] | None:
    """What 'competent on clean data' is measured against: the best published accuracy, else the
    study's best *validation* accuracy on the dataset (plain arm, no training failure). None for
    datasets whose metric is not accuracy (no gate)."""
    if data.metric(ds) != "accuracy":
        return None
    pub = comp.best_published(ds)
    if pub is not None:
        return pub.accuracy, f"published {pub.method} {pub.accuracy:.3f}"
    cells = [c for c in data.cells.values() if c.dataset == ds and c.arm == "plain" and not c.failure
             and cell_val(c) is not None]
    if not cells:
        return None
    best = max(cells, key=cell_val)
    return cell_val(best), f"the study's best validation accuracy, {best.model} at {best.budget:,}: {cell_val(best):.3f}"


def _clean_gate(data: StudyData, ds: str, cells: list[Cell]) -> str:
    """'' when every cell is competent on clean data (validation within the gate of the
    reference); else why not. What the cells lose under a shift plays no part."""
    top = clean_reference(data, ds)
    if top is None:
        return ""
    thr = top[0] - comp.GATE_POINTS / 100 - 1e-12
    low = [f"{c.model} {cell_val(c):.3f}" if cell_val(c) is not None else f"{c.model} (no validation figure)"
           for c in cells if cell_val(c) is None or cell_val(c) < thr]
    if not low:
        return ""
    return (f"not assessable: robustness is compared only between models competent on clean data at this budget "
            f"(validation accuracy within {comp.GATE_POINTS:g} points of {top[1]}; {join_names(low)} below)")


def _clean_ok(data: StudyData, ds: str) -> str:
    top = clean_reference(data, ds)
    if top is None:
        return "gate not applied: not a classification dataset"
    return f"both competent on clean data (validation within {comp.GATE_POINTS:g} points of {top[1]})"


def join_names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class _Discrete:
    """A statistic and the series it reads (the crossed bootstrap runs on those only)."""

    def __init__(self, fn, series: list[str]):
        self.fn, self.series = fn, series

    def __call__(self, m):
        return self.fn(m)


def _ordered_shifts(names) -> list[str]:
    return [s for s in SHIFT_NAMES if s in names] + sorted(set(names) - set(SHIFT_NAMES))


def _drop_fn(reg, cell, seeds, shift, levels, g):
    clean = reg.add(cell, seeds)
    shifted = [reg.add(cell, seeds, shift, lvl) for lvl in levels]
    return lambda m: g(m[clean]) - sum(g(m[s]) for s in shifted) / len(shifted)


def _share_fn(reg, cell, seeds, g, drop, g_chance):
    """(clean - shifted) / (clean - chance), oriented (1 = everything above chance lost)."""
    clean = reg.add(cell, seeds)

    def share(m):
        above = g(m[clean]) - g_chance
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(above > 0, drop(m) / np.where(above > 0, above, 1.0), np.nan)
    return share


def _under_fn(reg, cell, seeds, shift, levels, g):
    shifted = [reg.add(cell, seeds, shift, lvl) for lvl in levels]
    return lambda m: sum(g(m[s]) for s in shifted) / len(shifted)


def _metric_of(metric: str, scores) -> float:
    return float(mx.get(metric).from_mean(np.asarray(scores, dtype=np.float64).mean()))


def _under(cell: Cell, shift: str, levels: list[str]) -> float:
    return statistics.fmean(_metric_of(cell.metric, cell.shift_series(shift, lvl).scores) for lvl in levels)


def _loss(cell: Cell, shift: str, levels: list[str]) -> float:
    """Clean minus shifted metric, oriented so a positive loss is worse (accuracy: points)."""
    return sign_of(cell.metric) * (cell_value(cell) - _under(cell, shift, levels)) * scale(cell.metric)


def loss_share(clean: float, under: float, chance: float | None, metric: str) -> float | None:
    """Share (in %) of the clean metric above chance that a shift takes away: 100 * (clean -
    shifted) / (clean - chance), oriented so that a positive share is a loss. None without a
    chance level or when the clean metric is not above it."""
    if chance is None:
        return None
    s = sign_of(metric)
    above = s * (clean - chance)
    if above <= 0:
        return None
    return 100.0 * s * (clean - under) / above


def _share(cell: Cell, shift: str, levels: list[str], g_chance: float | None) -> float | None:
    if g_chance is None:
        return None
    return loss_share(cell_value(cell), _under(cell, shift, levels), sign_of(cell.metric) * g_chance, cell.metric)


def _observed_reach(data: StudyData, ds: str, model: str, budgets: list[int], metric: str) -> int | None:
    sign = sign_of(metric)
    vals = {(m, b): sign * cell_value(c) for m in data.models(ds) for b in budgets
            if (c := data.cell(ds, m, b)) is not None}
    best = max(vals.values())
    thr = best - float(within_delta(metric, best))
    return next((b for b in budgets if (model, b) in vals and vals[(model, b)] >= thr - 1e-12), None)


def _reach_fn(grid: dict[str, list[str | None]], n_budgets: int, metric: str):
    """Resampled means -> {model: index of the first budget within 1 point of the best}; a curve
    that never comes within is censored at ``n_budgets`` (one past the top): a difference against
    it keeps its sign, which is all the p-value reads; its size is then a bound (the claim says so)."""
    g = goodness(metric)
    memo: dict = {}  # the last means dict (held, so its identity cannot be reused) and its result

    def reach(m: dict) -> dict:
        if memo.get("m") is m:
            return memo["out"]
        size = next(iter(m.values())).shape
        vals = {model: np.stack([g(m[n]) if n else np.full(size, -np.inf) for n in names])
                for model, names in grid.items()}
        best = np.nanmax(np.stack([v.max(axis=0) for v in vals.values()]), axis=0)
        thr = best - within_delta(metric, best) - 1e-12
        out = {}
        for model, v in vals.items():
            ok = v >= thr
            out[model] = np.where(ok.any(axis=0), ok.argmax(axis=0), n_budgets)
        memo["m"], memo["out"] = m, out
        return out

    return reach


# -- across datasets (their own family) ------------------------------------------------------
FRIEDMAN_MIN_MODELS = 3


def cross_dataset(data: StudyData, analysis: Analysis) -> dict:
    """Wilcoxon signed-rank per pair over datasets (Holm over the pairs: their own family), the
    mean difference with a BCa interval; Friedman + Nemenyi over models and datasets."""
    usable: dict[tuple, bool] = {}
    for c in analysis.claims:
        if c.question == "accuracy":
            key = (c.dataset, c.liquid, c.rnn)
            usable[key] = usable.get(key, True) and c.assessable and c.verdict != TRAINING_FAILURE
    curves = {(c.dataset, c.model): c for c in analysis.curves if c.arm == "plain"}
    failed = {(c.dataset, c.model) for c in data.cells.values() if c.arm == "plain" and c.failure}
    pairs = []
    liquid = [m for m in data.models() if data.families[m] == "liquid"]
    rnn = [m for m in data.models() if data.families[m] == "rnn"]
    for x in liquid:
        for y in rnn:
            units, used = [], []
            for ds in data.datasets:
                cx, cy = curves.get((ds, x)), curves.get((ds, y))
                if cx is None or cy is None or not usable.get((ds, x, y), False):
                    continue
                vx = {p.budget: p.mean for p in cx.points}
                vy = {p.budget: p.mean for p in cy.points}
                common = sorted(set(vx) & set(vy))
                if not common:
                    continue
                m = mx.get(cx.metric)
                if m.within_abs is not None:  # a metric in points (accuracy, relative MSE): difference
                    d = statistics.fmean(sign_of(cx.metric) * (vx[b] - vy[b]) * m.scale for b in common)
                else:  # relative: percent of the RNN's figure, oriented liquid better > 0
                    d = statistics.fmean(sign_of(cx.metric) * (vx[b] - vy[b]) / abs(vy[b]) * 100 for b in common)
                units.append(d)
                used.append(ds)
            w = wilcoxon_signed_rank(units)
            mean, lo, hi = mean_interval(units, seed=BOOT_SEED)
            pairs.append({"liquid": x, "rnn": y, "datasets": used, "differences": units, **w.to_dict(),
                          "mean": mean, "mean_lo": lo, "mean_hi": hi})
    if pairs:
        for w, p in zip(pairs, holm([w["p"] for w in pairs])):
            w["p_holm"] = float(p)
    out: dict = {"wilcoxon": pairs, "friedman": None, "friedman_note": ""}
    models = data.models()
    blocks, table, hib, left = [], [], [], []
    for ds in data.datasets:
        row = []
        competent = [r for r in analysis.competence if r.dataset == ds]
        if competent and all(r.within is False for r in competent):
            left.append(f"{ds} (no model competent)")
            continue  # no model competent: the dataset says nothing about the models
        if any((ds, m) in failed for m in models):
            left.append(f"{ds} (training failure: {join_names(sorted(m for m in models if (ds, m) in failed))})")
            continue
        for m in models:
            cv = curves.get((ds, m))
            row.append(cv)
        if any(cv is None for cv in row):
            left.append(f"{ds} (not every model ran)")
            continue
        common = set.intersection(*[{p.budget for p in cv.points} for cv in row])
        if not common:
            left.append(f"{ds} (no budget every model ran)")
            continue
        table.append([statistics.fmean(p.mean for p in cv.points if p.budget in common) for cv in row])
        hib.append(mx.get(row[0].metric).higher_is_better)
        blocks.append(ds)
    out["friedman_left_out"] = left
    if len(models) >= FRIEDMAN_MIN_MODELS and len(blocks) >= 2:
        out["friedman"] = friedman(np.array(table), models, higher_is_better=hib, alpha=analysis.alpha,
                                   blocks=blocks).to_dict()
    else:
        out["friedman_note"] = (f"The Friedman test needs >= {FRIEDMAN_MIN_MODELS} models and >= 2 datasets where "
                                f"every model ran, one is competent and none failed to train; here {len(models)} "
                                f"models and {len(blocks)} datasets"
                                + (f" (left out: {join_names(left)})" if left else "") + ".")
    return out
