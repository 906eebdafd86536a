"""``edgelnn report``: bench results -> report, or a study folder -> the study report."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, console


def _print_report(files) -> None:
    for rec in files.recommendations:
        if rec.model:
            continue
        pick = f"{rec.row.bundle}/{rec.row.artifact}" if rec.row else "none"
        console.print(f"[bold]recommended for {rec.target}:[/] {pick} — {rec.reason}", highlight=False)
    console.print(f"report: {files.html}", highlight=False, soft_wrap=True)
    console.print(f"        {files.markdown}", highlight=False, soft_wrap=True)
    console.print(f"        {files.csv}", highlight=False, soft_wrap=True)


def _study_report(folder: Path, out: Optional[Path], quick: bool) -> None:
    """A study folder (records/, tuning/, results/) -> the study report with its verdicts."""
    from ..study.report import build_study_report

    print_study_report(build_study_report(folder, out, quick=quick))


def print_study_report(files) -> None:
    """The study report's headline and its files (also printed by `edgelnn study`)."""
    a = files.analysis
    verdicts = sum(c.verdict in ("liquid better", "RNN better") for c in a.claims)
    console.print(f"{len(a.claims)} comparisons, {a.family_size} in the Holm family, {verdicts} verdict(s)"
                  + (f"; {' '.join(a.cannot_carry)}" if a.cannot_carry else ""), highlight=False)
    for path in (files.html, files.markdown, files.findings, files.summary):
        console.print(f"report: {path}" if path == files.html else f"        {path}", highlight=False, soft_wrap=True)


@app.command()
def report(
    results: list[Path] = typer.Argument(..., help="results JSONL files written by `edgelnn bench`, or one "
                                         "study folder (records/, tuning/, results/) for the study report"),
    out: Optional[Path] = typer.Option(None, "--out", help="report folder to write (default export/report; "
                                       "for a study folder: FOLDER/report)"),
    budget: float = typer.Option(1.0, help="accuracy budget: max drop vs fp32 in points (RMSE: % of fp32)"),
    bundles: list[Path] = typer.Option([], "--bundles", help="folder(s) holding the bundles, for the "
                                       "quantization sensitivity (default: next to the results file)"),
    sensitivity: bool = typer.Option(True, "--sensitivity/--no-sensitivity",
                                     help="per-layer analysis of int8 artifacts"),
    title: Optional[str] = typer.Option(None, help="report title"),
    quick: bool = typer.Option(False, "--quick", help="study folder: a quick look, no verdicts"),
):
    """Write report.md, a self-contained report.html and results.csv from benchmark results; given a
    study folder, the study report (verdicts, curves, competence gate, findings.md, summary.json)."""
    from ..report import build_report

    if len(results) == 1 and results[0].is_dir():
        _study_report(results[0], out, quick)
        return
    files = build_report(results, out or Path("export/report"), budget=budget, bundles=bundles,
                         sensitivity=sensitivity, title=title)
    _print_report(files)
