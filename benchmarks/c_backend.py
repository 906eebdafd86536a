"""The C backend's performance targets (issue 10), measured side by side in one run.

    .venv/bin/python benchmarks/c_backend.py [--models cfc,ltc,lstm,gru] [--units 64]
        [--rounds 3] [--min-runs 500] [--min-seconds 0.5] [--work DIR --reuse]
        [--write benchmarks/RESULTS.md] [--readme README.md] [--json out.json] [--instructions]

For each kind (untrained, 64 units: latency and flash do not depend on weight values) it
exports one bundle with the TFLite step artifacts (every scheme), the C artifacts (every
scheme) and the ONNX fp32 step graph, then measures, interleaved round-robin so background
load hits every item alike, 1 thread, batch 1:

* every C and LiteRT step artifact through the runtime (``Runner.invoke``, what ``edgelnn
  bench`` times), and C ``<prefix>_run`` over 32 samples per call;
* then, per model, the best LiteRT step, the best C step and the best C run timed again in
  alternating blocks (``Alternating``: the three see the same machine state), for the targets:
  C step p50 <= 1/2 of the best LiteRT step p50, C run per sample <= 1/5 of it;
* ``Runner.step()`` (the public API, input checks kept) against the raw runtime call, per
  runtime (onnxruntime, LiteRT, c), on CfC-64 fp32, the two timed interleaved call by call
  (``Interleaved``); target <= +15 %;
* the Cortex-M4 (and, for int16-fixed, Cortex-M0+) flash / static RAM / worst-case stack /
  state of every C artifact, from the manifest (arm-none-eabi-gcc -Os); targets: int8-weight
  flash <= active parameters x 1 B + 6 KiB, state + worst-case stack <= 2 KiB.

Each timing is the best p50 over ``--rounds`` rounds; golden checks gate every artifact first.
The text states the machine's load before the run (quiet below a 1-minute load average of 0.5).
``--instructions`` adds the Runner.step overhead in instructions per call (valgrind callgrind),
which a busy machine does not disturb.
"""
from __future__ import annotations

import argparse
import datetime as dt_
import json
import os
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from step_latency import Item, raw_call  # noqa: E402

from edgelnn.bench import BenchSettings, LatencyStats, fingerprint  # noqa: E402
from edgelnn.bench.golden import golden_check  # noqa: E402
from edgelnn.bench.latency import measure_latency, measure_run_latency  # noqa: E402
from edgelnn.runtime import load_bundle  # noqa: E402
from edgelnn.schema import mcu_of  # noqa: E402

QUIET_LOAD = 0.5      # 1-minute load average below which the machine counts as quiet
KINDS = {"cfc": "CfC", "ltc": "LTC", "lstm": "LSTM", "gru": "GRU", "cfc-ncp": "CfC-NCP", "rnn": "RNN", "gru-d": "GRU-D"}
MARK_START, MARK_END = "<!-- c-backend:start -->", "<!-- c-backend:end -->"


def build(kind: str, units: int, dataset, work: Path, reuse: bool):
    import torch

    from edgelnn import models
    from edgelnn.export import export_bundle

    torch.manual_seed(0)
    model = models.create(kind, dataset.input_size, dataset.output_size, units=units, task=dataset.task,
                          label_names=dataset.label_names, norm_mean=dataset.norm_mean,
                          norm_std=dataset.norm_std, dataset=dataset.name, seed=0)
    name = f"{kind}{units}-{dataset.name}"
    ckpt, out = work / f"{name}.pt", work / name
    if not (reuse and (out / "manifest.json").is_file()):
        model.save(ckpt)
        if out.exists():
            import shutil
            shutil.rmtree(out)
        # untrained models have near-tied logits: a quantized artifact may flip argmax by luck;
        # the error bounds still apply
        loose = {s: {"metric_delta": 1.0} for s in ("fp16", "int8-weight", "int8-dynamic", "int8-static",
                                                    "int16x8-static", "int16-fixed")}
        export_bundle(ckpt, out, formats=["onnx", "tflite", "c"], graphs={"onnx": ["step"], "tflite": ["step"],
                                                                           "c": ["step"]},
                      schemes=["fp32", "fp16", "int8-weight", "int8-dynamic", "int8-static",
                               "int16x8-static", "int16-fixed"], tolerances=loose)
    return model, out


class Interleaved:
    """Calls timed in turn on the same sample, call by call (raw call, then Runner.step, ...).

    Their ratio is what the overhead target is about, and this 2-vCPU machine changes speed by
    2x for seconds at a time, also when nothing else runs on it: timed one after the other in
    0.5 s windows, one pair read +17% on one run and +74% on the next. Interleaved, a slow
    spell hits every call alike. ``calls``: (call(k) -> out, after(k, out) or None, reset or None); only
    ``call`` is timed, ``after`` hands the state over untimed (as the raw loop's carry).
    """

    def __init__(self, calls, length: int, settings):
        self.calls, self.length, self.settings = calls, length, settings
        self.last: list | None = None
        self.rounds: list[list] = []

    def measure(self) -> list:
        clock, n, st = time.perf_counter_ns, self.length, self.settings
        for _, _, reset in self.calls:
            if reset:
                reset()
        samples = [[] for _ in self.calls]
        deadline, i = None, 0
        while True:
            if i == st.warmup:
                samples, deadline = [[] for _ in self.calls], clock() + int(st.min_seconds * 1e9)
            k = i % n
            for j, (call, after, _) in enumerate(self.calls):
                t0 = clock()
                out = call(k)
                t1 = clock()
                samples[j].append(t1 - t0)
                if after:
                    after(k, out)
            i += 1
            if deadline is not None and len(samples[0]) >= st.min_runs and clock() >= deadline:
                break
        self.last = [LatencyStats.from_ns(s, st) for s in samples]
        self.rounds.append(self.last)
        return self.last

    def overhead(self) -> tuple[float, LatencyStats, LatencyStats]:
        """Call 1 over call 0 (Runner.step over the raw call): the median round's ratio - 1, and
        that round's two figures (both from one round, never the best of each from different ones)."""
        ranked = sorted(self.rounds, key=lambda rd: rd[1].p50 / rd[0].p50)
        rd = ranked[(len(ranked) - 1) // 2]
        return rd[1].p50 / rd[0].p50 - 1, rd[0], rd[1]

    def item_fn(self, j: int):
        """What Item j measures: the first item runs the interleaved round, the others read it."""
        def fn():
            if j == 0 or self.last is None:
                self.measure()
            return self.last[j]
        return fn


class Alternating:
    """The verdict's three figures for one model, timed in alternating blocks: ``block`` calls of
    the best LiteRT step artifact, ``block`` of the best C step artifact, ``block / 16`` C runs of
    ``chunk`` samples, again and again for ``seconds``; each block starts with ``warm`` untimed
    calls, so every timed call finds its own weights in cache, as a loop of calls does.

    Why: the round-robin rounds time each artifact in its own 0.5 s window, and this machine
    changes speed ~2x for seconds at a time, also when idle. CfC-64's C step / LiteRT step read
    0.45 to 0.67 over five such runs. Blocks ~100 us apart share the machine's state; call by
    call (``Interleaved``) is no good here, as three models' weights evict each other: C step
    6.4 us instead of 2.5. The ratio is of the pooled per-call p50s; the spread of the per-block
    ratios is reported with it."""

    BLOCK, WARM = 64, 8

    def __init__(self, lite, cstep, crun, golden, chunk: int, block: int = BLOCK, warm: int = WARM):
        self.chunk, self.block, self.warm = chunk, block, warm
        self.calls = [_step_timer(lite, golden), _step_timer(cstep, golden), _run_timer(crun, golden, chunk)]
        self.stats: list[LatencyStats] = []
        self.block_ratios: list[tuple[float, float]] = []

    def measure(self, seconds: float, settings) -> None:
        import statistics

        clock = time.perf_counter_ns
        sizes = (self.block, self.block, max(1, self.block // 16))
        pooled = [[] for _ in self.calls]
        end = clock() + int(seconds * 1e9)
        while clock() < end or len(pooled[2]) < 20:
            medians = []
            for call, size, into in zip(self.calls, sizes, pooled):
                for _ in range(self.warm):
                    call()
                got = [call() for _ in range(size)]
                into += got
                medians.append(statistics.median(got))
            self.block_ratios.append((medians[1] / medians[0], medians[2] / self.chunk / medians[0]))
        self.stats = [LatencyStats.from_ns(s, settings) for s in pooled]

    @property
    def step_ratio(self) -> float:
        return self.stats[1].p50 / self.stats[0].p50

    @property
    def run_ratio(self) -> float:
        return self.stats[2].p50 / self.chunk / self.stats[0].p50

    def spread(self, j: int) -> tuple[float, float]:
        """10th and 90th percentile of the per-block ratios (j = 0: step, 1: run)."""
        vals = sorted(r[j] for r in self.block_ratios)
        return vals[len(vals) // 10], vals[(9 * len(vals)) // 10]


def _step_timer(runner, golden):
    """One timed ``runner.invoke`` per call, state carried untimed (as ``measure_latency``)."""
    from edgelnn.bench.latency import _carry_state, step_feeds

    feeds = step_feeds(runner, golden)
    length = len(feeds)
    clock, pos = time.perf_counter_ns, [0]

    def call() -> int:
        i = pos[0]
        f = feeds[i % length]
        t0 = clock()
        out = runner.invoke(f)
        t1 = clock()
        _carry_state(feeds[(i + 1) % length], out)
        pos[0] = i + 1
        return t1 - t0
    return call


def _run_timer(runner, golden, chunk: int):
    """One timed ``runner.invoke_run`` over ``chunk`` samples per call (as ``measure_run_latency``)."""
    from edgelnn.bench.latency import run_inputs

    xs, dts, out = run_inputs(runner, golden, chunk)
    runner.reset()
    clock = time.perf_counter_ns

    def call() -> int:
        t0 = clock()
        runner.invoke_run(xs, dts, out)
        return clock() - t0
    return call


def overhead_calls(runner, golden):
    """(raw call, Runner.step) for one runtime, as Interleaved calls; for the c runtime also the
    bare ctypes call on prepared buffers. Raw call = the runtime's own API with inputs prepared
    outside the timer (c: x copied in, y copied out, the other runtimes' input/output handling)."""
    length = int(golden.lengths[0])
    xs = [golden.x[0, t].copy() for t in range(length)]
    dts = [float(golden.dt[0, t]) for t in range(length)]
    api = (lambda k: runner.step(xs[k], dts[k]), None, runner.reset)
    if runner.runtime == "c":
        f, xp, sp, yp, xbuf, y = runner.raw_step, runner._xp, runner._sp, runner._yp, runner._x, runner._y

        def with_io(k):
            xbuf[...] = xs[k]
            f(xp, dts[k], sp, yp)
            return y.copy()
        return [(with_io, None, None), api, (lambda k: f(xp, dts[k], sp, yp), None, None)]
    feeds, call, carry = raw_call(runner, golden)
    return [(lambda k: call(feeds[k]), lambda k, out: carry(feeds[(k + 1) % length], out), None), api]


def probe(fmt: str, mode: str, n: int, bundle_path: str) -> None:
    """Run ``n`` raw runtime calls or ``n`` Runner.step calls (CfC fp32 step): the process the
    instruction counts below are taken of (valgrind --tool=callgrind), 200 warm-up calls first."""
    bundle = load_bundle(bundle_path)
    g = bundle.golden()
    length = int(g.lengths[0])
    xs = [g.x[0, t] for t in range(length)]
    dts = [float(g.dt[0, t]) for t in range(length)]
    entry = next(a for a in bundle.artifacts if a["format"] == fmt and a["scheme"] == "fp32" and a["graph"] == "step")
    r = bundle.open(entry)
    if fmt == "c":
        f, xp, sp, yp, xb, yb = r.raw_step, r._xp, r._sp, r._yp, r._x, r._y

        def raw(k):
            xb[...] = xs[k]
            f(xp, dts[k], sp, yp)
            return yb.copy()
    else:
        feeds, call, carry = raw_call(r, g)

        def raw(k):
            out = call(feeds[k])
            carry(feeds[(k + 1) % length], out)
            return out
    fn = raw if mode == "raw" else (lambda k: r.step(xs[k], dts[k]))
    for i in range(200 + n):
        fn(i % length)


def instruction_overheads(bundle_path: Path, runtimes=("onnxruntime", "litert", "c")) -> dict:
    """Per call instructions of the raw call and of Runner.step, by callgrind (deterministic on a
    busy machine): the difference of a 200 + 2200-call run and a 200 + 200-call run, / 2000."""
    import re
    import shutil
    import subprocess

    if shutil.which("valgrind") is None:
        return {}
    fmt_of = {"onnxruntime": "onnx", "litert": "tflite", "c": "c"}
    out = {}
    for rt in runtimes:
        per = {}
        for mode in ("raw", "api"):
            counts = []
            for n in (200, 2200):
                proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                       sys.executable, __file__, "--probe", fmt_of[rt], mode, str(n), str(bundle_path)],
                                      capture_output=True, text=True)
                m = re.search(r"Collected : (\d+)", proc.stderr)
                counts.append(int(m.group(1)) if m else None)
            per[mode] = (counts[1] - counts[0]) / 2000 if None not in counts else None
        out[rt] = per
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--probe"]:
        probe(argv[1], argv[2], int(argv[3]), argv[4])
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="cfc,ltc,lstm,gru")
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--dataset", default="basicmotions")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--min-runs", type=int, default=500)
    p.add_argument("--min-seconds", type=float, default=0.5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--run-chunk", type=int, default=32)
    p.add_argument("--compare-seconds", type=float, default=4.0,
                   help="per model: how long the best LiteRT step, C step and C run alternate in blocks")
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--reuse", action="store_true")
    p.add_argument("--write", type=Path, default=None, help="update the C backend section of this file")
    p.add_argument("--readme", type=Path, default=None,
                   help="update the figures between <!-- c-figures:start/end --> in this README")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--instructions", action="store_true",
                   help="also count instructions per call (valgrind callgrind) for the Runner.step overhead")
    a = p.parse_args(argv)

    from edgelnn import data

    settings = BenchSettings(warmup=a.warmup, min_runs=a.min_runs, min_seconds=a.min_seconds,
                             run_chunk=a.run_chunk)
    work = a.work or Path(tempfile.mkdtemp(prefix="edgelnn-cbackend-"))
    work.mkdir(parents=True, exist_ok=True)
    dataset = data.load(a.dataset)
    started = time.time()
    a.load_before = os.getloadavg()[0]      # other jobs on the machine, before this run adds its own
    items: list[Item] = []
    runners, skipped, bundles, facts = [], [], {}, {}
    for kind in a.models.split(","):
        label = f"{KINDS.get(kind, kind)}-{a.units}"
        print(f"[build] {label}", file=sys.stderr, flush=True)
        model, path = build(kind, a.units, dataset, work, a.reuse)
        bundle = load_bundle(path)
        bundles[label] = bundle
        facts[label] = {"params": model.param_count(), "active_params": model.active_param_count()}
        golden = bundle.golden()
        for entry in bundle.artifacts:
            if entry["graph"] != "step" or entry["format"] not in ("tflite", "c"):
                continue
            runner = bundle.open(entry, threads=1)
            check = golden_check(runner, golden, float(entry["golden"]["tolerance"]))
            if not check.ok:
                skipped.append((label, entry["file"], check.error))
                runner.close()
                continue
            runners.append(runner)
            short = entry["file"].replace(bundle.name + ".", "")
            items.append(Item(label, short, lambda r=runner: measure_latency(r, golden, settings)[0],
                              runtime=runner.runtime, scheme=entry["scheme"], format=entry["format"],
                              mode="step", file=entry["file"]))
            if entry["format"] == "c":
                items.append(Item(label, short + " run", lambda r=runner: measure_run_latency(r, golden, settings)[0],
                                  per=a.run_chunk, runtime="c", scheme=entry["scheme"], format="c",
                                  mode="run", file=entry["file"]))
        for entry in bundle.rejected:
            skipped.append((label, entry.get("file") or f"{entry['format']} {entry['scheme']}",
                            entry.get("reason")))

    # Runner.step overhead per runtime, CfC-64 fp32 step (the first model)
    first = next(iter(bundles.values()))
    golden = first.golden()
    pairs = []
    for fmt in ("onnx", "tflite", "c"):
        entry = next((e for e in first.artifacts if e["format"] == fmt and e["graph"] == "step"
                      and e["scheme"] == "fp32"), None)
        if entry is None:
            continue
        r = first.open(entry, threads=1)
        runners.append(r)
        calls = overhead_calls(r, golden)
        both = Interleaved(calls, int(golden.lengths[0]), settings)
        raw_label = "raw c call (x copied in, y copied out)" if fmt == "c" else f"raw {r.runtime} call (public API)"
        raw = Item("overhead", raw_label, both.item_fn(0), runtime=r.runtime)
        api = Item("overhead", f"Runner.step ({r.runtime})", both.item_fn(1), runtime=r.runtime)
        extra = (Item("overhead", "raw c call (prepared buffers, no copies)", both.item_fn(2), runtime="c")
                 if len(calls) > 2 else None)
        items += [raw, api] + ([extra] if extra else [])
        pairs.append((r.runtime, raw, api, extra, both))

    for rnd in range(a.rounds):
        print(f"[round {rnd + 1}/{a.rounds}] {len(items)} items", file=sys.stderr, flush=True)
        for item in items:
            item.measure()
    compares = {}
    for g, b in bundles.items():
        best = best_items([i for i in items if i.group == g])
        if best is None:
            continue
        print(f"[compare] {g}: {best[0].label} | {best[1].label} | {best[2].label}, alternating blocks",
              file=sys.stderr, flush=True)
        opened = [b.open(next(e for e in b.artifacts if e["file"] == i.facts["file"]), threads=1) for i in best]
        runners += opened
        alt = Alternating(*opened, b.golden(), a.run_chunk)
        alt.measure(a.compare_seconds, settings)
        compares[g] = (best, alt)
    for r in runners:
        r.close()
    instr = {}
    if a.instructions:
        print("[instructions] callgrind, Runner.step vs raw call", file=sys.stderr, flush=True)
        instr = instruction_overheads(first.path)
    report = render(items, pairs, bundles, facts, skipped, settings, a, time.time() - started, instr, compares)
    print(report)
    if a.write:
        old = a.write.read_text() if a.write.is_file() else ""
        block = f"{MARK_START}\n{report.rstrip()}\n{MARK_END}\n"
        if MARK_START in old and MARK_END in old:
            new = old[:old.index(MARK_START)] + block + old[old.index(MARK_END) + len(MARK_END) + 1:]
        else:
            new = old.rstrip("\n") + "\n\n" + block
        a.write.write_text(new)
    if a.readme:
        text = a.readme.read_text()
        start, end = "<!-- c-figures:start -->", "<!-- c-figures:end -->"
        if start in text and end in text:
            block = readme_block(compares, pairs, bundles, facts, a)
            a.readme.write_text(text[:text.index(start) + len(start)] + "\n" + block
                                + text[text.index(end):])
    if a.json:
        a.json.write_text(json.dumps({"items": [{"group": i.group, "label": i.label, **i.facts, "per": i.per,
                                                 "best": i.best.to_dict(), "p50_rounds": i.p50s} for i in items],
                                      "compare": {g: {"items": [i.label for i in best],
                                                      "stats": [st.to_dict() for st in alt.stats],
                                                      "step_ratio": alt.step_ratio, "run_ratio": alt.run_ratio,
                                                      "block_ratios": alt.block_ratios}
                                                  for g, (best, alt) in compares.items()},
                                      "facts": facts, "env": fingerprint()}, indent=1))
    return 0


def machine_load(a) -> str:
    """How busy the machine was: the 1-minute load average before the run, and what it implies."""
    cores = os.cpu_count() or 1
    busy = a.load_before >= QUIET_LOAD
    return (f"1-minute load average {a.load_before:.2f} on {cores} cores before the run: "
            + ("shared with other jobs, so ratios are taken side by side and absolute times must be "
               "re-measured on a quiet machine" if busy else "a quiet machine"))


def best_items(rows):
    """(best LiteRT step, best C step, best C run per sample) among one model's round-robin
    items, by best p50; None when one is missing."""
    lite = [i for i in rows if i.facts.get("format") == "tflite"]
    cstep = [i for i in rows if i.facts.get("format") == "c" and i.facts.get("mode") == "step"]
    crun = [i for i in rows if i.facts.get("mode") == "run"]
    if not (lite and cstep and crun):
        return None
    return tuple(min(x, key=lambda i: i.per_sample) for x in (lite, cstep, crun))


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def mcu_rows(bundles, facts) -> list[str]:
    lines = ["| model | scheme | core | flash B (text + rodata) | static RAM B | worst-case stack B | state B | "
             "state + stack B | active params | flash bound B (int8-weight) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    verdicts = []
    for label, b in bundles.items():
        for e in sorted((e for e in b.artifacts if e["format"] == "c"), key=lambda e: e["scheme"]):
            for core, f in sorted(mcu_of(e).items(), key=lambda kv: kv[0] != "cortex-m4"):
                q = f.get("integer_api")
                use = q if (q and core == "cortex-m0plus") else f
                stack, state = use["stack_bytes"], use["state_bytes"]
                flash = use["flash_bytes"]
                act = facts[label]["active_params"]
                bound = act + 6 * 1024 if e["scheme"] == "int8-weight" else None
                api = " (integer API)" if use is q else ""
                lines.append(f"| {label} | {e['scheme']}{api} | {core} | {flash} ({f['text_bytes']} + "
                             f"{f['rodata_bytes']}) | {f['ram_static_bytes']} | {stack} | {state} | "
                             f"{stack + state} | {act} | {bound if bound else '–'} |")
                if core == "cortex-m4" and e["scheme"] == "int8-weight":
                    verdicts.append(f"- {label} int8-weight on Cortex-M4: flash {flash} B vs active params x 1 B + "
                                    f"6 KiB = {bound} B: {_met(flash <= bound)}; state + stack {stack + state} B "
                                    f"(<= 2048): {_met(stack + state <= 2048)}.")
    return lines + [""] + verdicts


def readme_block(compares, pairs, bundles, facts, a) -> str:
    """The README's figures: best C vs best LiteRT step per kind (alternating blocks), and the
    Cortex-M4 table."""
    env = fingerprint()
    out = [f"Measured by `benchmarks/c_backend.py` on {dt_.date.today().isoformat()} ({env['cpu']}, "
           f"{env['cores']} cores; {machine_load(a)}; full tables in [benchmarks/RESULTS.md](benchmarks/RESULTS.md)), {a.units} units, "
           "1 thread, batch 1; the best LiteRT step, the best C step and C `run` timed in alternating blocks:", "",
           "| model | best LiteRT step µs | best C step µs (ratio) | C run per sample µs (ratio) | "
           "Cortex-M4 int8-weight flash B | stack + state B | active params |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for g, (best, alt) in compares.items():
        b = bundles[g]
        int8 = next((e for e in b.artifacts if e["format"] == "c" and e["scheme"] == "int8-weight"), None)
        fig = mcu_of(int8 or {}).get("cortex-m4")
        lite, cstep, crun = alt.stats
        out.append(f"| {g} | {lite.p50:.2f} | {cstep.p50:.2f} ({alt.step_ratio:.3f}) | {crun.p50 / alt.chunk:.3f} "
                   f"({alt.run_ratio:.3f}) | {fig['flash_bytes'] if fig else '–'} | "
                   f"{fig['stack_bytes'] + fig['state_bytes'] if fig else '–'} | {facts[g]['active_params']} |")
    over = ", ".join(f"{rt} {both.overhead()[0] * 100:+.0f}%" for rt, _, _, _, both in pairs)
    out += ["", f"`Runner.step()` over the raw runtime call (CfC-{a.units} fp32, the two timed interleaved call by "
            f"call, median of {a.rounds} rounds): {over}.", ""]
    return "\n".join(out)


def render(items, pairs, bundles, facts, skipped, settings, a, seconds, instr=None, compares=None) -> str:
    env = fingerprint()
    out = ["## C backend (issue 10)", "",
           f"Produced by `benchmarks/c_backend.py --models {a.models} --units {a.units} --rounds {a.rounds}` on "
           f"{dt_.date.today().isoformat()} ({seconds:.0f} s). Machine: {env['cpu']}, {env['cores']} cores, "
           f"{env['os']}, Python {env['python']}, runtimes "
           f"{', '.join(f'{k} {v}' for k, v in env['runtimes'].items())}. Single stream, batch 1, 1 thread; best "
           f"p50 of {a.rounds} interleaved rounds (each: {settings.warmup} warm-up calls, then >= "
           f"{settings.min_runs} calls and >= {settings.min_seconds} s). Untrained {a.units}-unit models on "
           f"{a.dataset}. Machine load: {machine_load(a)}.", ""]
    compares = compares or {}
    out += ["### Step and run latency: C vs LiteRT", "",
            f"The verdict's figures. Per model, the best LiteRT step artifact, the best C step artifact and "
            f"C `run` ({a.run_chunk} samples per call; the best of the rounds below) alternate in blocks for "
            f"{a.compare_seconds:g} s: {Alternating.BLOCK} calls, {Alternating.BLOCK} calls, "
            f"{max(1, Alternating.BLOCK // 16)} runs, each block after {Alternating.WARM} untimed calls "
            "(`Alternating`). Blocks ~100 µs apart see the same machine state, which separate windows do not "
            "(CfC-64's C step / LiteRT step read 0.45–0.67 over five windowed runs). p50 over all blocks; "
            "10th–90th percentile of the per-block ratios in brackets.", "",
            "| model | best LiteRT step | µs | best C step | µs | C step / LiteRT | C run per sample µs "
            f"({a.run_chunk} per call) | C run / LiteRT step | blocks |",
            "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    verdict = []
    for g, (best, alt) in compares.items():
        lite, cstep, crun = alt.stats
        (s0, s1), (r0, r1) = alt.spread(0), alt.spread(1)
        out.append(f"| {g} | {best[0].label} | {lite.p50:.2f} | {best[1].label} | {cstep.p50:.2f} | "
                   f"{alt.step_ratio:.3f} [{s0:.2f}–{s1:.2f}] | {crun.p50 / alt.chunk:.3f} | "
                   f"{alt.run_ratio:.3f} [{r0:.2f}–{r1:.2f}] | {len(alt.block_ratios)} |")
        verdict.append(f"- {g}: C step {alt.step_ratio:.3f} of the best LiteRT step (target <= 0.50): "
                       f"{_met(alt.step_ratio <= 0.5)}; C run {alt.run_ratio:.3f} per sample "
                       f"(target <= 0.20): {_met(alt.run_ratio <= 0.2)}.")
    out += ["", f"Every artifact timed, round-robin (best p50 of {a.rounds} rounds; each artifact in its own window, "
            "so ratios between rows carry the machine's speed changes):", "",
            "| model | artifact | runtime | p50 µs/call | p99 µs/call | µs/sample |",
            "| --- | --- | --- | ---: | ---: | ---: |"]
    for i in items:
        if i.group != "overhead":
            out.append(f"| {i.group} | {i.label} | {i.facts.get('runtime')} | {i.p50:.2f} | {i.best.p99:.2f} | "
                       f"{i.per_sample:.3f} |")
    out += ["", "### Runner.step() overhead over the raw runtime call (CfC-64 fp32 step)", "",
            "Raw call = the runtime's own API with inputs prepared outside the timer: onnxruntime "
            "`InferenceSession.run(outputs, feed_dict)`; LiteRT `set_tensor` x3, `invoke`, `get_tensor` x2; c: "
            "the artifact's `<prefix>_step` through ctypes with x copied into its buffer and y copied out "
            "(the same input/output handling as the other two), and, for reference, on prepared buffers "
            "without copies. `Runner.step()` keeps its input checks (shape, NaN/inf, dt > 0; in C for the c "
            "runtime) and hands the state over. The raw call and `Runner.step()` are timed interleaved, call "
            "by call on the same samples, so a slow spell of the machine hits both alike; the figures are the "
            f"round with the median ratio of {a.rounds}.", "",
            "| runtime | raw call p50 µs | Runner.step p50 µs | overhead (target <= +15%) | overhead per round |",
            "| --- | ---: | ---: | ---: | --- |"]
    for runtime, raw, api, extra, both in pairs:
        over, r0, r1 = both.overhead()
        each = ", ".join(f"{(rd[1].p50 / rd[0].p50 - 1) * 100:+.0f}%" for rd in both.rounds)
        out.append(f"| {runtime} | {r0.p50:.2f} | {r1.p50:.2f} | {over * 100:+.1f}% | {each} |")
        verdict.append(f"- Runner.step overhead, {runtime}: {over * 100:+.1f}% (target <= +15%): {_met(over <= 0.15)}.")
        if extra is not None:
            rd = next(rd for rd in both.rounds if rd[1] is r1)
            out.append(f"| {runtime} (vs no-copy call) | {rd[2].p50:.2f} | {r1.p50:.2f} | "
                       f"{(r1.p50 / rd[2].p50 - 1) * 100:+.1f}% | |")
    if instr:
        out += ["", "Instructions per call, counted by valgrind (callgrind) — deterministic, unlike times on a "
                "shared machine (Python's instructions run at a lower IPC than a runtime's kernels, so this "
                "is a lower bound of the time overhead):", "",
                "| runtime | raw call instructions | Runner.step instructions | overhead |", "| --- | ---: | ---: | ---: |"]
        for rt, per in instr.items():
            if per.get("raw") and per.get("api"):
                over = per["api"] / per["raw"] - 1
                out.append(f"| {rt} | {per['raw']:.0f} | {per['api']:.0f} | {over * 100:+.1f}% |")
                verdict.append(f"- Runner.step overhead in instructions, {rt}: {over * 100:+.1f}% (target <= +15%): "
                               f"{_met(over <= 0.15)}.")
    out += ["", "### Microcontroller figures (arm-none-eabi-gcc -Os; from the manifests)", "",
            "Flash = text + rodata (+ data image) the artifact adds to a program, library code it pulls in "
            "included (linked with and without it); static RAM = data + bss it adds; worst-case stack = "
            "`-fstack-usage` frames summed along the deepest call chain of `-fcallgraph-info` (library "
            "functions from their prologues); state = the caller-owned state. Cortex-M0+ rows use the "
            "int16-fixed integer API (`<prefix>_step_q`, int16 state), the one an FPU-less core calls.", ""]
    out += mcu_rows(bundles, facts)
    out += ["", "### Verdict (computed from the figures above)", ""] + verdict
    out += ["", f"Machine load: {machine_load(a)}."]
    if skipped:
        out += ["", "Not timed (failed their golden check here, or rejected at export):", ""]
        out += [f"- {g}: {f}: {why}" for g, f, why in skipped]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
