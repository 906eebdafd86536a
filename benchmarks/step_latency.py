"""Per-step latency, side by side in one run: PyTorch eager vs every exported artifact.

    .venv/bin/python benchmarks/step_latency.py [--models cfc,ltc,lstm,gru] [--units 64]
        [--min-seconds 1.0] [--min-runs 500] [--rounds 3] [--write benchmarks/RESULTS.md]

For CfC-64, LTC-64, LSTM-64 and GRU-64 (untrained weights: latency does not depend on their
values) it exports a bundle with every format and scheme (``edgelnn.export.export_bundle``),
then measures, interleaved round-robin so background load hits every item alike:

* PyTorch eager: ``model.cell(x, dt, *state)`` under ``torch.no_grad()``, 1 thread;
* every artifact with its runtime, through the bench harness (only the runtime call timed);
* each runtime's call overhead on an empty model (identity graph, same I/O as CfC-64);
* the harness's own overhead: a raw runtime call loop vs the harness's timing vs
  ``Runner.step`` (the public API, with input checks and state hand-over);
* chunked sequence graphs per sample vs the step graph;
* peak RSS of a fresh process running CfC-64 with LiteRT.

Each figure is the best p50 over ``--rounds`` rounds (each round: warm-up, then at least
``--min-runs`` calls and ``--min-seconds``); golden checks gate every artifact first.
"""
from __future__ import annotations

import argparse
import datetime as dt_
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgelnn.bench import BenchSettings, LatencyStats, fingerprint, measure_memory, time_calls  # noqa: E402
from edgelnn.bench.golden import golden_check  # noqa: E402
from edgelnn.bench.latency import _carry_state, measure_latency  # noqa: E402
from edgelnn.runtime import load_bundle, open_runner  # noqa: E402

KINDS = {"cfc": "CfC", "ltc": "LTC", "lstm": "LSTM", "gru": "GRU"}


# -- building -------------------------------------------------------------------------------
def build_bundle(kind: str, units: int, dataset, work: Path, reuse: bool):
    import torch

    from edgelnn import models
    from edgelnn.export import export_bundle

    torch.manual_seed(0)
    model = models.create(kind, dataset.input_size, dataset.output_size, units=units,
                          task=dataset.task, label_names=dataset.label_names,
                          norm_mean=dataset.norm_mean, norm_std=dataset.norm_std,
                          dataset=dataset.name, seed=0)
    model.eval()
    name = f"{kind}{units}-{dataset.name}"
    ckpt, out = work / f"{name}.pt", work / name
    if not (reuse and (out / "manifest.json").is_file()):
        model.save(ckpt)
        if out.exists():
            import shutil
            shutil.rmtree(out)
        export_bundle(ckpt, out)
    return model, out


def empty_onnx(path: Path, c: int, h: int) -> dict:
    """Identity graph with the step graph's I/O: the runtime's fixed cost per call."""
    import onnx
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c]),
           helper.make_tensor_value_info("dt", TensorProto.FLOAT, [1, 1]),
           helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, h])]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, h])]
    nodes = [helper.make_node("Identity", ["x"], ["y"]), helper.make_node("Identity", ["h"], ["h_out"])]
    model = helper.make_model(helper.make_graph(nodes, "empty", ins, outs),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return {"format": "onnx", "graph": "step", "io": {"inputs": ["x", "dt", "h"], "outputs": ["y", "h_out"]}}


def empty_tflite(path: Path, c: int, h: int) -> dict:
    """The smallest TFLite graph with the same I/O (two element-wise ops)."""
    import litert_torch
    import torch

    class Empty(torch.nn.Module):
        def forward(self, x, dt, h):
            return x * 1.0, h + 0.0

    litert_torch.convert(Empty().eval(), (torch.zeros(1, c), torch.ones(1, 1), torch.zeros(1, h))
                         ).export(str(path))
    return {"format": "tflite", "graph": "step", "io": {"inputs": [], "outputs": []}}


# -- measuring ------------------------------------------------------------------------------
class Item:
    """Something timed in every round; keeps the best p50 over rounds (and its stats)."""

    def __init__(self, group: str, label: str, fn, per: int | None = None, **facts):
        self.group, self.label, self.fn, self.per, self.facts = group, label, fn, per, facts
        self.best: LatencyStats | None = None
        self.p50s: list[float] = []

    def measure(self):
        stats = self.fn()
        self.p50s.append(stats.p50)
        if self.best is None or stats.p50 < self.best.p50:
            self.best = stats

    @property
    def p50(self) -> float:
        return self.best.p50

    @property
    def per_sample(self) -> float:
        return self.p50 / (self.per or 1)


def torch_item(model, golden, settings: BenchSettings):
    import torch

    torch.set_num_threads(1)
    cell = model.cell
    length = int(golden.lengths[0])
    state = [s for s in model.initial_state(1)]
    feeds = [[torch.from_numpy(golden.x[0, t:t + 1].copy()),
              torch.from_numpy(golden.dt[0, t:t + 1].reshape(1, 1).copy()), *state]
             for t in range(length)]

    def call(f):
        with torch.no_grad():
            return cell(*f)

    def carry(nxt, out):
        nxt[2:] = list(out[1:])

    return lambda: LatencyStats.from_ns(time_calls(call, feeds, settings, carry), settings)


def raw_call(runner, golden):
    """The bare runtime API loop for this artifact: what an expert would write by hand."""
    length = int(golden.lengths[0])
    state = runner.state
    feeds = [[golden.x[0, t:t + 1].copy(), golden.dt[0, t:t + 1].reshape(1, 1).copy(),
              *[s.copy() for s in state]] for t in range(length)]
    if runner.runtime == "onnxruntime":
        sess, ins, outs = runner._session, runner._in_names, runner._out_names
        dicts = [dict(zip(ins, f)) for f in feeds]

        def call(d):
            return sess.run(outs, d)

        def carry(nxt, out):
            for name, value in zip(ins[2:], out[1:]):
                nxt[name] = value
        return dicts, call, carry
    # its own interpreter, as a hand-written loop has: the runner holds its interpreter's bound
    # methods, which makes that interpreter's public invoke() refuse to run
    it = type(runner._it)(model_path=str(runner.path), num_threads=runner.threads or None)
    it.allocate_tensors()
    in_idx, out_idx = runner._in_idx, runner._out_idx

    def call(f):
        for i, v in zip(in_idx, f):
            it.set_tensor(i, v)
        it.invoke()
        return [it.get_tensor(i) for i in out_idx]

    return feeds, call, _carry_state


def step_api_item(runner, golden, settings):
    """Runner.step end to end (validation, reshape, state hand-over): the public API's cost."""
    length = int(golden.lengths[0])
    xs = [golden.x[0, t] for t in range(length)]
    dts = [float(golden.dt[0, t]) for t in range(length)]

    def go():
        runner.reset()
        return LatencyStats.from_ns(time_calls(lambda i: runner.step(xs[i], dts[i]),
                                               list(range(length)), settings), settings)
    return go


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="cfc,ltc,lstm,gru")
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--dataset", default="basicmotions")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--min-runs", type=int, default=500)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work", type=Path, default=None, help="bundle folder (default: a temp dir)")
    p.add_argument("--reuse", action="store_true", help="reuse bundles already in --work")
    p.add_argument("--write", type=Path, default=None, help="write the markdown report here")
    p.add_argument("--json", type=Path, default=None, help="write raw figures here")
    a = p.parse_args(argv)

    from edgelnn import data

    settings = BenchSettings(warmup=a.warmup, min_runs=a.min_runs, min_seconds=a.min_seconds)
    work = a.work or Path(tempfile.mkdtemp(prefix="edgelnn-steplat-"))
    work.mkdir(parents=True, exist_ok=True)
    dataset = data.load(a.dataset)
    items: list[Item] = []
    runners = []
    bundles = {}
    skipped = []
    t_start = time.time()
    for kind in a.models.split(","):
        label = f"{KINDS.get(kind, kind)}-{a.units}"
        print(f"[build] {label}", file=sys.stderr, flush=True)
        model, path = build_bundle(kind, a.units, dataset, work, a.reuse)
        bundle = load_bundle(path)
        bundles[label] = bundle
        golden = bundle.golden()
        items.append(Item(label, "PyTorch eager", torch_item(model, golden, settings),
                          runtime="torch", scheme="fp32", graph="step", format="torch"))
        for entry in bundle.artifacts:
            runner = bundle.open(entry, threads=1)
            check = golden_check(runner, golden, float(entry["golden"]["tolerance"]))
            if not check.ok:
                skipped.append((label, entry["file"], check.error))
                runner.close()
                continue
            runners.append(runner)
            chunk = runner.chunk or (int(golden.lengths[0]) if runner.graph == "seq" else None)

            def fn(r=runner):
                return measure_latency(r, golden, settings)[0]
            items.append(Item(label, entry["file"].replace(bundle.name + ".", ""), fn, per=chunk,
                              runtime=runner.runtime, scheme=entry["scheme"], graph=entry["graph"],
                              format=entry["format"]))
        for entry in bundle.rejected:
            skipped.append((label, entry.get("file"), entry.get("reason")))

    # runtime call overhead on an empty model, and the harness's overhead (CfC-64 fp32 step)
    cfc = next(iter(bundles.values()))
    c = cfc.model["input_size"]
    h = cfc.state_sizes[0]
    golden = cfc.golden()
    for maker, fmt in ((empty_onnx, "onnx"), (empty_tflite, "tflite")):
        path = work / f"empty.{fmt}"
        art = maker(path, c, h)
        r = open_runner(path, art, [h], threads=1)
        runners.append(r)
        items.append(Item("overhead", f"empty model, {r.runtime}",
                          lambda r=r: measure_latency(r, golden, settings)[0],
                          runtime=r.runtime, format=fmt, graph="step", scheme="-"))
    overhead_pairs = []
    for fmt in ("onnx", "tflite"):
        entry = next((e for e in cfc.artifacts if e["format"] == fmt and e["graph"] == "step"
                      and e["scheme"] == "fp32"), None)
        if entry is None:
            continue
        r = cfc.open(entry, threads=1)
        runners.append(r)
        feeds, call, carry = raw_call(r, golden)
        raw = Item("harness", f"raw {r.runtime} call", lambda f=feeds, c_=call, k=carry:
                   LatencyStats.from_ns(time_calls(c_, f, settings, k), settings), runtime=r.runtime)
        harness = Item("harness", f"harness timing ({r.runtime})",
                       lambda r=r: measure_latency(r, golden, settings)[0], runtime=r.runtime)
        api = Item("harness", f"Runner.step ({r.runtime})", step_api_item(r, golden, settings),
                   runtime=r.runtime)
        items += [raw, harness, api]
        overhead_pairs.append((entry["file"], r.runtime, raw, harness, api))

    for rnd in range(a.rounds):
        print(f"[round {rnd + 1}/{a.rounds}] {len(items)} items", file=sys.stderr, flush=True)
        for item in items:
            item.measure()
    for r in runners:
        r.close()

    # peak RSS, CfC-64 with LiteRT (fresh process)
    rss = None
    lite = next((e for e in cfc.artifacts if e["format"] == "tflite" and e["graph"] == "step"
                 and e["scheme"] == "fp32"), None)
    if lite:
        rss = measure_memory(cfc.path, lite["file"], "litert", threads=1)

    report = render(items, overhead_pairs, rss, skipped, settings, a, time.time() - t_start)
    print(report)
    if a.write:
        # results measured on other machines (e.g. a GPU) live below this marker: keep them
        marker = "<!-- other-machines -->"
        old = a.write.read_text() if a.write.is_file() else ""
        tail = old[old.index(marker):] if marker in old else ""
        a.write.write_text(report.rstrip("\n") + "\n\n" + tail if tail else report)
    if a.json:
        a.json.write_text(json.dumps({"items": [
            {"group": i.group, "label": i.label, **i.facts, "per": i.per, "best": i.best.to_dict(),
             "p50_rounds": i.p50s} for i in items],
            "rss_litert_cfc": rss.__dict__ if rss else None, "env": fingerprint()}, indent=1))
    return 0


# -- report ---------------------------------------------------------------------------------
def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def verdict(summary, items, overhead_pairs, rss, a) -> list[str]:
    """The issue's targets, as measured in this run (computed, never hand-written)."""
    out = ["", "## Verdict (computed from the figures above)", ""]
    for g, eager, best, seqs, rows in summary:
        if best:
            ratio = eager.p50 / best.p50
            out.append(f"- {g}: best step artifact {ratio:.1f}x faster than PyTorch eager per "
                       f"step (target >= 12x): {_met(ratio >= 12)}.")
    for file, runtime, raw, harness, api in overhead_pairs:
        over = harness.p50 / raw.p50 - 1
        out.append(f"- Harness timing overhead over a raw {runtime} call: {over * 100:+.1f}% "
                   f"(target <= 10%): {_met(over <= 0.10)}; the public `Runner.step()` adds "
                   f"{api.p50 - raw.p50:.1f} µs per call (input checks, NaN test, state hand-over).")
    for g, eager, best, seqs, rows in summary:
        ratios = []
        for s in seqs:
            step = next((i for i in rows if i.facts.get("graph") == "step"
                         and i.facts.get("format") == s.facts.get("format")
                         and i.facts.get("scheme") == s.facts.get("scheme")), None)
            if step:
                ratios.append((s.per_sample / step.per_sample, s))
        if ratios:
            r, s = min(ratios, key=lambda t: t[0])
            out.append(f"- {g}: chunked sequence mode costs {r:.2f} of step mode per sample at "
                       f"best ({s.label}, chunk {s.per}; target <= 0.20): {_met(r <= 0.20)}.")
    if rss:
        out.append(f"- Peak RSS of the LiteRT runner with CfC-{a.units}: {rss.peak_rss_mb:.1f} MiB "
                   f"(target <= 50 MB): {_met(rss.peak_rss_mb <= 50)}.")
    empty = {i.facts.get("runtime"): i.p50 for i in items if i.group == "overhead"}
    for file, runtime, raw, harness, api in overhead_pairs:
        if runtime in empty:
            out.append(f"- Of the {raw.p50:.1f} µs of a raw {runtime} CfC-{a.units} step, "
                       f"{empty[runtime]:.1f} µs is the runtime's fixed call cost (empty model): "
                       f"chunking can only remove that part, so the per-sample floor of a chunked "
                       f"graph is about {max(raw.p50 - empty[runtime], 0):.1f} µs, i.e. "
                       f"{max(raw.p50 - empty[runtime], 0) / raw.p50:.2f} of step mode.")
    out += ["", "p99 figures in the milliseconds are scheduler preemption: the machine is a "
            "shared VM whose cores other jobs used during the run; p50 of the best round is the "
            "figure to compare."]
    return out


def render(items, overhead_pairs, rss, skipped, settings, a, seconds) -> str:
    env = fingerprint()
    lines = ["# Benchmark results", "",
             f"Produced by `benchmarks/step_latency.py` on {dt_.date.today().isoformat()} "
             f"({seconds:.0f} s). Machine: {env['cpu']}, {env['cores']} cores, "
             f"{env['mem_total_mb']} MiB RAM, {env['os']}, Python {env['python']}, "
             f"numpy {env['numpy']}, runtimes {', '.join(f'{k} {v}' for k, v in env['runtimes'].items())}.",
             "",
             f"Single stream, batch 1, 1 thread everywhere. Each figure is the best p50 of "
             f"{a.rounds} interleaved rounds (each: {settings.warmup} warm-up calls, then "
             f">= {settings.min_runs} calls and >= {settings.min_seconds} s). Untrained "
             f"{a.units}-unit models on {a.dataset} (latency does not depend on weight values).", ""]
    groups = [g for g in dict.fromkeys(i.group for i in items) if g not in ("overhead", "harness")]
    lines += ["## Per-step latency: PyTorch eager vs every artifact", "",
              "| model | artifact | runtime | p50 µs/call | p99 µs/call | µs/sample | speed-up vs eager (per sample) |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    summary = []
    for g in groups:
        rows = [i for i in items if i.group == g]
        eager = rows[0]
        for i in rows:
            lines.append(f"| {g} | {i.label} | {i.facts.get('runtime')} | {i.p50:.1f} | "
                         f"{i.best.p99:.1f} | {i.per_sample:.2f} | {eager.per_sample / i.per_sample:.1f}x |")
        steps = [i for i in rows[1:] if i.facts.get("graph") == "step"]
        best_step = min(steps, key=lambda i: i.p50) if steps else None
        seqs = [i for i in rows[1:] if i.facts.get("graph") == "seq"]
        summary.append((g, eager, best_step, seqs, rows))
    lines += ["", "## Targets", "",
              "| model | eager µs/step | best step artifact | µs/step | speed-up (target >= 12x) |",
              "| --- | ---: | --- | ---: | ---: |"]
    for g, eager, best, _, _ in summary:
        if best:
            lines.append(f"| {g} | {eager.p50:.1f} | {best.label} ({best.facts['runtime']}) | "
                         f"{best.p50:.1f} | {eager.p50 / best.p50:.1f}x |")
    lines += ["", "Chunked sequence graph per sample vs the step graph of the same format, fp32 "
              "(target <= 0.20):", "",
              "| model | seq artifact | chunk | seq µs/sample | step µs/sample | ratio |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    for g, _, _, seqs, rows in summary:
        for s in seqs:
            step = next((i for i in rows if i.facts.get("graph") == "step"
                         and i.facts.get("format") == s.facts.get("format")
                         and i.facts.get("scheme") == s.facts.get("scheme")), None)
            if step:
                lines.append(f"| {g} | {s.label} | {s.per} | {s.per_sample:.2f} | "
                             f"{step.per_sample:.2f} | {s.per_sample / step.per_sample:.2f} |")
    lines += ["", "Runtime call overhead on an empty model (identity graph with CfC-64's I/O) and "
              "the harness's overhead over a raw runtime call on CfC-64 fp32 step (target <= 10%):", "",
              "| what | p50 µs | overhead vs raw |", "| --- | ---: | ---: |"]
    for i in items:
        if i.group == "overhead":
            lines.append(f"| {i.label} | {i.p50:.2f} | |")
    for file, runtime, raw, harness, api in overhead_pairs:
        lines.append(f"| raw {runtime} call ({file}) | {raw.p50:.2f} | - |")
        lines.append(f"| harness timing, {runtime} | {harness.p50:.2f} | "
                     f"{(harness.p50 / raw.p50 - 1) * 100:+.1f}% |")
        lines.append(f"| Runner.step() public API, {runtime} | {api.p50:.2f} | "
                     f"{(api.p50 / raw.p50 - 1) * 100:+.1f}% |")
    if rss:
        lines += ["", f"Peak RSS of a fresh process running CfC-{a.units} fp32 step with LiteRT "
                  f"(target <= 50 MB): **{rss.peak_rss_mb:.1f} MiB** ({rss.source}; runtime "
                  f"imported without a model: {rss.baseline_rss_mb:.1f} MiB, model + workload: "
                  f"+{rss.model_rss_mb:.1f} MiB)."]
    lines += verdict(summary, items, overhead_pairs, rss, a)
    if skipped:
        lines += ["", "Not timed (failed their golden check here, or rejected at export):", ""]
        lines += [f"- {g}: {f}: {why}" for g, f, why in skipped]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
