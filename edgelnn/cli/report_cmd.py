"""``edgelnn report`` (results -> report) and ``edgelnn study`` (train, export, bench, report)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, quiet_native_stderr
from .output import JsonOption, console, print_json
from .paths import check_output_folder


def _is_report_folder(path: Path) -> bool:
    return (path / "report.md").is_file() or (path / "report.html").is_file()


def _report_json(files) -> dict:
    def row(r):
        return None if r is None else {"bundle": r.bundle, "artifact": r.artifact, "format": r.format,
                                       "graph": r.graph, "scheme": r.scheme, "runtime": r.runtime,
                                       "target": r.target}
    return {"out": str(files.out), "markdown": str(files.markdown), "html": str(files.html),
            "csv": str(files.csv), "plots": [str(p) for p in files.plots], "rows": len(files.rows),
            "recommendations": [{"target": rec.target, "model": rec.model or None, "pick": row(rec.row),
                                 "reason": rec.reason} for rec in files.recommendations]}


def _print_report(files) -> None:
    for rec in files.recommendations:
        if rec.model:
            continue
        pick = f"{rec.row.bundle}/{rec.row.artifact}" if rec.row else "none"
        console.print(f"[bold]recommended for {rec.target}:[/] {pick} — {rec.reason}", highlight=False)
    console.print(f"report: {files.html}", highlight=False, soft_wrap=True)
    console.print(f"        {files.markdown}", highlight=False, soft_wrap=True)
    console.print(f"        {files.csv}", highlight=False, soft_wrap=True)


@app.command()
def report(
    results: list[Path] = typer.Argument(..., help="results JSONL files written by `edgelnn bench`"),
    out: Path = typer.Option(Path("export/report"), "--out", help="report folder to write"),
    budget: float = typer.Option(1.0, help="accuracy budget: max drop vs fp32 in points (RMSE: % of fp32)"),
    bundles: list[Path] = typer.Option([], "--bundles", help="folder(s) holding the bundles, for the "
                                       "quantization sensitivity (default: next to the results file)"),
    sensitivity: bool = typer.Option(True, "--sensitivity/--no-sensitivity",
                                     help="per-layer analysis of int8 artifacts"),
    title: Optional[str] = typer.Option(None, help="report title"),
    as_json: bool = JsonOption,
):
    """Write report.md, a self-contained report.html and results.csv from benchmark results."""
    from .. import checks
    from ..report import build_report

    checks.number(budget, "--budget", minimum=0.0)
    check_output_folder(out, "--out", ours=_is_report_folder, kind="a report folder")
    files = build_report(results, out, budget=budget, bundles=bundles, sensitivity=sensitivity,
                         title=title)
    if as_json:
        print_json(_report_json(files))
    else:
        _print_report(files)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command()
def study(
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="dataset (default: the default study's)"),
    models: Optional[str] = typer.Option(None, help="comma-separated model kinds, e.g. cfc,ltc,lstm,gru"),
    seeds: Optional[int] = typer.Option(None, help="seeds per model (0..N-1)"),
    epochs: Optional[int] = typer.Option(None, help="maximum training epochs"),
    units: Optional[int] = typer.Option(None, help="hidden units of every model"),
    param_budget: Optional[int] = typer.Option(None, "--param-budget",
                                               help="pick each model's units to land near N parameters"),
    formats: Optional[str] = typer.Option(None, help="export formats, e.g. onnx,tflite"),
    graphs: Optional[str] = typer.Option(None, help="graphs to export: step,seq"),
    schemes: Optional[str] = typer.Option(None, help="quantization schemes, e.g. fp32,int8-dynamic"),
    target: Optional[str] = typer.Option(None, help="target profile to benchmark on"),
    budget: Optional[float] = typer.Option(None, help="accuracy budget in points for the recommendation"),
    full_bench: bool = typer.Option(False, "--full-bench", help="edgelnn bench's full settings (500 runs "
                                    "and 1 s per artifact, every test sequence) instead of the short ones"),
    fresh: bool = typer.Option(False, "--fresh", help="redo every step instead of resuming"),
    out: Optional[Path] = typer.Option(None, "--out", help="study folder (default export/study)"),
):
    """Train every model x seed, export, benchmark and report, resumably. No options: the default study."""
    from ..study import default_config, run_study

    cfg = default_config()
    overrides = {"dataset": dataset, "seeds": seeds, "epochs": epochs, "units": units,
                 "param_budget": param_budget, "target": target, "budget": budget,
                 "out": str(out) if out else None,
                 "models": _csv(models) if models else None,
                 "formats": _csv(formats) if formats else None,
                 "graphs": _csv(graphs) if graphs else None,
                 "schemes": _csv(schemes) if schemes else None}
    cfg = cfg.replace(**{k: v for k, v in overrides.items() if v is not None})
    if full_bench:
        cfg = cfg.replace(bench={})
    console.print(f"study: {', '.join(cfg.models)} on {cfg.dataset}, {cfg.seeds} seed(s), "
                  f"{cfg.epochs} epochs, {'/'.join(cfg.formats)} {'/'.join(cfg.graphs)} x "
                  f"{', '.join(cfg.schemes)} -> {cfg.out}", highlight=False)
    with _StudyProgress(3 * len(cfg.models) * cfg.seeds) as bars, quiet_native_stderr():
        result = run_study(cfg, fresh=fresh, log=bars.log, progress=bars)
    _print_report(result.report)
    units = ", ".join(f"{m} {u}" for m, u in result.units.items())
    console.print(f"units: {units}", highlight=False)
    console.print(f"study finished in {result.seconds:.0f} s ({result.ran} step(s) run, "
                  f"{result.skipped} resumed)", highlight=False)


class _StudyProgress:
    """Rich progress bars for a study: one for the steps, one for the epochs of a training."""

    def __init__(self, total_steps: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bars = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console)
        self.total = self.bars.add_task("study", total=total_steps, status="")
        self.epochs = None

    def __enter__(self):
        self.bars.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bars.__exit__(*exc)

    def log(self, line: str) -> None:
        self.bars.console.print(line, highlight=False)

    def advance(self) -> None:
        self.bars.advance(self.total)
        if self.epochs is not None:
            self.bars.remove_task(self.epochs)
            self.epochs = None

    def epoch_callback(self, label: str, total: int):
        self.epochs = self.bars.add_task(label, total=total, status="")

        def update(epoch, epochs, loss, val):
            self.bars.update(self.epochs, completed=epoch, status=f"loss {loss:.3f} val {val:.3f}")
        return update
