"""Accelerator options: onnxruntime execution-provider options and LiteRT delegate options, under
the names a target profile uses (``[onnx_provider_options.<Provider>]``, ``[litert_options]``).

Each option is checked here (an unknown name or a bad value: one line naming it), translated to
the runtime's own key, and what the session or interpreter then really has is read back and
recorded (``Runner.accel``) with every fallback: onnxruntime accepts unknown provider options
silently and drops an absent provider with a warning, so only the read-back tells. Numpy and the
standard library only (runs on devices).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class Opt:
    key: str | None          # the runtime's own option name (None: edgelnn applies it itself)
    kind: type               # bool | int | str
    what: str
    scale: int = 1           # value x scale is what the runtime takes (MB -> bytes)
    minimum: int | None = None


ORT_OPTIONS: dict[str, dict[str, Opt]] = {
    "TensorrtExecutionProvider": {
        "fp16": Opt("trt_fp16_enable", bool, "build fp16 engines"),
        "int8": Opt("trt_int8_enable", bool, "build int8 engines: QDQ (int8-static) graphs use their "
                                            "scales, float graphs a calibration table made from the "
                                            "bundle's calibration.npz"),
        "engine_cache": Opt("trt_engine_cache_path", str, "folder that keeps built engines (and the "
                                                         "int8 calibration table) between runs"),
        "workspace_mb": Opt("trt_max_workspace_size", int, "TensorRT workspace", 2 ** 20, 1),
        "device_id": Opt("device_id", int, "GPU index", 1, 0),
    },
    "CUDAExecutionProvider": {
        "device_id": Opt("device_id", int, "GPU index", 1, 0),
        "memory_limit_mb": Opt("gpu_mem_limit", int, "GPU memory arena limit", 2 ** 20, 1),
    },
    "XnnpackExecutionProvider": {
        "threads": Opt("intra_op_num_threads", int, "XNNPACK's own thread pool", 1, 1),
    },
    "CPUExecutionProvider": {
        "threads": Opt(None, int, "the session's intra-op threads (overrides the profile's threads "
                                  "for onnxruntime)", 1, 1),
    },
}

LITERT_OPTIONS: dict[str, Opt] = {
    "xnnpack": Opt(None, bool, "LiteRT's default XNNPACK CPU delegate (false: built-in kernels only)"),
    "threads": Opt(None, int, "interpreter threads (overrides the profile's threads for LiteRT)", 1, 1),
    "xnnpack_fp16": Opt(None, bool, "XNNPACK fp16 inference: the Python Interpreter API cannot set it, "
                                    "so true is recorded as a fallback"),
    "gpu": Opt(None, bool, "GPU delegate: the ai-edge-litert Interpreter API ships none, so true is "
                           "recorded as a fallback to the CPU"),
}


def _check_value(name: str, opt: Opt, value, where: str):
    ok = (isinstance(value, bool) if opt.kind is bool else
          isinstance(value, int) and not isinstance(value, bool) if opt.kind is int else
          isinstance(value, str) and value.strip() != "")
    if not ok:
        kind = {bool: "true or false", int: "an integer", str: "a non-empty string"}[opt.kind]
        raise InputError(f"{where}{name} must be {kind}, got {value!r}")
    if opt.minimum is not None and value < opt.minimum:
        raise InputError(f"{where}{name} must be >= {opt.minimum}, got {value}")
    return value


def check_onnx_options(table, where: str = "") -> dict[str, dict]:
    """{provider: {option: value}} validated; InputError (one line) on anything unknown or bad."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise InputError(f"{where}onnx_provider_options must be a table of providers")
    out = {}
    for provider, opts in table.items():
        known = ORT_OPTIONS.get(provider)
        if known is None:
            raise InputError(f"{where}onnx_provider_options.{provider}: unknown provider (options exist for: "
                             f"{', '.join(ORT_OPTIONS)})")
        if not isinstance(opts, dict):
            raise InputError(f"{where}onnx_provider_options.{provider} must be a table of options")
        for name, value in opts.items():
            if name not in known:
                raise InputError(f"{where}onnx_provider_options.{provider}: unknown option {name!r} "
                                 f"(known: {', '.join(known)})")
            _check_value(f"onnx_provider_options.{provider}.{name}", known[name], value, where)
        out[provider] = dict(opts)
    return out


def check_litert_options(table, where: str = "") -> dict:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise InputError(f"{where}litert_options must be a table of options")
    for name, value in table.items():
        if name not in LITERT_OPTIONS:
            raise InputError(f"{where}litert_options: unknown option {name!r} (known: {', '.join(LITERT_OPTIONS)})")
        _check_value(f"litert_options.{name}", LITERT_OPTIONS[name], value, where)
    return dict(table)


def check_accel(accel, where: str = "") -> dict:
    """{"onnxruntime": {provider: {...}}, "litert": {...}} validated (either part may be absent)."""
    if not accel:
        return {}
    if not isinstance(accel, dict) or set(accel) - {"onnxruntime", "litert"}:
        raise InputError(f"{where}accelerator options take onnxruntime and litert parts, got {sorted(accel)}")
    out = {}
    if accel.get("onnxruntime"):
        out["onnxruntime"] = check_onnx_options(accel["onnxruntime"], where)
    if accel.get("litert"):
        out["litert"] = check_litert_options(accel["litert"], where)
    return out


def _ort_value(opt: Opt, value) -> str:
    if opt.kind is bool:
        return "True" if value else "False"
    if opt.kind is int:
        return str(int(value) * opt.scale)
    return str(Path(value).expanduser())


def ort_providers(providers, options: dict[str, dict], *, calibration_table=None) -> tuple[list, int | None]:
    """(providers for ``InferenceSession``: (name, {key: str}) pairs, session threads or None).

    ``providers``: names (or [name, options] pairs, as JSON brings them). ``calibration_table``:
    called as f(folder) -> file name when TensorRT int8 needs a table for a float graph."""
    out, threads = [], None
    for p in providers or ["CPUExecutionProvider"]:
        name, given = (p[0], dict(p[1] or {})) if isinstance(p, (list, tuple)) else (p, {})
        for key, value in (options.get(name) or {}).items():
            opt = ORT_OPTIONS[name][key]
            if opt.key is None:              # CPU threads: a session option
                threads = int(value)
                continue
            given[opt.key] = _ort_value(opt, value)
        if name == "TensorrtExecutionProvider":
            if "trt_engine_cache_path" in given:
                given["trt_engine_cache_enable"] = "True"
            if given.get("trt_int8_enable") == "True" and calibration_table is not None:
                folder = Path(given.get("trt_engine_cache_path") or ".")
                table = calibration_table(folder)
                if table:
                    given["trt_int8_calibration_table_name"] = table
                    given["trt_int8_use_native_calibration_table"] = "False"
        out.append((name, given) if given else name)
    return out, threads


def trt_calibration_table(model_path: Path, calibration_npz: Path, folder: Path, *, limit: int = 200) -> str | None:
    """Write TensorRT's int8 calibration table for a float ONNX step graph from the bundle's
    calibration steps (min/max of every tensor, onnxruntime's calibrator); returns its file name
    (relative to ``folder``, as TensorRT reads it) or None when there is no calibration data."""
    import tempfile

    import numpy as np
    from onnxruntime.quantization.calibrate import CalibrationDataReader, CalibrationMethod, create_calibrator
    from onnxruntime.quantization.quant_utils import write_calibration_table

    if not Path(calibration_npz).is_file():
        return None
    with np.load(calibration_npz) as data:      # export/calibration.py's layout: valid steps only
        lengths = data["lengths"].astype(np.int64)
        names = [str(s) for s in data["state_names"]]
        where = [(i, t) for i in range(len(lengths)) for t in range(int(lengths[i]))]
        pick = [where[j] for j in np.linspace(0, len(where) - 1, min(limit, len(where))).astype(int)] if where else []
        feeds = [{"x": data["x"][i, t][None], "dt": data["dt"][i, t].reshape(1, 1),
                  **{n: data[f"states_{n}"][i, t][None] for n in names}} for i, t in pick]
    if not feeds:
        return None

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            f = next(self.it, None)
            return None if f is None else {k: np.ascontiguousarray(v, np.float32) for k, v in f.items()}

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cal = create_calibrator(str(model_path), augmented_model_path=str(Path(tmp) / "aug.onnx"),
                                calibrate_method=CalibrationMethod.MinMax)
        cal.collect_data(_Reader())
        write_calibration_table(cal.compute_data(), dir=str(folder))
    return "calibration.flatbuffers"


def ort_readback(session, options: dict, threads_asked: int | None) -> dict:
    """What the session has: its providers' options as onnxruntime reports them, the intra-op
    threads, and a fallback line per provider or option that did not take."""
    got = session.get_provider_options()
    used = session.get_providers()
    fallback = []
    for provider, opts in options.items():
        if provider not in used:
            fallback.append(f"{provider} is not available here: its options ({', '.join(opts)}) did not apply")
            continue
        for name, value in opts.items():
            opt = ORT_OPTIONS[provider][name]
            if opt.key is not None and opt.key in got.get(provider, {}):
                have = str(got[provider][opt.key])
                if have.lower() != _ort_value(opt, value).lower() and opt.kind is not str:
                    fallback.append(f"{provider}.{name}: asked {value}, the session has {have}")
    threads = session.get_session_options().intra_op_num_threads
    if threads_asked is not None and threads != threads_asked:
        fallback.append(f"CPUExecutionProvider.threads: asked {threads_asked}, the session has {threads}")
    return {"requested": options, "session": {p: dict(got.get(p, {})) for p in used},
            "intra_op_threads": threads, "fallback": fallback}


def litert_settings(options: dict, threads: int | None) -> tuple[dict, list[str]]:
    """(Interpreter keyword arguments, fallback lines) for LiteRT delegate options."""
    kwargs, fallback = {}, []
    if "threads" in options:
        threads = int(options["threads"])
    kwargs["num_threads"] = threads or None
    if options.get("xnnpack") is False:
        kwargs["resolver"] = "BUILTIN_WITHOUT_DEFAULT_DELEGATES"
    if options.get("xnnpack_fp16"):
        fallback.append("xnnpack_fp16: the Interpreter API cannot ask XNNPACK for fp16; ran fp32")
    if options.get("gpu"):
        fallback.append("gpu: this ai-edge-litert Interpreter has no GPU delegate; ran on the CPU")
    return kwargs, fallback


def litert_readback(interpreter, options: dict, threads: int | None, fallback: list[str]) -> dict:
    """Whether the XNNPACK delegate took the graph (a DELEGATE node in the execution plan)."""
    try:
        ops = {o["op_name"] for o in interpreter._get_ops_details()}
        xnnpack = "DELEGATE" in ops
    except Exception:  # noqa: BLE001 - a private API: say unknown rather than guess
        xnnpack = None
    fallback = list(fallback)
    if options.get("xnnpack") and xnnpack is False:
        fallback.append("xnnpack: asked, but no delegate took the graph")
    return {"requested": options, "interpreter": {"xnnpack_delegate": xnnpack, "threads": threads},
            "fallback": fallback}
