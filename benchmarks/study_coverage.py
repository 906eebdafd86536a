"""Calibration of the study's interval: coverage and type-I error, by simulation.

    .venv/bin/python benchmarks/study_coverage.py [--reps 400] [--seeds 5] [--items 300]

Two models of equal quality (the true difference is 0) are scored on the same test items
(item difficulty shared: paired) with a per-seed offset in logit space (training instability:
``--seed-sd``; 0.6 is ~5 accuracy points of seed spread). For each replicate both intervals of
``edgelnn.study.stats`` are computed on the same data:

* ``crossed``: percentile interval of the crossed paired bootstrap (seeds and items together);
* ``t``: the study's interval, estimate +- t(nu) SE from the seed-only and item-only bootstrap
  variances (what the verdicts use).

Printed: coverage of 0 by the 95 % interval and the rate of p <= 0.05, per seed spread.
Measured 2026-11-28 (defaults: 400 reps, 5 seeds, 300 items, 1000 resamples; 75 s CPU):

    seed sd  crossed cover  crossed p<=.05  t cover  t p<=.05
       0.00          0.995           0.005    0.995     0.005
       0.15          0.983           0.013    0.983     0.018
       0.60          0.897           0.102    0.955     0.045
       1.20          0.860           0.138    0.948     0.052

With stable training both are conservative (the item resampling counts the seed x item
interaction twice); with unstable training the crossed percentile interval rejects a true null
2-3x too often, the t(nu) interval keeps its level.
"""
from __future__ import annotations

import argparse

import numpy as np

from edgelnn.study.stats import PairedBootstrap, Series


def replicate(rng, seeds: int, items: int, seed_sd: float):
    d = rng.normal(0, 1.5, items)
    out = []
    for _ in range(2):
        off = rng.normal(0, seed_sd, (seeds, 1)) if seed_sd else 0.0
        p = 1 / (1 + np.exp(-(2.2 + off - d)))
        out.append((rng.random((seeds, items)) < p).astype(float))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--seed-sd", type=float, nargs="*", default=[0.0, 0.15, 0.6, 1.2])
    args = ap.parse_args()
    print(f"{'seed sd':>8} {'crossed cover':>14} {'crossed p<=.05':>15} {'t cover':>8} {'t p<=.05':>9}")
    for sd in args.seed_sd:
        rng = np.random.default_rng(5)
        hits = {"crossed": 0, "t": 0}
        rej = {"crossed": 0, "t": 0}
        for r in range(args.reps):
            a, b = replicate(rng, args.seeds, args.items, sd)
            s = list(range(args.seeds))
            pb = PairedBootstrap({"a": Series(s, a), "b": Series(s, b)}, n_boot=args.boot, seed=r)
            stat = {"d": lambda m: m["a"] - m["b"]}
            for name, iv in (("crossed", pb.run(stat)["d"]), ("t", pb.t_intervals(stat)["d"])):
                hits[name] += iv.lo <= 0 <= iv.hi
                rej[name] += iv.p <= 0.05
        n = args.reps
        print(f"{sd:>8.2f} {hits['crossed'] / n:>14.3f} {rej['crossed'] / n:>15.3f} {hits['t'] / n:>8.3f} "
              f"{rej['t'] / n:>9.3f}")


if __name__ == "__main__":
    main()
