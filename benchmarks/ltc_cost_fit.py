"""The LTC kinds' terms in edgelnn.study.costs.TRAIN_MODEL, fitted from measured step times.

Training terms (a, b): each LTC kind's optimizer-step time as a multiple of GRU's in the same
table of benchmarks/train_speed.md (the fast LTC, its unfolds in the C kernel), times GRU's fitted
step cost (``a T + b batch T units``), least squares in relative error over the table's
(dataset, budget) points for ``a T + b batch T units**2``. Validation terms (val a, val b): the same
from the no-grad forward of one batch of 256 (timed here, best of ``--rounds`` interleaved rounds),
against GRU's fitted validation step.

    python benchmarks/ltc_cost_fit.py benchmarks/train_speed.md
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import torch

from edgelnn import data
from edgelnn.models import create, size_for_budget
from edgelnn.study import costs

LTC = ("ltc", "ltc-ncp")
HEAD = re.compile(r"^## (\S+), ~([\d,]+) active parameters \(batch (\d+), (\d+) steps an epoch\)")
ROW = re.compile(r"^\| (\S+) \| ([^|]+) \| (\d+) \| [\d,]+ \| ([\d.]+) \|")


def train_points(md: Path) -> list[dict]:
    """(dataset, budget, kind, units, batch, epoch s, GRU's epoch s) for every LTC row timed as
    edgelnn trains it."""
    points, head, rows = [], None, {}
    for line in md.read_text(encoding="utf-8").splitlines() + ["## end"]:
        if line.startswith("## "):
            if head and "gru" in rows:
                for kind in LTC:
                    if kind in rows:
                        points.append({**head, "kind": kind, "units": rows[kind][0], "epoch": rows[kind][1],
                                       "gru_units": rows["gru"][0], "gru_epoch": rows["gru"][1]})
            m = HEAD.match(line)
            head = m and {"dataset": m[1], "budget": int(m[2].replace(",", "")), "batch": int(m[3])}
            rows = {}
            continue
        m = ROW.match(line)
        if m and m[2].strip() == "edgelnn":
            rows[m[1]] = (int(m[3]), float(m[4]))
    return points


def _gru_step(dataset: str, units: int, batch: int, val: bool) -> float:
    a, b, p, va, vb = costs.TRAIN_MODEL["gru"]
    t = costs.data_shape(dataset).length
    return (va * t + vb * batch * t * units ** p) if val else (a * t + b * batch * t * units ** p)


def fit(points: list[dict], val: bool) -> tuple[float, float, float, float]:
    """(a, b, median relative error, max relative error) of ``a T + b batch T units**2``."""
    xs, ys = [], []
    for q in points:
        t = costs.data_shape(q["dataset"]).length
        batch = 256 if val else q["batch"]
        ys.append(q["ratio"] * _gru_step(q["dataset"], q["gru_units"], batch, val))
        xs.append([t, batch * t * q["units"] ** 2])
    x, y = np.array(xs), np.array(ys)
    (a, b), *_ = np.linalg.lstsq(x / y[:, None], np.ones(len(y)), rcond=None)
    if a < 0:                                  # no negative overhead: the per-sample term alone
        a, b = 0.0, float(np.linalg.lstsq(x[:, 1:] / y[:, None], np.ones(len(y)), rcond=None)[0][0])
    err = np.abs(x @ [a, b] / y - 1)
    return float(a), float(b), float(np.median(err)), float(err.max())


def val_points(datasets, budgets, rounds: int) -> list[dict]:
    """The no-grad forward of 256 sequences, each LTC kind as a multiple of GRU's (best rounds)."""
    torch.set_num_threads(1)
    points = []
    for name in datasets:
        ds = data.load(name)
        x = torch.from_numpy(ds.val.x[:256]).repeat(1 + 256 // len(ds.val), 1, 1)[:256]
        dt = torch.from_numpy(ds.val.dt[:256]).repeat(1 + 256 // len(ds.val), 1)[:256]
        for budget in budgets:
            models = {}
            for kind in ("gru", *LTC):
                f = size_for_budget(kind, ds.input_size, ds.output_size, budget)
                models[kind] = (f.units, create(kind, ds.input_size, ds.output_size, units=f.units, seed=0,
                                                **f.options).eval())
            best = {k: float("inf") for k in models}
            with torch.no_grad():
                for _ in range(rounds):
                    for kind, (_, m) in models.items():
                        m(x, dt)
                        t0 = time.perf_counter()
                        m(x, dt)
                        best[kind] = min(best[kind], time.perf_counter() - t0)
            for kind in LTC:
                points.append({"dataset": name, "budget": budget, "kind": kind, "units": models[kind][0],
                               "gru_units": models["gru"][0], "ratio": best[kind] / best["gru"]})
    return points


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train_speed", type=Path, help="benchmarks/train_speed.md (its tables)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    train = train_points(args.train_speed)
    for q in train:
        q["ratio"] = q["epoch"] / q["gru_epoch"]
    val = val_points(sorted({q["dataset"] for q in train}), [1000, 4000], args.rounds)
    for kind in LTC:
        t = fit([q for q in train if q["kind"] == kind], val=False)
        v = fit([q for q in val if q["kind"] == kind], val=True)
        ratios = ", ".join(f"{q['ratio']:.1f}" for q in train if q["kind"] == kind)
        vratios = ", ".join(f"{q['ratio']:.1f}" for q in val if q["kind"] == kind)
        print(f"{kind}: train x GRU {ratios} -> a {t[0]:.3g}, b {t[1]:.3g} (median error {t[2]:.0%}, "
              f"max {t[3]:.0%}); val x GRU {vratios} -> a {v[0]:.3g}, b {v[1]:.3g} "
              f"(median {v[2]:.0%}, max {v[3]:.0%})")


if __name__ == "__main__":
    main()
