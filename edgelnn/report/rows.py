"""Result rows (README.md, section "Result rows") read from JSONL files and checked once, here.

Everything downstream works on :class:`Row`: the fields the report uses, flattened and typed,
plus ``raw`` (the JSON object as read) for anything else.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EdgeLNNError, UnsafePathError
from ..files import JSONNestingError, json_loads
from ..schema import RESULT_SCHEMA as SCHEMA
from ..schema import RESULT_SCHEMA_VERSION as SCHEMA_VERSION
from ..schema import ROW_NON_NULL as NON_NULL  # the others may be null (shown as "?")
from ..schema import ROW_REQUIRED as REQUIRED
from ..schema import SHIFT_RENAMES
from ..schema import STATUS_LABELS as STATUSES  # status -> (group, label shown in reports)
from ..schema import plain_name, with_new_names
EXPORT_FAILED = ("failed", "failed to export")  # a "rejected" row without a file: the exporter failed
HIGHER_IS_BETTER = {"accuracy": True, "rmse": False}  # mirrors edgelnn.metrics


class ResultsError(EdgeLNNError):
    """A results file is missing, empty, not JSONL, or not edgelnn-result schema 1."""


@dataclass
class Shift:
    shift: str
    level: float
    accuracy: float | None
    accuracy_fp32: float | None


@dataclass
class Row:
    """One artifact x runtime x target measurement (or failure)."""

    bundle: str
    model: str
    dataset: str
    format: str
    scheme: str
    status: str
    artifact: str = ""
    graph: str = "step"
    error: str | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    provider: str | None = None
    threads: int | None = None
    target: str = "host"
    on_target: bool | None = None
    golden_ok: bool | None = None
    golden_max_abs: float | None = None
    golden_tolerance: float | None = None
    p50_us: float | None = None
    p99_us: float | None = None
    per_sample_us: float | None = None
    chunk: int | None = None
    peak_rss_mb: float | None = None
    model_rss_mb: float | None = None
    size_bytes: int | None = None            # C: object text + rodata on a host, flash on an MCU
    size_ratio: float | None = None          # "x fp32": the row's flash_ratio on an MCU, weight_ratio on a host
    file_ratio: float | None = None          # the file's bytes / fp32's (the row's file_ratio)
    source_bytes: int | None = None          # C: the .c file's bytes
    sha256: str | None = None
    params: int | None = None
    params_active: int | None = None
    # the model's own memory and compute (bench row's ``footprint``; None for older rows)
    weight_bytes: int | None = None
    state_bytes: int | None = None
    macs_per_step: int | None = None
    elementwise_per_step: int | None = None
    metric: str = "accuracy"
    accuracy: float | None = None
    accuracy_fp32: float | None = None
    reference: float | None = None  # what deltas are taken against (see fill_references)
    reference_kind: str = "PyTorch fp32"
    agreement: float | None = None
    eval_sequences: int | None = None
    shifts: list[Shift] = field(default_factory=list)
    parity_max_abs: float | None = None
    run_per_sample_us: float | None = None   # c: <prefix>_run per sample (chunked)
    flash_bytes: int | None = None           # microcontroller targets: the target core's figures
    ram_bytes: int | None = None
    stack_bytes: int | None = None
    mcu_state_bytes: int | None = None       # state of the API that core calls (int16: integer API)
    source: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def mcu_ram_bytes(self) -> int | None:
        """RAM the model needs on a microcontroller: static + worst-case stack + state."""
        if self.stack_bytes is None and self.mcu_state_bytes is None:
            return None
        return (self.ram_bytes or 0) + (self.stack_bytes or 0) + (self.mcu_state_bytes or 0)

    @property
    def _status(self) -> tuple[str, str]:
        if self.status == "rejected" and self.size_bytes is None:
            return EXPORT_FAILED
        return STATUSES[self.status]

    @property
    def file_grew(self) -> bool:
        """A quantized artifact whose file is larger than fp32's (e.g. ONNX QDQ structure)."""
        return self.scheme != "fp32" and self.file_ratio is not None and self.file_ratio > 1.0

    @property
    def status_label(self) -> str:
        return self._status[1]

    @property
    def status_group(self) -> str:
        return self._status[0]

    @property
    def accuracy_delta(self) -> float | None:
        """accuracy - reference (negative = worse for accuracy, positive = worse for rmse)."""
        if self.accuracy is None or self.reference is None:
            return None
        return self.accuracy - self.reference

    @property
    def drop(self) -> float | None:
        """Loss vs fp32 in points: accuracy points, or percent of the fp32 RMSE; > 0 = worse."""
        delta = self.accuracy_delta
        if delta is None:
            return None
        if HIGHER_IS_BETTER.get(self.metric, True):
            return -delta * 100.0
        return delta / max(abs(self.reference), 1e-12) * 100.0

    @property
    def step_p50_us(self) -> float | None:
        """p50 latency per input sample (per step; seq graphs: per call / chunk)."""
        if self.per_sample_us is not None:
            return self.per_sample_us
        if self.p50_us is None:
            return None
        return self.p50_us / self.chunk if (self.graph == "seq" and self.chunk) else self.p50_us

    @property
    def step_p99_us(self) -> float | None:
        if self.p99_us is None:
            return None
        return self.p99_us / self.chunk if (self.graph == "seq" and self.chunk) else self.p99_us

    @property
    def key(self) -> tuple:
        return (self.bundle, self.format, self.graph, self.scheme, self.runtime or "", self.target)


def _num(value, kind=float):
    if value is None:
        return None
    try:
        out = kind(value)
    except (TypeError, ValueError):
        return None
    return None if isinstance(out, float) and math.isnan(out) else out


# Measurements a row may carry: each must be a finite number >= 0 when present (JSON null: not
# measured). Accuracies (metric "accuracy") must lie in [0, 1]. A row that breaks this is refused
# when read: a report never ranks or recommends from it.
_OBJECTS = ("latency_us", "measured_on", "footprint", "run_latency_us")
_MEASURES = ("golden_max_abs", "golden_tolerance", "per_sample_us", "peak_rss_mb", "model_rss_mb",
             "size_bytes", "size_ratio", "file_ratio", "weight_ratio", "flash_ratio", "params", "params_active",
             "parity_max_abs", "run_per_sample_us",
             "flash_bytes", "ram_bytes", "stack_bytes", "mcu_state_bytes", "chunk", "threads", "eval_sequences")
_SCORES = ("accuracy", "accuracy_fp32", "agreement")


def _check_number(value, name: str, where: str, top: float | None = None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsError(f"{where}: malformed row: {name} must be a number, got {json.dumps(value)[:40]}")
    if not math.isfinite(value):
        raise ResultsError(f"{where}: malformed row: {name} is {value} (a measurement must be a finite number)")
    if value < 0 or (top is not None and value > top):
        bounds = f"in [0, {top:g}]" if top is not None else ">= 0"
        raise ResultsError(f"{where}: malformed row: {name} is {value:g}, outside {bounds}")


def check_values(obj: dict, where: str) -> None:
    """Types and ranges of the fields the report reads (see _MEASURES, _SCORES)."""
    for key in _OBJECTS:
        if obj.get(key) is not None and not isinstance(obj[key], dict):
            raise ResultsError(f"{where}: malformed row: {key} must be an object, got {json.dumps(obj[key])[:40]}")
    for key in ("latency_us", "run_latency_us"):
        for k, v in (obj.get(key) or {}).items():
            _check_number(v, f"{key}.{k}", where)
    for key in _MEASURES:
        _check_number(obj.get(key), key, where)
    for k in ("weight_bytes", "state_bytes", "macs_per_step", "elementwise_per_step"):
        _check_number((obj.get("footprint") or {}).get(k), f"footprint.{k}", where)
    top = 1.0 if str(obj.get("metric") or "accuracy") == "accuracy" else None
    for key in _SCORES:
        _check_number(obj.get(key), key, where, 1.0 if key == "agreement" else top)
    shifts = obj.get("shifts")
    if shifts is not None and not isinstance(shifts, list):
        raise ResultsError(f"{where}: malformed row: shifts must be a list, got {json.dumps(shifts)[:40]}")
    for i, s in enumerate(shifts or []):
        if not isinstance(s, dict):
            raise ResultsError(f"{where}: malformed row: shifts[{i}] must be an object")
        _check_number(s.get("level"), f"shifts[{i}].level", where)
        for key in ("accuracy", "accuracy_fp32"):
            _check_number(s.get(key), f"shifts[{i}].{key}", where, top)
    for key in ("bundle", "model", "dataset", "format", "scheme", "graph", "runtime", "target", "error",
                "artifact", "metric", "provider", "runtime_version"):
        if obj.get(key) is not None and not isinstance(obj[key], (str, int, float)):
            raise ResultsError(f"{where}: malformed row: {key} must be text, got {json.dumps(obj[key])[:40]}")


def parse_row(obj: dict, where: str) -> Row:
    """Validate one JSON object and flatten it into a Row; ResultsError names ``where``."""
    if not isinstance(obj, dict):
        raise ResultsError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in REQUIRED if k not in obj or (k in NON_NULL and obj[k] in (None, ""))]
    if missing:
        raise ResultsError(f"{where}: missing field {', '.join(repr(m) for m in missing)}")
    if obj["schema"] != SCHEMA or obj["schema_version"] != SCHEMA_VERSION:
        raise ResultsError(f"{where}: schema {obj['schema']!r} version {obj['schema_version']!r} is "
                           f"not supported (this edgelnn reads {SCHEMA!r} version {SCHEMA_VERSION})")
    if obj["status"] not in STATUSES:
        raise ResultsError(f"{where}: unknown status {obj['status']!r}; known: {', '.join(STATUSES)}")
    check_values(obj, where)
    raw, obj = obj, with_new_names(obj)                       # rows written before a rename
    try:      # names the report uses to find files: a bundle folder and a file inside it
        plain_name(str(obj["bundle"]), "bundle")
        if obj.get("artifact") is not None:
            plain_name(obj["artifact"], "artifact")
    except UnsafePathError as exc:
        raise ResultsError(f"{where}: {exc}") from None
    lat = obj.get("latency_us") or {}
    measured = obj.get("measured_on") or {}
    fp = obj.get("footprint") if isinstance(obj.get("footprint"), dict) else {}
    shifts = [Shift(SHIFT_RENAMES.get(str(s.get("shift")), str(s.get("shift"))), float(s.get("level")), _num(s.get("accuracy")),
                    _num(s.get("accuracy_fp32"))) for s in obj.get("shifts") or []
              if isinstance(s, dict) and s.get("shift") is not None and s.get("level") is not None]
    return Row(
        bundle=str(obj["bundle"]), model=str(obj["model"] or "?"), dataset=str(obj["dataset"] or "?"),
        format=str(obj["format"] or "?"), scheme=str(obj["scheme"] or "?"), status=obj["status"],
        artifact=str(obj.get("artifact") or ""), graph=str(obj.get("graph") or "step"),
        error=obj.get("error"), runtime=obj.get("runtime"),
        runtime_version=obj.get("runtime_version"), provider=obj.get("provider"),
        threads=_num(obj.get("threads"), int), target=str(obj.get("target") or "host"),
        on_target=measured.get("on_target"), golden_ok=obj.get("golden_ok"),
        golden_max_abs=_num(obj.get("golden_max_abs")),
        golden_tolerance=_num(obj.get("golden_tolerance")),
        p50_us=_num(lat.get("p50")), p99_us=_num(lat.get("p99")),
        per_sample_us=_num(obj.get("per_sample_us")), chunk=_num(obj.get("chunk"), int),
        peak_rss_mb=_num(obj.get("peak_rss_mb")), model_rss_mb=_num(obj.get("model_rss_mb")),
        size_bytes=_num(obj.get("size_bytes"), int), file_ratio=_num(obj.get("file_ratio")),
        size_ratio=_num(obj.get("flash_ratio") if obj.get("flash_bytes") is not None else obj.get("weight_ratio")),
        source_bytes=_num(obj.get("source_bytes"), int), sha256=obj.get("sha256"),
        params=_num(obj.get("params"), int), params_active=_num(obj.get("params_active"), int),
        weight_bytes=_num(fp.get("weight_bytes"), int), state_bytes=_num(fp.get("state_bytes"), int),
        macs_per_step=_num(fp.get("macs_per_step"), int),
        elementwise_per_step=_num(fp.get("elementwise_per_step"), int),
        metric=str(obj.get("metric") or "accuracy"),
        accuracy=_num(obj.get("accuracy")), accuracy_fp32=_num(obj.get("accuracy_fp32")),
        reference=_num(obj.get("accuracy_fp32")),
        agreement=_num(obj.get("agreement")), eval_sequences=_num(obj.get("eval_sequences"), int),
        shifts=shifts,
        parity_max_abs=_num(obj.get("parity_max_abs")),
        run_per_sample_us=_num(obj.get("run_per_sample_us")), flash_bytes=_num(obj.get("flash_bytes"), int),
        ram_bytes=_num(obj.get("ram_bytes"), int), stack_bytes=_num(obj.get("stack_bytes"), int),
        mcu_state_bytes=_num(obj.get("mcu_state_bytes"), int), raw=raw)


def fill_ratios(rows: list[Row]) -> None:
    """``size_ratio`` of rows written before bench stated it (no ``weight_ratio``/``flash_ratio``
    field; newer rows are read as they are): what quantization shrinks, against the fp32
    artifact's row of the same bundle, format, graph and target -- weight bytes on a host (stored
    constants as the footprint counts them; a file's graph structure does not shrink), flash on a
    microcontroller. None where either side lacks the figure (never file bytes: those are
    ``file_ratio``, shown beside)."""
    fp32: dict[tuple, Row] = {}
    for r in rows:
        if r.scheme == "fp32":
            key = (r.bundle, r.format, r.graph, r.target)
            if key not in fp32 or (r.weight_bytes or r.flash_bytes):
                fp32[key] = r
    for r in rows:
        ref = fp32.get((r.bundle, r.format, r.graph, r.target))
        if ref is None or "weight_ratio" in r.raw or "flash_ratio" in r.raw:
            continue
        mine, theirs = (r.flash_bytes, ref.flash_bytes) if r.flash_bytes is not None else (r.weight_bytes, ref.weight_bytes)
        if mine is not None and theirs:
            r.size_ratio = mine / theirs


def fill_references(rows: list[Row]) -> None:
    """Rows without PyTorch's figure (bench left it out because it scored a subset of the test
    split) are compared with the fp32 artifact of the same bundle, graph, runtime and target,
    which scored the same subset."""
    fp32 = {(r.bundle, r.format, r.graph, r.runtime, r.target, r.eval_sequences): r.accuracy
            for r in rows if r.scheme == "fp32" and r.status == "passed" and r.accuracy is not None}
    for r in rows:
        if r.reference is None and r.accuracy is not None:
            ref = fp32.get((r.bundle, r.format, r.graph, r.runtime, r.target, r.eval_sequences))
            if ref is not None:
                r.reference, r.reference_kind = ref, "fp32 artifact (same test subset)"


def load_results(paths: list[str | Path]) -> list[Row]:
    """Read every row of every JSONL file; any bad line or an empty input is a ResultsError."""
    if not paths:
        raise ResultsError("no results files given")
    rows: list[Row] = []
    seen: dict = {}
    for path in map(Path, paths):
        try:
            key = path.resolve()
        except OSError:
            key = path.absolute()
        if key in seen:
            raise ResultsError(f"{path}: given twice (also as {seen[key]}); its rows would count double")
        seen[key] = path
        if not path.is_file():
            raise ResultsError(f"{path}: no such results file")
        count = 0
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ResultsError(f"{path}: not a results file (not UTF-8 text; expected JSON lines "
                               "from `edgelnn bench --out`)") from None
        except OSError as exc:
            raise ResultsError(f"{path}: cannot read ({exc.strerror or exc})") from None
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json_loads(line)
            except JSONNestingError as exc:
                raise ResultsError(f"{path}:{lineno}: not a result row (JSON {exc})") from None
            except json.JSONDecodeError as exc:
                raise ResultsError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
            try:
                row = parse_row(obj, f"{path}:{lineno}")
            except (TypeError, ValueError, AttributeError, OverflowError):   # a field of the wrong type
                raise ResultsError(f"{path}:{lineno}: malformed row (a field has the wrong type or an "
                                   "impossible value; rows come from `edgelnn bench --out`)") from None
            row.source = str(path)
            rows.append(row)
            count += 1
        if count == 0:
            raise ResultsError(f"{path}: empty results file (no rows)")
    fill_references(rows)
    fill_ratios(rows)
    return rows
