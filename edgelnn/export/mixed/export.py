"""The bundle step for ``--quant auto``: run the search for one format and hand the chosen
artifact to the bundle's parity gate like any other artifact (or record why there is none)."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ..validate import compare, run_artifact
from . import AUTO, planner_class
from .search import Budget, cpu_time, search

# The scheme whose gate the auto artifact must pass (its bounds, tightened by the budget):
# int8 is where the search starts, and the mixed artifact must be at least as good.
GATE_SCHEME = "int8-static"
SENSITIVITY_SEQUENCES = 8
SENSITIVITY_STEPS = 100


def _seqs(ref):
    n = min(SENSITIVITY_SEQUENCES, len(ref.lengths))
    return [(ref.x[i, :min(int(ref.lengths[i]), SENSITIVITY_STEPS)], ref.dt[i, :min(int(ref.lengths[i]), SENSITIVITY_STEPS)])
            for i in range(n)]


def _mcu_cost(run, fmt, planner, golden):
    """On a microcontroller target, the candidates' instructions and estimated cycles per step on
    its core (the golden samples bench counts over); None elsewhere, or without the cross tools."""
    if fmt.name != "c" or not run.settings.get("mcu") or not hasattr(planner, "entry"):
        return None
    from ...runtime.c.cycles import golden_samples, step_cost
    from ...targets import load_profile
    from ...targets.mcu import core_of

    from ...errors import RuntimeMissingError
    from ...runtime.c.mcu import emulator_for
    from ...runtime.c.toolchain import require_cross

    core = core_of(load_profile(run.settings["name"]))
    try:
        require_cross()
        emulator_for(core, "counting cycles")
    except RuntimeMissingError:          # the export's own MCU figures say what is missing
        return None
    x, dt = golden_samples(golden.x, golden.dt, golden.lengths)

    def cost(path: Path) -> dict:
        fields = planner.entry(path)
        header = path.parent / fields["extra_files"][0]["file"]
        c = step_cost(path, header, fields["c_prefix"], core, x, dt)
        return {"core": c.core, "instructions": c.instructions, "cycles": c.cycles, "us": c.us,
                "clock_mhz": c.clock_mhz}

    return cost


def export_auto(run, fmt, graph: str, source: Path, calib, ref, golden, chunk, fp32_bytes: int,
                io: dict, budget: Budget) -> None:
    """Search, then gate and keep (or reject) ``<name>.step.auto<suffix>`` in ``run``."""
    from ..bundle import SEQ_FP32_ONLY, ArtifactResult

    if graph != "step":
        run.unsupported_entry(fmt.name, graph, AUTO, SEQ_FP32_ONLY)
        return
    started = time.perf_counter()
    try:
        cls, why = planner_class(fmt.name)
    except KeyError:
        cls, why = None, f"no mixed-precision search for {fmt.name} yet"
    if cls is None or why:
        run.unsupported_entry(fmt.name, graph, AUTO, why or "")
        run.advance(f"{fmt.name} {graph} {AUTO}: unsupported")
        return
    # a planner may name the scheme whose gate it must pass (C: int8-weight, where its ladder starts)
    tolerance = budget.tolerance(run.tolerances[getattr(cls, "gate_scheme", GATE_SCHEME)])
    entry = {"file": f"candidate{fmt.suffix}", "format": fmt.name, "graph": "step", "io": io}

    def gate(path: Path) -> dict:
        # fields the runtime needs beyond the file (C: symbol prefix and header) come from the planner
        fields = planner.entry(path) if hasattr(planner, "entry") else {}
        outputs = run_artifact(path, {**entry, **fields, "file": path.name}, run.sizes, ref.x, ref.dt, ref.lengths)
        return compare(outputs, ref, tolerance)

    folder = Path(tempfile.mkdtemp(prefix=f".auto-{fmt.name}-", dir=run.tmp))
    path = run.tmp / f"{run.name}.{graph}.{AUTO}{fmt.suffix}"
    placed = None
    planner = None
    cpu = cpu_time()
    try:
        run.tick(f"{fmt.name} {graph} {AUTO}: calibrating")
        options = {"reduce_range": run.settings["reduce_range"]} if fmt.name == "onnx" else \
            ({"model": run.model} if fmt.name == "c" else {})
        planner = cls(source, calib, kind=run.model.kind, io=io, workdir=folder, **options)
        result = search(planner, gate, budget, tolerance, planner.weight_bytes(source), folder, _seqs(ref),
                        progress=lambda m: run.tick(f"{fmt.name} {graph} {AUTO}: {m}"),
                        cost=_mcu_cost(run, fmt, planner, golden))
        if result.path is not None and hasattr(planner, "place"):
            # a file that names itself (C: #include and symbol prefix) is written again under its
            # bundle name, from the chosen plan; the gate below checks that very file
            placed = planner.place(result.plan(), path)
    except Exception as exc:  # noqa: BLE001 - like a quantizer error: reported, the export goes on
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:400]
        run.failed_entry(fmt.name, graph, AUTO, reason, time.perf_counter() - started)
        run.advance(f"{fmt.name} {graph} {AUTO}: failed")
        shutil.rmtree(folder, ignore_errors=True)
        for stray in (path, path.with_suffix(".h")) if fmt.name == "c" else (path,):
            stray.unlink(missing_ok=True)
        return
    finally:
        if planner is not None:
            planner.close()
    # the search's time includes the planner's preparation (pre-processing, calibration)
    result.seconds, result.cpu_seconds = time.perf_counter() - started, cpu_time() - cpu
    block = result.to_manifest()
    if result.path is not None:
        if placed is None:
            shutil.move(str(result.path), path)
        info = placed or {"quantized": result.quantized, "note": result.note, "io": io}
        run.gate(fmt, graph, AUTO, path, info, chunk, fp32_bytes, ref, golden, started, tolerance=tolerance,
                 extra={"auto": block})
    else:
        best = min((c for c in result.candidates if c.rel_range is not None),
                   key=lambda c: c.rel_range, default=None)
        reason = f"no quantized artifact within the budget: {result.why}"
        run.rejected.append({"format": fmt.name, "graph": graph, "scheme": AUTO, "status": "rejected",
                             "reason": reason, "auto": block})
        run.results.append(ArtifactResult(
            fmt.name, graph, AUTO, "rejected", max_abs=best.max_abs if best else None,
            rel_range=best.rel_range if best else None, metric_delta=best.metric_delta if best else None,
            reason=reason, seconds=round(time.perf_counter() - started, 2)))
    shutil.rmtree(folder, ignore_errors=True)
    run.advance(f"{fmt.name} {graph} {AUTO}: {run.results[-1].status}")
