"""``export_bundle``: checkpoint -> bundle folder (every artifact through the parity gate).

Order of work: check every name (formats, schemes, graphs, target, tolerances) and the output
folder -> load checkpoint and dataset -> calibration, parity reference, golden and eval data
-> per format and graph: fp32 conversion, then each scheme -> run in its runtime, compare
with PyTorch -> manifest -> rename the temporary folder into place.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import interrupt, metrics
from ..errors import EdgeLNNError, RuntimeMissingError
from . import manifest as mf
from .calibration import CalibrationData
from .checks import FormatCheckError, check_format, reference_agreement
from ..outdir import remove_created, remove_leftovers, replace_folder, writer_lock
from ..schema import plain_name
from .errors import ExportError, NothingPassedError, UnknownNameError, UnsupportedError
from .formats import AUTO, FORMATS, GRAPHS, Format, resolve
from .targets import target_settings
from .validate import (Reference, Tolerance, compare, compare_gaps, gap_reference, parse_tolerances, run_artifact,
                       torch_outputs)

STATUSES = {"passed": "passed the parity gate, in the bundle",
            "rejected": "exported but failed parity: not in the bundle",
            "unsupported": "this combination is not produced",
            "failed": "the exporter or quantizer failed"}
CALIBRATION_SEQUENCES = 32
PARITY_MIN_SEQUENCES = 32
PARITY_MAX_SEQUENCES = 64
GOLDEN_SEQUENCES = 4
SEQ_CHUNK = 16
SEQ_FP32_ONLY = "seq graphs are fp32 only (quantize the step graph)"
# Golden tolerance = max(margin x error measured on the host, floor): devices differ in
# float kernels (FMA, accumulation order) and in integer rounding.
GOLDEN_MARGIN = {"fp32": 10.0, "fp16": 3.0}
# fp16 floor = the fp16 parity bound: x86 onnxruntime computes fp16 graphs through fp32 casts
# (host error ~3e-4) while arm64 NEON and CUDA run fp16 arithmetic natively (measured 3.5e-3
# under qemu arm64 and 1.3e-3 on an H200 for CfC-32), so a host-derived bound refuses good devices.
GOLDEN_FLOOR = {"fp32": 1e-5, "fp16": 1e-2}
GOLDEN_INT_MARGIN, GOLDEN_INT_FLOOR_REL = 3.0, 0.02

Progress = Callable[[int, int, str], None]


@dataclass
class ArtifactResult:
    """One (format, graph, scheme): what happened to it and its figures."""

    format: str
    graph: str
    scheme: str
    status: str                      # passed | rejected | unsupported | failed
    file: str | None = None
    bytes: int | None = None
    file_ratio: float | None = None
    quantized: bool | None = None
    max_abs: float | None = None
    rel_range: float | None = None
    metric: float | None = None
    metric_delta: float | None = None
    note: str = ""
    reason: str | None = None
    seconds: float = 0.0


@dataclass
class ExportReport:
    """What ``export_bundle`` did; ``to_dict()`` is JSON-serialisable."""

    bundle: str
    name: str
    checkpoint: str
    model: str
    dataset: str
    metric: str
    reference: float | None
    target: str | None
    seconds: float
    results: list[ArtifactResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def by_status(self, status: str) -> list[ArtifactResult]:
        return [r for r in self.results if r.status == status]

    @property
    def passed(self) -> list[ArtifactResult]:
        return self.by_status("passed")

    @property
    def ok(self) -> bool:
        """True when nothing was rejected or failed (unsupported combinations are fine)."""
        return not self.by_status("rejected") and not self.by_status("failed")

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


# -- before any work ---------------------------------------------------------------------------
def _check_out(out: Path) -> Path | None:
    """Fail early on an unusable ``out``; returns the first folder this call created (or None)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} exists and is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / mf.MANIFEST).is_file():
        raise ExportError(f"--out {out} exists, is not empty and is not an export bundle; choose another folder")
    parent = out.parent.absolute()
    created = next((p for p in reversed([parent, *parent.parents]) if not p.exists()), None)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent)
        Path(probe).rmdir()
    except OSError as exc:
        remove_created(created, out.parent)
        raise ExportError(f"cannot write to {parent} ({exc.strerror or exc})") from None
    return created


def _plan(formats, schemes, graphs, target) -> tuple[list[Format], list[str], dict]:
    settings = target_settings(target)
    if settings["mcu"]:            # a microcontroller runs C artifacts only, with figures
        bad = [f for f in formats or () if f not in settings["formats"]]
        if bad:
            raise UnknownNameError(f"format {bad[0]} does not run on {settings['name']} (a microcontroller: "
                                   f"{', '.join(settings['formats'])} only)")
        formats = formats or settings["formats"]
        from ..runtime.c.toolchain import require_cross

        for name in formats:
            why = FORMATS[name].available()
            if why is not None:
                raise RuntimeMissingError(why)
        require_cross()            # RuntimeMissingError: one line naming the Debian packages
    chosen, picked = resolve(formats, schemes, graphs)
    if schemes is None and settings["schemes"]:
        picked = [s for s in picked if s in settings["schemes"] or s == "fp32"]
    if "fp32" not in picked:  # the reference every size ratio is taken against
        picked.insert(0, "fp32")
    return chosen, picked, settings


# -- data --------------------------------------------------------------------------------------
def _load(checkpoint):
    from .. import data
    from ..models import load

    model = load(checkpoint)
    if getattr(model, "stored_data", None):       # train --data / import: the checkpoint carries its data
        from ..data.stored import unpack

        ds = unpack(model.stored_data, model.config["data"], str(checkpoint))
        if ds.input_size != model.input_size:
            raise ExportError(f"{checkpoint}: the stored data has {ds.input_size} features, the model "
                              f"{model.input_size}")
        return model, ds
    name = model.config.get("dataset")
    if not name:
        raise ExportError(f"{checkpoint}: the checkpoint names no dataset; calibration and parity need one")
    kwargs = {}
    if model.metrics.get("val_fraction") is not None:
        kwargs["val_fraction"] = float(model.metrics["val_fraction"])
    ds = data.load(name, seed=int(model.config.get("seed", 0)), **kwargs)
    if ds.input_size != model.input_size or ds.output_size != model.output_size:
        raise ExportError(f"{checkpoint}: model sizes ({model.input_size} in, {model.output_size} out) do not "
                          f"match dataset {name} ({ds.input_size} in, {ds.output_size} out)")
    return model, ds


def _parity_split(ds, calib_idx: set[int], seed: int = 0):
    """Validation sequences; topped up with training sequences the calibration did not use
    when validation has fewer than PARITY_MIN_SEQUENCES (short datasets)."""
    from ..data import Split

    rng = np.random.default_rng(seed)
    val = ds.val
    idx = np.sort(rng.permutation(len(val))[:PARITY_MAX_SEQUENCES])
    parts, source = [val.subset(idx)], f"val({len(idx)})"
    need = PARITY_MIN_SEQUENCES - len(idx)
    if need > 0:
        spare = np.array([i for i in range(len(ds.train)) if i not in calib_idx], dtype=np.int64)
        extra = np.sort(rng.permutation(spare)[:need]) if len(spare) else spare
        if len(extra):
            parts.append(ds.train.subset(extra))
            source += f"+train({len(extra)}, not used for calibration)"
    split = Split(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("x", "dt", "y", "lengths")))
    return split, source


def _calibration(model, ds) -> tuple[CalibrationData, set[int]]:
    """Whole training rollouts; on small training sets only half of them, so that the parity
    gate can be topped up with training sequences the calibration never saw."""
    n = len(ds.train)
    k = min(CALIBRATION_SEQUENCES, max(8, n // 2)) if n > 16 else n
    idx = np.sort(np.random.default_rng(0).permutation(n)[:k])
    return CalibrationData.from_split(model, ds.train.subset(idx), max_sequences=len(idx)), set(idx.tolist())


def _shift_variants(ds) -> list[tuple[str, str, float, object]]:
    """The dataset's standard shift suite (edgelnn.data.shift_suite), each drawn with its fixed
    seed: the study scores the PyTorch model on these very items."""
    from ..data import shift_suite, shifted_test

    if metrics.per_step(ds.test.y, ds.task):   # a shift moves or drops steps: per-step targets would not follow
        return []
    return [(f"s{i}", shift, level, shifted_test(ds, shift, level))
            for i, (shift, level) in enumerate(shift_suite(ds.name))]


# -- one artifact ------------------------------------------------------------------------------
def _footprint(path: Path, entry: dict) -> dict:
    """Model-scale memory and compute read from the file (edgelnn.export.footprint). A format
    without a reader gets the same keys with only file_bytes filled; a reader error leaves the
    figures out, with the reason. Microcontroller figures of the entry (``mcu``) join them."""
    from .footprint import Footprint, footprint

    try:
        fp = footprint(path, entry["format"], entry["graph"], list(entry["io"]["inputs"][2:]))
        out = (fp or Footprint(None, None, None, None, None, path.stat().st_size, None)).to_dict()
        stats = (entry.get("c") or {}).get("stats") or {}
        if fp is None and stats.get("const_bytes") is not None:    # C: the generator's count of its
            out["weight_bytes"] = int(stats["const_bytes"])          # static const arrays (as the auto search)
    except Exception as exc:  # noqa: BLE001 - the artifact passed its gate; only the figures are missing
        out = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]}
    mcu = entry.pop("mcu", None)          # C: the one place for them is the footprint
    if mcu:
        out["mcu"] = mcu
    return out


def _seq_compute_from_step(artifacts: list[dict]) -> None:
    """A seq graph runs the step graph's cell: give it the fp32 step graph's per-step compute."""
    steps = {a["format"]: a for a in artifacts if a["graph"] == "step" and a["scheme"] == "fp32"}
    for a in artifacts:
        fp, step = a.get("footprint"), steps.get(a["format"])
        if a["graph"] == "seq" and fp and "error" not in fp and step and (step.get("footprint") or {}).get(
                "macs_per_step") is not None:
            fp["macs_per_step"] = step["footprint"]["macs_per_step"]
            fp["elementwise_per_step"] = step["footprint"]["elementwise_per_step"]
            fp["macs_from"] = step["file"]


def _span(ref: Reference) -> float:
    mask = np.arange(ref.x.shape[1])[None, :] < ref.lengths[:, None]
    valid = ref.outputs[mask]
    return float(valid.max() - valid.min()) if valid.size else 0.0


def _golden(path, entry, sizes, golden: Reference, scheme: str) -> dict:
    outputs = run_artifact(path, entry, sizes, golden.x, golden.dt, golden.lengths)
    mask = np.arange(golden.x.shape[1])[None, :] < golden.lengths[:, None]
    err = float(np.abs(outputs - golden.outputs)[mask].max())
    if scheme in GOLDEN_MARGIN:
        tol = max(GOLDEN_MARGIN[scheme] * err, GOLDEN_FLOOR[scheme])
    else:
        span = float(golden.outputs[mask].max() - golden.outputs[mask].min())
        tol = max(GOLDEN_INT_MARGIN * err, GOLDEN_INT_FLOOR_REL * span)
    return {"max_abs_host": float(f"{err:.4g}"), "tolerance": float(f"{tol:.4g}")}


class _Run:
    """State of one export: paths, data, results."""

    def __init__(self, name, tmp: Path, model, ds, tolerances, settings, progress: Progress | None, total: int,
                 budget=None):
        self.name, self.tmp, self.model, self.ds = name, tmp, model, ds
        self.budget = budget
        self.tolerances, self.settings = tolerances, settings
        self.sizes = [size for _, size in model.state_spec]
        self.progress, self.total, self.done = progress, total, 0
        self.results: list[ArtifactResult] = []
        self.artifacts: list[dict] = []
        self.rejected: list[dict] = []
        self.unsupported: list[dict] = []
        self._gaps: Reference | None = None

    def gaps(self, ref: Reference) -> Reference:
        """The parity sequences with dt gaps (``gap_reference``), built on first use."""
        if self._gaps is None:
            self._gaps = gap_reference(self.model, ref)
        return self._gaps

    def tick(self, message: str) -> None:
        interrupt.check()          # an interrupt Python dropped (e.g. in a converter) still stops
        if self.progress is not None:
            self.progress(self.done, self.total, message)

    def advance(self, message: str) -> None:
        self.done += 1
        self.tick(message)

    def unsupported_entry(self, fmt: str, graph: str, scheme: str, reason: str) -> None:
        self.unsupported.append({"format": fmt, "graph": graph, "scheme": scheme, "reason": reason})
        self.results.append(ArtifactResult(fmt, graph, scheme, "unsupported", reason=reason))

    def failed_entry(self, fmt, graph, scheme, reason, seconds) -> None:
        self.rejected.append({"format": fmt, "graph": graph, "scheme": scheme, "status": "failed",
                              "reason": reason})
        self.results.append(ArtifactResult(fmt, graph, scheme, "failed", reason=reason, seconds=round(seconds, 2)))

    def gate(self, fmt: Format, graph: str, scheme: str, path: Path, info: dict, chunk, fp32_bytes,
             ref: Reference, golden: Reference, started: float, *, tolerance: Tolerance | None = None,
             extra: dict | None = None) -> None:
        """Validate the written file; keep it (artifacts) or delete it (rejected).
        ``tolerance``: instead of the scheme's; ``extra``: more manifest fields (``auto``)."""
        entry = {"file": path.name, "format": fmt.name, "graph": graph, "scheme": scheme,
                 "chunk": chunk if fmt.seq_chunk and graph == "seq" else None,
                 "sha256": mf.sha256(path), "bytes": path.stat().st_size,
                 "file_ratio": round(path.stat().st_size / (fp32_bytes or path.stat().st_size), 4),
                 "quantized": bool(info.get("quantized", False)), "note": info.get("note", ""),
                 "io": info["io"]}
        entry.update(info.get("manifest") or {})      # format-specific facts (C: prefix, header, mcu)
        tol = tolerance or self.tolerances.get(scheme, Tolerance(max_abs=1e-4))
        try:
            entry["checked"] = check_format(fmt.name, path)    # the format's own checker first
            parity = compare(run_artifact(path, entry, self.sizes, ref.x, ref.dt, ref.lengths), ref, tol)
            if fmt.name == "c" and parity["passed"]:      # firmware meets sensor gaps: replay some
                gaps = self.gaps(ref)
                gap = compare_gaps(run_artifact(path, entry, self.sizes, gaps.x, gaps.dt, gaps.lengths), gaps, tol)
                parity["gaps"] = {k: v for k, v in gap.items() if k != "reason"}
                if not gap["passed"]:
                    parity["passed"] = False
                    parity["reason"] = f"fails on dt gaps of {'/'.join(f'{f:g}' for f in gap['gap_factors'])}x " \
                                       f"the median dt: {gap['reason']}"
            entry["parity"] = {k: v for k, v in parity.items() if k != "reason"}
            if parity["passed"] and fmt.name == "onnx":
                entry["parity"]["reference_evaluator"] = reference_agreement(
                    path, self.sizes, ref.x, ref.dt, tol, _span(ref))
            if parity["passed"]:
                entry["golden"] = _golden(path, entry, self.sizes, golden, scheme)
        except FormatCheckError as exc:
            parity = {"passed": False, "reason": str(exc)}
            entry["parity"] = {"passed": False}
        except EdgeLNNError as exc:
            parity = {"passed": False, "reason": f"does not run in {fmt.runtime}: {exc}"}
            entry["parity"] = {"passed": False}
        entry["tools"] = fmt.tool_versions()
        entry.update(extra or {})
        if parity["passed"] and fmt.name == "c":     # the header states the bound the gate measured
            from .c.build import stamp_error_bound
            stamp_error_bound(path, entry)
            try:                                      # and the stamped header still compiles strictly
                check_format("c", path)
            except FormatCheckError as exc:
                parity = {**parity, "passed": False, "reason": str(exc)}
                entry["parity"]["passed"] = False
        result = ArtifactResult(fmt.name, graph, scheme, "passed" if parity["passed"] else "rejected",
                                path.name, entry["bytes"], entry["file_ratio"], entry["quantized"],
                                parity.get("max_abs"), parity.get("rel_range"), parity.get("metric"),
                                parity.get("metric_delta"), entry["note"], parity.get("reason"),
                                round(time.perf_counter() - started, 2))
        self.results.append(result)
        if parity["passed"]:
            entry["footprint"] = _footprint(path, entry)
            self.artifacts.append(entry)
        else:
            self.rejected.append({**entry, "status": "rejected", "reason": parity["reason"]})
            path.unlink(missing_ok=True)
            for extra in entry.get("extra_files") or []:      # C: its header leaves with it
                (path.parent / Path(extra["file"]).name).unlink(missing_ok=True)


def _raise_if_disk(exc: BaseException, tmp: Path) -> None:
    """A converter that failed because the disk is full or not writable is not a failed artifact:
    the whole export stops with one line naming the folder (the other artifacts would fail too)."""
    import errno as _errno

    codes = (_errno.ENOSPC, _errno.EDQUOT, _errno.EROFS, _errno.EACCES)
    cause = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.errno in codes:
        why = cause.strerror
    else:
        try:
            why = "No space left on device" if shutil.disk_usage(tmp).free < (1 << 20) else None
        except OSError:
            why = None
    if why:
        raise ExportError(f"cannot write to {tmp.parent} ({why}); no bundle was written") from None


BATCHED_FILES = ("tflite",)      # formats whose step graph has a fixed batch: one file per size


def _batch_files(run: _Run, module, fmt: Format, graph: str, scheme: str, path: Path, calib, ref,
                 sources: dict) -> None:
    """A passed step artifact of a fixed-batch format gets its batched files (export/batches.py)."""
    if fmt.name not in BATCHED_FILES or graph != "step" or run.results[-1].status != "passed":
        return
    from .batches import add_batch_files

    run.tick(f"{fmt.name} {graph} {scheme}: batched files")
    entry = run.artifacts[-1]
    entry["note"] = f"{entry['note']}; {add_batch_files(run, module, fmt, scheme, path, entry, calib, ref, sources)}"


def _export_format(run: _Run, fmt: Format, graphs, schemes, calib, ref, golden, chunk) -> None:
    module = fmt.load()
    for graph in graphs:
        if graph not in fmt.graphs:
            for scheme in schemes:
                if scheme in fmt.schemes:
                    run.unsupported_entry(fmt.name, graph, scheme, fmt.graph_note or f"no {graph} graph")
            continue
        fp32 = run.tmp / f"{run.name}.{graph}.fp32{fmt.suffix}"
        started = time.perf_counter()
        run.tick(f"{fmt.name} {graph} fp32: converting")
        try:
            info = module.convert(run.model, graph, fp32, chunk=chunk)
        except UnsupportedError as exc:        # this kind/graph cannot be produced: say why
            for scheme in ["fp32"] + [s for s in schemes if s != "fp32" and s in fmt.schemes_for(graph)]:
                run.unsupported_entry(fmt.name, graph, scheme, str(exc))
                run.advance(f"{fmt.name} {graph} {scheme}: unsupported")
            continue
        except Exception as exc:  # noqa: BLE001 - keep going with the other formats/graphs
            _raise_if_disk(exc, run.tmp)
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:400]
            run.failed_entry(fmt.name, graph, "fp32", reason, time.perf_counter() - started)
            run.advance(f"{fmt.name} {graph} fp32: failed")
            for scheme in schemes:
                if scheme != "fp32" and scheme in fmt.schemes_for(graph):
                    run.failed_entry(fmt.name, graph, scheme, "fp32 conversion failed", 0.0)
                    run.advance(f"{fmt.name} {graph} {scheme}: skipped")
            continue
        fp32_info = {**info, "quantized": False}
        fp32_bytes = fp32.stat().st_size
        run.tick(f"{fmt.name} {graph} fp32: parity")
        run.gate(fmt, graph, "fp32", fp32, fp32_info, chunk, fp32_bytes, ref, golden, started)
        sources: dict = {}         # batched fp32 step files, shared by the schemes
        _batch_files(run, module, fmt, graph, "fp32", fp32, calib, ref, sources)
        run.advance(f"{fmt.name} {graph} fp32: {run.results[-1].status}")
        source = fp32 if fp32.exists() else None
        kept_source = source is not None
        if not kept_source:  # rejected fp32: quantize from a fresh copy anyway, figures tell
            source = run.tmp / f".{graph}.fp32.src{fmt.suffix}"
            module.convert(run.model, graph, source, chunk=chunk)
        for scheme in schemes:
            if scheme == "fp32":
                continue
            if scheme == AUTO:  # the mixed-precision search (edgelnn.export.mixed)
                from .mixed.export import export_auto
                export_auto(run, fmt, graph, source, calib, ref, golden, chunk, fp32_bytes, info["io"], run.budget)
                continue
            if scheme not in fmt.schemes:  # another format's scheme: nothing to report here
                continue
            if scheme not in fmt.schemes_for(graph):
                run.unsupported_entry(fmt.name, graph, scheme, SEQ_FP32_ONLY)
                continue
            started = time.perf_counter()
            path = run.tmp / f"{run.name}.{graph}.{scheme}{fmt.suffix}"
            run.tick(f"{fmt.name} {graph} {scheme}: quantizing")
            try:
                options = {"reduce_range": run.settings["reduce_range"]} if fmt.name == "onnx" else \
                    ({"model": run.model} if fmt.name == "c" else {})
                qinfo = module.quantize(source, scheme, calib, path, **options)
            except Exception as exc:  # noqa: BLE001
                path.unlink(missing_ok=True)
                _raise_if_disk(exc, run.tmp)
                reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:400]
                run.failed_entry(fmt.name, graph, scheme, reason, time.perf_counter() - started)
                run.advance(f"{fmt.name} {graph} {scheme}: failed")
                continue
            run.tick(f"{fmt.name} {graph} {scheme}: parity")
            run.gate(fmt, graph, scheme, path, {**qinfo, "io": info["io"]}, chunk, fp32_bytes, ref, golden, started)
            _batch_files(run, module, fmt, graph, scheme, path, calib, ref, sources)
            run.advance(f"{fmt.name} {graph} {scheme}: {run.results[-1].status}")
        if not kept_source:
            source.unlink(missing_ok=True)
        for src in sources.values():
            src.unlink(missing_ok=True)


def export_bundle(checkpoint, out, *, formats: Sequence[str] | None = None,
                  schemes: Sequence[str] | None = None, target: str | None = None,
                  tolerances=None, progress: Progress | None = None,
                  graphs: Sequence[str] | dict[str, Sequence[str]] = GRAPHS,
                  name: str | None = None, max_drop: float | None = None,
                  max_error: float | None = None) -> ExportReport:
    """Export ``checkpoint`` into the bundle folder ``out`` and return what happened.

    formats: None = every registered format; a format whose extra is missing is then skipped
      with a note (named explicitly, it is an error). schemes: None = every scheme that applies
      (the target's list when ``target`` names one); fp32 is always built (ratios refer to it).
    tolerances: overrides of ``DEFAULT_TOLERANCES`` (dict or ["scheme=value", ...]).
    graphs: "step" and/or "seq", or per format, e.g. {"onnx": ["step", "seq"], "tflite": ["step"]}.
    progress: called as ``progress(done, total, message)``.
    max_drop, max_error: the budget of the ``auto`` scheme (``edgelnn.export.mixed``): task-metric
      points (default 1) and max error / output range (default: the int8-static gate's bound).
    Raises a one-line EdgeLNNError/ValueError for bad input before any file is written.
    The PyTorch reference runs on one thread (as training does): small batches, and on a busy
    machine two threads spin-wait on each other (12x slower measured on a loaded 2-core VM).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _export_bundle(checkpoint, out, formats=formats, schemes=schemes, target=target,
                              tolerances=tolerances, progress=progress, graphs=graphs, name=name,
                              max_drop=max_drop, max_error=max_error)
    finally:
        torch.set_num_threads(threads)


def _export_bundle(checkpoint, out, *, formats, schemes, target, tolerances, progress, graphs,
                   name, max_drop, max_error) -> ExportReport:
    start = time.perf_counter()
    out = Path(out)
    if name is not None:
        plain_name(name, "--name", UnknownNameError)
    explicit = formats is not None
    per_format = dict(graphs) if isinstance(graphs, dict) else None
    if per_format and set(per_format) - set(FORMATS):
        raise UnknownNameError(f"graphs given for unknown format(s) {sorted(set(per_format) - set(FORMATS))}; "
                               f"known formats: {', '.join(FORMATS)}")
    all_graphs = sorted({g for gs in per_format.values() for g in gs}) if per_format else list(graphs)
    chosen, picked, settings = _plan(formats, schemes, all_graphs, target)
    graphs_of = {f.name: list(per_format.get(f.name, ()) if per_format else all_graphs) for f in chosen}
    tols = parse_tolerances(tolerances)
    budget = _budget(picked, max_drop, max_error)
    skipped: dict[str, str] = {}
    for fmt in chosen:
        why = fmt.available()
        if why is not None and explicit:
            raise RuntimeMissingError(why)
        if why is not None:
            skipped[fmt.name] = why
    usable = [f for f in chosen if f.name not in skipped]
    notes = [f"{f} skipped: {why}" for f, why in skipped.items()]
    model, ds = _load(checkpoint)
    if ds.task == "regression":        # a C header states how to un-standardise the outputs
        model.target_stats = (float(ds.target_mean), float(ds.target_std))
    created = _check_out(out)
    try:
        with writer_lock(out, "export"):        # one writer per folder; then a killed run's leftovers
            remove_leftovers(out)
            return _export_locked(out, model, ds, name, start, chosen, usable, picked, settings, graphs_of,
                                  tols, budget, skipped, notes, progress, checkpoint)
    except BaseException:
        remove_created(created, out.parent)
        raise


def _export_locked(out, model, ds, name, start, chosen, usable, picked, settings, graphs_of, tols, budget,
                   skipped, notes, progress, checkpoint) -> ExportReport:
    name = name or out.name
    plain_name(name, "bundle name (--name, default the --out folder's name)", UnknownNameError)
    task = ds.task
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        raise ExportError(f"cannot write to {out.parent} ({exc.strerror or exc})") from None
    try:
        total = 1 + sum(len([s for s in picked if s in f.schemes_for(g) or (s == AUTO and g == "step")])
                        for f in usable for g in graphs_of[f.name] if g in f.graphs)
        run = _Run(name, tmp, model, ds, tols, settings, progress, total, budget)
        run.tick("calibration, parity and evaluation data")
        calib, calib_idx = _calibration(model, ds)
        calib.save(tmp / mf.CALIBRATION)
        psplit, source = _parity_split(ds, calib_idx)
        ref = Reference.from_split(model, psplit, task, ds.target_std, source)
        gsplit = ds.test.subset(np.arange(min(GOLDEN_SEQUENCES, len(ds.test))))
        golden = Reference.from_split(model, gsplit, task, ds.target_std, "test")
        mf.write_golden(tmp / mf.GOLDEN, golden.x, golden.dt, golden.lengths, golden.outputs)
        test_out = torch_outputs(model, ds.test.x, ds.test.dt)
        reference = metrics.score_outputs(test_out, ds.test.lengths, ds.test.y, task, ds.target_std)
        variants = _shift_variants(ds)
        if metrics.per_step(ds.test.y, task):
            notes.append("per-step targets: the metric reads every valid step of the test split; no shift "
                         "sets (a shift moves or drops steps, which the targets would not follow)")
        shifts = []
        for key, shift, level, split in variants:
            y = torch_outputs(model, split.x, split.dt)
            shifts.append({"key": key, "shift": shift, "level": level,
                           "reference": mf._f(metrics.score_outputs(y, split.lengths, split.y, task,
                                                                    ds.target_std))})
        mf.write_eval(tmp / mf.EVAL, ds.test, variants)
        run.advance("data ready")
        chunk = int(min(SEQ_CHUNK, ds.test.x.shape[1]))
        for fmt in chosen:
            if fmt not in usable:
                for graph in graphs_of[fmt.name]:
                    for scheme in picked:
                        if scheme in fmt.schemes_for(graph):
                            run.unsupported_entry(fmt.name, graph, scheme, skipped[fmt.name])
                continue
            _export_format(run, fmt, graphs_of[fmt.name], picked, calib, ref, golden, chunk)
        _seq_compute_from_step(run.artifacts)
        manifest = mf.base_manifest(name, model, ds, reference, 
                                    chunk if any(f.seq_chunk and "seq" in graphs_of[f.name] for f in usable) else None)
        manifest.update({
            "target": settings["name"], "artifacts": run.artifacts, "rejected": run.rejected,
            "unsupported": run.unsupported,
            "calibration": {"file": mf.CALIBRATION, "sequences": calib.sequences, "steps": calib.steps,
                            "source": "train"},
            "golden_file": mf.GOLDEN,
            "evaluation": {"file": mf.EVAL, "metric": metrics.metric_name(task), "reference": mf._f(reference),
                           "shifts": shifts},
            "notes": notes,
        })
        mf.write(tmp, manifest)
        report = ExportReport(str(out), name, str(checkpoint), model.kind, ds.name,
                              metrics.metric_name(task), mf._f(reference), settings["name"],
                              round(time.perf_counter() - start, 2), run.results, notes)
        if not run.artifacts:       # never replace a bundle with one that holds nothing usable
            kept = (f"the bundle in {out} was left as it was" if (out / mf.MANIFEST).is_file()
                    else "no bundle was written")
            raise NothingPassedError(f"no artifact passed the parity gate ({len(run.results)} tried; "
                                     f"see the table for why); {kept}", report)
        interrupt.check()          # never replace the user's bundle after an interrupt
        replace_folder(tmp, out)
    except OSError as exc:          # the bundle's own files (data, manifest) on a full/read-only disk
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(f"cannot write to {out.parent} ({exc.strerror or exc}); no bundle was written") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _budget(picked: list[str], max_drop: float | None, max_error: float | None):
    """The ``auto`` scheme's budget; asking for one without ``auto`` is a usage error."""
    if AUTO not in picked:
        if max_drop is not None or max_error is not None:
            raise UnknownNameError("--max-drop and --max-error are the budget of --quant auto; add --quant auto")
        return None
    from .mixed.search import Budget

    return Budget(1.0 if max_drop is None else float(max_drop), None if max_error is None else float(max_error))
