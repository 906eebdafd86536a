"""Stacked training (edgelnn.train.stacked) vs one run at a time: wall time per training epoch.

For each dataset, budget and kind (sized with ``size_for_budget``), the members of one study tuning
group -- K configs that differ in seed (k mod 2) and learning rate (log-spaced 1e-4 .. 1e-1) -- are
trained for ``--epochs`` epochs (no early stop) at the recipe's batch size, once stacked (K = 1, 8,
16) and once one by one with the single-run trainer (edgelnn.train.loop); one thread, as the study
trains. Both sides include what every run does besides its epochs (model creation, the validation
pass per epoch, the final validation and test scoring), so "K singles" = K x the measured single
run (mean of two seeds). Kinds without a stacked form (ltc, ltc-ncp until then) fall back to
single runs inside ``train_many`` and are listed as such.

    nice -n 10 python benchmarks/stacked_train.py --out benchmarks/stacked_train.md
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from edgelnn import data
from edgelnn.models import size_for_budget
from edgelnn.train import TrainConfig, recipe
from edgelnn.train import loop, stacked

KINDS = ("gru", "gru-d", "lstm", "cfc", "cfc-ncp", "ltc", "ltc-ncp")


def _configs(kind, ds, fit, K, epochs):
    rates = [float(f"{10 ** (-4 + 3 * j / max(1, K // 2 - 1)):.3g}") for j in range(max(1, K // 2))]
    batch = recipe.default_batch_size(len(ds.train))
    return [TrainConfig(kind, ds.name, units=fit.units, epochs=epochs, patience=epochs + 1, batch_size=batch,
                        lr=rates[k // 2 % len(rates)], seed=k % 2, options=dict(fit.options)) for k in range(K)]


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(name, budget, kind, ks, epochs, dss, rounds):
    """Interleaved rounds (single runs, then each stack); the best of the rounds for each figure,
    so a load spike during one measurement does not decide a ratio."""
    ds = dss[0]
    fit = size_for_budget(kind, ds.input_size, ds.output_size, budget)
    torch.set_num_threads(1)
    one = _configs(kind, ds, fit, 2, epochs)
    loop._warm_up()
    why = stacked.unstackable(one[0], ds)
    singles, stacks = [], {K: [] for K in ks}
    for _ in range(rounds):
        singles.append(statistics.mean(_time(lambda c=c: loop._train(c, None, dss[c.seed])) for c in one) / epochs)
        for K in ks if why is None else ():
            cfgs = _configs(kind, ds, fit, K, epochs)
            stacks[K].append(_time(lambda: stacked._train_round(cfgs, [dss[c.seed] for c in cfgs])) / epochs)
    row = {"dataset": name, "budget": budget, "kind": kind, "units": fit.units, "active": fit.params_active,
           "single": min(singles), "stacked": {K: min(v) for K, v in stacks.items() if v}}
    if why is not None:
        row["why"] = why
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["japanesevowels", "irregular-sine"])
    ap.add_argument("--budgets", nargs="+", type=int, default=[1000, 4000])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS))
    ap.add_argument("--ks", nargs="+", type=int, default=[1, 8, 16])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    rows = []
    for name in args.datasets:
        dss = {s: data.load(name, seed=s) for s in (0, 1)}
        for budget in args.budgets:
            for kind in args.kinds:
                row = measure(name, budget, kind, args.ks, args.epochs, dss, args.rounds)
                rows.append(row)
                print(_line(row, args.ks), flush=True)
    load = os.getloadavg()
    head = (f"Produced by `benchmarks/stacked_train.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
            f"({time.perf_counter() - start:.0f} s). Machine: {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, torch {torch.__version__}, 1 thread; load average at the end "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine: measured under load, read the ratios). "
            f"Seconds per epoch ({args.epochs} epoch(s) per run, including each run's creation, validation "
            f"and final scoring; best of {args.rounds} interleaved rounds); K singles = K x one single run.\n")
    cols = " | ".join(f"K={k}: stacked s / K singles s (speed-up)" for k in args.ks)
    table = [f"| dataset | budget | kind | units | active | single run s | {cols} |",
             "| --- | ---: | --- | ---: | ---: | ---: |" + " ---: |" * len(args.ks)]
    table += [_line(r, args.ks) for r in rows]
    text = head + "\n" + "\n".join(table) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


def _line(r, ks) -> str:
    cells = []
    for k in ks:
        s = r["stacked"].get(k)
        cells.append(f"{s:.2f} / {k * r['single']:.2f} ({k * r['single'] / s:.1f}x)" if s else
                     f"no stacked form ({r.get('why', '')})")
    return (f"| {r['dataset']} | {r['budget']:,} | {r['kind']} | {r['units']} | {r['active']:,} | "
            f"{r['single']:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
