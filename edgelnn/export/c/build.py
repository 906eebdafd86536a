"""``convert`` / ``quantize`` of the C format: step graph -> files, strict compile, MCU figures.

The step graph is the fp32 ONNX step graph: the bundle's own ``<name>.step.fp32.onnx`` when the
ONNX format already wrote it (it passed its own parity gate), else exported here. It is loaded
once per export and kept for the other schemes.
"""
from __future__ import annotations

import platform
import tempfile
from pathlib import Path

from ..errors import ConversionError, UnsupportedError
from .generate import generate, make_prefix
from .ir import Graph, load
from .schemes import get

_GRAPHS: dict[str, tuple[Graph, str]] = {}      # fp32 .c path -> (step graph, model kind)
STRICT = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
# the x86-64 hosts' SIMD paths (hostsimd: int8 weights with AVX2 + FMA, and its AVX-512 passes)
# compile only with these: on such a host the strict check runs once more with each
HOST_SIMD = ("-mavx2", "-mfma")
HOST_SIMD512 = ("-mavx2", "-mfma", "-mavx512f")


def _step_graph(model, out_path: Path) -> Graph:
    from ..graphs import io_names

    ins, outs = io_names(model)
    sizes = {"x": model.input_size, "dt": 1, **{n: s for n, s in model.state_spec}}
    io = {"inputs": ins, "outputs": outs}
    name = out_path.name[: -len(".step.fp32.c")] if out_path.name.endswith(".step.fp32.c") else out_path.stem
    sibling = out_path.parent / f"{name}.step.fp32.onnx"
    if sibling.is_file():
        g = load(sibling, io, sizes)
    else:
        from ..onnx import convert as onnx_convert

        with tempfile.TemporaryDirectory(prefix="edgelnn-c-") as tmp:
            path = Path(tmp) / "step.onnx"
            onnx_convert(model, "step", path)
            g = load(path, io, sizes)
    g.meta = c_meta(model)
    return g


def c_meta(model) -> dict:
    """What the header states beside sizes: normalisation, output meaning, dt units (the
    model config's: the manifest's ``normalisation`` is the same two lists).

    A model that takes raw features (an import or ``train --no-normalise``: the data record says
    ``normalised`` false; or identity statistics) gets no statistics, so the header says
    ``<P>_NORMALISED 0``. A regression model's target statistics (``target_mean``/``target_std``)
    come from the export's dataset (``model.target_stats``, set by export) or the checkpoint's
    stored data record."""
    cfg = getattr(model, "config", {}) or {}
    mean = [float(v) for v in cfg.get("norm_mean") or []]
    std = [float(v) for v in cfg.get("norm_std") or []]
    record = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    provenance = record.get("provenance") if isinstance(record.get("provenance"), dict) else {}
    raw = provenance.get("normalised") is False or (all(v == 0.0 for v in mean) and all(v == 1.0 for v in std))
    meta = {"norm_mean": [] if raw else mean, "norm_std": [] if raw else std,
            "label_names": [str(v) for v in cfg.get("label_names") or []],
            "task": cfg.get("task") or "", "dataset": cfg.get("dataset") or ""}
    stats = getattr(model, "target_stats", None)
    if stats is None and record.get("target_mean") is not None and record.get("target_std") is not None:
        stats = (record["target_mean"], record["target_std"])
    if meta["task"] == "regression" and stats is not None:
        meta["target_mean"], meta["target_std"] = float(stats[0]), float(stats[1])
    return meta


def convert(model, graph: str, out_path, chunk: int | None = None, *, mcu: bool = True) -> dict:
    """fp32 C artifact of ``model``'s step graph at ``out_path`` (<name>.step.fp32.c).
    ``mcu`` False skips the microcontroller figures (they need the cross compiler)."""
    from . import NO_SEQ

    if graph != "step":
        raise UnsupportedError(NO_SEQ)
    out_path = Path(out_path)
    g = _step_graph(model, out_path)
    _GRAPHS[str(out_path)] = (g, model.kind)
    return write(g, out_path, "fp32", model.kind, mcu=mcu)


def quantize(fp32_path, scheme: str, calibration, out_path, *, model=None,
             precision: dict[str, str] | None = None, mcu: bool = True) -> dict:
    """``scheme`` artifact from the step graph behind ``fp32_path`` (or ``model``)."""
    g, kind = step_graph(fp32_path, model)
    return write(g, Path(out_path), scheme, kind, calibration=calibration, precision=precision, mcu=mcu)


def step_graph(fp32_path, model=None) -> tuple[Graph, str]:
    """(step graph, model kind) behind the fp32 C artifact ``fp32_path``: the one ``convert``
    loaded, else loaded from ``model``."""
    key = str(Path(fp32_path))
    if key not in _GRAPHS:
        if model is None:
            raise ConversionError(f"{Path(fp32_path).name}: the step graph is not loaded; pass model=")
        _GRAPHS[key] = (_step_graph(model, Path(fp32_path)), model.kind)
    return _GRAPHS[key]


def bundle_name(out_path: Path, scheme: str) -> str:
    tail = f".step.{scheme}.c"
    return out_path.name[: -len(tail)] if out_path.name.endswith(tail) else out_path.stem


def write(g: Graph, out_path: Path, scheme: str, kind: str, *, calibration=None,
          precision: dict[str, str] | None = None, mcu: bool = True, tag: str | None = None) -> dict:
    """Generate, write and strictly compile one artifact. ``tag``: the name in the file and the
    symbol prefix when it is not the scheme's (``auto``: a per-tensor plan over ``scheme``'s
    code); MCU figures are taken on the cores whose profile lists ``scheme`` (the compute)."""
    from ...runtime.c import mcu as mcu_build
    from ...runtime.integrity import sha256_file

    sch = get(scheme)
    tag = tag or scheme
    prefix = make_prefix(bundle_name(out_path, tag), tag)
    header = out_path.with_suffix(".h")
    gen = generate(g, prefix, sch, kind=kind, header_name=header.name, precision=precision,
                   calibration=calibration)
    out_path.write_text(gen.source)
    header.write_text(gen.header)
    strict_compile(out_path)
    figures, why = mcu_build.figures_for_scheme(out_path, header, prefix, scheme) if mcu else ({}, None)
    int8 = sum(1 for v in gen.precision.values() if v == "int8")
    total = len(gen.precision)
    note = (f"C99, prefix {prefix}; {gen.stats['kernels']} kernels "
            f"({gen.stats['sparse_kernels']} over active entries only); "
            f"{gen.stats['weights_stored']} weights stored ({gen.stats['weight_bytes']} B)")
    int16 = sum(1 for v in gen.precision.values() if v == "int16")
    if scheme != "fp32":
        note += f"; {int8}/{total} constant tensors int8" + (f", {int16} int16" if int16 else "")
    if why:
        note += f"; no MCU figures: {why}"
    manifest = {"c_prefix": prefix,
                "extra_files": [{"file": header.name, "sha256": sha256_file(header),
                                 "bytes": header.stat().st_size}],
                "c": {"stats": gen.stats, "precision": _precision_summary(gen.precision)}}
    if tag != scheme:               # e.g. auto: the code is this scheme's (which cores suit it)
        manifest["c"]["compute"] = scheme
    if figures:
        manifest["mcu"] = figures
    return {"io": {"inputs": list(g.inputs), "outputs": list(g.outputs)}, "note": note,
            "quantized": scheme != "fp32" and int8 + sum(1 for v in gen.precision.values()
                                                        if v == "int16") > 0,
            "manifest": manifest}


def stamp_error_bound(c_file: Path, entry: dict) -> None:
    """Write the parity gate's measured max abs error (the larger of the plain and the dt-gap
    sequences) into the header's ``<P>_MAX_ABS_ERROR`` and refresh the header's sha256/bytes."""
    import re

    from ...runtime.integrity import sha256_file

    parity = entry.get("parity") or {}
    errors = [v for v in (parity.get("max_abs"), (parity.get("gaps") or {}).get("max_abs")) if v is not None]
    prefix = entry.get("c_prefix")
    extra = next((e for e in entry.get("extra_files") or [] if e.get("file", "").endswith(".h")), None)
    if not errors or not prefix or extra is None:
        return
    header = Path(c_file).parent / extra["file"]
    text = header.read_text()
    stamped = re.sub(rf"#define {prefix.upper()}_MAX_ABS_ERROR .*",
                     f"#define {prefix.upper()}_MAX_ABS_ERROR {max(errors):.3e}f   /* measured over "
                     f"{parity.get('steps', 0)} steps + the dt-gap sequences; rel. to output range "
                     f"{parity.get('rel_range')} */", text, count=1)
    header.write_text(stamped)
    extra.update(sha256=sha256_file(header), bytes=header.stat().st_size)


def _precision_summary(plan: dict[str, str]) -> dict:
    out: dict[str, int] = {}
    for v in plan.values():
        out[v] = out.get(v, 0) + 1
    return {"tensors": out, "plan": dict(sorted(plan.items()))}


def strict_compile(c_file: Path, compilers: list[list[str]] | None = None) -> None:
    """The artifact must compile with -std=c99 -Wall -Wextra -Werror -pedantic (host compiler)."""
    from ...runtime.c.toolchain import first_error, require_cc, run

    c_file = Path(c_file).resolve()     # the compiler runs in the file's folder: a relative path breaks
    simd = [HOST_SIMD] if platform.machine().lower() in ("x86_64", "amd64") else []
    if simd and "_I8_AVX2" in c_file.read_text():
        simd.append(HOST_SIMD512)
    for cc in compilers or [require_cc()]:
        for extra in [(), *simd]:
            with tempfile.TemporaryDirectory() as tmp:
                proc = run([*cc, *STRICT, *extra, "-c", str(c_file), "-o", str(Path(tmp) / "a.o")],
                           cwd=c_file.parent)
            if proc.returncode != 0:
                raise ConversionError(f"generated C does not compile with {' '.join(STRICT + extra)}: "
                                      f"{first_error(proc.stderr)}")
