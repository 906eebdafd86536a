"""``edgelnn report``: bench results -> report, or a study folder -> the study report."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
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


def _study_report(folder: Path, out: Optional[Path], quick: bool, as_json: bool = False) -> None:
    """A study folder (records/, tuning/, results/) -> the study report with its verdicts."""
    from ..study.report import build_study_report

    out = out or folder / "report"
    check_output_folder(out, "--out", ours=_is_report_folder, kind="a report folder")
    from ..outdir import writer_lock

    with writer_lock(out, "report"):              # one writer per report folder
        files = build_study_report(folder, out, quick=quick)
    if as_json:
        print_json(study_report_json(files))
    else:
        print_study_report(files)


def study_report_json(files) -> dict:
    a = files.analysis
    return {"out": str(files.out), "markdown": str(files.markdown), "html": str(files.html),
            "findings": str(files.findings), "summary": str(files.summary),
            "files": [str(f) for f in files.files], "comparisons": len(a.claims),
            "family_size": a.family_size,
            "verdicts": sum(c.verdict in ("liquid better", "RNN better") for c in a.claims),
            "cannot_carry": list(a.cannot_carry), "problems": list(files.problems)}


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
    as_json: bool = JsonOption,
):
    """Write report.md, a self-contained report.html and results.csv from benchmark results; given a
    study folder, the study report (verdicts, curves, competence gate, findings.md, summary.json)."""
    from .. import checks
    from ..report import build_report

    if len(results) == 1 and results[0].is_dir():
        if out is not None:
            check_output_folder(out, "--out", ours=_is_report_folder, kind="a report folder")
        _study_report(results[0], out, quick, as_json)
        return
    checks.number(budget, "--budget", minimum=0.0)
    out = out or Path("export/report")
    check_output_folder(out, "--out", ours=_is_report_folder, kind="a report folder")
    files = build_report(results, out, budget=budget, bundles=bundles, sensitivity=sensitivity,
                         title=title)
    if as_json:
        print_json(_report_json(files))
    else:
        _print_report(files)
