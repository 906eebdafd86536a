"""``--quant auto`` on trained models: does every one get a passing artifact within 1 point, at
<= 0.6 of fp32's weight bytes, in <= 60 s of search per model and format?

Trains (or, with --reuse, reuses) 32-unit LSTM, LTC, CfC-NCP and CfC on BasicMotions and
ItalyPowerDemand, exports each with ``--quant int8-static --quant auto`` (default budget: 1
point, the int8-static error bound) for ONNX, TFLite and C (C: ``--quant int8-weight``, its
full-int8 rung and gate) through the real exporter and gate,
scores the auto artifact on the test split through its runtime, and writes the table
model x format x dataset to benchmarks/quant_auto.md (raw figures: --work/quant_auto.json).

    .venv/bin/python benchmarks/quant_auto.py --work /tmp/edgelnn-quant-auto --reuse --readme README.md

Search time is the search's own (calibration, candidates, gate runs; not fp32 conversion), as
wall and CPU seconds (CPU includes the C compiler's): on a shared machine the CPU figure is the
one to compare. C alone: ``--formats c``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("lstm", "ltc", "cfc-ncp", "cfc")
DATASETS = ("basicmotions", "italypowerdemand")
FULL_INT8 = {"onnx": "int8-static", "tflite": "int8-static", "c": "int8-weight"}   # the search's first rung
TARGET_DROP, TARGET_RATIO, TARGET_SECONDS = 1.0, 0.6, 60.0


def _checkpoint(kind: str, dataset: str, args) -> Path:
    from edgelnn.train import TrainConfig, train

    path = args.work / f"{kind}-{dataset}-{args.units}.pt"
    if not (args.reuse and path.is_file()):
        started = time.perf_counter()
        _, res = train(TrainConfig(model=kind, dataset=dataset, units=args.units, epochs=args.epochs, seed=args.seed),
                       path)
        print(f"trained {kind} on {dataset}: test {res.test_metric:.3f} in {time.perf_counter() - started:.0f}s",
              flush=True)
    return path


def _test_accuracy(bundle: Path, entry: dict) -> tuple[float, float]:
    """(accuracy through the artifact, PyTorch fp32) on the bundle's test split (eval.npz)."""
    from edgelnn import metrics
    from edgelnn.runtime import load_bundle

    b = load_bundle(bundle)
    ev = b.evaluation()
    runner = b.open(entry)
    try:
        out = runner.run_each(ev.test.x, ev.test.dt, ev.test.lengths)
    finally:
        runner.close()
    acc = metrics.score(metrics.last_valid(out, ev.test.lengths), ev.y, ev.task, ev.target_std)
    return float(acc), float(ev.test.reference)


def measure(kind: str, dataset: str, args) -> list[dict]:
    from edgelnn.export import export_bundle

    ckpt = _checkpoint(kind, dataset, args)
    out = args.work / f"{kind}-{dataset}"
    started, cpu = time.perf_counter(), time.process_time()
    schemes = ["fp32", *dict.fromkeys(FULL_INT8[f] for f in args.formats), "auto"]
    report = export_bundle(ckpt, out, formats=args.formats, schemes=schemes,
                           graphs=["step"], max_drop=args.max_drop,
                           progress=lambda d, t, m: print(f"  {kind}/{dataset}: [{d}/{t}] {m}", flush=True))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    manifest = json.loads((out / "manifest.json").read_text())
    entries = manifest["artifacts"] + manifest["rejected"]
    rows = []
    for fmt in args.formats:
        int8 = next((e for e in entries if e["format"] == fmt and e["scheme"] == FULL_INT8[fmt]), {})
        auto = next((e for e in entries if e["format"] == fmt and e["scheme"] == "auto"), {})
        block = auto.get("auto") or {}
        row = {"model": kind, "dataset": dataset, "format": fmt, "reference": report.reference,
               "int8_status": "passed" if int8 in manifest["artifacts"] else int8.get("status", "missing"),
               "int8_rel_range": (int8.get("parity") or {}).get("rel_range"),
               "int8_reason": int8.get("reason"),
               "auto_status": "passed" if auto in manifest["artifacts"] else auto.get("status", "missing"),
               "auto_reason": auto.get("reason"),
               "weight_ratio": block.get("weight_ratio"), "weight_bytes": block.get("weight_bytes"),
               "fp32_weight_bytes": block.get("fp32_weight_bytes"),
               "size_ratio": auto.get("size_ratio"), "rel_range": (auto.get("parity") or {}).get("rel_range"),
               "gate_metric_delta": (auto.get("parity") or {}).get("metric_delta"),
               "kept": {p: sum(k["precision"] == p for k in block.get("kept", [])) for p in ("int16", "float")},
               "units": block.get("units"), "candidates": len(block.get("trace", [])),
               "search_seconds": block.get("seconds"), "search_cpu_seconds": block.get("cpu_seconds"),
               "export_seconds": wall, "export_cpu_seconds": cpu, "why": block.get("why")}
        if auto in manifest["artifacts"]:
            acc, ref = _test_accuracy(out, auto)
            row.update(test_accuracy=acc, test_reference=ref, test_delta_points=(acc - ref) * 100)
        rows.append(row)
    return rows


def _cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.+)", info)
        return f"{model.group(1).strip() if model else platform.processor()}, {os.cpu_count()} cores"
    except OSError:
        return platform.machine()


def render(rows: list[dict], meta: dict) -> str:
    f = lambda v, spec=".2f": "–" if v is None else format(v, spec)  # noqa: E731
    lines = [f"# `--quant auto` on trained models ({meta['units']} units)", "",
             f"Measured by `benchmarks/quant_auto.py` on {meta['date']}: {meta['cpu']}, load average "
             f"{meta['load']} at the start (a shared machine: compare CPU seconds), {meta['tools']}.",
             "Budget: `--max-drop 1` (task-metric points on the parity data), error bound = the int8-static "
             "gate's (0.2 of the output range; C: int8-weight's, 0.1, and its full int8 is int8-weight). "
             "Weight ratio = weight bytes (stored constants incl. "
             "quantization parameters, elements x bits) of the auto artifact / the fp32 artifact's. Δ test = accuracy of the auto artifact on the "
             "test split through its runtime minus PyTorch fp32's, in points. Search = calibration + every "
             "candidate's quantization and parity run.", "",
             f"Targets: passes within {TARGET_DROP:g} point, weight ratio <= {TARGET_RATIO}, search <= "
             f"{TARGET_SECONDS:g} s. The search waits on nothing but the CPU (its runtimes use one thread), so on an idle "
             "machine its wall time is about its CPU seconds; *meets targets* checks those (wall seconds "
             "here include waiting for the other jobs on this shared machine).", "",
             "| model | dataset | format | fp32 test acc. | full int8 | auto | int16 / float ops | weight ratio "
             "| err/range | Δ gate (pts) | Δ test (pts) | candidates | search s (CPU s) | meets targets |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        int8 = ("✅ passed" if r["int8_status"] == "passed" else f"❌ {r['int8_status']}") + \
            (f" ({r['int8_rel_range']:.3g})" if r["int8_rel_range"] is not None else "")
        auto = "✅ passed" if r["auto_status"] == "passed" else f"❌ {r['auto_status']}"
        ok = (r["auto_status"] == "passed" and r["weight_ratio"] is not None and r["weight_ratio"] <= TARGET_RATIO
              and abs(min(0.0, r.get("test_delta_points", -1e9))) <= TARGET_DROP
              and (r["search_cpu_seconds"] or 1e9) <= TARGET_SECONDS)
        units = f"{r['kept']['int16']} / {r['kept']['float']} of {r['units']}" if r["units"] else "–"
        gate = None if r["gate_metric_delta"] is None else (-r["gate_metric_delta"] * 100 or 0.0)
        lines.append(f"| {r['model']} | {r['dataset']} | {r['format']} | {f(r['reference'], '.3f')} | {int8} | {auto} | "
                     f"{units} | {f(r['weight_ratio'])} | {f(r['rel_range'], '.3g')} | {f(gate, '+.1f')} | "
                     f"{f(None if r.get('test_delta_points') is None else round(r['test_delta_points'], 1) or 0.0, '+.1f')} | {r['candidates']} | "
                     f"{f(r['search_seconds'], '.1f')} ({f(r['search_cpu_seconds'], '.1f')}) | {'yes' if ok else '**no**'} |")
    lines += ["", "Why each auto artifact won (from the manifest's `auto.why`):", ""]
    lines += [f"- {r['model']} / {r['dataset']} / {r['format']}: {r['why'] or r['auto_reason']}" for r in rows]
    lines += ["", f"Total wall time {meta['seconds']:.0f} s (CPU {meta['cpu_seconds']:.0f} s), exports only.", ""]
    return "\n".join(lines)


START, END = "<!-- quant-auto:start -->", "<!-- quant-auto:end -->"


def summary(rows: list[dict], meta: dict) -> str:
    """The condensed table for the README section between START and END."""
    f = lambda v, spec=".2f": "–" if v is None else format(v, spec)  # noqa: E731
    lines = ["| model | dataset | format | full int8 (err/range) | auto: int16 / float ops | weight × fp32 "
             "| err/range | Δ test acc. (pts) | search s (CPU s) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        int8 = ("✅" if r["int8_status"] == "passed" else "❌") + f" {f(r['int8_rel_range'], '.2f')}"
        ops = f"{r['kept']['int16']} / {r['kept']['float']} of {r['units']}" if r["auto_status"] == "passed" \
            else f"❌ {r['auto_status']}"
        delta = r.get("test_delta_points")
        lines.append(f"| {r['model']} | {r['dataset']} | {r['format']} | {int8} | {ops} | {f(r['weight_ratio'])} | "
                     f"{f(r['rel_range'], '.3f')} | {f(None if delta is None else round(delta, 1) or 0.0, '+.1f')} | "
                     f"{f(r['search_seconds'], '.0f')} ({f(r['search_cpu_seconds'], '.0f')}) |")
    lines += ["", f"{meta['date']}, {meta['cpu']}, load average {meta['load']} (shared machine)."]
    return "\n".join(lines)


def _readme(path: Path, rows: list[dict], meta: dict) -> None:
    text = path.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{path} has no {START} ... {END} section")
    section = f"{START}\n{summary(rows, meta)}\n{END}"
    path.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S))
    print(f"updated {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgelnn-quant-auto"))
    parser.add_argument("--reuse", action="store_true", help="reuse checkpoints already in --work")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--formats", default="onnx,tflite,c")
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-drop", type=float, default=1.0)
    parser.add_argument("--write", type=Path, default=ROOT / "benchmarks" / "quant_auto.md")
    parser.add_argument("--render-only", action="store_true", help="re-render from --work/quant_auto.json")
    parser.add_argument("--readme", type=Path, default=None, help="also replace the marked section of this file")
    args = parser.parse_args()
    args.formats = [s for s in args.formats.split(",") if s]
    if args.render_only:
        saved = json.loads((args.work / "quant_auto.json").read_text())
        args.write.write_text(render(saved["rows"], saved["meta"]))
        print(f"wrote {args.write}")
        if args.readme:
            _readme(args.readme, saved["rows"], saved["meta"])
        return
    from importlib.metadata import version

    args.work.mkdir(parents=True, exist_ok=True)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    started, cpu = time.perf_counter(), time.process_time()
    rows = []
    for dataset in [d for d in args.datasets.split(",") if d]:
        for kind in [k for k in args.kinds.split(",") if k]:
            rows += measure(kind, dataset, args)
            r = rows[-1]
            print(f"{kind}/{dataset}: " + "; ".join(f"{x['format']} {x['auto_status']} ratio {x['weight_ratio']} "
                                                   f"search {x['search_seconds']}s" for x in rows[-len(args.formats):]),
                  flush=True)
    tools = ", ".join(f"{d} {version(d)}" for d in ("torch", "onnxruntime", "ai-edge-quantizer", "ai-edge-litert"))
    meta = {"units": args.units, "date": time.strftime("%Y-%m-%d"), "cpu": _cpu(), "load": load, "tools": tools,
            "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}
    (args.work / "quant_auto.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    args.write.write_text(render(rows, meta))
    print(f"wrote {args.write}")
    if args.readme:
        _readme(args.readme, rows, meta)


if __name__ == "__main__":
    main()
