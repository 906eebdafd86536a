"""The job graph of a study: tune -> final train -> export -> bench -> report.

Every job has a key users can read (``final italypowerdemand/gru-b1000-plain-s3``), a spec (what
the worker needs), the study-folder paths it writes, a fingerprint of everything its result
depends on, and an estimated cost (CPU seconds, for the ETA and for running long jobs first).
Final runs are only specified once their (dataset, model) tuning is done: the fingerprint of a
final run holds the *chosen* settings, so a change that does not change the choice redoes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import costs, search
from .budget import fit_budget
from .design import StudyDesign, fingerprint
from .validation import folds_for

ENGINE_VERSION = 2  # bump when a job's result changes for the same spec (fingerprints then change)


@dataclass
class Job:
    key: str
    kind: str                      # tune | final | export | bench
    spec: dict
    outputs: list[str]             # paths relative to the study folder
    fingerprint: str
    estimate: float                # CPU seconds
    group: tuple = ()              # (dataset, model, tuning budget) for tune and final jobs
    deps: list[str] = field(default_factory=list)


def trial_path(d: str, m: str, b: int, k: int, s: int = 0) -> str:
    return f"tuning/{d}/{m}-b{b}-t{k}-s{s}.json"


def record_path(d: str, m: str, b: int, arm: str, s: int, retry: str = "") -> str:
    return f"records/{d}/{m}-b{b}-{arm}-s{s}{'-' + retry if retry else ''}.json"


def checkpoint_path(d: str, m: str, b: int, arm: str, s: int, retry: str = "") -> str:
    return f"checkpoints/{d}/{m}-b{b}-{arm}-s{s}{'-' + retry if retry else ''}.pt"


def final_key(d: str, m: str, b: int, arm: str, s: int, retry: str = "") -> str:
    """A final run's job key (``retry``: the rerun after a capacity retry, edgelnn.study.stages)."""
    return f"final {d}/{m}-b{b}-{arm}-s{s}{' (' + retry + ' retry)' if retry else ''}"


def bundle_path(d: str, m: str, b: int) -> str:
    return f"bundles/{d}/{m}-b{b}"


def results_path(d: str, m: str, b: int) -> str:
    return f"results/{d}/{m}-b{b}.jsonl"


def _sizes(dataset: str) -> tuple[int, int]:
    from ..data import get_info

    info = get_info(dataset)
    return info.input_size, info.output_size


def _train_spec(design: StudyDesign, kind: str, d: str, m: str, b: int, arm: str, seed: int,
                trial: dict, k: int | None) -> dict:
    n_in, n_out = _sizes(d)
    fit = fit_budget(m, n_in, n_out, b, trial["search"])
    spec = {"type": kind, "dataset": d, "model": m, "budget": b, "arm": arm, "seed": seed,
            "units": fit.units, "options": dict(fit.options), "params_active": fit.params_active,
            "lr": trial["lr"], "search": dict(trial["search"]),
            "batch_size": int(trial.get("batch_size") or design.batch_size(d)),
            "max_epochs": design.max_epochs, "patience": design.patience, "val_folds": folds_for(d)}
    if trial.get("retry"):
        spec["retry"] = trial["retry"]
    if kind == "tune":
        spec["type"], spec["trial"], spec["extension"] = "trial", k, int(trial.get("extension", 0))
    else:
        from ..data import shift_suite

        spec["retries"] = design.retries
        spec["checkpoint"] = checkpoint_path(d, m, b, arm, seed, trial.get("retry", ""))
        spec["shifts"] = [[name, float(level)] for name, level in shift_suite(d)]
    return spec


def runnable(design: StudyDesign, estimate: float) -> bool:
    return design.max_run_seconds is None or estimate <= design.max_run_seconds


def cell_runs(design: StudyDesign, d: str, m: str, b: int) -> bool:
    """False for a cell the design defers (its estimated run cost is over ``max_run_seconds``)."""
    return design.max_run_seconds is None or runnable(design, final_estimate(design, d, m, b))


def tuning_budget(design: StudyDesign, d: str, m: str, b: int | None = None) -> int | None:
    """The budget whose tuning (d, m) at budget ``b`` uses: the design's tuning budget (or ``b``
    itself when every budget is tuned); where that cell is deferred, the largest runnable budget
    below it, else the smallest runnable one. None when no budget of (d, m) runs."""
    target = design.tuned_at(b if b is not None else design.budgets[0])
    ok = [x for x in sorted(design.budgets) if cell_runs(design, d, m, x)]
    if not ok:
        return None
    if target in ok:
        return target
    below = [x for x in ok if x < target]
    return below[-1] if below else ok[0]


def tuning_groups(design: StudyDesign) -> list[tuple]:
    """(dataset, model, budget) of every tuning group, in design order."""
    out = []
    for d in design.datasets:
        for m in design.models:
            budgets = design.budgets if design.tune_budget is None else design.budgets[:1]
            out += [(d, m, b) for b in sorted({tuning_budget(design, d, m, x) for x in budgets} - {None})]
    return out


def trial_jobs(design: StudyDesign, group: tuple, settings: list[dict]) -> list[Job]:
    """One job per (setting, tuning seed) of ``group``; a setting's ``trial`` index is its own
    or its place in ``settings``."""
    d, m, b = group
    jobs = []
    for i, trial in enumerate(settings):
        k = trial.get("trial", i)
        for s in design.tuning_seeds(d):
            spec = _train_spec(design, "tune", d, m, b, "plain", s, trial, k)
            jobs.append(Job(f"tune {d}/{m}-b{b}-t{k}-s{s}", "tune", spec, [trial_path(d, m, b, k, s)],
                            fingerprint("tune", ENGINE_VERSION, spec),
                            costs.train_estimate(d, m, b, spec["units"], spec["batch_size"], design.max_epochs),
                            (d, m, b)))
    return stacked_estimates(jobs)


def tuning_jobs(design: StudyDesign) -> list[Job]:
    """The base grid of every group (extensions follow from their results: ``extension_jobs``)."""
    jobs = []
    for d, m, b in tuning_groups(design):
        settings = search.trial_settings(m, design.trials, design.batch_size(d), design.batch_factors)
        jobs += trial_jobs(design, (d, m, b), settings)
    return jobs


def extension_jobs(design: StudyDesign, group: tuple, trials: list) -> list[Job]:
    """The jobs of the next extension round of ``group`` given its finished trial records (empty:
    its best rate is inside the rates tried, or the design's extension budget is spent)."""
    rows = search.landscape(trials)
    return trial_jobs(design, group, search.extension(rows, design.trials, design.max_extensions))


def choose(trials: list) -> dict:
    """The chosen settings of a group (edgelnn.study.search.choose: lowest mean validation loss
    over the tuning seeds among unflagged settings, ties to the earlier trial)."""
    return search.choose(trials)


def final_keys(design: StudyDesign) -> list[tuple]:
    """(dataset, model, budget, arm, seed) of every final run the design runs, in its order."""
    return [(d, m, b, arm, s) for d in design.datasets for m in design.models for arm in design.arms
            for b in design.arm_budgets(arm, d) if cell_runs(design, d, m, b) for s in range(design.seeds)]


def deferred_cells(design: StudyDesign) -> list[dict]:
    """The cells the design defers, with their estimated CPU seconds per run."""
    return [{"dataset": d, "model": m, "budget": b, "run_seconds": round(final_estimate(design, d, m, b))}
            for d in design.datasets for m in design.models for b in design.budgets
            if not cell_runs(design, d, m, b)]


def final_job(design: StudyDesign, d: str, m: str, b: int, arm: str, seed: int, chosen: dict,
              retry: str = "", group: tuple | None = None) -> Job:
    """A final run with ``chosen`` settings (``retry``: its rerun after a capacity retry; ``group``:
    its tuning group where it is not the design's, e.g. an added budget of the ladder)."""
    spec = _train_spec(design, "final", d, m, b, arm, seed, {**chosen, "retry": retry}, None)
    return Job(final_key(d, m, b, arm, seed, retry), "final", spec,
               [record_path(d, m, b, arm, seed, retry), checkpoint_path(d, m, b, arm, seed, retry)],
               fingerprint("final", ENGINE_VERSION, spec),
               costs.train_estimate(d, m, b, spec["units"], spec["batch_size"], design.max_epochs, final=True)
               + costs.score_estimate(d, m, spec["units"]),
               group or (d, m, tuning_budget(design, d, m, b)))


# what the members of one stacked job (edgelnn.train.stacked) may differ in; the rest of their specs is equal
STACK_MEMBER_KEYS = ("seed", "lr", "trial", "extension", "checkpoint")
MAX_STACK = 16


def stack_key(job: Job) -> tuple | None:
    """Jobs with the same key train as one stacked job (None: this job trains alone): tuning trials
    of one group at one batch size and kind option, the final seeds of one cell and arm. Kinds
    without a stacked form, sizes where stacking does not pay (costs.stacks_at) and the time-aug
    arm train alone."""
    import json

    spec = job.spec
    if job.kind not in ("tune", "final") or not costs.stacks_at(spec["model"], spec["budget"]) or spec["arm"] != "plain":
        return None
    return (job.kind, json.dumps({k: v for k, v in spec.items() if k not in STACK_MEMBER_KEYS}, sort_keys=True))


def stacks(jobs: list[Job]) -> list[list[Job]]:
    """``jobs`` partitioned into stacks (``stack_key``; at most MAX_STACK members each), in order."""
    out, where = [], {}
    for job in jobs:
        key = stack_key(job)
        if key is None:
            out.append([job])
            continue
        if key not in where or len(out[where[key]]) >= MAX_STACK:
            where[key] = len(out)
            out.append([])
        out[where[key]].append(job)
    return out


def stack_job(members: list[Job]) -> Job:
    """One job that trains ``members`` stacked (jobs.run_train_stack); its members keep their own
    keys, outputs and records."""
    first = members[0]
    return Job(f"{first.key} +{len(members) - 1} stacked", "stack", {"members": [j.key for j in members]},
               [o for j in members for o in j.outputs], fingerprint("stack", [j.fingerprint for j in members]),
               sum(j.estimate for j in members), first.group, [])


def stacked_estimates(jobs: list[Job]) -> list[Job]:
    """``jobs`` with each estimate scaled to its share of its stack's cost (costs.stack_share)."""
    for members in stacks(jobs):
        if len(members) > 1:
            share = costs.stack_share(members[0].spec["model"], len(members), members[0].spec["budget"])
            for j in members:
                j.estimate *= share
    return jobs


def final_units(design: StudyDesign, d: str, m: str, b: int) -> int:
    """Units of (d, m, b) with the search's middle options (the size before tuning has chosen)."""
    n_in, n_out = _sizes(d)
    return fit_budget(m, n_in, n_out, b, _middle_search(m)).units


def _middle_search(m: str) -> dict:
    return search.trial_settings(m, 1, 1)[0]["search"]


def final_estimate(design: StudyDesign, d: str, m: str, b: int) -> float:
    """Cost of a final run (training and scoring) before its settings are known."""
    units = final_units(design, d, m, b)
    return (costs.train_estimate(d, m, b, units, design.batch_size(d), design.max_epochs, final=True)
            + costs.score_estimate(d, m, units))


def export_job(design: StudyDesign, final: Job) -> Job:
    d, m, b = final.spec["dataset"], final.spec["model"], final.spec["budget"]
    spec = {"dataset": d, "model": m, "budget": b, "checkpoint": final.spec["checkpoint"],
            "bundle": bundle_path(d, m, b), "name": f"{d}-{m}-b{b}", "formats": list(design.formats),
            "graphs": list(design.graphs), "schemes": list(design.schemes)}
    return Job(f"export {d}/{m}-b{b}", "export", spec, [f"{spec['bundle']}/manifest.json"],
               fingerprint("export", ENGINE_VERSION, final.fingerprint, spec),
               costs.export_estimate(design.formats, design.graphs, design.schemes, m, final.spec["units"]),
               (d, m, b), [final.key])


def bench_job(design: StudyDesign, export: Job) -> Job:
    d, m, b = export.spec["dataset"], export.spec["model"], export.spec["budget"]
    spec = {"dataset": d, "model": m, "budget": b, "bundle": export.spec["bundle"],
            "results": results_path(d, m, b), "bench": dict(design.bench)}
    return Job(f"bench {d}/{m}-b{b}", "bench", spec, [spec["results"]],
               fingerprint("bench", ENGINE_VERSION, export.fingerprint, spec),
               costs.bench_estimate(design.formats, design.graphs, design.schemes), (d, m, b), [export.key])


def sizing(design: StudyDesign) -> list[dict]:
    """Every (dataset, model, budget)'s size with the search's middle options, for the report (the
    final runs' own sizes are in their records)."""
    rows = []
    for d in design.datasets:
        n_in, n_out = _sizes(d)
        for m in design.models:
            for b in design.budgets:
                f = fit_budget(m, n_in, n_out, b, _middle_search(m))
                rows.append({"dataset": d, "kind": m, "budget": b, "units": f.units,
                             "params_active": f.params_active, "params_total": f.params_total,
                             "within": f.within, "reason": f.reason})
    return rows
