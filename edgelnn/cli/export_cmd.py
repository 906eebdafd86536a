"""``edgelnn export`` (checkpoint -> bundle, every artifact checked) and ``edgelnn inspect``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .app import app, console, fail, quiet_native_stderr

STYLE = {"passed": "green", "rejected": "bold red", "unsupported": "yellow", "failed": "red"}
LEGEND = ("[green]passed[/]: parity passed, in the bundle · [bold red]rejected[/]: exported but failed "
          "parity, left out · [yellow]unsupported[/]: combination not produced · [red]failed[/]: "
          "exporter/quantizer error · [yellow]float[/] in 'quantized': the scheme left the weights in float")


def _print(renderable) -> None:
    """Tables at >= 120 columns when the output is not a terminal (logs, CI, pipes)."""
    if console.is_terminal or console.width >= 120:
        console.print(renderable)
    else:
        Console(file=console.file, width=120, no_color=console.no_color).print(renderable)


def _fmt(value, spec: str = ".2g") -> str:
    return "" if value is None else format(value, spec)


def _result_table(report) -> Table:
    table = Table(title=f"{report.name}: {report.model} on {report.dataset} "
                        f"(PyTorch fp32 test {report.metric} {_fmt(report.reference, '.4f')})")
    for col in ("format", "graph", "scheme", "status", "KiB", "ratio", "quant", "max err",
                "err/range", "Δ" + report.metric[:3]):
        table.add_column(col)
    table.add_column("reason", overflow="fold", ratio=1)
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
                table.add_row(r.format, r.graph, ", ".join(grouped[key]), f"[{style}]unsupported[/]",
                              *[""] * 6, f"[{style}]{escape(r.reason or '')}[/]")
            continue
        quant = "" if r.quantized is None or r.scheme == "fp32" else ("yes" if r.quantized else "[yellow]float[/]")
        note = escape(r.reason or "") if r.status != "passed" else ""
        table.add_row(r.format, r.graph, r.scheme, f"[{style}]{r.status}[/]",
                      _fmt(r.bytes / 1024 if r.bytes else None, ".1f"), _fmt(r.size_ratio, ".2f"), quant,
                      _fmt(r.max_abs), _fmt(r.rel_range), _fmt(r.metric_delta, "+.3f"),
                      f"[{style}]{note}[/]" if note else "")
    return table


@app.command("export")
def export(
    checkpoint: Path = typer.Argument(..., help="a checkpoint written by `edgelnn train`"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="bundle folder (default export/<checkpoint name>)"),
    format: list[str] = typer.Option([], "--format", "-f", help="onnx, tflite, c (repeat; default: all available)"),
    quant: list[str] = typer.Option([], "--quant", "-q",
                                    help="fp32, fp16, int8-dynamic, int8-static, int8-weight, int16x8-static, "
                                         "int16-fixed (repeat; default: all that apply)"),
    graph: list[str] = typer.Option([], "--graph", help="step, seq (repeat; default both)"),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="target profile (targets/<name>.toml): "
                                         "default schemes and int8 settings; default: this host"),
    tolerance: list[str] = typer.Option([], "--tolerance",
                                        help="parity tolerance override SCHEME=VALUE or SCHEME.BOUND=VALUE, "
                                             "e.g. int8-static=0.2 or int8-static.metric_delta=0.1"),
    name: Optional[str] = typer.Option(None, help="bundle name used in file names (default: folder name)"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the export report as JSON"),
    strict: bool = typer.Option(False, help="exit 1 when any artifact was rejected or failed"),
):
    """Export a checkpoint to ONNX/TFLite/C (quantized too); every artifact is checked against PyTorch."""
    from ..errors import EdgeLNNError
    from ..export import export_bundle
    from ..export.formats import GRAPHS

    out = out or Path("export") / checkpoint.stem
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(f"export {checkpoint.name}", total=None, status="checking inputs")

        def progress(done, total, message):
            bar.update(task, completed=done, total=total, status=message)

        try:
            with quiet_native_stderr():
                report = export_bundle(checkpoint, out, formats=format or None, schemes=quant or None,
                                       target=target, tolerances=tolerance or None, progress=progress,
                                       graphs=graph or GRAPHS, name=name)
        except (EdgeLNNError, ValueError, OSError) as exc:
            bar.stop()
            fail(str(exc) or type(exc).__name__)  # fail() escapes markup: edgelnn[tflite] survives
    _print(_result_table(report))
    console.print(LEGEND)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if json_out:
        json_out.write_text(report.to_json() + "\n")
    n_ok = len(report.passed)
    n_bad = len(report.by_status("rejected")) + len(report.by_status("failed"))
    colour = "green" if n_bad == 0 else "yellow"
    console.print(f"[{colour}]{n_ok} artifact(s) in {report.bundle}[/]"
                  + (f", [bold red]{n_bad} rejected or failed[/]" if n_bad else "")
                  + f"  ({report.seconds:.1f}s)")
    if n_ok == 0 or (strict and n_bad):
        raise SystemExit(1)


@app.command("inspect")
def inspect(bundle: Path = typer.Argument(..., help="an export bundle folder")):
    """Show an export bundle: model, artifacts with parity figures, rejected and unsupported."""
    from ..errors import BundleError
    from ..export.manifest import read, sha256

    try:
        m = read(bundle)
    except BundleError as exc:
        fail(str(exc))
    model, ds, ref = m["model"], m["dataset"], m.get("reference", {})
    head = Table(title=f"bundle {m['name']}", show_header=False)
    for key, value in (("model", f"{model.get('kind')} · {model.get('units')} units · {model.get('params')} params"),
                       ("dataset", f"{ds.get('name')} ({ds.get('task')})"),
                       ("reference", f"PyTorch fp32 test {ref.get('metric')} {_fmt(ref.get('test'), '.4f')}"),
                       ("created", f"{m.get('created')} · edgelnn {m.get('edgelnn_version')}"
                                   + (f" · target {m['target']}" if m.get("target") else "")),
                       ("state", ", ".join(f"{s['name']}[{s['size']}]" for s in m["tensors"]["step"]["state"])),
                       ("files", f"{m.get('golden_file')}, {m.get('evaluation', {}).get('file')}, "
                                 f"{m.get('calibration', {}).get('file')}")):
        head.add_row(key, str(value))
    _print(head)
    table = Table(title="artifacts (files: <name>.<graph>.<scheme>.<format>)")
    for col in ("format", "graph", "scheme", "KiB", "ratio", "quant", "max err", "err/range", "Δmetric",
                "golden tol", "sha256"):
        table.add_column(col)
    bad = 0
    for a in m["artifacts"]:
        p = bundle / a["file"]
        ok = p.is_file() and sha256(p) == a["sha256"]
        bad += not ok
        par = a.get("parity", {})
        quant = "" if a["scheme"] == "fp32" else ("yes" if a.get("quantized") else "[yellow]float[/]")
        table.add_row(a["format"], a["graph"], a["scheme"], _fmt(a["bytes"] / 1024, ".1f"),
                      _fmt(a.get("size_ratio"), ".2f"), quant, _fmt(par.get("max_abs")), _fmt(par.get("rel_range")),
                      _fmt(par.get("metric_delta"), "+.3f"), _fmt(a.get("golden", {}).get("tolerance")),
                      "[green]ok[/]" if ok else "[bold red]MISMATCH[/]")
    _print(table)
    if m.get("rejected"):
        rej = Table(title="rejected (not in the bundle)")
        for col in ("format", "graph", "scheme", "status", "reason"):
            rej.add_column(col, overflow="fold")
        for r in m["rejected"]:
            rej.add_row(r["format"], r["graph"], r["scheme"], f"[red]{r.get('status', 'rejected')}[/]",
                        escape(r.get("reason") or ""))
        _print(rej)
    mcu = [(a, core, f) for a in m["artifacts"] for core, f in sorted((a.get("mcu") or {}).items())]
    if mcu:
        t = Table(title="microcontroller figures (arm-none-eabi-gcc)")
        for col in ("artifact", "core", "flash B", "static RAM B", "stack B", "state B", "integer API"):
            t.add_column(col)
        for a, core, f in mcu:
            q = f.get("integer_api")
            qtxt = (f"flash {q['flash_bytes']}, stack {q['stack_bytes']}, state {q['state_bytes']}"
                    + ("" if q.get("float_free") else " [red](reaches float code)[/]")) if q else ""
            t.add_row(a["file"], core, str(f["flash_bytes"]), str(f["ram_static_bytes"]), str(f["stack_bytes"]),
                      str(f["state_bytes"]), qtxt)
        _print(t)
    if m.get("unsupported"):
        uns = Table(title="unsupported")
        for col in ("format", "graph", "scheme", "reason"):
            uns.add_column(col, overflow="fold")
        for r in m["unsupported"]:
            uns.add_row(r["format"], r["graph"], r["scheme"], escape(r["reason"]))
        _print(uns)
    if bad:
        fail(f"{bad} artifact file(s) in {bundle} are missing or do not match their sha256")
