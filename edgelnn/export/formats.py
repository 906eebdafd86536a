"""The format registry, keyed by the names users type: ``FORMATS["onnx"]``, ``FORMATS["tflite"]``.

A format module exposes ``available() -> str | None``, ``convert(model, graph, out_path,
chunk=None) -> {"io", "note"}``, ``quantize(fp32_path, scheme, calibration, out_path) ->
{"quantized", "note"}`` and ``SCHEMES``. Adding a format = one entry here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from .errors import UnknownNameError


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str                     # file extension
    module: str                     # the module implementing it
    schemes: tuple[str, ...]        # step graph schemes, fp32 first
    seq_schemes: tuple[str, ...]    # schemes produced for the seq graph
    seq_chunk: bool                 # seq graph is a fixed window (needs chunk), not dynamic
    tools: tuple[str, ...]          # distributions whose versions go into the manifest
    runtime: str                    # what runs it in the parity gate
    graphs: tuple[str, ...] = ("step", "seq")   # graphs this format produces
    graph_note: str = ""            # why the other graphs are not produced
    opt_in: tuple[str, ...] = ()    # offered, but exported only when named (not in the default set)

    def load(self):
        return importlib.import_module(self.module)

    def available(self) -> str | None:
        """None when usable here, else the one-line reason (with the pip line)."""
        try:
            module = self.load()
        except Exception as exc:  # noqa: BLE001 - a missing extra can fail in many ways
            return f"{self.name} export is unavailable ({type(exc).__name__}: {exc})"
        return module.available()

    def schemes_for(self, graph: str) -> tuple[str, ...]:
        return self.schemes if graph == "step" else self.seq_schemes

    def tool_versions(self) -> dict[str, str]:
        found = {}
        for dist in self.tools:
            try:
                found[dist] = version(dist)
            except PackageNotFoundError:
                pass
        extra = getattr(self.load(), "tool_versions", None)   # e.g. the C compilers
        if extra is not None:
            found.update(extra())
        return found


FORMATS: dict[str, Format] = {
    "onnx": Format("onnx", ".onnx", "edgelnn.export.onnx",
                   ("fp32", "fp16", "int8-dynamic", "int8-static"), ("fp32",), False,
                   ("torch", "onnx", "onnxscript", "onnxruntime"), "onnxruntime"),
    "tflite": Format("tflite", ".tflite", "edgelnn.export.tflite",
                     ("fp32", "fp16", "int8-weight", "int8-dynamic", "int8-static", "int16x8-static"),
                     ("fp32",), True,
                     ("torch", "litert-torch", "ai-edge-quantizer", "ai-edge-litert"), "litert"),
    "c": Format("c", ".c", "edgelnn.export.c", ("fp32", "int8-weight", "int16-fixed", "int16x8-dynamic"),
                (), False, ("torch", "onnx", "onnxruntime"), "c", graphs=("step",),
                graph_note="C artifacts have no sequence graph: <prefix>_run streams a whole "
                           "sequence through the step code",
                opt_in=("int16x8-dynamic",)),
}
GRAPHS = ("step", "seq")
AUTO = "auto"  # not a scheme of its own: the mixed-precision search (edgelnn.export.mixed)


def all_schemes() -> list[str]:
    seen: list[str] = []
    for fmt in FORMATS.values():
        seen += [s for s in fmt.schemes if s not in seen]
    return seen


def resolve(formats, schemes, graphs=GRAPHS) -> tuple[list[Format], list[str]]:
    """Check names before any work: unknown format/scheme/graph, or a scheme none of the chosen
    formats offers -> UnknownNameError (one line). ``schemes`` None = every scheme that applies."""
    formats = list(dict.fromkeys(formats or FORMATS))
    if not formats:
        raise UnknownNameError("no format chosen; known formats: " + ", ".join(FORMATS))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UnknownNameError(f"unknown format {unknown[0]!r}; known formats: {', '.join(FORMATS)}")
    bad_graphs = [g for g in graphs if g not in GRAPHS]
    if bad_graphs or not graphs:
        raise UnknownNameError(f"unknown graph {bad_graphs[0] if bad_graphs else ''!r}; known graphs: {', '.join(GRAPHS)}")
    chosen = [FORMATS[f] for f in formats]
    if schemes is None:
        return chosen, list(dict.fromkeys(s for f in chosen for s in f.schemes if s not in f.opt_in))
    schemes = list(dict.fromkeys(schemes))
    for s in schemes:
        if s == AUTO:
            from .mixed import PLANNERS
            if not any(f.name in PLANNERS for f in chosen):
                raise UnknownNameError(f"--quant auto: none of {', '.join(f.name for f in chosen)} has a "
                                       f"mixed-precision search (formats with one: {', '.join(PLANNERS)})")
            continue
        if s not in all_schemes():
            raise UnknownNameError(f"unknown scheme {s!r}; known schemes: {', '.join(all_schemes())}, {AUTO}")
        if not any(s in f.schemes for f in chosen):
            offered = "; ".join(f"{f.name}: {', '.join(f.schemes)}" for f in chosen)
            raise UnknownNameError(f"scheme {s!r} is not offered by {', '.join(f.name for f in chosen)} ({offered})")
    return chosen, schemes
