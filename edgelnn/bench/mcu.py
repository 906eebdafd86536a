"""``edgelnn bench --target cortex-m4``: result rows for a microcontroller target.

No wall-clock latency (an emulator's time is not the chip's): each C artifact whose scheme
suits the target is golden-checked on the emulated board (qemu-system-arm, semihosting), and
its row carries flash, static RAM, worst-case stack and state bytes for the target's core, and
the executed instructions per step (exact, from qemu's instruction trace) with the cycles per
step estimated from the core's documented timings and the µs at a stated clock
(``edgelnn.runtime.c.cycles``). Accuracy is
scored through the host build of the very same C source (the emulated golden check is what
ties the two together; ``accuracy_via`` in ``mcu`` says so). Artifacts of other formats, or of
schemes the target does not list, get ``unsupported`` rows with the reason.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import EdgeLNNError
from ..runtime import load_bundle
from ..runtime.c.api import require_current_api
from ..runtime.integrity import verify_artifact
from ..schema import mcu_of
from .accuracy import evaluate
from .harness import _Context, _one_line, _ratio
from .rows import ResultRow
from .settings import BenchSettings

Progress = Callable[[str], None]


def _deployed(fig: dict, fpu: bool) -> dict:
    """The figures of the API a core would call: the integer API on a core without an FPU."""
    q = fig.get("integer_api")
    if q and not fpu:
        return {"flash_bytes": q["flash_bytes"], "stack_bytes": q["stack_bytes"],
                "state_bytes": q["state_bytes"], "api": "integer (<prefix>_step_q)"}
    return {"flash_bytes": fig["flash_bytes"], "stack_bytes": fig["stack_bytes"],
            "state_bytes": fig["state_bytes"], "api": "float (<prefix>_step)"}


def _with_core(entry: dict, core: str, info: dict) -> dict:
    """The row's footprint: the entry's, its ``mcu`` narrowed to the target core's figures as
    deployed here (API, fits, stack the emulated board used)."""
    return {**(entry.get("footprint") or {}), "mcu": {core: info}}


def bench_c_on_mcu(ctx: _Context, entry: dict, profile, settings: BenchSettings,
                   say: Progress) -> ResultRow:
    from ..runtime.c import mcu
    from ..targets.mcu import core_of

    core = core_of(profile)
    name = entry["file"]
    path = ctx.bundle.artifact_path(entry)
    base = {"runtime": "c", "threads": 1}
    try:
        used = verify_artifact(ctx.bundle.path, entry)     # the source, its header: every file compiled
        header = next(p for p in used[1:] if p.suffix == ".h")
        require_current_api(header.read_text(errors="replace"), entry["c_prefix"], name)
        fig = mcu_of(entry).get(core.name)
        if fig is None:
            say(f"{name} [{core.name}]: cross-compiling for the figures")
            fig = mcu.figures(path, header, entry["c_prefix"], core).to_dict()
        dep = _deployed(fig, core.fpu)
        base["flash_ratio"] = _ratio(dep["flash_bytes"], _fp32_flash(ctx, entry, profile, fig, say))
        base.update(runtime_version=fig.get("toolchain"), flash_bytes=dep["flash_bytes"],
                    ram_bytes=fig["ram_static_bytes"], stack_bytes=dep["stack_bytes"],
                    mcu_state_bytes=dep["state_bytes"], size_bytes=dep["flash_bytes"])
        info = {**fig, "deployed_api": dep["api"]}
        if core.flash_kb or core.ram_kb:
            ram = fig["ram_static_bytes"] + dep["stack_bytes"] + dep["state_bytes"]
            info["fits"] = bool((not core.flash_kb or dep["flash_bytes"] <= core.flash_kb * 1024)
                                and (not core.ram_kb or ram <= core.ram_kb * 1024))
            info["budget"] = {"flash_kb": core.flash_kb, "ram_kb": core.ram_kb}
        golden = ctx.golden()
        tol = float((entry.get("golden") or {})["tolerance"])
        if not core.emulator:
            return ctx.row(entry, "failed", error=f"{profile.name} has no emulator to run the golden check",
                           footprint=_with_core(entry, core.name, info), **base)
        say(f"{name} [{core.name}]: golden check on qemu-system-arm -M {core.emulator}")
        y, stack_used = mcu.golden_on_emulator(path, header, entry["c_prefix"], core, golden.x, golden.dt,
                                               golden.lengths)
        valid = np.arange(y.shape[1])[None, :] < golden.lengths[:, None]
        diff = np.abs(y - golden.y[:, :y.shape[1]])[valid]
        worst = float(diff.max()) if diff.size and np.isfinite(diff).all() else float("inf")
        info["stack_measured_bytes"] = stack_used
        base.update(golden_ok=worst <= tol, golden_max_abs=worst, golden_tolerance=tol,
                    provider=f"qemu-system-arm -M {core.emulator}")
        if worst > tol:
            return ctx.row(entry, "golden_failed", footprint=_with_core(entry, core.name, info),
                           error=f"golden check failed on the emulated {core.name}: max |y - golden| "
                                 f"{worst:.3g} > tolerance {tol:.3g}", **base)
        say(f"{name} [{core.name}]: instructions and cycles per step (qemu instruction trace)")
        try:
            cost = _step_cost(path, header, entry["c_prefix"], core, golden)
            info["step_cost"] = cost.to_dict()
            base.update(mcu_instructions=cost.instructions, mcu_cycles=cost.cycles, mcu_us=cost.us,
                        mcu_clock_mhz=cost.clock_mhz)
        except (EdgeLNNError, RuntimeError, ValueError, OSError) as exc:
            info["step_cost_error"] = _one_line(exc)
        if settings.accuracy:
            say(f"{name} [{core.name}]: accuracy (host build of the same C source)")
            with ctx.bundle.open(entry, runtime="c", threads=1) as runner:
                acc = evaluate(runner, ctx.evaluation(), shifts=settings.shifts,
                               limit=settings.max_eval_sequences)
            info["accuracy_via"] = "host build of the same C source (golden-checked on the emulator)"
            base.update(metric=acc.metric, accuracy=acc.accuracy, accuracy_fp32=acc.accuracy_fp32,
                        accuracy_delta=acc.accuracy_delta, eval_sequences=acc.sequences,
                        shifts=[{"key": s.key, "shift": s.shift, "level": s.level, "accuracy": s.accuracy,
                                 "accuracy_fp32": s.accuracy_fp32} for s in acc.shifts])
        return ctx.row(entry, "passed", footprint=_with_core(entry, core.name, info), **base)
    except (EdgeLNNError, OSError, RuntimeError, KeyError, ValueError) as exc:
        return ctx.row(entry, "failed", error=_one_line(exc), **base)


def _fp32_flash(ctx: _Context, entry: dict, profile, fig: dict, say: Progress) -> int | None:
    """Flash of the bundle's fp32 C artifact on the profile's core (the API that core calls), for
    the row's flash_ratio: the manifest's figures, else cross-compiled once per bench run. None
    where fp32 does not suit the target (e.g. the Cortex-M0+: its fp32 row is not applicable)."""
    from ..runtime.c import mcu
    from ..targets.mcu import core_of

    core = core_of(profile)
    ref = ctx.fp32_of(entry)
    if ref is None or _compute(ref) not in profile.schemes:
        return None
    if ref.get("file") == entry.get("file"):
        return _deployed(fig, core.fpu)["flash_bytes"]
    ref_fig = mcu_of(ref).get(core.name)
    if ref_fig is None:
        cache, key = ctx.fp32_mcu, f"{ref['file']} {core.name}"
        if key not in cache:
            try:
                used = verify_artifact(ctx.bundle.path, ref)
                say(f"{ref['file']} [{core.name}]: cross-compiling for the fp32 flash figure")
                cache[key] = mcu.figures(used[0], next(p for p in used[1:] if p.suffix == ".h"),
                                         ref["c_prefix"], core).to_dict()
            except (EdgeLNNError, OSError, RuntimeError, KeyError, ValueError, StopIteration):
                cache[key] = None
        ref_fig = cache[key]
    return _deployed(ref_fig, core.fpu)["flash_bytes"] if ref_fig else None


def _step_cost(path, header, prefix: str, core, golden):
    """Cycles per step over the golden inputs (the first sequence, repeated when short)."""
    from ..runtime.c.cycles import golden_samples, step_cost

    return step_cost(path, header, prefix, core, *golden_samples(golden.x, golden.dt, golden.lengths))


def _compute(entry: dict) -> str:
    """The scheme whose code an artifact is: ``auto`` (a per-tensor plan) names it in ``c.compute``."""
    return str((entry.get("c") or {}).get("compute") or entry.get("scheme"))


def bench_mcu(bundle_path: str | Path, profile, *, artifacts: list[str] | None = None,
              settings: BenchSettings | None = None, progress: Progress | None = None,
              include_manifest_failures: bool = True) -> list[dict]:
    """Rows of every artifact of a bundle on a microcontroller target profile."""
    settings = settings or BenchSettings()
    say = progress or (lambda _m: None)
    bundle = load_bundle(bundle_path)
    core = profile.mcu
    device = f"{profile.cpu} (emulated: qemu-system-arm -M {core.emulator})" if core.emulator else profile.cpu
    ctx = _Context(bundle, profile.name, False, device)
    ctx.measured_on["via"] = "emulator"
    entries = [bundle.artifact(a) for a in artifacts] if artifacts else bundle.artifacts
    rows: list[ResultRow] = []
    for entry in entries:
        if entry.get("format") != "c":
            rows.append(ctx.row(entry, "not_applicable", error=f"{profile.name} runs C artifacts only "
                                f"(export with --format c)"))
        elif _compute(entry) not in profile.schemes:
            rows.append(ctx.row(entry, "not_applicable", error=f"scheme {_compute(entry)} does not suit "
                                f"{profile.name} (its schemes: {', '.join(profile.schemes)})"))
        else:
            rows.append(bench_c_on_mcu(ctx, entry, profile, settings, say))
    if include_manifest_failures and not artifacts:
        for entry in bundle.rejected:
            if entry.get("format") == "c":
                rows.append(ctx.row(entry, "rejected", error=entry.get("reason") or "failed the parity gate"))
    return [r.to_dict() for r in rows]
