"""Result rows (README.md, section "Result rows"): one per artifact x runtime x target, JSON lines."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..schema import RESULT_SCHEMA as SCHEMA
from ..schema import RESULT_SCHEMA_VERSION as SCHEMA_VERSION
from ..schema import ROW_STREAMS_KEYS, STATUSES, STREAMS_BATCH_MODES


@dataclass
class ResultRow:
    bundle: str
    model: str | None
    dataset: str | None
    artifact: str | None
    format: str | None
    graph: str | None
    scheme: str | None
    status: str
    error: str | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    provider: str | None = None
    providers_used: list[str] = field(default_factory=list)
    # accelerator options of the target profile (edgelnn/runtime/accel.py): {requested, session |
    # interpreter (what the runtime reports it has), fallback: [lines]}; null when none were asked
    accelerator: dict | None = None
    threads: int | None = None
    target: str = "host"
    measured_on: dict = field(default_factory=dict)
    golden_ok: bool | None = None
    golden_max_abs: float | None = None
    golden_tolerance: float | None = None
    latency_us: dict | None = None
    per_sample_us: float | None = None
    chunk: int | None = None
    pinned_cpus: list[int] | None = None
    peak_rss_mb: float | None = None
    baseline_rss_mb: float | None = None
    model_rss_mb: float | None = None
    size_bytes: int | None = None         # file bytes; C: the compiled object's text + rodata on the
                                          # host, flash on a microcontroller target
    source_bytes: int | None = None       # C: the .c source's bytes (size_bytes is the object's)
    sha256: str | None = None             # of the artifact file (byte-identical artifacts share it)
    # against the bundle's fp32 artifact of the same format and graph (null where a figure is missing):
    file_ratio: float | None = None       # file bytes (the manifest's file_ratio; rows before the
                                          # rename called it size_ratio: schema.FIELD_RENAMES)
    weight_ratio: float | None = None     # stored weight bytes (footprint.weight_bytes): what
                                          # quantization shrinks; the report's "x fp32" on a host
    flash_ratio: float | None = None      # microcontroller targets: flash_bytes (the API that core
                                          # calls); the report's "x fp32" there
    params: int | None = None
    params_active: int | None = None      # masked synapses excluded
    metric: str | None = None
    accuracy: float | None = None
    accuracy_fp32: float | None = None
    accuracy_delta: float | None = None
    agreement: float | None = None
    agreement_ref: str | None = None
    eval_sequences: int | None = None
    shifts: list[dict] = field(default_factory=list)
    parity_max_abs: float | None = None
    # sequence mode of a step artifact whose runtime runs whole chunks natively (c: <p>_run)
    run_chunk: int | None = None
    run_latency_us: dict | None = None
    run_per_sample_us: float | None = None
    # bench --streams: per stream count B, {streams, batch_mode, golden_ok, golden_max_abs,
    # latency_us (per batch call), stream_steps_per_s, per_stream_step_us, state_bytes, error}
    streams: list[dict] | None = None
    # the model's own memory and compute, read from the artifact at export (export/footprint.py):
    # weight_elements, weight_bytes, state_bytes, macs_per_step, elementwise_per_step, file_bytes,
    # structure_bytes, weights_by_dtype; None for bundles exported before it existed. A C
    # artifact's footprint adds mcu = {core: figures} (cross-compiled flash, RAM, stack, state);
    # on a microcontroller target that core's entry also says whether it fits and the stack the
    # emulated board used.
    footprint: dict | None = None
    # microcontroller targets only: the target core's figures of the API it calls (flat, for
    # tables; flash = text + rodata + data image)
    flash_bytes: int | None = None
    ram_bytes: int | None = None          # static RAM (data + bss)
    stack_bytes: int | None = None        # worst-case stack (-fstack-usage along the call chain)
    mcu_state_bytes: int | None = None    # caller-owned state of that API (int16 for the integer API)
    mcu_instructions: int | None = None   # executed instructions per step (qemu trace, exact)
    mcu_cycles: int | None = None         # estimated cycles per step (core's documented timings)
    mcu_us: float | None = None           # mcu_cycles at mcu_clock_mhz
    mcu_clock_mhz: float | None = None
    edgelnn_version: str | None = None
    env: dict = field(default_factory=dict)
    timestamp: str | None = None
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; one of {', '.join(STATUSES)}")

    def to_dict(self) -> dict:
        return asdict(self)


ROW_FIELDS = tuple(f.name for f in fields(ResultRow))


def append_rows(path: str | Path, rows: list[dict]) -> Path:
    """Append rows as JSON lines (one object per line), each line whole: a full disk leaves the
    rows before it and no partial line (OutputError says how many). Creates parent folders."""
    from ..files import append_jsonl

    append_jsonl(path, [_finite(row) for row in rows])
    return Path(path)


def results_file_problem(path: str | Path) -> str | None:
    """Why an existing file must not get result rows appended (None: empty, or edgelnn rows)."""
    from ..files import jsonl_problem

    def ours(obj: dict) -> str | None:
        if obj.get("schema") != SCHEMA:
            return f"is not an edgelnn result row (schema {obj.get('schema')!r})"
        return None

    return jsonl_problem(path, ours)


def _finite(value):
    """JSON has no NaN/inf: such floats become null (the row's error says why)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def read_rows(path: str | Path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def check_row(row: dict) -> list[str]:
    """Problems with a row against the documented schema (empty list: the row is valid)."""
    problems = [f"missing field {k}" for k in ROW_FIELDS if k not in row]
    if row.get("schema") != SCHEMA or row.get("schema_version") != SCHEMA_VERSION:
        problems.append("wrong schema/schema_version")
    if row.get("status") not in STATUSES:
        problems.append(f"bad status {row.get('status')!r}")
    if row.get("status") == "passed":
        lat = row.get("latency_us")
        if lat is not None and not (lat["p50"] <= lat["p90"] <= lat["p99"]):
            problems.append("latency percentiles out of order")
        if not row.get("golden_ok"):
            problems.append("passed without golden_ok")
    elif row.get("latency_us") is not None or row.get("run_latency_us") is not None:
        problems.append("latency reported for a row that did not pass")
    if row.get("status") != "passed" and not row.get("error"):
        problems.append("non-passed row without error")
    for s in row.get("streams") or []:
        missing = [k for k in ROW_STREAMS_KEYS if k not in s]
        if missing:
            problems.append(f"streams entry without {', '.join(missing)}")
        elif s["batch_mode"] not in STREAMS_BATCH_MODES:
            problems.append(f"streams entry with batch_mode {s['batch_mode']!r}")
        elif s["golden_ok"] and not (s["latency_us"]["p50"] <= s["latency_us"]["p99"]):
            problems.append("streams latency percentiles out of order")
    return problems
