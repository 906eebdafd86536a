"""Many streams (issue 21): throughput vs stream count per runtime, measured side by side in one run.

    .venv/bin/python benchmarks/streams.py [--models cfc,lstm,gru,ltc] [--units 64]
        [--streams 1,16,256,4096] [--rounds 2] [--min-seconds 0.3] [--work DIR --reuse]
        [--write benchmarks/RESULTS.md] [--json out.json] [--from-json benchmarks/results/streams.json]
    .venv/bin/python benchmarks/streams.py --c-only [--streams 1,256] [--rounds 5]
        [--write benchmarks/RESULTS.md] [--json benchmarks/results/streams_c.json]

``--c-only``: only the C fp32 and int8-weight artifacts (the bundles export ONNX and C), timed
side by side the same way, into their own block (the int8-weight ÷ fp32 table): a short run
for the C kernels that leaves the full run's block as it was.

For each kind (untrained, 64 units: speed does not depend on weight values) one bundle with the
fp32 ONNX, TFLite and C step artifacts and the C int8-weight one. Per artifact and runtime, round
robin over everything so background load hits every item alike (best p50 over ``--rounds``):

* the one-stream step cost: ``Runner.invoke`` at batch 1 (what ``edgelnn bench`` times);
* at each stream count B: ``Runner.invoke_batch`` over B streams (``bench --streams``: golden-
  checked at B first), per stream-step = p50 per batch / B.

Targets: per stream-step at 256 streams <= 1/10 of the one-stream cost for onnxruntime and LiteRT,
<= 1/2 for C; C batched at 256 within 2x of the compute floor = multiply-adds per step (the fp32
ONNX step graph's ``macs_per_step``) / this core's FMA rate, measured here by a C loop of
independent vector FMAs built with the C runtime's flags. Memory: state bytes x streams + one
copy of the weights, and the peak RSS of a fresh process serving 4,096 streams (``Streams``)
against the same process with the model loaded and no streams.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from edgelnn.bench import BenchSettings, fingerprint  # noqa: E402
from edgelnn.bench.latency import measure_latency  # noqa: E402
from edgelnn.bench.streams import measure_streams  # noqa: E402
from edgelnn.runtime import load_bundle  # noqa: E402

KINDS = {"cfc": "CfC", "lstm": "LSTM", "gru": "GRU", "ltc": "LTC"}
MARK_START, MARK_END = "<!-- streams:start -->", "<!-- streams:end -->"
C_MARKS = ("<!-- streams-c:start -->", "<!-- streams-c:end -->")
ITEMS = (("onnx", "fp32", "onnxruntime"), ("tflite", "fp32", "litert"), ("c", "fp32", "c"),
         ("c", "int8-weight", "c"))
TARGET = {"onnxruntime": 0.1, "litert": 0.1, "c": 0.5}

FMA_C = r"""
#include <time.h>
#define N 128
double fma_rate(long iters)
{
    float acc[N], a = 0.999f, b = 0.001f;
    int t; long i;
    struct timespec t0, t1;
    for (t = 0; t < N; t++) acc[t] = (float)t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < iters; i++)
        for (t = 0; t < N; t++) acc[t] = acc[t] * a + b;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    {
        volatile float sink = 0.0f;
        for (t = 0; t < N; t++) sink += acc[t];
        (void)sink;
    }
    return (double)iters * N / ((t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
}
"""


def fma_rate(rounds: int = 400) -> float:
    """Multiply-adds per second of one core: 128 independent fp32 chains (16 AVX registers),
    compiled with the C runtime's flags (-O3 -march=native -ffp-contract=fast); best of many
    short rounds (~50 us each: one long round on a loaded machine is preempted and reads low;
    measured 32.5 G with 5 rounds of 256 M multiply-adds at load 6, 64.7 G at load 2)."""
    import ctypes

    from edgelnn.runtime.c.toolchain import build_shared

    lib_path, _ = build_shared({"fma.c": FMA_C}, ["fma.c"], native=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.fma_rate.argtypes, lib.fma_rate.restype = [ctypes.c_long], ctypes.c_double
    return max(lib.fma_rate(20_000) for _ in range(rounds))


def build(kind: str, units: int, dataset, work: Path, reuse: bool, formats=("onnx", "tflite", "c")) -> Path:
    from edgelnn import models
    from edgelnn.export import export_bundle

    name = f"{kind}{units}-{dataset.name}"
    out = work / name
    if not (reuse and (out / "manifest.json").is_file()):
        model = models.create(kind, dataset.input_size, dataset.output_size, units=units, task=dataset.task,
                              label_names=dataset.label_names, norm_mean=dataset.norm_mean,
                              norm_std=dataset.norm_std, dataset=dataset.name, seed=0)
        model.save(work / f"{name}.pt")
        export_bundle(work / f"{name}.pt", out, formats=list(formats), graphs=["step"],
                      schemes=["fp32", "int8-weight"], tolerances={"int8-weight": {"metric_delta": 1.0}})
    return out


def litert_graph(bundle, entry) -> dict | None:
    """Operators of a LiteRT step file at batch 1 and in its 256-stream file, and whether the
    XNNPACK delegate took each (a DELEGATE node): is the batched graph unrolled per stream?"""
    if entry["format"] != "tflite":
        return None
    from ai_edge_litert.interpreter import Interpreter

    out = {}
    for f in [{"batch": 1, "file": entry["file"]}, *(entry.get("batch_files") or [])]:
        it = Interpreter(model_path=str(bundle.path / f["file"]), num_threads=1)
        it.allocate_tensors()
        ops = [o["op_name"] for o in it._get_ops_details()]
        out[str(f["batch"])] = {"ops": sum(1 for o in ops if o != "DELEGATE"), "xnnpack": "DELEGATE" in ops}
    return out


RSS_PROBE = r"""
import sys, numpy as np
from edgelnn.runtime import load_bundle
b = load_bundle(sys.argv[1]); n = int(sys.argv[3])
r = b.open(sys.argv[2])
if n:
    srv = r.streams(n)
    x = np.zeros((n, r.input_size), np.float32)
    for k in range(3):
        srv.step_arrays(range(n), x, np.full(n, 1.0 + k))
print([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
"""


def peak_rss_kb(bundle: Path, artifact: str, streams: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, str(bundle), artifact, str(streams)],
                         capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="cfc,lstm,gru,ltc")
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--streams", default="1,16,256,4096")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--min-seconds", type=float, default=0.3)
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--reuse", action="store_true")
    p.add_argument("--write", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--from-json", type=Path, default=None,
                   help="render (and --write) a run saved with --json instead of measuring")
    p.add_argument("--c-only", action="store_true",
                   help="only the C fp32 and int8-weight artifacts, into their own block")
    a = p.parse_args(argv)
    if a.from_json:
        saved = json.loads(a.from_json.read_text())
        a.c_only = bool(saved.get("c_only"))
        a.rounds = saved.get("rounds", a.rounds)
        rows = [{**r, **{k: {int(n): v for n, v in r[k].items()} for k in ("per_stream_step_us", "steps_per_s")}}
                for r in saved["rows"]]
        counts = sorted(rows[0]["per_stream_step_us"]) if rows else []
        loads = saved.get("load", [float("nan"), float("nan")])
        if a.c_only:
            report = render_c(rows, counts, loads[0], loads[1], a, saved.get("date"))
        else:
            report = render(rows, counts, saved["fma_per_s"], saved.get("rss") or {}, loads[0], loads[1], a,
                            saved.get("date"))
        print(report)
        if a.write:
            _write(a.write, report, C_MARKS if a.c_only else (MARK_START, MARK_END))
        return 0
    from edgelnn import data

    counts = [int(c) for c in a.streams.split(",")]
    work = a.work or Path(tempfile.mkdtemp(prefix="edgelnn-streams-"))
    work.mkdir(parents=True, exist_ok=True)
    ds = data.load("basicmotions")
    load_before = os.getloadavg()[0]
    rate0 = 0.0 if a.c_only else fma_rate()
    kinds = a.models.split(",")
    formats = ("onnx", "c") if a.c_only else ("onnx", "tflite", "c")
    bundles = {k: build(k, a.units, ds, work, a.reuse, formats) for k in kinds}
    items = [i for i in ITEMS if i[2] == "c"] if a.c_only else ITEMS
    settings = BenchSettings(warmup=20, min_runs=200, min_seconds=a.min_seconds)
    opened = {}
    for k, path in bundles.items():
        b = load_bundle(path)
        for fmt, scheme, runtime in items:
            entry = next((e for e in b.artifacts if e["format"] == fmt and e["scheme"] == scheme), None)
            if entry is not None:
                opened[(k, fmt, scheme, runtime)] = (b, entry, b.open(entry, runtime=runtime))
    best: dict = {}
    for rnd in range(a.rounds):                  # round robin: load hits every item alike
        for key, (b, entry, runner) in opened.items():
            one, _ = measure_latency(runner, b.golden(), settings)
            best.setdefault(key, {"one": [], "streams": {}})["one"].append(one.p50)
            for n in counts:
                res = measure_streams(runner, b.golden(), n, float(entry["golden"]["tolerance"]), settings)
                if not res.golden_ok:
                    raise SystemExit(f"{entry['file']}: {res.error}")
                best[key]["streams"].setdefault(n, []).append((res.per_stream_step_us, res.batch_mode))
            print(f"round {rnd + 1}: {entry['file']} [{runner.runtime}] done", file=sys.stderr, flush=True)
    rate = 0.0 if a.c_only else max(rate0, fma_rate())    # before and after the timings: the better one
    load_after = os.getloadavg()[0]
    rows = []
    for (k, fmt, scheme, runtime), fig in best.items():
        b, entry, runner = opened[(k, fmt, scheme, runtime)]
        onnx = next(e for e in b.artifacts if e["format"] == "onnx" and e["scheme"] == "fp32")
        macs = (onnx.get("footprint") or {}).get("macs_per_step")
        per = {n: min(v)[0] for n, v in fig["streams"].items()}
        rows.append({"model": f"{KINDS.get(k, k)}-{a.units}", "kind": k, "format": fmt, "scheme": scheme,
                     "runtime": runtime, "batch_mode": fig["streams"][counts[0]][0][1],
                     "one_stream_us": min(fig["one"]), "per_stream_step_us": per,
                     "steps_per_s": {n: 1e6 / v for n, v in per.items()}, "macs_per_step": macs,
                     "state_bytes_per_stream": 4 * sum(b.state_sizes), "litert_graph": litert_graph(b, entry),
                     "weight_bytes": (entry.get("footprint") or {}).get("weight_bytes")
                     or ((entry.get("c") or {}).get("stats") or {}).get("weight_bytes")})
    stamp = time.strftime('%Y-%m-%d', time.gmtime())
    if a.c_only:
        for _, _, runner in opened.values():
            runner.close()
        report = render_c(rows, counts, load_before, load_after, a, stamp)
        print(report)
        if a.json:
            a.json.write_text(json.dumps({"rows": rows, "c_only": True, "rounds": a.rounds,
                                          "load": [load_before, load_after], "date": stamp}, indent=1))
        if a.write:
            _write(a.write, report, C_MARKS)
        return 0
    if a.json:                                   # the timings first: the memory probe may fail
        a.json.write_text(json.dumps({"rows": rows, "fma_per_s": rate, "load": [load_before, load_after],
                                      "date": stamp}, indent=1))
    rss = {}
    if 4096 in counts:
        for k, path in bundles.items():
            b = load_bundle(path)
            c = next(e for e in b.artifacts if e["format"] == "c" and e["scheme"] == "fp32")
            try:
                rss[k] = {"artifact": c["file"], "model_kb": peak_rss_kb(path, c["file"], 0),
                          "streams_kb": peak_rss_kb(path, c["file"], 4096)}
            except subprocess.CalledProcessError as exc:
                print(f"peak RSS of {c['file']} not measured: {exc.stderr.strip().splitlines()[-1:]}",
                      file=sys.stderr)
    for _, _, runner in opened.values():
        runner.close()
    report = render(rows, counts, rate, rss, load_before, load_after, a, stamp)
    print(report)
    if a.write:
        _write(a.write, report)
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "fma_per_s": rate, "rss": rss, "load": [load_before, load_after],
                                      "date": stamp}, indent=1))
    return 0


def _write(path: Path, report: str, marks=(MARK_START, MARK_END)) -> None:
    """Replace the block between ``marks`` (the C-only block goes after the full run's)."""
    start, end = marks
    old = path.read_text() if path.exists() else ""
    block = f"{start}\n{report.rstrip()}\n{end}\n"
    if start in old and end in old:
        new = old[:old.index(start)] + block + old[old.index(end) + len(end) + 1:]
    elif start != MARK_START and MARK_END in old:
        at = old.index(MARK_END) + len(MARK_END) + 1
        new = old[:at] + "\n" + block + old[at:]
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)


def int8_pairs(rows, counts) -> list[tuple]:
    """(model, streams, fp32 µs, int8-weight µs) per stream-step; 1 stream: the one-stream cost."""
    c32 = {r["kind"]: r for r in rows if r["runtime"] == "c" and r["scheme"] == "fp32"}
    out = []
    for r8 in rows:
        r32 = c32.get(r8["kind"])
        if r8["runtime"] != "c" or r8["scheme"] != "int8-weight" or r32 is None:
            continue
        for n in [1, *(c for c in counts if c != 1)]:
            a32 = r32["one_stream_us"] if n == 1 else r32["per_stream_step_us"][n]
            a8 = r8["one_stream_us"] if n == 1 else r8["per_stream_step_us"][n]
            out.append((r8["model"], n, a32, a8))
    return out


def render_c(rows, counts, load_before, load_after, a, stamp=None) -> str:
    """The C-only block: int8-weight C vs fp32 C, per stream-step, and the verdict."""
    env = fingerprint()
    cmd = ("python benchmarks/streams.py --c-only" + (f" --models {a.models}" if a.models != "cfc,lstm,gru,ltc" else "")
           + f" --streams {','.join(map(str, counts))} --rounds {a.rounds}")
    pairs = int8_pairs(rows, counts)
    out = ["## int8-weight C vs fp32 C (issue 21, C-only run)", "",
           f"`{cmd}` on {env['cpu']} ({env['cores']} cores), {stamp or time.strftime('%Y-%m-%d', time.gmtime())}; "
           f"1 thread; best p50 of {a.rounds} round-robin rounds (fp32 and int8-weight interleaved); 1-minute load "
           f"average {load_before:.1f} before, {load_after:.1f} after: **measured under load**, so only the ratios "
           "taken side by side in this run mean anything. The same models and timing as the full run above "
           "(one stream: `Runner.invoke` at batch 1; n streams: `Runner.invoke_batch`, golden-checked at n "
           "first); this run supersedes that block's int8-weight rows when it is the later one. The int8 "
           "kernels are the host build's (-march=native): on this CPU "
           + ("the AVX-512 passes" if "avx512f" in _cpu_flags() else "the AVX2 passes" if "avx2" in _cpu_flags()
              else "the portable C") + ".", "",
           "| model | streams | fp32 µs | int8-weight µs | int8 ÷ fp32 |", "| --- | ---: | ---: | ---: | ---: |"]
    out += [f"| {m} | {n} | {a32:.3f} | {a8:.3f} | {a8 / a32:.2f} |" for m, n, a32, a8 in pairs]
    if pairs:
        ok = [(m, n, a8 / a32) for m, n, a32, a8 in pairs if a8 <= a32]
        no = [(m, n, a8 / a32) for m, n, a32, a8 in pairs if a8 > a32]
        fmt = ", ".join
        out += ["", f"- int8-weight C at least as fast as fp32 C (one stream and batched): "
                + ("**met**" if not no else "**not met**") + " — at most fp32's cost for "
                + (fmt(f"{m} at {n} ({v:.2f})" for m, n, v in ok) or "-") + "; slower for "
                + (fmt(f"{m} at {n} ({v:.2f})" for m, n, v in no) or "-") + "."]
    return "\n".join(out) + "\n"


def _cpu_flags() -> set[str]:
    try:
        line = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags"))
    except (OSError, StopIteration):
        return set()
    return set(line.split(":", 1)[1].split())


def verdict(rows, rate, rss) -> list[str]:
    """The issue's targets, met or not, computed from the figures above."""
    def fmt(items):
        return ", ".join(f"{m} {v}" for m, v in items) or "-"

    out = ["", "### Verdict against the issue 21 targets (computed from the tables above)", ""]
    for runtime, label in (("onnxruntime", "onnxruntime"), ("litert", "LiteRT"), ("c", "C fp32")):
        sel = [r for r in rows if r["runtime"] == runtime and r["scheme"] == "fp32" and 256 in r["per_stream_step_us"]]
        tgt = TARGET[runtime]
        ok = [(r["model"], f"{r['per_stream_step_us'][256] / r['one_stream_us']:.3f}") for r in sel
              if r["per_stream_step_us"][256] / r["one_stream_us"] <= tgt]
        no = [(r["model"], f"{r['per_stream_step_us'][256] / r['one_stream_us']:.3f}") for r in sel
              if r["per_stream_step_us"][256] / r["one_stream_us"] > tgt]
        out.append(f"- {label}, per stream-step at 256 streams ≤ {tgt:.2f} of one stream: met for {fmt(ok)}; "
                   f"**not met** for {fmt(no)}.")
    lite = [r for r in rows if r["runtime"] == "litert" and r["scheme"] == "fp32" and r["macs_per_step"]
            and r["kind"] != "ltc" and 256 in r["per_stream_step_us"]]
    if lite:
        graphs = [r.get("litert_graph") or {} for r in lite]
        same = all(g.get("1") and g.get("256") and g["1"]["ops"] == g["256"]["ops"] for g in graphs)
        xnn = all(g.get("256", {}).get("xnnpack") for g in graphs)
        need = [(r, 0.1 * r["one_stream_us"], r["macs_per_step"] / rate * 1e6) for r in lite]
        out.append("- LiteRT's 256-stream files: "
                   + ("the same operators as the batch-1 file (not unrolled per stream)" if same
                      else "operator counts differ from the batch-1 file") + ", "
                   + ("each has an XNNPACK DELEGATE node" if xnn else "**not** every file has an XNNPACK DELEGATE node")
                   + ". 0.10 of the one-stream cost means per stream-step "
                   + ", ".join(f"{r['model']} {n:.3f} µs ({n / f:.2f}× the fp32 floor; measured "
                               f"{r['per_stream_step_us'][256] / f:.2f}×)" for r, n, f in need)
                   + f": within {max(n / f for _, n, f in need):.2f}× of the floor, for a one-thread fp32 graph.")
    c32 = [r for r in rows if r["runtime"] == "c" and r["scheme"] == "fp32" and r["macs_per_step"]
           and 256 in r["per_stream_step_us"]]
    fl = [(r["model"], r["per_stream_step_us"][256] / (r["macs_per_step"] / rate * 1e6)) for r in c32]
    out.append(f"- C batched at 256 streams within 2× of the compute floor ({rate / 1e9:.1f} G multiply-adds/s): "
               f"met for {fmt((m, f'{v:.1f}×') for m, v in fl if v <= 2)}; **not met** for "
               f"{fmt((m, f'{v:.1f}×') for m, v in fl if v > 2)} (LTC's element-wise synapse work is not in the floor).")
    ltc = [r for r in rows if r["kind"] == "ltc" and r["scheme"] == "fp32"
           and {16, 256} <= set(r["per_stream_step_us"])]
    if ltc:
        out.append(f"- LTC: {ltc[0]['macs_per_step']} multiply-adds per step in matrix products; its step is six "
                   "ODE unfolds of element-wise synapse arithmetic (a sigmoid per synapse, units × units per "
                   "unfold) that streams do not share, so a batch saves only the per-call cost. Per stream-step "
                   "÷ one stream at 16 / 256 streams: "
                   + ", ".join(f"{r['runtime']} {r['per_stream_step_us'][16] / r['one_stream_us']:.2f} / "
                               f"{r['per_stream_step_us'][256] / r['one_stream_us']:.2f}" for r in ltc)
                   + f". A 256-stream LTC call runs {min(r['per_stream_step_us'][256] for r in ltc) * 256 / 1000:.0f}–"
                   f"{max(r['per_stream_step_us'][256] for r in ltc) * 256 / 1000:.0f} ms, long enough to be "
                   "preempted on a loaded machine: read its 256-stream figures as upper bounds.")
    c8 = {r["kind"]: r for r in rows if r["runtime"] == "c" and r["scheme"] == "int8-weight"}
    pairs = []
    for r in c32 if c8 else []:
        r8 = c8.get(r["kind"])
        if r8 and 256 in r8["per_stream_step_us"]:
            pairs.append((r["model"], r8["one_stream_us"] / r["one_stream_us"],
                          r8["per_stream_step_us"][256] / r["per_stream_step_us"][256]))
    if pairs:
        met = all(a <= 1 and b <= 1 for _, a, b in pairs)
        out.append(f"- int8-weight C at least as fast as fp32 C: {'met' if met else '**not met**'} — int8 ÷ fp32 "
                   + ", ".join(f"{m} {a:.2f} (1 stream) / {b:.2f} (256)" for m, a, b in pairs) + ".")
    if rss:
        diffs = [(v["streams_kb"] - v["model_kb"]) / 1024 for v in rss.values()]
        out.append(f"- Memory at 4,096 streams: peak RSS {min(diffs):.1f}–{max(diffs):.1f} MiB above the same process "
                   "with the model loaded (state × streams in the table).")
    out.append("- GPU crossover: **not measured** (no GPU machine was lent to this task).")
    return out


def render(rows, counts, rate, rss, load_before, load_after, a, stamp=None) -> str:
    env = fingerprint()
    cmd = "python benchmarks/streams.py" + (f" --models {a.models}" if a.models != "cfc,lstm,gru,ltc" else "")
    out = ["## Many streams: throughput vs stream count (issue 21)", "",
           f"`{cmd}` on {env['cpu']} ({env['cores']} cores), {stamp or time.strftime('%Y-%m-%d', time.gmtime())}; "
           f"1 thread; best p50 of {a.rounds} round-robin rounds; 1-minute load average {load_before:.1f} before, "
           f"{load_after:.1f} after: **measured under load** (the machine is shared), so only the ratios "
           "taken side by side in this run mean anything. Untrained models, 64 units, basicmotions "
           "(6 inputs). Every stream count was golden-checked through the very call timed.", "",
           "Stream-steps per second (one thread):", "",
           "| model | artifact | runtime | batch | " + " | ".join(f"{n} streams" for n in counts) + " |",
           "| --- | --- | --- | --- | " + " | ".join("---:" for _ in counts) + " |"]
    for r in rows:
        out.append(f"| {r['model']} | {r['format']} {r['scheme']} | {r['runtime']} | {r['batch_mode']} | "
                   + " | ".join(f"{r['steps_per_s'][n]:,.0f}" for n in counts) + " |")
    out += ["", f"Targets at 256 streams: µs per stream-step ÷ the one-stream step cost (`Runner.invoke` at "
            "batch 1): onnxruntime and LiteRT ≤ 0.10, C ≤ 0.50. C compute floor: multiply-adds per step "
            f"(the fp32 ONNX step graph's `macs_per_step`) ÷ this core's measured FMA rate, "
            f"**{rate / 1e9:.1f} G multiply-adds/s** (one core; 128 independent fp32 chains, the C runtime's "
            "flags). The floor counts matrix products only: LTC's synapse arithmetic is element-wise "
            "and not in it.", "",
            "| model | artifact | runtime | one stream µs | 256: µs/stream-step | ratio | target | met | floor µs | 256 ÷ floor |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for r in rows:
        if 256 not in r["per_stream_step_us"]:
            continue
        per = r["per_stream_step_us"][256]
        ratio = per / r["one_stream_us"]
        tgt = TARGET[r["runtime"]]
        floor = r["macs_per_step"] / rate * 1e6 if r["macs_per_step"] else None
        fl = f"{floor:.3f}" if floor else "-"
        vs = f"{per / floor:.1f}x" if floor and r["runtime"] == "c" else "-"
        out.append(f"| {r['model']} | {r['format']} {r['scheme']} | {r['runtime']} | {r['one_stream_us']:.2f} | "
                   f"{per:.3f} | {ratio:.3f} | {tgt:.2f} | {'yes' if ratio <= tgt else '**no**'} | {fl} | {vs} |")
    c32 = {r["kind"]: r for r in rows if r["runtime"] == "c" and r["scheme"] == "fp32"}
    c8 = {r["kind"]: r for r in rows if r["runtime"] == "c" and r["scheme"] == "int8-weight"}
    if c8:
        out += ["", "int8-weight C vs fp32 C (µs per stream-step; target: int8-weight at least as fast):", "",
                "| model | streams | fp32 | int8-weight | int8 ÷ fp32 |", "| --- | ---: | ---: | ---: | ---: |"]
        for k, r8 in c8.items():
            r32 = c32.get(k)
            if r32 is None:
                continue
            for n in ([1, 256] if 256 in counts else counts[:1]):
                a32 = r32["one_stream_us"] if n == 1 else r32["per_stream_step_us"][n]
                a8 = r8["one_stream_us"] if n == 1 else r8["per_stream_step_us"][n]
                out.append(f"| {r8['model']} | {n} | {a32:.3f} | {a8:.3f} | {a8 / a32:.2f} |")
    if rss:
        out += ["", "Memory at 4,096 streams (C fp32; `Streams` holding every state): state bytes × streams + "
                "one copy of the weights, and the peak RSS (VmHWM) of a fresh process that serves 4,096 "
                "streams three rounds, against the same process with the model loaded and no streams:", "",
                "| model | state B/stream | × 4,096 | weights B | peak RSS, model only | peak RSS, 4,096 streams | difference |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for k, m in rss.items():
            r = c32[k]
            out.append(f"| {r['model']} | {r['state_bytes_per_stream']} | {r['state_bytes_per_stream'] * 4096:,} | "
                       f"{r['weight_bytes'] or '-'} | {m['model_kb'] / 1024:.1f} MiB | {m['streams_kb'] / 1024:.1f} MiB | "
                       f"{(m['streams_kb'] - m['model_kb']) / 1024:.1f} MiB |")
    out += ["", "GPU crossover (the stream count at which CUDA or TensorRT beats the CPU): **not measured** — "
            "no GPU machine was lent to this task."]
    out += verdict(rows, rate, rss)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
