"""``edgelnn bench``: golden check, latency, peak RAM and accuracy of every artifact of a bundle."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .data_options import FEATURES, LABEL, SEQ_ID, TIME, data_kwargs
from .output import Col, JsonOption, console, fail, note, print_json, progress_console, show, table
from ..bench.settings import MAX_CHUNK, MAX_EVAL, MAX_RUNS, MAX_SECONDS, MAX_WARMUP
from .paths import check_output_file


def bench_on_target(targets: list[str], bundle: Path, hosts: list[str] | None = None,
                    **kwargs) -> list[dict]:
    """Run the bench on target profiles: local (host) or over ssh; several in parallel."""
    from ..targets import bench_targets

    return bench_targets(bundle, targets, hosts or [], **kwargs)


def _fmt(value, spec: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def _short(row: dict) -> str:
    """Artifact name without the bundle-name prefix and scheme (their own columns say it)."""
    if not row.get("artifact") and not row.get("graph"):
        return "(whole target)"
    name = row.get("artifact") or f"{row.get('graph')}.{row.get('scheme')}.{row.get('format')}"
    prefix = f"{row.get('bundle')}."
    name = name[len(prefix):] if name.startswith(prefix) else name
    return name.replace(f".{row.get('scheme')}.", ".", 1) if row.get("scheme") else name


STATUS_LABEL = {"passed": "[green]passed[/]", "golden_failed": "[red]golden fail[/]",
                "failed": "[red]failed[/]", "rejected": "[yellow]rejected[/]",
                "unsupported": "[dim]unsupported[/]", "not_applicable": "[dim]not applicable[/]"}


def render_streams(rows: list[dict]):
    """Throughput vs stream count (bench --streams): one line per artifact x runtime x count."""
    from rich import box

    t = table("throughput vs streams", [Col("artifact", ident=True), Col("runtime", ident=True),
              Col("streams", justify="right"), Col("batch", ident=True), Col("golden", justify="center"),
              Col("stream-steps/s", justify="right"), Col("µs/stream-step", justify="right"),
              Col("p50 µs/batch", justify="right"), Col("p99 µs/batch", justify="right")],
              box=box.SIMPLE_HEAD, pad_edge=False)
    for r in rows:
        for s in r.get("streams") or []:
            lat = s.get("latency_us") or {}
            t.add_row(_short(r), r.get("runtime") or "-", str(s["streams"]), s["batch_mode"],
                      "ok" if s["golden_ok"] else "FAIL", _fmt(s.get("stream_steps_per_s"), ",.0f"),
                      _fmt(s.get("per_stream_step_us"), ".3f"), _fmt(lat.get("p50")), _fmt(lat.get("p99")))
    return t


def render_table(rows: list[dict]):
    from rich.markup import escape

    bundle = rows[0]["bundle"] if rows else ""
    metric = next((r["metric"] for r in rows if r.get("metric")), "metric")
    several = len({r.get("target") for r in rows}) > 1
    cols = [Col("target", ident=True)] if several else []
    mcu = any(r.get("flash_bytes") is not None for r in rows)      # a microcontroller target
    # a microcontroller target measures no host latency or RSS: those columns only when a row has them
    host = not mcu or any(r.get("latency_us") or r.get("peak_rss_mb") is not None for r in rows)
    cols += [Col("artifact", ident=True), Col("scheme", ident=True), Col("runtime", ident=True),
             Col("status", ident=True), Col("golden", justify="center")]
    cols += [Col("p50 µs", justify="right"), Col("p99 µs", justify="right"), Col("µs/sample", justify="right"),
             Col("peak MB", justify="right")] if host else []
    cols += [Col("flash KiB", justify="right"), Col("RAM B", justify="right"), Col("instr/step", justify="right"),
             Col("est. cycles", justify="right"), Col("µs @ MHz", ident=True, justify="right")] if mcu else []
    cols += [Col(metric, justify="right"), Col("Δ fp32", justify="right")]
    from rich import box

    t = table(f"edgelnn bench: {bundle}", cols, box=box.SIMPLE_HEAD, pad_edge=False)
    for r in rows:
        lat = r.get("latency_us") or {}
        golden = {True: "[green]ok[/]", False: "[red]FAIL[/]"}.get(r.get("golden_ok"), "-")
        t.add_row(*([escape(r.get("target") or "-")] if several else []), escape(_short(r)),
                  r.get("scheme") or "-", r.get("runtime") or "-",
                  STATUS_LABEL.get(r["status"], r["status"]), golden,
                  *([_fmt(lat.get("p50")), _fmt(lat.get("p99")), _fmt(r.get("per_sample_us"), ".2f"),
                     _fmt(r.get("peak_rss_mb"))] if host else []),
                  *([_fmt(r["flash_bytes"] / 1024 if r.get("flash_bytes") is not None else None),
                     _fmt(sum(r.get(k) or 0 for k in ("ram_bytes", "stack_bytes", "mcu_state_bytes"))
                          if r.get("flash_bytes") is not None else None, "d"),
                     _fmt(r.get("mcu_instructions"), "d"), _fmt(r.get("mcu_cycles"), "d"),
                     f"{r['mcu_us']:.0f} @ {r['mcu_clock_mhz']:g}" if r.get("mcu_us") is not None else "-"]
                    if mcu else []),
                  _fmt(r.get("accuracy"), ".3f"), _fmt(r.get("accuracy_delta"), "+.3f"))
    return t


def _check_results_file(out: Path) -> None:
    """--out before any work: a new file, or JSON lines of edgelnn result rows to append to."""
    from ..bench.rows import results_file_problem
    from ..errors import OutputError

    check_output_file(out, "--out")
    if out.is_file():
        why = results_file_problem(out)
        if why:
            raise OutputError(f"--out {out} {why}; result rows are only appended to a results "
                              "file written by `edgelnn bench` (choose another name)")


def _check_runtimes_used(runtimes: list[str], providers: str | None, artifacts: list[dict], bundle: Path,
                        local: bool) -> list[str] | None:
    """The runtime asked for is the runtime used: each named runtime must have artifacts of its
    format among those benched, and --providers must name onnxruntime providers that exist
    (issue 20). Returns the provider list (None: the target's)."""
    from ..errors import InputError
    from ..runtime import RUNTIMES

    formats = sorted({a["format"] for a in artifacts})
    for name in runtimes:
        fmt = RUNTIMES[name].format
        if fmt not in formats:
            raise InputError(f"--runtime {name} runs {fmt} artifacts and {bundle} has none to bench "
                             f"(formats: {', '.join(formats) or 'none'}); choose a runtime of those formats")
    if providers is None:
        return None
    names = [p.strip() for p in providers.split(",")]
    if not any(names) or not all(names):
        raise InputError(f"--providers {providers!r}: expected provider names separated by commas, "
                         "e.g. CPUExecutionProvider")
    if "onnx" not in formats or (runtimes and "onnxruntime" not in runtimes):
        raise InputError("--providers applies to onnxruntime, and no ONNX artifact is benched with it")
    if local:
        import onnxruntime as ort

        known = ort.get_all_providers()
        bad = [p for p in names if p not in known]
        if bad:
            raise InputError(f"--providers: unknown onnxruntime provider {bad[0]!r}; known: "
                             f"{', '.join(known)}")
    return names


@app.command()
def bench(
    bundle: Path = typer.Argument(..., help="export bundle folder (from `edgelnn export`)"),
    artifact: Optional[list[str]] = typer.Option(None, "--artifact", "-a",
                                                 help="artifact file to bench (repeatable; default all)"),
    target: list[str] = typer.Option(["host"], "--target", "-t",
                                     help="target profile (repeatable: devices in parallel)"),
    host: Optional[list[str]] = typer.Option(None, "--host", help="device address [user@]host[:port] "
                                             "(with several --target: NAME=[user@]host)"),
    threads: Optional[int] = typer.Option(None, min=0, max=1024, help="(0..1024) runtime threads (default: the target's; "
                                          "0: the runtime's default)"),
    runtime: Optional[list[str]] = typer.Option(None, "--runtime", "-r",
                                                help="onnxruntime, litert, tflite-runtime, c (repeatable)"),
    providers: Optional[str] = typer.Option(None, help="onnxruntime execution providers, comma separated"),
    warmup: int = typer.Option(50, min=0, max=MAX_WARMUP, help=f"untimed calls before timing (0..{MAX_WARMUP})"),
    min_runs: int = typer.Option(500, min=1, max=MAX_RUNS, help=f"timed calls, at least (1..{MAX_RUNS})"),
    min_seconds: float = typer.Option(1.0, help=f"timing duration in seconds, at least (finite, 0..{MAX_SECONDS:g})"),
    seq_chunk: Optional[int] = typer.Option(None, min=1, max=MAX_CHUNK,
                                            help=f"steps per call timed for dynamic sequence graphs (1..{MAX_CHUNK})"),
    cpus: Optional[str] = typer.Option(None, help="pin timing to these cores, e.g. 2,3"),
    memory: bool = typer.Option(True, help="measure peak RSS in a fresh process"),
    accuracy: bool = typer.Option(True, help="task metric through the artifact on eval.npz"),
    eval_limit: Optional[int] = typer.Option(None, min=1, max=MAX_EVAL, help="score only the first N sequences per eval "
                                             "split (quick runs; PyTorch's figures are then omitted)"),
    streams: Optional[str] = typer.Option(None, help="also throughput vs stream count for step artifacts, "
                                          "e.g. 1,16,256,4096 (each count golden-checked first)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="append result rows to this JSON lines file"),
    eval_data: Optional[Path] = typer.Option(None, "--eval-data", help="score accuracy on your data (.npz or .csv, "
                                             "normalised as the bundle says) instead of the bundle's eval.npz"),
    label: Optional[str] = LABEL, target_col: Optional[str] = typer.Option(
        None, "--target-column", help="CSV (--eval-data): the target column (regression); --target names the device profile"), features: Optional[str] = FEATURES,
    time: str = TIME, seq_id: str = SEQ_ID,
    as_json: bool = JsonOption,
) -> None:
    """Golden check, then latency, peak RAM and accuracy of every artifact x runtime."""
    from ..bench import BenchSettings, append_rows
    from ..bench.streams import parse_streams
    from ..errors import InputError
    from ..runtime import RUNTIMES, resolve_runtime
    from ..runtime.bundle import load_bundle

    for name in runtime or []:      # a runtime the user names must be here: say so before any work
        if name not in RUNTIMES:
            raise InputError(f"unknown runtime {name!r}; known: {', '.join(RUNTIMES)}")
        if target == ["host"] and not host:        # remote targets check their own runtimes
            resolve_runtime(RUNTIMES[name].format, name)
    try:
        cpu_list = [int(c) for c in cpus.split(",")] if cpus else None
    except ValueError:
        raise InputError(f"--cpus {cpus!r}: expected core numbers separated by commas, e.g. 2,3") from None
    settings = BenchSettings(warmup=warmup, min_runs=min_runs, min_seconds=min_seconds,
                             seq_chunk=seq_chunk, memory=memory, accuracy=accuracy,
                             max_eval_sequences=eval_limit, cpu_affinity=cpu_list,
                             streams=parse_streams(streams))
    if cpu_list and target == ["host"] and not host and hasattr(os, "sched_getaffinity"):
        usable = sorted(os.sched_getaffinity(0))
        bad = [c for c in cpu_list if c not in usable]
        if bad:
            raise InputError(f"--cpus: core {bad[0]} is not one this process may run on "
                             f"(usable: {','.join(map(str, usable))})")
    if out is not None:
        _check_results_file(out)
    b = load_bundle(bundle)                       # a bad bundle fails here, before any work
    for name in artifact or []:
        b.artifact(name)
    chosen = [b.artifact(name) for name in artifact] if artifact else b.artifacts
    provider_list = _check_runtimes_used(runtime or [], providers, chosen, bundle,
                                         local=target == ["host"] and not host)
    tmp = None
    if eval_data is not None:
        if target != ["host"] or host:
            raise InputError("--eval-data scores on this host (target host); bench a device with the bundle's own "
                             "eval.npz, or export with that data")
        tmp = _eval_file(b, eval_data, data_kwargs(label, target_col, features, time, seq_id))
        settings.eval_file = str(tmp / "eval.npz")
    try:
        _bench(bundle, target, host, artifact, threads, provider_list, runtime, settings, out, as_json)
    finally:
        if tmp is not None:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def _eval_file(b, path: Path, options: dict) -> Path:
    """The user's data as an eval.npz (test split only) for bundle ``b``: its normalisation, classes."""
    import tempfile

    import numpy as np

    from ..data.userdata import for_model

    ds, norm = b.manifest.get("dataset", {}), b.manifest.get("normalisation", {})
    split, _ = for_model(path, norm_mean=norm["mean"], norm_std=norm["std"], task=ds.get("task"),
                         label_names=list(ds.get("label_names") or []), target_mean=ds.get("target_mean", 0.0),
                         target_std=ds.get("target_std", 1.0), nominal_dt=ds.get("nominal_dt"), **options)
    tmp = Path(tempfile.mkdtemp(prefix="edgelnn-eval-"))
    np.savez(tmp / "eval.npz", test_x=split.x, test_dt=split.dt, test_lengths=split.lengths, test_y=split.y)
    return tmp


def _bench(bundle, target, host, artifact, threads, provider_list, runtime, settings, out, as_json) -> None:
    from ..bench import append_rows

    with progress_console(as_json).status("benchmarking") as status:
        rows = bench_on_target(target, bundle, host, artifacts=artifact or None, threads=threads or None,
                               providers=provider_list,
                               runtimes=runtime or None, settings=settings,
                               progress=lambda msg: status.update(msg))
    if out is not None:
        append_rows(out, rows)
    if as_json:
        print_json(rows)
    else:
        show(render_table(rows))
        if any(r.get("streams") for r in rows):
            show(render_streams(rows))
        for line in dict.fromkeys(f"{r['target']}: {r['provider_note']}" for r in rows
                                  if r.get("provider_note")):
            note(line)
        if out is not None:
            console.print(f"appended {len(rows)} rows to {out}", highlight=False, soft_wrap=True)
    bad = [r for r in rows if r["status"] in ("failed", "golden_failed")]
    if bad:
        fail(f"{len(bad)} of {len(rows)} rows failed; first: "
             f"{bad[0]['artifact'] or bad[0]['target']}: {bad[0]['error']}")
