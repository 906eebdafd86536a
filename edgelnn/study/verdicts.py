"""The study's claims, one per (liquid model, RNN model) pair, with their verdicts.

Claim family (the set Holm corrects over; fixed by the design and the competence gate before any
difference is looked at): every liquid-vs-RNN comparison that can carry a verdict -- assessable
by the competence gate, >= ``MIN_SEEDS`` seeds common to both sides, not a quick look -- of four
kinds, per dataset:

- ``accuracy``: test accuracy (RMSE) at each matched budget, plain arm;
- ``efficiency``: the budget at which each model's accuracy-vs-active-parameters curve first
  comes within 1 point (RMSE: 1 %) of the dataset's best (any model, any budget), plain arm;
  the statistic is the difference in budget steps, recomputed on every resample;
- ``robustness``: per shift, the loss (clean - shifted, paired per item, averaged over the
  shift's levels) at the reference budget, plain arm; only between models that both start within
  3 points of the top clean accuracy (published, else the study's best): a model far below the
  top has little to lose, and its smaller loss says nothing about robustness;
- ``time-aug``: per time shift (drop, sampling-rate), accuracy under the shift (mean over its
  levels) at the reference budget, liquid plain and liquid time-aug vs the RNN trained with
  time augmentation.

Every statistic is "how much better the liquid model is" (> 0: liquid better), estimated with
the paired bootstrap of :mod:`edgelnn.study.stats`. Verdict: Holm-adjusted p <= alpha ->
"liquid better" or "RNN better" by the sign; else "inconclusive". Outside the family:
"not assessable" (gate) and "no verdict" (fewer seeds, quick look).
"""
from __future__ import annotations

import math
import statistics
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np

from . import competence as comp
from .stats import PairedBootstrap, Series, friedman, holm, n_boot_for, wilcoxon_signed_rank

SMOOTH_BOOT = 2000  # resamples per one-way part (seeds only, items only): SE to ~3 %
from .studydata import HIGHER_IS_BETTER, Cell, StudyData

ALPHA = 0.05
MIN_SEEDS = 5
WITHIN_POINTS = 1.0
TIME_SHIFTS = ("drop", "sampling-rate")
BOOT_SEED = 20261127

LIQUID_BETTER, RNN_BETTER, INCONCLUSIVE = "liquid better", "RNN better", "inconclusive"
NOT_ASSESSABLE, NO_VERDICT, NOT_RUN = "not assessable", "no verdict", "not run"
QUESTIONS = {
    "accuracy": "accuracy at matched budget",
    "efficiency": "parameter efficiency (smallest budget within 1 point of the dataset's best)",
    "robustness": "robustness (loss under the shift, paired per item)",
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

    @property
    def in_family(self) -> bool:
        return self.p_holm is not None

    @property
    def unit(self) -> str:
        if self.question == "efficiency":
            return "budget steps"
        return "points" if self.metric == "accuracy" else "RMSE"

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


@dataclass
class CompetenceRow:
    dataset: str
    model: str
    family: str
    best: float | None
    best_budget: int | None
    best_arm: str | None
    published: float | None
    method: str
    source: str
    within: bool | None  # None: no published figure


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

    def claims_of(self, question: str) -> list[Claim]:
        return [c for c in self.claims if c.question == question]


# -- helpers ---------------------------------------------------------------------------------
def goodness(metric: str):
    """Mean per-item score -> 'higher is better' value: accuracy, or -RMSE."""
    return (lambda m: m) if metric == "accuracy" else (lambda m: -np.sqrt(m))


def scale(metric: str) -> float:
    return 100.0 if metric == "accuracy" else 1.0


def within_delta(metric: str, best):
    """How far below the best a value may be and still count as 'within 1 point'."""
    if metric == "accuracy":
        return WITHIN_POINTS / 100
    return np.abs(best) * WITHIN_POINTS / 100


def cell_value(cell: Cell) -> float:
    """The cell's metric from its per-item scores (mean over seeds)."""
    s = cell.test_series().scores
    return float(np.sqrt(s.mean())) if cell.metric == "rmse" else float(s.mean())


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
                    vals = [float(np.sqrt(np.mean(r.test_scores))) if c.metric == "rmse"
                            else float(np.mean(r.test_scores)) for r in c.runs]
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
        sign = 1 if HIGHER_IS_BETTER[metric] else -1
        best = max(sign * p.mean for c in plain for p in c.points)
        thr = best - float(within_delta(metric, best))
        for c in plain:
            c.reach = next((p.budget for p in c.points if sign * p.mean >= thr - 1e-12), None)
    return out


def competence_rows(data: StudyData) -> list[CompetenceRow]:
    out = []
    for ds in data.datasets:
        ref = comp.best_published(ds)
        for model in data.models(ds):
            cells = [c for c in data.cells.values() if c.dataset == ds and c.model == model]
            best = max(cells, key=lambda c: cell_value(c) * (1 if HIGHER_IS_BETTER[c.metric] else -1))
            value = cell_value(best)
            is_cls = best.metric == "accuracy"
            out.append(CompetenceRow(
                ds, model, best.family, value, best.budget, best.arm,
                ref.accuracy if ref else None, ref.method if ref else "",
                ref.source if ref else comp.no_figure_reason(ds),
                comp.competent(ds, value) if (ref and is_cls) else None))
    return out


def analyse(data: StudyData, *, alpha: float = ALPHA, min_seeds: int = MIN_SEEDS, quick: bool = False,
            n_boot: int | None = None) -> Analysis:
    """Every claim of the study with its bootstrap interval, Holm-adjusted p and verdict."""
    curves = curves_of(data)
    comp_rows = competence_rows(data)
    best_of = {(r.dataset, r.model): r.best for r in comp_rows}
    claims: list[Claim] = []
    plans: dict[str, tuple] = {}
    ref_budget = {}
    for ds in data.datasets:
        reg, smooth, discrete = _Registry(), {}, {}
        ref_budget[ds] = reference_budget(data, ds)
        claims += _enumerate(data, ds, ref_budget[ds], reg, smooth, discrete, best_of)
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
            results.update(pb.t_intervals(smooth, {k: (by_id[k].seeds, by_id[k].items) for k in smooth}))
        if discrete:
            names = {n for fn in discrete.values() for n in fn.series}
            pb = PairedBootstrap({n: reg.series[n] for n in names}, n_boot=boot, seed=seed + 1)
            results.update(pb.run(discrete))
        for cid, iv in results.items():
            c = by_id[cid]
            k = 1.0 if c.question == "efficiency" else scale(c.metric)
            c.estimate, c.lo, c.hi, c.p, c.n_boot = iv.estimate * k, iv.lo * k, iv.hi * k, iv.p, iv.n_boot
            c.p_bound, c.se, c.df, c.method = iv.p_bound, (iv.se * k if iv.se is not None else None), iv.df, iv.method
    if family:
        for c, p in zip(family, holm([c.p for c in family])):
            c.p_holm = float(p)
            if p <= alpha and c.estimate != 0:
                c.verdict = LIQUID_BETTER if c.estimate > 0 else RNN_BETTER
                c.why = f"Holm-adjusted p {'<=' if c.p_bound else '='} {p:.2g} <= {alpha:g}"
            else:
                c.verdict, c.why = INCONCLUSIVE, f"Holm-adjusted p = {p:.2g} > {alpha:g}"
    best = {}
    for ds in data.datasets:
        plain = [c for c in curves if c.dataset == ds and c.arm == "plain"]
        if plain:
            sign = 1 if HIGHER_IS_BETTER[plain[0].metric] else -1
            cv, pt = max(((c, p) for c in plain for p in c.points), key=lambda cp: sign * cp[1].mean)
            best[ds] = {"model": cv.model, "budget": pt.budget, "value": pt.mean, "metric": cv.metric}
    analysis = Analysis(claims, curves, comp_rows, ref_budget, best, len(family), alpha, boot,
                        min_seeds, quick, cannot, {}, smooth_boot=n_boot or SMOOTH_BOOT)
    analysis.cross = cross_dataset(data, analysis)
    return analysis


def _enumerate(data: StudyData, ds: str, ref: int, reg: _Registry, stats: dict, discrete: dict,
               best_of: dict) -> list[Claim]:
    """Claims of one dataset; registers their series and statistics (smooth -> ``stats``,
    the budget-reach statistic -> ``discrete``)."""
    metric = data.metric(ds)
    g = goodness(metric)
    out: list[Claim] = []

    def new(question, x, y, **kw) -> Claim:
        ok, why = comp.assessable(ds, best_of.get((ds, x)), best_of.get((ds, y)))
        cid = "|".join(str(v) for v in (question, ds, x, kw.get("liquid_arm", "plain"), y,
                                         kw.get("rnn_arm", "plain"), kw.get("budget"), kw.get("shift")))
        return Claim(cid, question, ds, x, y, metric, assessable=ok, gate=why, **kw)

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
                c = new("accuracy", x, y, budget=b, liquid_value=cell_value(cx), rnn_value=cell_value(cy),
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
                    c = new("efficiency", x, y, liquid_value=obs[x], rnn_value=obs[y], seeds=len(seeds),
                            items=next(s for s in reg.series.values()).n_items)
                    discrete[c.id] = _Discrete(lambda m, x=x, y=y: (reach(m)[y] - reach(m)[x]).astype(np.float64),
                                               [n for names in grid.values() for n in names if n])
                    out.append(c)
    # robustness per shift at the reference budget (plain arm), and the time-aug comparisons
    top = _top_accuracy(data, ds)
    for x in liquid:
        for y in rnn:
            cx, cy = data.cell(ds, x, ref), data.cell(ds, y, ref)
            if cx is None or cy is None:
                continue
            near = _near_top(cx, cy, top)
            lx, ly = cx.shift_levels(), cy.shift_levels()
            seeds = common_seeds(cx, cy)
            for shift in _ordered_shifts(set(lx) & set(ly)):
                levels = [lvl for lvl in lx[shift] if lvl in ly[shift]]
                if not levels or not seeds:
                    continue
                c = new("robustness", x, y, budget=ref, shift=shift, levels=levels,
                        liquid_value=_loss(cx, shift, levels), rnn_value=_loss(cy, shift, levels),
                        seeds=len(seeds), items=cx.shift_series(shift, levels[0]).n_items)
                if c.assessable and near:
                    c.assessable, c.gate = False, near
                dx = _drop_fn(reg, cx, seeds, shift, levels, g)
                dy = _drop_fn(reg, cy, seeds, shift, levels, g)
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
                    c = new("time-aug", x, y, liquid_arm=x_arm, rnn_arm="time-aug", budget=ref, shift=shift,
                            levels=levels, liquid_value=_under(cxa, shift, levels),
                            rnn_value=_under(cy_aug, shift, levels), seeds=len(seeds),
                            items=cxa.shift_series(shift, levels[0]).n_items)
                    ux = _under_fn(reg, cxa, seeds, shift, levels, g)
                    uy = _under_fn(reg, cy_aug, seeds, shift, levels, g)
                    stats[c.id] = lambda m, ux=ux, uy=uy: ux(m) - uy(m)
                    out.append(c)
    return out


def _top_accuracy(data: StudyData, ds: str) -> tuple[float, str] | None:
    """The accuracy a robust model should start near: the best published figure, else the best
    clean accuracy of the study on the dataset (plain arm). None for RMSE datasets."""
    if data.metric(ds) != "accuracy":
        return None
    pub = comp.best_published(ds)
    if pub is not None:
        return pub.accuracy, f"published {pub.method} {pub.accuracy:.3f}"
    cells = [c for c in data.cells.values() if c.dataset == ds and c.arm == "plain"]
    best = max(cells, key=cell_value)
    return cell_value(best), f"the study's best, {best.model} at {best.budget:,}: {cell_value(best):.3f}"


def _near_top(cx: Cell, cy: Cell, top) -> str:
    """'' when both models start within the gate of the top clean accuracy; else why not: a model
    far below the top has little to lose, so its smaller loss says nothing about robustness."""
    if top is None:
        return ""
    low = [f"{c.model} {cell_value(c):.3f}" for c in (cx, cy)
           if cell_value(c) < top[0] - comp.GATE_POINTS / 100 - 1e-12]
    if not low:
        return ""
    return (f"not assessable: losses are compared only between models within {comp.GATE_POINTS:g} points of "
            f"{top[1]} on clean data at this budget ({join_names(low)} below)")


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


def _under_fn(reg, cell, seeds, shift, levels, g):
    shifted = [reg.add(cell, seeds, shift, lvl) for lvl in levels]
    return lambda m: sum(g(m[s]) for s in shifted) / len(shifted)


def _metric_of(metric: str, scores) -> float:
    s = np.asarray(scores, dtype=np.float64)
    return float(np.sqrt(s.mean())) if metric == "rmse" else float(s.mean())


def _under(cell: Cell, shift: str, levels: list[str]) -> float:
    return statistics.fmean(_metric_of(cell.metric, cell.shift_series(shift, lvl).scores) for lvl in levels)


def _loss(cell: Cell, shift: str, levels: list[str]) -> float:
    """Clean minus shifted metric, oriented so a positive loss is worse (accuracy: points)."""
    clean = cell_value(cell)
    under = _under(cell, shift, levels)
    loss = clean - under if cell.metric == "accuracy" else under - clean
    return loss * scale(cell.metric)


def _observed_reach(data: StudyData, ds: str, model: str, budgets: list[int], metric: str) -> int | None:
    sign = 1 if HIGHER_IS_BETTER[metric] else -1
    vals = {(m, b): sign * cell_value(c) for m in data.models(ds) for b in budgets
            if (c := data.cell(ds, m, b)) is not None}
    best = max(vals.values())
    thr = best - float(within_delta(metric, best))
    return next((b for b in budgets if (model, b) in vals and vals[(model, b)] >= thr - 1e-12), None)


def _reach_fn(grid: dict[str, list[str | None]], n_budgets: int, metric: str):
    """Resampled means -> {model: index of the first budget within 1 point of the best}."""
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


# -- across datasets (outside the claim family) ----------------------------------------------
def cross_dataset(data: StudyData, analysis: Analysis) -> dict:
    """Exact Wilcoxon per pair over datasets; Friedman + Nemenyi over models and datasets."""
    gate = {(c.dataset, c.liquid, c.rnn): c.assessable for c in analysis.claims if c.question == "accuracy"}
    curves = {(c.dataset, c.model): c for c in analysis.curves if c.arm == "plain"}
    pairs = []
    liquid = [m for m in data.models() if data.families[m] == "liquid"]
    rnn = [m for m in data.models() if data.families[m] == "rnn"]
    for x in liquid:
        for y in rnn:
            units, used = [], []
            for ds in data.datasets:
                cx, cy = curves.get((ds, x)), curves.get((ds, y))
                if cx is None or cy is None or not gate.get((ds, x, y), False):
                    continue
                vx = {p.budget: p.mean for p in cx.points}
                vy = {p.budget: p.mean for p in cy.points}
                common = sorted(set(vx) & set(vy))
                if not common:
                    continue
                if cx.metric == "accuracy":
                    d = statistics.fmean((vx[b] - vy[b]) * 100 for b in common)
                else:  # relative: percent of the RNN's RMSE
                    d = statistics.fmean((vy[b] - vx[b]) / vy[b] * 100 for b in common)
                units.append(d)
                used.append(ds)
            w = wilcoxon_signed_rank(units)
            pairs.append({"liquid": x, "rnn": y, "datasets": used, "differences": units, **w.to_dict()})
    out: dict = {"wilcoxon": pairs, "friedman": None, "friedman_note": ""}
    models = data.models()
    blocks, table, hib = [], [], []
    for ds in data.datasets:
        row = []
        competent = [r for r in analysis.competence if r.dataset == ds]
        if competent and all(r.within is False for r in competent):
            continue  # no model competent: the dataset says nothing about the models
        for m in models:
            cv = curves.get((ds, m))
            row.append(cv)
        if any(cv is None for cv in row):
            continue
        common = set.intersection(*[{p.budget for p in cv.points} for cv in row])
        if not common:
            continue
        table.append([statistics.fmean(p.mean for p in cv.points if p.budget in common) for cv in row])
        hib.append(HIGHER_IS_BETTER[row[0].metric])
        blocks.append(ds)
    if len(models) >= 2 and len(blocks) >= 2:
        out["friedman"] = friedman(np.array(table), models, higher_is_better=hib, alpha=analysis.alpha,
                                   blocks=blocks).to_dict()
    else:
        out["friedman_note"] = (f"Friedman test needs >= 2 datasets where every model ran and one is "
                                f"competent; here {len(blocks)}.")
    return out
