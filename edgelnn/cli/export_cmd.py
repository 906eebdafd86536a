"""``edgelnn export`` (checkpoint -> bundle, every artifact checked) and ``edgelnn inspect``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..schema import mcu_of
from .app import app, quiet_native_stderr
from .output import Col, JsonOption, console, fail, note, print_json, progress_console, show, table
from .paths import check_output_file

STYLE = {"passed": "green", "rejected": "bold red", "unsupported": "yellow", "failed": "red"}
LEGEND = ("[green]passed[/]: parity passed, in the bundle · [bold red]rejected[/]: exported but failed "
          "parity, left out · [yellow]unsupported[/]: combination not produced · [red]failed[/]: "
          "exporter/quantizer error · [yellow]float[/] in 'quantized': the scheme left the weights in float")


def _fmt(value, spec: str = ".2g") -> str:
    return "" if value is None else format(value, spec)


def _result_table(report):
    t = table(f"{report.name}: {report.model} on {report.dataset} "
              f"(PyTorch fp32 test {report.metric} {_fmt(report.reference, '.4f')})",
              [Col("format", ident=True), Col("graph", ident=True), Col("scheme", ident=True),
               Col("status", ident=True), Col("KiB", justify="right"), Col("ratio", justify="right"),
               "quant", Col("max err", justify="right"), Col("err/range", justify="right"),
               Col("Δ" + report.metric[:3], justify="right"), "reason"])
    grouped: dict[tuple, list[str]] = {}
    for r in report.results:  # unsupported rows of one format/graph/reason collapse into one
        if r.status == "unsupported":
            grouped.setdefault((r.format, r.graph, r.reason), []).append(r.scheme)
    shown = set()
    for r in report.results:
        style = STYLE.get(r.status, "")
        if r.status == "unsupported":
            key = (r.format, r.graph, r.reason)
            if key not in shown:
                shown.add(key)
                t.add_row(r.format, r.graph, ", ".join(grouped[key]), f"[{style}]unsupported[/]",
                          *[""] * 6, f"[{style}]{escape(r.reason or '')}[/]")
            continue
        quant = "" if r.quantized is None or r.scheme == "fp32" else ("yes" if r.quantized else "[yellow]float[/]")
        reason = escape(r.reason or "") if r.status != "passed" else ""
        t.add_row(r.format, r.graph, r.scheme, f"[{style}]{r.status}[/]",
                  _fmt(r.bytes / 1024 if r.bytes else None, ".1f"), _fmt(r.file_ratio, ".2f"), quant,
                  _fmt(r.max_abs), _fmt(r.rel_range), _fmt(r.metric_delta, "+.3f"),
                  f"[{style}]{reason}[/]" if reason else "")
    return t


def _is_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return True
    except (OSError, ValueError):
        return False


def _commas(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@app.command("export")
def export(
    checkpoint: Path = typer.Argument(..., help="a checkpoint written by `edgelnn train` or `edgelnn import` "
                                      "(a model trained elsewhere: bring it with `edgelnn import`)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="bundle folder (default export/<checkpoint name>)"),
    format: list[str] = typer.Option([], "--format", "-f", help="onnx, tflite, c (repeat or comma-separated; default: all available)"),
    quant: list[str] = typer.Option([], "--quant", "-q",
                                    help="fp32, fp16, int8-dynamic, int8-static, int8-weight, int16x8-static, "
                                         "int16-fixed, int16x8-dynamic, auto (repeat; default: all that apply "
                                         "except auto and int16x8-dynamic)"),
    graph: list[str] = typer.Option([], "--graph", help="step, seq (repeat; default both)"),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="target profile (targets/<name>.toml): "
                                         "default schemes and int8 settings; default: this host"),
    tolerance: list[str] = typer.Option([], "--tolerance",
                                        help="parity tolerance override SCHEME=VALUE or SCHEME.BOUND=VALUE, "
                                             "e.g. int8-static=0.2 or int8-static.metric_delta=0.1"),
    name: Optional[str] = typer.Option(None, help="bundle name used in file names (default: folder name); "
                                       "a plain name"),
    report_json: Optional[Path] = typer.Option(None, "--report-json",
                                               help="also write the export report to this JSON file"),
    as_json: bool = JsonOption,
    strict: bool = typer.Option(False, help="exit 1 when any artifact was rejected or failed"),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", metavar="POINTS",
                                             help="--quant auto: task-metric points the artifact may lose "
                                                  "on the parity data (finite, 0..100; default 1)"),
    max_error: Optional[float] = typer.Option(None, "--max-error", metavar="REL",
                                              help="--quant auto: max error / output range (finite, >= 0; "
                                                   "default: the int8-static bound, 0.2)"),
    package: Optional[Path] = typer.Option(None, "--package", metavar="DIR",
                                           help="also write an example firmware project per C artifact "
                                                "into DIR (main.c, Makefile, CMakeLists.txt, start-up code, "
                                                "linker scripts, README)"),
):
    """Export a checkpoint to ONNX/TFLite/C (quantized too); every artifact is checked against PyTorch."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..export import export_bundle
    from ..export.errors import NothingPassedError
    from ..export.formats import GRAPHS

    format, quant, graph = (_commas(v) for v in (format, quant, graph))   # --format onnx,tflite,c too
    out = out or Path("export") / checkpoint.stem
    if report_json is not None:
        check_output_file(report_json, "--report-json", keep_if=_is_json, kind="a JSON file")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                  TimeElapsedColumn(), console=progress_console(as_json), transient=True) as bar:
        task = bar.add_task(f"export {checkpoint.name}", total=None, status="checking inputs")

        def progress(done, total, message):
            bar.update(task, completed=done, total=total, status=message)

        try:
            with quiet_native_stderr():
                report = export_bundle(checkpoint, out, formats=format or None, schemes=quant or None,
                                       target=target, tolerances=tolerance or None, progress=progress,
                                       graphs=graph or GRAPHS, name=name, max_drop=max_drop,
                                       max_error=max_error)
            failure = None
        except NothingPassedError as exc:
            report, failure = exc.report, exc
    if report_json is not None:
        from ..files import write_text_atomic

        write_text_atomic(report_json, report.to_json() + "\n")
    if as_json:
        print_json(report.to_dict())
    else:
        show(_result_table(report))
        console.print(LEGEND)
        for line in report.notes:
            note(line)
    for line, ok in auto_lines(report):   # one line per --quant auto search (stderr under --json)
        progress_console(as_json).print(f"[{'green' if ok else 'bold red'}]{escape(line)}[/]",
                                        highlight=False, soft_wrap=True)
    if failure is not None:
        fail(str(failure))
    n_ok = len(report.passed)
    n_bad = len(report.by_status("rejected")) + len(report.by_status("failed"))
    if not as_json:
        colour = "green" if n_bad == 0 else "yellow"
        console.print(f"[{colour}]{n_ok} artifact(s) in {escape(report.bundle)}[/]"
                      + (f", [bold red]{n_bad} rejected or failed[/]" if n_bad else "")
                      + f"  ({report.seconds:.1f}s)")
    if package is not None:
        from ..errors import EdgeLNNError
        from ..runtime.c.package import write_packages

        try:
            made = write_packages(report.bundle, package)
        except (EdgeLNNError, OSError) as exc:
            fail(f"--package: {exc}")
        if not as_json:
            for folder in made:
                console.print(f"example project: {escape(str(folder))} (make run-host / run-m4 / run-m0plus)")
    if strict and n_bad:
        fail(f"--strict: {n_bad} artifact(s) rejected or failed (see the table)")


def auto_line(entry: dict, passed: bool) -> str:
    """One line on a --quant auto entry of a manifest: what it chose, or that nothing passed."""
    auto = entry.get("auto") or {}
    budget = auto.get("budget") or {}
    what = (f"max drop {budget.get('max_drop', 1):g} points, max error "
            f"{'the gate bound' if budget.get('max_error') is None else format(budget['max_error'], 'g')}")
    searched = f"{len(auto.get('trace', []))} candidates in {auto.get('seconds') or 0:.1f}s"
    if not passed:
        return (f"auto ({entry.get('format')}): no quantized artifact meets the budget ({what}); the bundle "
                f"keeps fp32; {searched}")
    kept = auto.get("kept", [])
    counts = ", ".join(f"{sum(k['precision'] == p for k in kept)} {p}" for p in ("int16", "float")
                       if any(k["precision"] == p for k in kept)) or "all int8"
    ratio = auto.get("weight_ratio")
    return (f"auto ({entry.get('format')}): {counts} of {auto.get('units', '?')} ops, "
            f"{'?' if ratio is None else format(ratio, '.2f')} of fp32 weight bytes, err/range "
            f"{_fmt((entry.get('parity') or {}).get('rel_range'))} ({what}); {searched}")


def auto_lines(report) -> list[tuple[str, bool]]:
    """One line per format searched by --quant auto in this export (green: chosen; red: none)."""
    from ..export.mixed import AUTO

    try:
        manifest = json.loads((Path(report.bundle) / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    entries = {(e["format"], e.get("graph")): (e, e in manifest.get("artifacts", []))
               for e in manifest.get("artifacts", []) + manifest.get("rejected", []) if e.get("scheme") == AUTO}
    lines = []
    for r in report.results:
        if r.scheme != AUTO or r.graph != "step" or r.status == "unsupported":
            continue
        if r.status == "failed":
            lines.append((f"auto ({r.format}): the search failed: {r.reason}; the bundle keeps fp32", False))
        elif (r.format, r.graph) in entries:
            entry, kept = entries[(r.format, r.graph)]
            lines.append((auto_line(entry, kept), kept))
    return lines


@app.command("inspect")
def inspect(bundle: Path = typer.Argument(..., help="an export bundle folder"), as_json: bool = JsonOption):
    """Show an export bundle: model, artifacts with parity figures, rejected and unsupported."""
    from ..errors import BundleError
    from ..runtime.bundle import read_manifest
    from ..runtime.integrity import verify_artifact

    m = read_manifest(bundle)
    checks, first = [], None
    for a in m["artifacts"]:              # every file the artifact uses: source, header, data
        try:
            verify_artifact(bundle, a)
            checks.append(True)
        except BundleError as exc:
            checks.append(False)
            first = first or str(exc)
    bad = checks.count(False)
    if as_json:
        print_json({"bundle": str(bundle), "manifest": m,
                    "files_ok": {a["file"]: ok for a, ok in zip(m["artifacts"], checks)}})
    else:
        _show_bundle(bundle, m, checks)
    if bad:
        fail(f"{bad} artifact(s) in {bundle} have files missing or do not match their sha256 (first: {first})")


def _show_bundle(bundle: Path, m: dict, checks: list[bool]) -> None:
    model, ds, ref = m.get("model", {}), m.get("dataset", {}), m.get("reference", {})
    head = table(f"bundle {m.get('name')}", [Col("key", ident=True), "value"], show_header=False)
    for key, value in (("model", f"{model.get('kind')} · {model.get('units')} units · {model.get('params')} params"),
                       ("dataset", f"{ds.get('name')} ({ds.get('task')})"),
                       ("reference", f"PyTorch fp32 test {ref.get('metric')} {_fmt(ref.get('test'), '.4f')}"),
                       ("created", f"{m.get('created')} · edgelnn {m.get('edgelnn_version')}"
                                   + (f" · target {m['target']}" if m.get("target") else "")),
                       ("state", ", ".join(f"{s['name']}[{s['size']}]" for s in m["tensors"]["step"]["state"])),
                       ("files", f"{m.get('golden_file')}, {m.get('evaluation', {}).get('file')}, "
                                 f"{m.get('calibration', {}).get('file')}")):
        head.add_row(key, escape(str(value)))
    show(head)
    t = table("artifacts (files: <name>.<graph>.<scheme>.<format>)",
              [Col("file", ident=True), Col("scheme", ident=True), Col("KiB", justify="right"),
               Col("ratio", justify="right"), "quant", Col("max err", justify="right"),
               Col("err/range", justify="right"), Col("Δmetric", justify="right"),
               Col("golden tol", justify="right"), Col("sha256", ident=True)])
    for a, ok in zip(m["artifacts"], checks):
        par = a.get("parity", {})
        quant = "" if a["scheme"] == "fp32" else ("yes" if a.get("quantized") else "[yellow]float[/]")
        t.add_row(escape(a["file"]), a["scheme"], _fmt(a.get("bytes", 0) / 1024, ".1f"),
                  _fmt(a.get("file_ratio"), ".2f"), quant, _fmt(par.get("max_abs")),
                  _fmt(par.get("rel_range")), _fmt(par.get("metric_delta"), "+.3f"),
                  _fmt(a.get("golden", {}).get("tolerance")),
                  "[green]ok[/]" if ok else "[bold red]MISMATCH[/]")
    show(t)
    for entry in (e for e in m["artifacts"] + m.get("rejected", []) if e.get("scheme") == "auto" and e.get("auto")):
        ok = entry in m["artifacts"]
        console.print(f"[{'green' if ok else 'bold red'}]{escape(auto_line(entry, ok))}[/]", highlight=False,
                      soft_wrap=True)
    if m.get("rejected"):
        rej = table("rejected (not in the bundle)", [Col("format", ident=True), Col("graph", ident=True),
                                                      Col("scheme", ident=True), Col("status", ident=True),
                                                      "reason"])
        for r in m["rejected"]:
            rej.add_row(r["format"], r["graph"], r["scheme"], f"[red]{r.get('status', 'rejected')}[/]",
                        escape(r.get("reason") or ""))
        show(rej)
    mcu = [(a, core, f) for a in m["artifacts"] for core, f in sorted(mcu_of(a).items())]
    if mcu:
        t = table("microcontroller figures (arm-none-eabi-gcc)",
                  [Col("file", ident=True), Col("core", ident=True), Col("flash B", justify="right"),
                   Col("static RAM B", justify="right"), Col("stack B", justify="right"),
                   Col("state B", justify="right"), "integer API"])
        for a, core, f in mcu:
            q = f.get("integer_api")
            qtxt = (f"flash {q['flash_bytes']}, stack {q['stack_bytes']}, state {q['state_bytes']}"
                    + ("" if q.get("float_free") else " [red](reaches float code)[/]")) if q else ""
            t.add_row(escape(a["file"]), core, str(f["flash_bytes"]), str(f["ram_static_bytes"]),
                      str(f["stack_bytes"]), str(f["state_bytes"]), qtxt)
        show(t)
    if m.get("unsupported"):
        uns = table("unsupported", [Col("format", ident=True), Col("graph", ident=True),
                                    Col("scheme", ident=True), "reason"])
        for r in m["unsupported"]:
            uns.add_row(r["format"], r["graph"], r["scheme"], escape(r.get("reason") or ""))
        show(uns)
