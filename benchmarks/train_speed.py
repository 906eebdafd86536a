"""Training epoch time per model kind at equal active parameters, and the fast LTC vs ncps's LTC.

Each (dataset, budget) sizes every kind with ``size_for_budget`` and times optimizer steps of the
real training arithmetic (forward over the padded window, cross-entropy at each sequence's last
step, backward, gradient clipping, Adam, the LTC's constraints) at the dataset's mini-batch size,
one intra-op thread as ``edgelnn train`` uses. ``ltc``/``ltc-ncp`` are timed three times: as edgelnn
trains them (over the active synapses, ``edgelnn.models.ltc_fast``, its unfolds in the C kernel
``ltc_kernel.c``), the same with the unfolds in torch operations (``EDGELNN_LTC_KERNEL=0``: no
compiler) and through ncps's own dense ``LTCCell.forward`` (the form every LTC trained with before). The kinds are timed in interleaved
rounds, so a change in the machine's load hits all of them alike; the ratios are what to read.

    python benchmarks/train_speed.py --out benchmarks/train_speed.md
"""
from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from edgelnn import data
from edgelnn.models import create, size_for_budget
from edgelnn.models.cells import StepCell

KINDS = ("cfc", "cfc-ncp", "ltc", "ltc-ncp", "lstm", "gru", "gru-d", "rnn")
NCPS = ("ltc", "ltc-ncp")                     # also timed without the C kernel and through ncps's LTCCell
FORMS = {"edgelnn": "edgelnn", "torch": "edgelnn, torch ops", "ncps": "ncps LTCCell"}
# the mini-batch of the training recipe (largest power of two <= n_train / 10, within 8..64)
BATCH = {"japanesevowels": 16, "irregular-sine": 32, "italypowerdemand": 8, "basicmotions": 8}


def _ncps_form(model):
    """Make the model run ncps's dense LTCCell (what export traces) step by step instead of the fast form."""
    model.cell.forward = model.cell.export_module().forward
    model.cell.run_sequence = functools.partial(StepCell.run_sequence, model.cell)
    return model


def _setup(ds, kind, budget, form):
    fit = size_for_budget(kind, ds.input_size, ds.output_size, budget)
    model = create(kind, ds.input_size, ds.output_size, units=fit.units, seed=0, **fit.options)
    if form == "ncps":
        _ncps_form(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return fit, model, opt


def _step(model, opt, split, idx):
    x = torch.from_numpy(split.x[idx])
    dt = torch.from_numpy(split.dt[idx])
    y = torch.from_numpy(split.y[idx])
    last = torch.from_numpy(split.lengths[idx]) - 1
    opt.zero_grad()
    out = model(x, dt)[torch.arange(len(idx)), last]
    loss = torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    model.after_optimizer_step()


def measure(dataset: str, budgets, steps: int, rounds: int):
    ds = data.load(dataset)
    batch = BATCH[dataset]
    n = len(ds.train)
    steps_per_epoch = -(-n // batch)
    rows = []
    for budget in budgets:
        # an LTC's other forms run right after its fast one, so they see the same load
        arms = [(k, f) for k in KINDS for f in (("edgelnn", "torch", "ncps") if k in NCPS else ("edgelnn",))]
        setups = {arm: _setup(ds, arm[0], budget, arm[1]) for arm in arms}
        times = {arm: [] for arm in arms}
        gen = torch.Generator().manual_seed(0)
        for r in range(rounds):
            for arm in arms:
                fit, model, opt = setups[arm]
                idx = [torch.randperm(n, generator=gen)[:batch].numpy() for _ in range(steps + 1)]
                os.environ["EDGELNN_LTC_KERNEL"] = "0" if arm[1] == "torch" else "1"
                _step(model, opt, ds.train, idx[0])          # warm-up (allocations, first call)
                t0 = time.perf_counter()
                for i in idx[1:]:
                    _step(model, opt, ds.train, i)
                times[arm].append((time.perf_counter() - t0) / steps)
        os.environ.pop("EDGELNN_LTC_KERNEL")
        for arm in arms:
            fit = setups[arm][0]
            per_step = min(times[arm])                       # the least-disturbed round
            row = {"dataset": dataset, "budget": budget, "kind": arm[0],
                   "form": FORMS[arm[1]], "units": fit.units,
                   "active": fit.params_active, "batch": batch, "step_s": per_step,
                   "epoch_s": per_step * steps_per_epoch, "steps_per_epoch": steps_per_epoch}
            if arm[1] != "edgelnn":   # this form / fast per round (adjacent in time), all rounds, median
                ratios = sorted(n / f for n, f in zip(times[arm], times[(arm[0], "edgelnn")]))
                row["round_ratios"] = ratios
                row["median_ratio"] = statistics.median(ratios)
            rows.append(row)
    return rows


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, 1 intra-op thread; "
            f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


def render(rows, args) -> str:
    lines = ["# Training speed per model kind at equal active parameters", "",
             f"Measured under load (a shared machine): {_machine()}.",
             f"Command: `python benchmarks/train_speed.py --datasets {' '.join(args.datasets)} "
             f"--budgets {' '.join(map(str, args.budgets))} --steps {args.steps} --rounds {args.rounds}`. "
             "Per kind: the best of "
             f"{args.rounds} interleaved rounds of {args.steps} optimizer steps (forward, backward, "
             "clipping, Adam) at the dataset's recipe batch; epoch = steps per epoch x time per step. "
             "Only the ratios within one table mean anything; the fast-vs-ncps figure is the median "
             "over rounds of the ratio of the two forms timed back to back. LTC forms: edgelnn (the "
             "fast LTC, unfolds in the C kernel), edgelnn, torch ops (the same without the kernel), "
             "ncps LTCCell.", ""]
    for dataset in args.datasets:
        for budget in args.budgets:
            sel = [r for r in rows if r["dataset"] == dataset and r["budget"] == budget]
            gru = next(r for r in sel if r["kind"] == "gru")["epoch_s"]
            lines += [f"## {dataset}, ~{budget:,} active parameters (batch {sel[0]['batch']}, "
                      f"{sel[0]['steps_per_epoch']} steps an epoch)", "",
                      "| kind | form | units | active params | epoch s | x GRU's epoch |",
                      "| --- | --- | ---: | ---: | ---: | ---: |"]
            for r in sel:
                lines.append(f"| {r['kind']} | {r['form']} | {r['units']} | {r['active']:,} | "
                             f"{r['epoch_s']:.2f} | {r['epoch_s'] / gru:.1f} |")
            lines.append("")
            for kind in NCPS:
                fast = next(r for r in sel if r["kind"] == kind and r["form"] == FORMS["edgelnn"])
                for form, what in (("ncps", "ncps's LTCCell"), ("torch", "torch ops")):
                    slow = next(r for r in sel if r["kind"] == kind and r["form"] == FORMS[form])
                    rounds = ", ".join(f"{r:.1f}" for r in slow["round_ratios"])
                    lines.append(f"- {kind}: {what} / fast LTC, per round (each pair back to back): "
                                 f"{rounds}; median **{slow['median_ratio']:.1f}x** (best-round epochs "
                                 f"{slow['epoch_s']:.2f} s / {fast['epoch_s']:.2f} s)")
            lines.append("")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["irregular-sine", "japanesevowels"])
    p.add_argument("--budgets", nargs="+", type=int, default=[250, 1000, 4000])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for dataset in args.datasets:
        rows += measure(dataset, args.budgets, args.steps, args.rounds)
    text = render(rows, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
