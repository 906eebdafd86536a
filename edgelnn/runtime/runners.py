"""``open_runner``: the one way to get a Runner for an artifact, whatever the runtime.

Runtimes are a registry keyed by the names users type; each knows which format it runs,
how to import itself, and the exact pip line when it is missing.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import BundleError, InputError, RuntimeMissingError
from .base import Runner
from .integrity import verify_sha256


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    format: str
    module: str
    pip: str
    opener: Callable[..., Runner]
    note: str = ""
    version_of: Callable[[], str | None] | None = None   # when importing says nothing (c: the compiler)


def _import(spec: "RuntimeSpec"):
    try:
        return importlib.import_module(spec.module)
    except Exception as exc:  # noqa: BLE001 - tflite-runtime under numpy 2 raises AttributeError etc.
        missing = isinstance(exc, ImportError) and getattr(exc, "name", "") in (
            spec.module, spec.module.split(".")[0])
        why = "is not installed" if missing else f"failed to import ({type(exc).__name__}: " \
              f"{str(exc).splitlines()[0] if str(exc) else ''})"
        raise RuntimeMissingError(f"runtime {spec.name} {why}: pip install {spec.pip}") from None


def _version(dist: str, module) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return str(getattr(module, "__version__", "unknown"))


def _open_ort(spec, path, artifact, state_sizes, threads, providers, accel=None):
    from .ort_runner import OrtRunner

    ort = _import(spec)
    return OrtRunner(path, artifact, state_sizes, ort=ort, threads=threads, providers=providers, accel=accel)


def _open_tflite(spec, path, artifact, state_sizes, threads, providers, accel=None):
    from .tflite_runner import TFLiteRunner

    module = _import(spec)
    dist = "ai-edge-litert" if spec.name == "litert" else "tflite-runtime"
    return TFLiteRunner(path, artifact, state_sizes, interpreter_cls=module.Interpreter,
                        runtime=spec.name, runtime_version=_version(dist, module), threads=threads,
                        accel=accel, resolvers=getattr(module, "OpResolverType", None))


def _open_c(spec, path, artifact, state_sizes, threads, providers, accel=None):
    from .c.runner import CRunner
    from .c.toolchain import require_cc

    require_cc()                   # one line naming what to install when there is no compiler
    return CRunner(path, artifact, state_sizes, threads=threads)


def _c_version() -> str | None:
    from .c.toolchain import compiler_version, find_cc

    cc = find_cc()
    return compiler_version(cc) if cc else None


RUNTIMES: dict[str, RuntimeSpec] = {
    "onnxruntime": RuntimeSpec("onnxruntime", "onnx", "onnxruntime", "onnxruntime", _open_ort),
    "litert": RuntimeSpec("litert", "tflite", "ai_edge_litert.interpreter", "ai-edge-litert",
                          _open_tflite),
    "tflite-runtime": RuntimeSpec("tflite-runtime", "tflite", "tflite_runtime.interpreter",
                                  "tflite-runtime", _open_tflite,
                                  "fallback only: fails under numpy 2 and miscomputes "
                                  "per-channel dynamic-int8; golden check gates it"),
    "c": RuntimeSpec("c", "c", "ctypes", "(none: needs a system C compiler)", _open_c,
                     "generated C compiled by the system C compiler, called through ctypes",
                     version_of=_c_version),
}

# Preference per format: the first importable runtime is used when none is named.
DEFAULT_RUNTIMES: dict[str, list[str]] = {"onnx": ["onnxruntime"],
                                          "tflite": ["litert", "tflite-runtime"], "c": ["c"]}


def runtimes_for(fmt: str) -> list[str]:
    if fmt not in DEFAULT_RUNTIMES:
        raise BundleError(f"unknown artifact format {fmt!r}; known: {', '.join(DEFAULT_RUNTIMES)}")
    return list(DEFAULT_RUNTIMES[fmt])


def available_runtimes() -> dict[str, str]:
    """{runtime name: version} of the runtimes that import here (for the env fingerprint)."""
    found = {}
    for spec in RUNTIMES.values():
        if spec.version_of is not None:
            ver = spec.version_of()
            if ver:
                found[spec.name] = ver
            continue
        try:
            module = _import(spec)
        except RuntimeMissingError:
            continue
        dist = {"onnxruntime": "onnxruntime", "litert": "ai-edge-litert"}.get(spec.name, spec.pip)
        found[spec.name] = _version(dist, module)
    return found


def resolve_runtime(fmt: str, runtime: str | None = None) -> str:
    """The runtime that will run an artifact of this format (checks that it imports)."""
    if runtime is not None:
        spec = RUNTIMES.get(runtime)
        if spec is None:
            raise InputError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
        if spec.format != fmt:
            raise InputError(f"runtime {runtime} runs {spec.format} artifacts, not {fmt}")
        _import(spec)
        return runtime
    candidates = runtimes_for(fmt)
    first_error = None
    for name in candidates:
        try:
            _import(RUNTIMES[name])
            return name
        except RuntimeMissingError as exc:
            first_error = first_error or exc
    raise first_error


def open_runner(path: str | Path, artifact: dict, state_sizes: list[int], *,
                runtime: str | None = None, threads: int | None = 1, providers=None,
                expected_sha256: str | None = None, accel: dict | None = None) -> Runner:
    """A Runner for the artifact file at ``path`` (``artifact`` is its manifest entry).

    ``expected_sha256`` is checked before the file is handed to any runtime.
    ``providers`` (onnxruntime only) is a list of execution provider names or
    (name, options) pairs; the ones actually used end up in ``runner.providers_used``.
    ``accel``: accelerator options (``edgelnn.runtime.accel``: {"onnxruntime": {provider:
    {option: value}}, "litert": {option: value}}), checked here; what took is ``runner.accel``.
    """
    from .accel import check_accel

    accel = check_accel(accel)
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"artifact file not found: {path}")
    if expected_sha256:
        verify_sha256(path, expected_sha256)
    fmt = artifact.get("format") or {".onnx": "onnx", ".tflite": "tflite", ".c": "c"}.get(path.suffix, "")
    name = resolve_runtime(fmt, runtime)
    spec = RUNTIMES[name]
    artifact = {**artifact, "format": fmt}
    return spec.opener(spec, path, artifact, list(state_sizes), threads, providers, accel)
