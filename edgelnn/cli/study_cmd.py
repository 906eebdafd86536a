"""``edgelnn study``: the LNN-vs-RNN study (tune, train, export, bench, report) on Dask, resumable."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, quiet_native_stderr, require_extra
from ..errors import InputError
from .output import JsonOption, console, fail, print_json, progress_console


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _ints(value: str, option: str) -> list[int]:
    try:
        return [int(v) for v in _csv(value)]
    except ValueError:
        raise InputError(f"{option} takes comma-separated whole numbers, got {value!r}") from None


@app.command()
def study(
    quick: bool = typer.Option(False, "--quick", help="a first look in about 5 minutes: 2 datasets, 2 budgets, "
                               "2 seeds, 1 trial, short training, ONNX only; no verdicts"),
    datasets: Optional[str] = typer.Option(None, "--datasets", "-d", help="comma-separated datasets"),
    models: Optional[str] = typer.Option(None, "--models", help="comma-separated model kinds"),
    budgets: Optional[str] = typer.Option(None, "--budgets", help="active-parameter budgets, e.g. 250,1000,4000"),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="final runs per cell (seeds 0..N-1)"),
    arms: Optional[str] = typer.Option(None, "--arms", help="training arms: plain,time-aug"),
    aug_budgets: Optional[str] = typer.Option(None, "--aug-budgets", help="budgets the time-aug arm runs at "
                                              "('all' for every budget)"),
    aug_datasets: Optional[str] = typer.Option(None, "--aug-datasets", help="datasets the time-aug arm runs on "
                                               "('all' for every one)"),
    trials: Optional[int] = typer.Option(None, "--trials", help="learning rates tuning tries over 1e-4..1e-1 "
                                         "(the same for every model; 1: no search, the recipe's rate)"),
    tune_seeds: Optional[int] = typer.Option(None, "--tune-seeds", help="seeds per tuning setting"),
    extra_budgets: Optional[int] = typer.Option(None, "--extra-budgets", help="rungs (x4 each) the budget ladder may "
                                                "grow by on a dataset whose best model still improves at the top "
                                                "budget (0: never)"),
    capacity_retry: Optional[bool] = typer.Option(None, "--capacity-retry/--no-capacity-retry", help="re-tune a "
                                                  "cell whose validation score falls with capacity"),
    min_val_items: Optional[int] = typer.Option(None, "--min-val-items", help="a dataset whose validation fold "
                                                "holds fewer items is tuned over more folds, up to all 5 "
                                                "(0: never)"),
    batch_factors: Optional[str] = typer.Option(None, "--batch-factors", help="batch sizes tuning tries, as "
                                                "multiples of the dataset's, e.g. 0.5,1"),
    max_extensions: Optional[int] = typer.Option(None, "--max-extensions", help="times a group's grid may be "
                                                 "extended past an edge its best rate lies on (0: never)"),
    retries: Optional[int] = typer.Option(None, "--retries", help="retries of a final run flagged as a "
                                          "training failure, each at the rate / sqrt(10)"),
    tune_budget: Optional[str] = typer.Option(None, "--tune-budget", help="budget tuning runs at and is reused "
                                              "from, or 'each' to tune at every budget"),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="maximum training epochs"),
    batch_size: Optional[list[str]] = typer.Option(None, "--batch-size", help="mini-batch size, N for every "
                                                   "dataset or DATASET=N (repeatable)"),
    patience: Optional[int] = typer.Option(None, "--patience", help="epochs without a lower validation loss "
                                           "before stopping"),
    max_run_seconds: Optional[float] = typer.Option(None, "--max-run-seconds", help="defer cells whose runs are "
                                                    "estimated to cost more CPU seconds (0: run everything)"),
    export: Optional[bool] = typer.Option(None, "--export/--no-export", help="export and bench the chosen points"),
    export_datasets: Optional[str] = typer.Option(None, "--export-datasets", help="datasets whose chosen points "
                                                  "are exported ('all' for every one)"),
    formats: Optional[str] = typer.Option(None, "--formats", help="export formats, e.g. onnx,tflite"),
    graphs: Optional[str] = typer.Option(None, "--graphs", help="graphs to export: step,seq"),
    schemes: Optional[str] = typer.Option(None, "--schemes", help="quantization schemes, e.g. fp32,int8-dynamic"),
    full_bench: bool = typer.Option(False, "--full-bench", help="edgelnn bench's full settings (500 runs, 1 s, "
                                    "every test sequence) instead of the short ones"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="run on an existing Dask cluster, e.g. "
                                            "tcp://HOST:8786 (default: a local cluster, one worker per core)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="local cluster size (default: one per core; "
                                          "0: run in this process without Dask)"),
    plan_only: bool = typer.Option(False, "--plan", help="print the design and its estimated run time; run nothing"),
    fresh: bool = typer.Option(False, "--fresh", help="ignore study.json and redo every job"),
    out: Optional[Path] = typer.Option(None, "--out", help="study folder (default export/study, "
                                       "export/study-quick with --quick)"),
    as_json: bool = JsonOption,
):
    """Liquid networks vs RNNs at matched parameter budgets, equally tuned, over datasets, seeds and
    training arms; the chosen points exported and benchmarked; a report with verdicts. Resumable.
    No options: the default study (--plan shows its estimated time)."""
    from ..study import default_design, quick_design, run_study
    from ..study.costs import plan_time

    if scheduler and workers is not None:
        raise typer.BadParameter("--workers sizes the local cluster; with --scheduler the cluster is yours",
                                 param_hint="--workers")
    if scheduler is not None:          # a malformed or empty address: one line before anything else
        from ..study.executors import check_scheduler_address, probe_scheduler

        probe_scheduler(scheduler, *check_scheduler_address(scheduler))
    design = quick_design() if quick else default_design()
    changes = {
        "datasets": _csv(datasets) if datasets else None,
        "models": _csv(models) if models else None,
        "budgets": _ints(budgets, "--budgets") if budgets else None,
        "seeds": seeds, "trials": trials, "max_epochs": max_epochs, "patience": patience,
        "tune_seeds": tune_seeds, "max_extensions": max_extensions, "retries": retries,
        "min_val_items": min_val_items, "extra_budgets": extra_budgets, "capacity_retry": capacity_retry,
        "batch_factors": _floats(batch_factors, "--batch-factors") if batch_factors else None,
        "arms": _csv(arms) if arms else None,
        "export": export,
        "formats": _csv(formats) if formats else None,
        "graphs": _csv(graphs) if graphs else None,
        "schemes": _csv(schemes) if schemes else None,
    }
    if aug_budgets:
        changes["aug_budgets"] = () if aug_budgets.strip() == "all" else _ints(aug_budgets, "--aug-budgets")
    if aug_datasets:
        changes["aug_datasets"] = () if aug_datasets.strip() == "all" else _csv(aug_datasets)
    if export_datasets:
        changes["export_datasets"] = () if export_datasets.strip() == "all" else _csv(export_datasets)
    if batch_size:
        changes["batch_sizes"] = _batch_sizes(batch_size, design)
    design = design.replace(**{k: v for k, v in changes.items() if v is not None})
    if tune_budget:  # None is a value here: tune at every budget / defer nothing
        design = design.replace(tune_budget=None if tune_budget.strip() == "each"
                                else _ints(tune_budget, "--tune-budget")[0])
    if max_run_seconds is not None:
        design = design.replace(max_run_seconds=None if max_run_seconds <= 0 else max_run_seconds)
    if full_bench:
        design = design.replace(bench={})
    folder = out or Path("export/study-quick" if quick else "export/study")
    if plan_only:
        est = plan_time(design, workers=workers or _cores())
        if as_json:
            print_json(_plan_json(design, est))
        else:
            _print_plan(design, est)
        return
    design.check_names()
    out_console = progress_console(as_json)   # stdout carries the JSON: progress goes to stderr
    out_console.print(f"study{' (quick look)' if design.quick else ''}: {', '.join(design.models)} on "
                  f"{', '.join(design.datasets)}; budgets {', '.join(f'{b:,}' for b in design.budgets)}; "
                  f"{design.seeds} seed(s); arms {', '.join(design.arms)}; {design.trials} tuning rate(s) "
                  f"-> {folder}", highlight=False, soft_wrap=True)
    require_extra("train")
    if workers != 0:
        require_extra("study", "distributed")
    with _StudyProgress(out_console) as bars, quiet_native_stderr():  # Ctrl-C / SIGTERM: exit 130
        result = run_study(design, folder, scheduler=scheduler, workers=workers, fresh=fresh, progress=bars)
    from .report_cmd import print_study_report, study_report_json

    if as_json:
        print_json({"folder": str(folder), "design": design.to_dict(), "executor": result.executor,
                    "seconds": round(result.seconds, 1), "ran": result.ran, "resumed": result.resumed,
                    "failed": [{"job": j, "error": e} for j, e in result.failed],
                    "report": study_report_json(result.report)})
    else:
        print_study_report(result.report)
    out_console.print(f"study finished in {_minutes(result.seconds)} on {result.executor} ({result.ran} job(s) run, "
                  f"{result.resumed} resumed)", highlight=False, soft_wrap=True)
    if result.failed:
        fail(f"{len(result.failed)} job(s) failed (first: {result.failed[0][0]}: {result.failed[0][1]}); "
             f"see {folder / 'study.json'} -- run the same command again to retry them")


def _batch_sizes(values: list[str], design) -> dict:
    sizes = dict(design.batch_sizes)
    for v in values:
        name, _, n = v.rpartition("=")
        try:
            size = int(n)
        except ValueError:
            raise InputError(f"--batch-size takes N or DATASET=N, got {v!r}") from None
        if size < 1:
            raise InputError(f"--batch-size must be >= 1, got {v!r}")
        if name:
            sizes[name.strip()] = size
        else:
            sizes = {d: size for d in {*sizes, *design.datasets}}
    return sizes


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in _csv(text))
    except ValueError:
        raise InputError(f"{option} takes comma-separated numbers, got {text!r}") from None


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _print_plan(design, est) -> None:
    """The design and the arithmetic of its run time, cell by cell (docs/study-design.md)."""
    from ..study import plan
    from .output import Col, show
    from .output import table as make_table

    console.print(f"design: {design.to_dict()}", highlight=False, soft_wrap=True)
    table = make_table("cells", [Col("dataset", ident=True), Col("model", ident=True), "budget", "units",
                                 "CPU s / run", "runs", "CPU min"])
    for (d, m, b), cell in est.by_cell.items():
        table.add_row(d, m, f"{b:,}", str(plan.final_units(design, d, m, b)), f"{cell['run_seconds']:.0f}",
                      str(cell["runs"]), f"{cell['runs'] * cell['run_seconds'] / 60:.1f}")
    for c in plan.deferred_cells(design):
        table.add_row(c["dataset"], c["model"], f"{c['budget']:,}", str(plan.final_units(design, c["dataset"],
                      c["model"], c["budget"])), f"{c['run_seconds']:.0f}", "deferred", "–")
    show(table)
    console.print(f"estimated CPU minutes: tuning {est.tune / 60:.1f}, final runs {est.final / 60:.1f}, "
                  f"export {est.export / 60:.1f}, bench {est.bench / 60:.1f} (serial); longest job "
                  f"{est.longest_job / 60:.1f} min", highlight=False)
    console.print(f"estimated wall time on {est.workers} worker(s): {est.wall / 60:.0f} min "
                  f"(= (tuning + final + export) / {est.workers} + longest job x {1 - 1 / est.workers:g} "
                  f"+ bench + start and report)", highlight=False)
    from ..study.engine import ncp_minimum

    ncp = ncp_minimum(design)
    if ncp:
        console.print(ncp.replace("**", ""), highlight=False)
    if est.extension_max:
        console.print(f"grid extensions (only where a best rate lies on the grid's edge) add up to "
                      f"{est.extension_max / 60:.1f} CPU min ({est.extension_max / est.workers / 60:.0f} min wall) "
                      "if every group extended the most times", highlight=False)
    if design.extra_budgets:
        console.print(f"budget ladder (x4 where a dataset's best model still improves at the top budget; "
                      f"edgelnn.study.stages) adds up to {est.ladder_max / 60:.1f} CPU min "
                      f"({est.ladder_max / est.workers / 60:.0f} min wall) if every dataset extended"
                      + (f"; {est.ladder_deferred} added cell(s) would be over the run-cost cap and deferred"
                         if est.ladder_deferred else ""), highlight=False)
    if est.retry_max:
        console.print(f"capacity retries (a cell whose validation score falls with capacity is re-tuned once) add "
                      f"up to {est.retry_max / 60:.1f} CPU min ({est.retry_max / est.workers / 60:.0f} min wall) "
                      "if every cell above the smallest budget were retried", highlight=False)


def _plan_json(design, est) -> dict:
    from ..study import plan

    cells = [{"dataset": d, "model": m, "budget": b, "units": plan.final_units(design, d, m, b),
              "cpu_seconds_per_run": round(cell["run_seconds"], 1), "runs": cell["runs"]}
             for (d, m, b), cell in est.by_cell.items()]
    deferred = [{"dataset": c["dataset"], "model": c["model"], "budget": c["budget"],
                 "cpu_seconds_per_run": round(c["run_seconds"], 1)} for c in plan.deferred_cells(design)]
    return {"design": design.to_dict(), "cells": cells, "deferred": deferred, "workers": est.workers,
            "cpu_minutes": {"tuning": round(est.tune / 60, 1), "final": round(est.final / 60, 1),
                            "export": round(est.export / 60, 1), "bench": round(est.bench / 60, 1)},
            "estimated_wall_minutes": round(est.wall / 60, 1),
            "extension_max_cpu_minutes": round(est.extension_max / 60, 1),
            "ladder_max_cpu_minutes": round(est.ladder_max / 60, 1), "ladder_deferred_cells": est.ladder_deferred,
            "retry_max_cpu_minutes": round(est.retry_max / 60, 1)}


class _StudyProgress:
    """One rich progress bar: jobs done of all, running / queued / waiting, and the ETA."""

    def __init__(self, target=None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bars = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=target or console)
        self.task = self.bars.add_task("study", total=None, status="starting")

    def __enter__(self):
        self.bars.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bars.__exit__(*exc)

    def log(self, line: str) -> None:
        self.bars.console.print(line, highlight=False, soft_wrap=True)

    def update(self, s) -> None:
        eta = "ETA –" if s.eta_seconds is None else f"ETA {_minutes(s.eta_seconds)}"
        status = f"running {s.running} · queued {s.queued} · waiting {s.waiting}" + (
            f" · failed {s.failed}" if s.failed else "") + f" · {eta}"
        self.bars.update(self.task, description=s.phase, total=s.total, completed=s.done, status=status)
