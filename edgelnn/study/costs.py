"""What a study's jobs cost, measured on this project's 2-core machine (AMD EPYC, KVM; CPU seconds
from ``time.process_time`` while other jobs shared the machine, so upper bounds), for the ETA,
for running long jobs first, and for the design arithmetic (``plan_time``; docs/study-design.md).

Training: one epoch costs ``a * batches * T + b * n_train * T * units**p`` (per-batch-step
overhead + per-sample arithmetic; ``p = 2`` for LTC: units x units synapses fully connected, and
a fit no worse than p = 1 or 1.5 for the NCP wiring's present synapses) plus the validation pass, fitted to 144 measured
(dataset, kind, budget, batch) points -- median error 8-15 % (the LTC kinds: see TRAIN_MODEL). A run is assumed to take
``EXPECTED_EPOCHS`` epochs (early stopping; measured 58-150). The engine rescales its ETA by what
the finished jobs really cost.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# kind -> (a: s per batch-step, b: s per sample-step per unit**p, p, val a, val b)
TRAIN_MODEL: dict[str, tuple[float, float, int, float, float]] = {
    # the fast LTC (edgelnn.models.ltc_fast: one autograd node per sequence, present synapses only,
    # its unfolds in the C kernel ltc_kernel.c): benchmarks/ltc_cost_fit.py on train_speed.md of
    # 2026-12-07 (under load ~3): step time x0.4-2.1 GRU's fully connected, x0.4-2.3 NCP at 250-4,000
    # active on irregular-sine b32 and japanesevowels b16, times GRU's fitted step cost, least squares
    # in relative error (median error 25 % fc, 16 % NCP; max 31 / 24 %); val a, b the same way from
    # the no-grad forward at batch 256 (x2.6-21 GRU's at 1k / 4k; median 12 / 20 %). KIND_CORRECTION's
    # LTC terms below were fitted to jobs of the torch form, before the kernel.
    # Before the kernel: (1.47e-3, 7.84e-8) / (1.66e-3, 6.0e-9); ncps's dense cell (4.03e-3, 8.94e-8).
    "ltc": (2.41e-4, 3.92e-8, 2, 6.7e-5, 1.68e-8),
    "ltc-ncp": (2.65e-4, 4.8e-9, 2, 5.2e-6, 2.72e-9),
    "cfc-ncp": (2.11e-3, 1.29e-7, 1, 8.7e-4, 2.1e-8),
    "cfc": (9.07e-4, 1.69e-7, 1, 3.3e-4, 1.06e-7),
    "lstm": (5.66e-4, 1.06e-7, 1, 1.8e-4, 4.5e-8),
    "gru": (5.67e-4, 5.83e-8, 1, 1.7e-4, 2.0e-8),
    "gru-d": (7.07e-4, 6.11e-8, 1, 2.1e-4, 3.5e-8),
}
DEFAULT_MODEL = TRAIN_MODEL["cfc-ncp"]
# Epochs a run takes with the training recipe (mini-batches of >= ~10 steps, patience 20): its best
# epoch plus the patience. Measured over the tuning runs of the whole default study of 2026-12-07
# (benchmarks/study_costs.py; LTC from its C-unfold jobs only): 79-101 per dataset, 92 over all (the
# study's first 1,374 runs gave 94-110; it was assumed 70 before).
EXPECTED_EPOCHS = 92
EXPECTED_EPOCHS_BY_DATASET = {"basicmotions": 93, "co2": 94, "digits-events": 90, "double-pendulum": 101,
                              "irregular-sine": 98, "italypowerdemand": 90, "japanesevowels": 79}
# Final runs train with the chosen (best) settings and stop sooner: 40-96 epochs per dataset, 66 over
# all, in the same study (LTC's from its C-unfold runs; tuning's grid includes slow rates).
FINAL_EPOCHS = 66
FINAL_EPOCHS_BY_DATASET = {"basicmotions": 70, "co2": 84, "digits-events": 57, "double-pendulum": 78,
                           "irregular-sine": 96, "italypowerdemand": 59, "japanesevowels": 40}
# Export (onnx + tflite, step graph, 3 schemes) of one bundle: 27 CPU s for a 16-unit GRU, 258 for
# a 39-unit LTC (its 6 unrolled ODE unfolds make a large graph: cost ~ units / 4 x a GRU's). Bench
# with short settings and clean-test accuracy only: 5.2 CPU s for a GRU's 6 artifacts.
# The default study of 2026-11-29 (export/study's study.json): its 17 exports (onnx + tflite + c,
# 7 artifacts each) took 3.8 CPU min in all, a quarter of what the figures above gave; 5-8 CPU s
# for an RNN or CfC bundle, 29 and 75 for LTC at 250 and 1,000.
EXPORT_SECONDS = {"onnx": 0.5, "tflite": 2.0, "c": 0.5}   # per artifact (format x graph x scheme)
EXPORT_FACTOR = {"ltc": lambda units: max(1.0, units / 4.0), "ltc-ncp": lambda units: max(1.0, units / 4.0),
                 "cfc-ncp": lambda units: 1.5}
# per artifact and runtime: the quick look of 2026-12-07 (75c71a6, nearly quiet) benched 28 artifacts
# in 7.5 CPU s (0.27 each; the default design scores 300 eval sequences, the quick look 100: 0.4)
BENCH_SECONDS = 0.4
# Scoring a final model on the test split and its shift suite (PyTorch, batches of 256): per
# batch-step overhead by kind (<= 2 CPU s a model on italypowerdemand's 1,029 test items x 10.5
# lengths of the suite); LTC: its validation terms above (the same batch-256 no-grad forward).
SCORE_BATCH_STEP = {"cfc-ncp": 0.9e-3, "cfc": 0.35e-3}
SUITE_LENGTHS = 10.5                             # clean + noise x4 + drop x3 + rate 0.5 + rate 2 (x L)
HORIZON_LENGTHS = 6.0                            # horizon 2 and 4, where the dataset has one
JOB_OVERHEAD = 1.0                               # data loading, checkpoint, record (CPU s per job)


@dataclass(frozen=True)
class DataShape:
    n_train: int   # after the validation carve
    n_val: int
    length: int    # padded sequence length


def data_shape(dataset: str) -> DataShape:
    from ..data import get_info

    info = get_info(dataset)
    n_val = int(round(info.val_fraction * info.n_train))
    return DataShape(info.n_train - n_val, n_val, info.max_length)


def epoch_seconds(dataset: str, kind: str, units: int, batch: int) -> float:
    a, b, p, va, vb = TRAIN_MODEL.get(kind, DEFAULT_MODEL)
    s = data_shape(dataset)
    train = a * math.ceil(s.n_train / batch) * s.length + b * s.n_train * s.length * units ** p
    val = va * s.length * math.ceil(s.n_val / 256) + vb * s.n_val * s.length * units ** p
    return train + val


# The fitted terms above, checked against a whole study: the quick look of 2026-12-07 (61 tuning and
# final jobs, 13 (dataset, model) pairs, every run exactly 15 epochs) took 0.42-0.60 of its estimated
# CPU seconds per pair (median 0.53, the same for every kind; under load 12 on 2 cores, which inflates
# CPU time if anything). Training and scoring estimates are scaled by it.
CALIBRATION = 0.53


# What a whole default study measured against those terms (benchmarks/study_costs.py on the finished
# 2026-12-07 study: log CPU seconds ~ kind + slope x ln(budget / 1000) + dataset, at their real epochs
# and stack sizes, each kind's factor then scaled so its jobs' sum matches): small runs cost far less
# than the per-epoch benchmarks and stack shares say, and a dataset's cost is not only its length x
# size (co2 2.0x, basicmotions 0.32x). Fitted on its 2,715 tuning jobs; LTC's only on the 61 that ran
# the C unfolds (after 14:35 UTC, all at 16,000 on digits-events and double-pendulum: its slope is the
# common one), `--since ltc=2026-12-07T14:35 --since ltc-ncp=...`. The first fit (jobs before 08:18)
# put the whole study's tuning at 1.02 and its final runs at 0.88 of the corrected plan. A kind or
# dataset not fitted gets 1.
KIND_CORRECTION: dict[str, tuple[float, float]] = {   # kind -> (factor at 1,000 active parameters, slope in ln budget)
    "cfc": (0.5777, -0.018), "cfc-ncp": (0.916, -0.049), "gru": (0.4781, 0.104), "gru-d": (0.6368, 0.168),
    "lstm": (0.6132, -0.059), "ltc": (0.7169, 0.029), "ltc-ncp": (0.6948, 0.029)}
DATASET_CORRECTION = {"basicmotions": 0.54, "co2": 1.368, "digits-events": 1.185, "double-pendulum": 1.335,
                      "irregular-sine": 1.015, "italypowerdemand": 0.989, "japanesevowels": 0.853}


def correction(dataset: str, kind: str, budget: int) -> float:
    """The measured correction of ``epoch_seconds`` x CALIBRATION for a run of ``kind`` at ``budget``."""
    factor, slope = KIND_CORRECTION.get(kind, (1.0, 0.0))
    return factor * math.exp(slope * math.log(max(budget, 1) / 1000)) * DATASET_CORRECTION.get(dataset, 1.0)


# Stacked training (edgelnn.train.stacked): K runs of one kind, size and batch size trained as one
# computation cost K single runs / ``stack_speedup(kind, K, budget)``. Measured speed-ups (wall time per
# epoch of K stacked members vs K single runs; benchmarks/stacked_train.py --epochs 3, 2026-12-07, under
# load 7-13 on 2 cores), per kind and budget class (<= 1,000 active parameters, and above), at K = 1, 8
# and 16: the smallest of japanesevowels and irregular-sine (irregular-sine is the slower everywhere);
# between the points linear in K. A job of one member trains alone (the single-run trainer: speed-up 1).
# Checked on a small study (japanesevowels, gru / cfc-ncp / ltc at 1,000, 10 epochs, in-process): the
# stacked jobs took 0.26-0.79 of their estimates, so these are on the safe side.
STACK_SPEEDUP: dict[str, dict[int, dict[int, float]]] = {     # kind -> up to budget -> K -> speed-up
    "gru": {1000: {1: 1.3, 8: 5.6, 16: 4.3}, 10 ** 9: {1: 1.3, 8: 3.3, 16: 3.3}},
    "gru-d": {1000: {1: 1.7, 8: 5.9, 16: 9.7}, 10 ** 9: {1: 1.7, 8: 5.4, 16: 5.8}},
    "lstm": {1000: {1: 1.4, 8: 6.7, 16: 12.5}, 10 ** 9: {1: 1.2, 8: 2.9, 16: 2.9}},
    "cfc": {1000: {1: 1.6, 8: 8.4, 16: 10.8}, 10 ** 9: {1: 1.6, 8: 5.5, 16: 5.9}},
    "cfc-ncp": {1000: {1: 2.4, 8: 13.5, 16: 21.8}, 10 ** 9: {1: 2.1, 8: 6.8, 16: 8.0}},
    # LTC does not stack: with its unfolds in C (ltc_kernel), K stacked members cost what K single runs
    # do (stacked_train.py --kinds ltc ltc-ncp --ks 1 8 16, 2026-12-07: 0.8-1.1x on irregular-sine at
    # 1,000 and 4,000, 0.9-1.9x on japanesevowels); it stacked up to 1,000 before (1.6-2.1x at K = 8)
}


def _stack_points(kind: str, budget: int) -> dict[int, float] | None:
    for limit, points in sorted(STACK_SPEEDUP.get(kind, {}).items()):
        if budget <= limit:
            return points
    return None


def stacks_at(kind: str, budget: int) -> bool:
    """Whether runs of ``kind`` at ``budget`` train stacked in a study (the kind has a measured
    stacked form, and stacking still pays at that size)."""
    return _stack_points(kind, budget) is not None


def stack_speedup(kind: str, members: int, budget: int = 1000) -> float:
    """Speed-up of ``members`` runs of ``kind`` at ``budget`` trained stacked over training them one by one."""
    points = _stack_points(kind, budget)
    if not points or members <= 1:
        return 1.0
    xs = sorted(points)
    ys = [points[k] for k in xs]
    if members >= xs[-1]:
        return ys[-1]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if members <= x1:
            return y0 + (y1 - y0) * (members - x0) / (x1 - x0)
    return ys[-1]


def stack_share(kind: str, members: int, budget: int = 1000) -> float:
    """Each member's cost in a stack of ``members``, as a fraction of a single run's."""
    return 1.0 / stack_speedup(kind, members, budget)


def train_estimate(dataset: str, kind: str, budget: int, units: int, batch: int, max_epochs: int,
                   epochs: int | None = None, final: bool = False) -> float:
    """Estimated CPU seconds of one training run (a tuning trial, or a final run: ``final``)."""
    expected = (FINAL_EPOCHS_BY_DATASET.get(dataset, FINAL_EPOCHS) if final
                else EXPECTED_EPOCHS_BY_DATASET.get(dataset, EXPECTED_EPOCHS))
    e = min(max_epochs, epochs or expected)
    return JOB_OVERHEAD + CALIBRATION * correction(dataset, kind, budget) * e * epoch_seconds(dataset, kind, units, batch)


def score_estimate(dataset: str, kind: str, units: int) -> float:
    """Estimated CPU seconds of scoring a final model on the test split and the shift suite."""
    from ..data import get_info, horizon_supported

    n, length = get_info(dataset).n_test, data_shape(dataset).length
    steps = length * (SUITE_LENGTHS + (HORIZON_LENGTHS if horizon_supported(dataset) else 0.0))
    if kind in ("ltc", "ltc-ncp"):
        _, _, p, va, vb = TRAIN_MODEL[kind]
        return CALIBRATION * (va * steps * math.ceil(n / 256) + vb * n * steps * units ** p)
    return CALIBRATION * SCORE_BATCH_STEP.get(kind, 0.3e-3) * steps * math.ceil(n / 256)


def _artifacts(formats, graphs, schemes) -> dict[str, int]:
    n_fp32 = 1
    per_graph = n_fp32 + len([s for s in schemes if s != "fp32"])
    return {f: len(graphs) * per_graph for f in formats}


def export_estimate(formats, graphs, schemes, kind: str = "", units: int = 0) -> float:
    factor = EXPORT_FACTOR.get(kind, lambda u: 1.0)(units)
    return factor * sum(EXPORT_SECONDS.get(f, 5.0) * n for f, n in _artifacts(formats, graphs, schemes).items())


def bench_estimate(formats, graphs, schemes) -> float:
    return BENCH_SECONDS * sum(_artifacts(formats, graphs, schemes).values())


# -- the design arithmetic ------------------------------------------------------------------------
@dataclass
class TimePlan:
    """Estimated cost of a design: CPU seconds per part, and wall seconds on ``workers`` workers."""

    workers: int
    tune: float
    final: float
    export: float
    bench: float
    longest_job: float
    deferred: list[dict]
    by_cell: dict
    # CPU seconds the grid extensions would add if every group extended the full number of times
    # (not in ``wall``: how many extend is known only from the results)
    extension_max: float = 0.0
    # CPU seconds the later stages (edgelnn.study.stages) would add at most: the budget ladder grown on
    # every dataset (its tuning and final runs; cells over the run-cost cap left out and counted), and
    # a capacity retry of every cell above a dataset's smallest budget -- not in ``wall`` either
    ladder_max: float = 0.0
    ladder_deferred: int = 0
    retry_max: float = 0.0

    @property
    def parallel(self) -> float:
        return self.tune + self.final + self.export

    @property
    def wall(self) -> float:
        # list scheduling, longest first: makespan <= sum / workers + the longest job
        return (self.parallel / self.workers + self.longest_job * (1 - 1 / self.workers)
                + self.bench + STARTUP_SECONDS + REPORT_SECONDS)


# start (cluster, data checks) and report: ~10 s together in that quick look; the default design's
# report has ~10x the cells and figures
STARTUP_SECONDS = 10.0
REPORT_SECONDS = 15.0


def plan_time(design, workers: int = 2) -> TimePlan:
    """The design's estimated cost, cell by cell (``design.max_run_seconds`` defers cells)."""
    from . import plan, search

    tune = final = export = bench = longest = 0.0
    by_cell: dict = {}
    deferred = []
    tune_by_group: dict = {}
    base_grid = plan.tuning_jobs(design)   # estimates already scaled to their stacks' shares
    for job in base_grid:
        tune_by_group[job.group] = tune_by_group.get(job.group, 0.0) + job.estimate
    for members in plan.stacks(base_grid):
        longest = max(longest, sum(j.estimate for j in members))
    tune = sum(tune_by_group.values())
    extension_max = 0.0
    for d in design.datasets:
        for m in design.models:
            for b in design.budgets:
                est = plan.final_estimate(design, d, m, b)
                if not plan.runnable(design, est):
                    deferred.append({"dataset": d, "model": m, "budget": b, "run_seconds": round(est)})
                    continue
                n_final = sum(design.seeds for arm in design.arms if b in design.arm_budgets(arm, d))
                group = tune_by_group.get((d, m, b))
                n_tune = (len(search.trial_settings(m, design.trials, design.batch_size(d), design.batch_factors))
                          * len(design.tuning_seeds(d))) if group is not None else 0
                per_round = len(design.batch_factors) * len(design.tuning_seeds(d)) if design.trials > 1 else 0
                by_cell[(d, m, b)] = {"runs": n_final + n_tune, "run_seconds": round(est, 1)}
                if group is not None and n_tune:
                    extension_max += design.max_extensions * per_round * group / n_tune
                # the plain arm's seeds train stacked (one job); training of the other arms one run each
                n_plain = design.seeds if "plain" in design.arms and b in design.arm_budgets("plain", d) else 0
                score = score_estimate(d, m, plan.final_units(design, d, m, b))
                train_part = est - score
                share = stack_share(m, n_plain, b) if stacks_at(m, b) else 1.0
                stacked_cost = n_plain * (train_part * share + score)
                final += stacked_cost + (n_final - n_plain) * est
                longest = max(longest, est, stacked_cost)
                if design.export and d in (design.export_datasets or design.datasets):
                    export += export_estimate(design.formats, design.graphs, design.schemes, m,
                                              plan.final_units(design, d, m, b))
                    bench += bench_estimate(design.formats, design.graphs, design.schemes)
    ladder_max, ladder_deferred, retry_max = _stages_max(design, base_grid)
    return TimePlan(workers, tune, final, export, bench, longest, deferred, by_cell, extension_max,
                    ladder_max, ladder_deferred, retry_max)


def ladder_units(design, d: str, m: str, budget: int) -> int:
    """Units of (d, m) at a budget above the design's, for the plan only: the active-parameter count
    is a quadratic in the units (dense terms ~units**2), fitted through the sizes of the design's
    three largest budgets (two: through the origin as well) and solved for ``budget`` -- sizing every
    added rung would build hundreds of models, minutes of a plan."""
    import numpy as np

    from . import plan
    from .budget import fit_budget

    n_in, n_out = plan._sizes(d)
    fits = [fit_budget(m, n_in, n_out, b, plan._middle_search(m)) for b in sorted(design.budgets)[-3:]]
    u = [float(f.units) for f in fits] + ([0.0] if len(fits) < 3 else [])
    p = [float(f.params_active) for f in fits] + ([0.0] if len(fits) < 3 else [])
    top = fits[-1]
    if len(set(u)) >= 3:
        a, b, c = np.polyfit(u, p, 2)
        if a > 0 and b * b - 4 * a * (c - budget) >= 0:
            return max(top.units, int(round((-b + math.sqrt(b * b - 4 * a * (c - budget))) / (2 * a))))
    return max(top.units, int(round(top.units * math.sqrt(budget / max(1, top.params_active)))))


def _stages_max(design, base_grid: list) -> tuple[float, int, float]:
    """(ladder CPU s, ladder cells over the cap, capacity-retry CPU s) at most (TimePlan). A rung costs
    what the top budget's jobs cost (its tuning group's runs in the plan's stacks, stacked where the
    rung's size still stacks; the plain arm's final seeds likewise) with each run scaled to the
    rung's size; a retry, one more rate at every batch size and tuning seed, plus the cell's final
    runs again."""
    from . import plan, search
    from .stages import LADDER_FACTOR

    ladder = retry = 0.0
    over = 0
    top = max(design.budgets)
    for d in design.datasets:
        seeds = len(design.tuning_seeds(d))
        sizes = len(search.batch_sizes(design.batch_size(d), design.batch_factors))
        for m in design.models:
            units_top = plan.final_units(design, d, m, top)
            train_top = train_estimate(d, m, top, units_top, design.batch_size(d), design.max_epochs)
            for k in range(1, design.extra_budgets + 1):
                b = top * LADDER_FACTOR ** k
                units = ladder_units(design, d, m, b)
                train = train_estimate(d, m, b, units, design.batch_size(d), design.max_epochs)
                train_final = train_estimate(d, m, b, units, design.batch_size(d), design.max_epochs, final=True)
                score = score_estimate(d, m, units)
                if not plan.runnable(design, train_final + score):
                    over += 1
                    continue
                if design.tune_budget is None:   # a shared tuning budget: the rung reuses its choice
                    jobs = [j for j in base_grid if j.group == (d, m, top)]
                    for members in plan.stacks(jobs):
                        runs = sum(train_estimate(d, m, top, j.spec["units"], j.spec["batch_size"], design.max_epochs)
                                   for j in members) * train / train_top
                        ladder += runs * (stack_share(m, len(members), b) if stacks_at(m, b) else 1.0)
                ladder += (design.seeds * (train_final * (stack_share(m, design.seeds, b) if stacks_at(m, b) else 1.0)
                                             + score))
            if design.capacity_retry and design.trials > 1 and design.tune_budget is None:
                for b in sorted(design.budgets)[1:]:
                    est = plan.final_estimate(design, d, m, b)
                    if plan.runnable(design, est):
                        n_final = sum(design.seeds for arm in design.arms if b in design.arm_budgets(arm, d))
                        share = stack_share(m, seeds, b) if stacks_at(m, b) else 1.0
                        trial = train_estimate(d, m, b, plan.final_units(design, d, m, b), design.batch_size(d),
                                               design.max_epochs)
                        retry += sizes * seeds * trial * share + n_final * est
    return ladder, over, retry
