"""``bench_bundle``: every artifact of a bundle x runtime -> one result row, and keep going.

Order per artifact: sha256 + load, golden check (a failure stops here: no numbers that could
be wrong), accuracy through the artifact, latency, then peak RSS in a fresh process.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..errors import EdgeLNNError, InputError
from ..runtime import Bundle, load_bundle, resolve_runtime
from ..runtime.runners import RUNTIMES
from .accuracy import evaluate, last_outputs
from .env import fingerprint, hostname
from .golden import golden_check
from .latency import measure_latency, measure_run_latency, pinned_cpus
from .memory import measure_memory
from .rows import ResultRow
from .settings import BenchSettings

Progress = Callable[[str], None]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _one_line(exc: BaseException) -> str:
    """A row's error: an OS error as 'path: reason' (never '[Errno 22] ...'), else the first line."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _Context:
    """What every row of one bench run shares (bundle facts, target, environment)."""

    def __init__(self, bundle: Bundle, target: str, on_target: bool, device: str | None):
        self.bundle = bundle
        self.env = fingerprint()
        self.measured_on = {"hostname": hostname(), "on_target": bool(on_target),
                            "device": device or self.env["cpu"]}
        self.target = target
        self._golden = None
        self._evaluation = None
        self.eval_file: str | None = None     # bench --eval-data: the user's data instead of eval.npz
        self._reference: dict[tuple[str, str], tuple[np.ndarray, str] | None] = {}
        self.fp32_mcu: dict[str, dict | None] = {}   # "fp32 C artifact core" -> its MCU figures (bench/mcu.py)

    def golden(self):
        if self._golden is None:
            self._golden = self.bundle.golden()
        return self._golden

    def evaluation(self):
        if self._evaluation is None:
            self._evaluation = self.bundle.evaluation(self.eval_file)
        return self._evaluation

    def row(self, entry: dict, status: str, **values) -> ResultRow:
        b = self.bundle
        parity = entry.get("parity") or {}
        fields = dict(
            bundle=b.path.name, model=b.model.get("kind"),
            dataset=b.dataset.get("name") or b.model.get("dataset"), artifact=entry.get("file"),
            format=entry.get("format"), graph=entry.get("graph"), scheme=entry.get("scheme"),
            status=status, target=self.target, measured_on=dict(self.measured_on),
            size_bytes=entry.get("bytes"), file_ratio=entry.get("file_ratio"),
            weight_ratio=_ratio(_weight_bytes(entry), _weight_bytes(self.fp32_of(entry))),
            params=b.model.get("params"), params_active=b.model.get("params_active"),
            footprint=entry.get("footprint"), metric=self._metric(),
            parity_max_abs=parity.get("max_abs"), edgelnn_version=__version__, env=self.env,
            timestamp=_now(), chunk=entry.get("chunk"))
        fields["sha256"] = entry.get("sha256")
        if entry.get("format") == "c" and entry.get("file") and "size_bytes" not in values \
                and self.measured_on.get("via") != "emulator":           # host: what the code costs (no file: unsupported)
            obj = _c_object_bytes(b.artifact_path(entry))
            if obj is not None:
                fields.update(size_bytes=obj, source_bytes=entry.get("bytes"))
        fields.update(values)
        return ResultRow(**fields)

    def _metric(self) -> str | None:
        info = self.bundle.manifest.get("evaluation") or {}
        return info.get("metric") or self.bundle.dataset.get("metric")

    def fp32_of(self, entry: dict) -> dict | None:
        """The bundle's fp32 artifact of ``entry``'s format and graph (what ratios compare with)."""
        return next((a for a in self.bundle.artifacts if a.get("scheme") == "fp32"
                     and a.get("format") == entry.get("format") and a.get("graph") == entry.get("graph")), None)


def _weight_bytes(entry: dict | None) -> int | None:
    return ((entry or {}).get("footprint") or {}).get("weight_bytes")


def _ratio(mine, fp32) -> float | None:
    """mine / fp32's, rounded as the manifest's file_ratio; None where either is unknown."""
    return round(mine / fp32, 4) if mine is not None and fp32 else None


def _fp32_reference(ctx: _Context, entry: dict, runtime: str, threads, providers, limit, accel=None):
    """fp32 predictions on the test split for the agreement figure: the bundle's fp32 artifact
    of the same format in the same runtime (PyTorch is not on the device); cached."""
    key = (entry["format"], runtime)
    if key not in ctx._reference:
        ctx._reference[key] = None
        candidates = [a for a in ctx.bundle.artifacts
                      if a["format"] == entry["format"] and a.get("scheme") == "fp32"]
        candidates.sort(key=lambda a: a["graph"] != "step")
        if candidates:
            ref = candidates[0]
            with ctx.bundle.open(ref, runtime=runtime, threads=threads, providers=providers, accel=accel) as r:
                golden = golden_check(r, ctx.golden(), _tolerance(ref))
                if golden.ok:
                    last = last_outputs(r, ctx.evaluation().test, limit, ctx.evaluation())
                    ctx._reference[key] = (last, ref["file"])
    return ctx._reference[key]


def _tolerance(entry: dict) -> float:
    tol = (entry.get("golden") or {}).get("tolerance")
    if tol is None:
        raise EdgeLNNError(f"manifest has no golden tolerance for {entry.get('file')}")
    return float(tol)


def bench_artifact(ctx: _Context, entry: dict, runtime: str, *, threads: int | None = 1,
                   providers=None, settings: BenchSettings = BenchSettings(),
                   progress: Progress | None = None, accel: dict | None = None) -> ResultRow:
    """One artifact with one runtime -> one row. Errors become rows, never exceptions."""
    say = progress or (lambda _msg: None)
    name = entry["file"]
    base = {"runtime": runtime, "threads": threads}
    try:
        say(f"{name} [{runtime}]: loading")
        runner = ctx.bundle.open(entry, runtime=runtime, threads=threads, providers=providers, accel=accel)
    except Exception as exc:  # noqa: BLE001 - the report must keep going, like ultralytics'
        return ctx.row(entry, "failed", error=_one_line(exc), **base)
    try:
        base.update(runtime_version=runner.runtime_version, providers_used=runner.providers_used,
                    provider=(runner.providers_used or [None])[0], chunk=runner.chunk,
                    accelerator=runner.accel)
        say(f"{name} [{runtime}]: golden check")
        golden = golden_check(runner, ctx.golden(), _tolerance(entry))
        base.update(golden_ok=golden.ok, golden_max_abs=golden.max_abs,
                    golden_tolerance=golden.tolerance)
        if not golden.ok:
            return ctx.row(entry, "golden_failed", error=golden.error, **base)
        values = {}
        if settings.accuracy:
            say(f"{name} [{runtime}]: accuracy")
            ref = _fp32_reference(ctx, entry, runtime, threads, providers,
                                  settings.max_eval_sequences, accel)
            acc = evaluate(runner, ctx.evaluation(), reference_last=ref[0] if ref else None,
                           reference_name=ref[1] if ref else None, shifts=settings.shifts,
                           limit=settings.max_eval_sequences)
            values.update(metric=acc.metric, accuracy=acc.accuracy,
                          accuracy_fp32=acc.accuracy_fp32, accuracy_delta=acc.accuracy_delta,
                          agreement=acc.agreement, agreement_ref=acc.agreement_ref,
                          eval_sequences=acc.sequences,
                          shifts=[{"key": s.key, "shift": s.shift, "level": s.level,
                                   "accuracy": s.accuracy, "accuracy_fp32": s.accuracy_fp32}
                                  for s in acc.shifts])
        if settings.latency:
            say(f"{name} [{runtime}]: latency")
            stats, chunk = measure_latency(runner, ctx.golden(), settings)
            values.update(latency_us=stats.to_dict(), chunk=chunk,
                          pinned_cpus=pinned_cpus(settings.cpu_affinity),
                          per_sample_us=stats.p50 / chunk if chunk else stats.p50)
            native = measure_run_latency(runner, ctx.golden(), settings)
            if native is not None:
                say(f"{name} [{runtime}]: run latency ({native[1]} samples per call)")
                rstats, rchunk = native
                values.update(run_chunk=rchunk, run_latency_us=rstats.to_dict(),
                              run_per_sample_us=rstats.p50 / rchunk)
        if settings.streams and runner.graph == "step":
            from .streams import measure_streams

            found = []
            for n in settings.streams:
                say(f"{name} [{runtime}]: {n} streams")
                found.append(measure_streams(runner, ctx.golden(), n, _tolerance(entry), settings).to_dict())
            values["streams"] = found
            bad = next((f for f in found if not f["golden_ok"]), None)
            if bad is not None:
                base.update(values)
                return ctx.row(entry, "golden_failed", error=bad["error"],
                               **{k: v for k, v in base.items() if k not in ("latency_us", "run_latency_us")})
    except Exception as exc:  # noqa: BLE001
        return ctx.row(entry, "failed", error=_one_line(exc), **base)
    finally:
        runner.close()
    if settings.memory:
        say(f"{name} [{runtime}]: peak memory (fresh process)")
        try:
            mem = measure_memory(ctx.bundle.path, name, runtime, threads=threads,
                                 providers=providers, accel=accel)
            values.update(peak_rss_mb=mem.peak_rss_mb, baseline_rss_mb=mem.baseline_rss_mb,
                          model_rss_mb=mem.model_rss_mb)
        except Exception as exc:  # noqa: BLE001
            return ctx.row(entry, "failed", error=_one_line(exc), **base)   # no partial numbers
    base.update(values)
    return ctx.row(entry, "passed", **base)


def _runtimes_for(entry: dict, runtimes: list[str] | None) -> list[str]:
    """The runtimes an artifact is benched with: the requested ones of its format, or the
    first importable default; a missing default still yields a (failed) row."""
    fmt = entry.get("format")
    if runtimes:
        return [r for r in runtimes if RUNTIMES[r].format == fmt]
    try:
        return [resolve_runtime(fmt)]
    except EdgeLNNError:
        from ..runtime.runners import DEFAULT_RUNTIMES
        return DEFAULT_RUNTIMES.get(fmt, [])[:1]


def bench_bundle(bundle_path: str | Path, *, artifacts: list[str] | None = None,
                 target: str = "host", threads: int | None = 1, providers=None,
                 runtimes: list[str] | None = None, settings: BenchSettings | None = None,
                 on_target: bool = True, device: str | None = None,
                 include_manifest_failures: bool = True,
                 progress: Progress | None = None, accel: dict | None = None) -> list[dict]:
    """Bench every (or the named) artifact of a bundle with every matching runtime.

    Returns result rows as dicts (README.md, section "Result rows"), including rows for the
    manifest's ``rejected`` and ``unsupported`` entries so reports show failures too.
    """
    from ..runtime.accel import check_accel

    settings = settings or BenchSettings()
    accel = check_accel(accel)
    bundle = load_bundle(bundle_path)
    for r in runtimes or []:     # a named runtime that is not installed gives failed rows
        if r not in RUNTIMES:
            raise InputError(f"unknown runtime {r!r}; known: {', '.join(RUNTIMES)}")
    entries = [bundle.artifact(a) for a in artifacts] if artifacts else bundle.artifacts
    ctx = _Context(bundle, target, on_target, device)
    ctx.eval_file = settings.eval_file
    rows: list[ResultRow] = []
    for entry in entries:
        for runtime in _runtimes_for(entry, runtimes):
            rows.append(bench_artifact(ctx, entry, runtime, threads=threads, providers=providers,
                                       settings=settings, progress=progress, accel=accel))
    if include_manifest_failures and not artifacts:
        for entry in bundle.rejected:
            reason = entry.get("reason") or "failed the export parity gate"
            if entry.get("status") == "failed":     # the exporter itself failed on it
                reason = f"export failed: {reason}"
            rows.append(ctx.row(entry, "rejected", error=reason))
        for entry in bundle.unsupported:
            rows.append(ctx.row({**entry, "file": entry.get("file")}, "unsupported",
                                error=entry.get("reason") or "not supported by the exporter"))
    return [r.to_dict() for r in rows]


_OBJECT_BYTES: dict[str, int | None] = {}


def _c_object_bytes(c_file: Path) -> int | None:
    """text + rodata of the C artifact compiled for this host (cc -O2 -c; ``size -A``): what it
    adds to a program, where its .c file's bytes are mostly formatting of constants. None when no
    compiler or ``size`` is here."""
    import shutil
    import subprocess
    import tempfile

    key = str(c_file)
    if key in _OBJECT_BYTES:
        return _OBJECT_BYTES[key]
    from ..runtime.c.toolchain import find_cc

    cc, size = find_cc(), shutil.which("size")
    out = None
    c_file = Path(c_file).resolve()     # compiled in its own folder: a relative path would not resolve there
    if cc and size and c_file.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            obj = Path(tmp) / "a.o"
            built = subprocess.run([*cc, "-std=c99", "-O2", "-c", str(c_file), "-o", str(obj)],
                                   cwd=Path(c_file).parent, capture_output=True, text=True)
            if built.returncode == 0:
                listing = subprocess.run([size, "-A", str(obj)], capture_output=True, text=True).stdout
                out = sum(int(p[1]) for p in (ln.split() for ln in listing.splitlines())
                          if len(p) >= 2 and p[0].startswith((".text", ".rodata")) and p[1].isdigit())
    _OBJECT_BYTES[key] = out
    return out
