"""Refit the study's cost corrections (edgelnn.study.costs: KIND_CORRECTION, DATASET_CORRECTION,
EXPECTED_EPOCHS_BY_DATASET) to what a study's finished jobs really cost, and check them on jobs
that finished after the fit.

    PYTHONPATH=$PWD python benchmarks/study_costs.py export/study                 # fit on every job
    PYTHONPATH=$PWD python benchmarks/study_costs.py export/study --fit-before 2026-12-07T08:30
        # fit on the jobs finished before that time, check on the rest
    PYTHONPATH=$PWD python benchmarks/study_costs.py export/study --since ltc=2026-12-07T14:35 --since ltc-ncp=...
        # a kind's jobs count only from a time on (its code changed part way through the study)
    PYTHONPATH=$PWD python benchmarks/study_costs.py export/study --current
        # no fit: check costs.py's corrections as they are

The fitted terms of costs.epoch_seconds come from per-epoch microbenchmarks; a whole study shows
what they miss: how many epochs early stopping really runs, stacks of 8-16 small runs that share
more than the stacked-training benchmark measured, datasets whose per-step cost differs from its
length x size. Model (least squares in log CPU seconds, weighted by each job's size):

    log((cpu / stack share - overhead) / (calibration x epochs_run x epoch_seconds))
        = kind + slope_kind x ln(budget / 1000) + dataset

(a stack member's CPU is its even share of the stack's, overhead included; the plan scales a member's
whole estimate, overhead included, by its stack share, so the model is the plan's own form)

slope_kind is shrunk towards one common slope (a kind measured at one budget gets the common one);
dataset terms have geometric mean 1 (a dataset not fitted gets 1); each kind's factor is then scaled
so that its fitted jobs' summed CPU equals the model's sum (a plan adds jobs up). Tuning jobs are fitted; final
runs (which add scoring) are only checked. Prints the Python literals to paste into costs.py and,
per set, measured CPU against the corrected model (run with its real epochs, and with the expected
epochs that --plan uses) and against the estimate the study recorded.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edgelnn.study import costs, records  # noqa: E402

RIDGE = 0.05   # penalty on a kind's slope deviating from the common one, per unit of total weight


def job_rows(folder: Path) -> list[dict]:
    """One row per finished tune/final job: its record's facts, CPU seconds, and the uncorrected terms."""
    jobs = json.loads((folder / "study.json").read_text())["jobs"]
    rows = []
    for key, info in jobs.items():
        kind = key.split()[0]
        if kind not in ("tune", "final") or info.get("cpu_seconds") is None:
            continue
        rec = records.read(folder / info["outputs"][0])
        d, m, b, k = rec.dataset, rec.model, rec.budget, rec.stacked or 1
        share = costs.stack_share(m, k, b) if k > 1 else 1.0
        per_epoch = costs.CALIBRATION * costs.epoch_seconds(d, m, rec.units, rec.hparams["batch_size"])
        score = costs.score_estimate(d, m, rec.units) if kind == "final" else 0.0
        rows.append({"kind": kind, "dataset": d, "model": m, "budget": b, "epochs": rec.epochs_run,
                     "per_epoch": per_epoch, "share": share, "score": score, "cpu": info["cpu_seconds"],
                     "recorded_estimate": info.get("estimate") or 0.0, "finished": info["finished"]})
    return rows


def fit(rows: list[dict]) -> dict:
    """The corrections fitted to ``rows`` (tuning jobs)."""
    kinds = sorted({r["model"] for r in rows})
    dsets = sorted({r["dataset"] for r in rows})
    nk, nd = len(kinds), len(dsets)
    n = 2 * nk + 1 + nd
    X, y, w = [], [], []
    for r in rows:
        x = np.zeros(n)
        i, lb = kinds.index(r["model"]), math.log(r["budget"] / 1000)
        x[i], x[nk + i], x[2 * nk] = 1.0, lb, lb
        x[2 * nk + 1 + dsets.index(r["dataset"])] = 1.0
        X.append(x)
        # a stack member's CPU is its share of the stack's (overhead included, as plan.stacked_estimates
        # scales a member's whole estimate): back to one run's, less the overhead
        single = r["cpu"] / r.get("share", 1.0) - costs.JOB_OVERHEAD
        y.append(math.log(max(single, 0.05) / max(r["epochs"] * r["per_epoch"], 0.05)))
        w.append(math.sqrt(r["epochs"] * r["per_epoch"] * r.get("share", 1.0)))
    X, y, w = np.array(X), np.array(y), np.array(w)
    A, rhs = X * w[:, None], y * w
    lam = math.sqrt(RIDGE * float((w ** 2).sum()))
    extra = np.zeros((nk + 1, n))
    for i in range(nk):
        extra[i, nk + i] = lam                                  # slope deviations shrink to 0
    extra[nk, 2 * nk + 1:] = 1e3                                # dataset terms sum to 0
    A, rhs = np.vstack([A, extra]), np.concatenate([rhs, np.zeros(nk + 1)])
    c = np.linalg.lstsq(A, rhs, rcond=None)[0]
    epochs = defaultdict(list)
    for r in rows:
        epochs[r["dataset"]].append(r["epochs"])
    # a least-squares fit in logs matches the geometric mean: the sum of many jobs (what a plan is)
    # comes out low by the spread's exp(var / 2). Scale each kind's factor so its fitted jobs' sum
    # (at their real epochs) equals what they measured.
    factor = {}
    for i, k in enumerate(kinds):
        mine = [(r, math.exp(c[i] + (c[nk + i] + c[2 * nk]) * math.log(r["budget"] / 1000)
                             + c[2 * nk + 1 + dsets.index(r["dataset"])])) for r in rows if r["model"] == k]
        measured = sum(max(r["cpu"] - costs.JOB_OVERHEAD * r.get("share", 1.0), 0.0) for r, _ in mine)
        fitted = sum(f * r["epochs"] * r["per_epoch"] * r.get("share", 1.0) for r, f in mine)
        factor[k] = math.exp(c[i]) * measured / fitted
    return {"kind": {k: (round(factor[k], 4), round(float(c[nk + i] + c[2 * nk]), 3)) for i, k in enumerate(kinds)},
            "dataset": {d: round(math.exp(c[2 * nk + 1 + j]), 3) for j, d in enumerate(dsets)},
            "epochs": {d: round(statistics.mean(v)) for d, v in sorted(epochs.items())},
            "epochs_all": round(statistics.mean(r["epochs"] for r in rows)),
            "final_epochs": dict(costs.FINAL_EPOCHS_BY_DATASET), "final_epochs_all": costs.FINAL_EPOCHS}


def final_epochs(rows: list[dict]) -> tuple[dict, int]:
    """Mean epochs of the final runs per dataset, and over all (final runs stop sooner than trials)."""
    by = defaultdict(list)
    for r in rows:
        by[r["dataset"]].append(r["epochs"])
    return ({d: round(statistics.mean(v)) for d, v in sorted(by.items())},
            round(statistics.mean(r["epochs"] for r in rows)) if rows else costs.FINAL_EPOCHS)


def current() -> dict:
    """costs.py's corrections in ``fit``'s form."""
    return {"kind": dict(costs.KIND_CORRECTION), "dataset": dict(costs.DATASET_CORRECTION),
            "epochs": dict(costs.EXPECTED_EPOCHS_BY_DATASET), "epochs_all": costs.EXPECTED_EPOCHS,
            "final_epochs": dict(costs.FINAL_EPOCHS_BY_DATASET), "final_epochs_all": costs.FINAL_EPOCHS}


def predict(row: dict, corr: dict, expected_epochs: bool) -> float:
    factor, slope = corr["kind"].get(row["model"], (1.0, 0.0))
    f = factor * math.exp(slope * math.log(row["budget"] / 1000)) * corr["dataset"].get(row["dataset"], 1.0)
    if not expected_epochs:
        e = row["epochs"]
    elif row["kind"] == "final":
        e = corr["final_epochs"].get(row["dataset"], corr["final_epochs_all"])
    else:
        e = corr["epochs"].get(row["dataset"], corr["epochs_all"])
    # the plan's form: a run's estimate (overhead + training), times its share of a stack, + scoring
    return (costs.JOB_OVERHEAD + f * e * row["per_epoch"]) * row.get("share", 1.0) + row["score"]


def check(label: str, rows: list[dict], corr: dict) -> None:
    if not rows:
        return
    cpu = sum(r["cpu"] for r in rows)
    real = sum(predict(r, corr, False) for r in rows)
    plan = sum(predict(r, corr, True) for r in rows)
    old = sum(r["recorded_estimate"] for r in rows)
    by = defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        by[(r["dataset"], r["model"])][0] += r["cpu"]
        by[(r["dataset"], r["model"])][1] += predict(r, corr, True)
    ratios = sorted(v[0] / v[1] for v in by.values())
    print(f"| {label} | {len(rows):,} | {cpu / 60:,.1f} | {cpu / real:.2f} | {cpu / plan:.2f} | "
          f"{ratios[0]:.2f}-{ratios[-1]:.2f} | {cpu / old:.2f} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path, help="a study folder (its study.json and records)")
    ap.add_argument("--fit-before", default="9999", help="fit on jobs finished before this ISO time only")
    ap.add_argument("--since", action="append", default=[], metavar="KIND=TIME",
                    help="count a kind's jobs only from this ISO time on (repeatable)")
    ap.add_argument("--current", action="store_true", help="check costs.py's corrections instead of fitting")
    args = ap.parse_args(argv)
    since = dict(s.split("=", 1) for s in args.since)
    rows = [r for r in job_rows(args.study) if r["finished"] >= since.get(r["model"], "")]
    tune = [r for r in rows if r["kind"] == "tune"]
    corr = current() if args.current else fit([r for r in tune if r["finished"] < args.fit_before])
    if not args.current:
        corr["final_epochs"], corr["final_epochs_all"] = final_epochs(
            [r for r in rows if r["kind"] == "final" and r["finished"] < args.fit_before])
    print("KIND_CORRECTION =", json.dumps(corr["kind"]).replace("[", "(").replace("]", ")"))
    print("DATASET_CORRECTION =", json.dumps(corr["dataset"]))
    print("EXPECTED_EPOCHS_BY_DATASET =", json.dumps(corr["epochs"]), " # all:", corr["epochs_all"])
    print("FINAL_EPOCHS_BY_DATASET =", json.dumps(corr["final_epochs"]), " # all:", corr["final_epochs_all"])
    print()
    print("| jobs | n | CPU min | CPU / corrected (real epochs) | CPU / corrected (expected epochs) "
          "| per (dataset, model) | CPU / recorded estimate |")
    print("|---|---|---|---|---|---|---|")
    before = [r for r in rows if r["finished"] < args.fit_before]
    after = [r for r in rows if r["finished"] >= args.fit_before]
    fitted = "checked" if args.current else "fitted"
    for label, part in ((f"{fitted}: tuning", [r for r in before if r["kind"] == "tune"]),
                        (f"{fitted} period: final runs", [r for r in before if r["kind"] == "final"]),
                        ("after the fit: tuning", [r for r in after if r["kind"] == "tune"]),
                        ("after the fit: final runs", [r for r in after if r["kind"] == "final"]),
                        ("after the fit: all", after)):
        check(label, part, corr)
    print()
    print("| kind | jobs | n | CPU min | CPU / corrected (real epochs) | CPU / corrected (expected epochs) "
          "| per (dataset, model) | CPU / recorded estimate |")
    print("|---|---|---|---|---|---|---|---|")
    for m in sorted({r["model"] for r in rows}):
        for job in ("tune", "final"):
            check(f"{m} | {job}", [r for r in rows if r["model"] == m and r["kind"] == job], corr)


if __name__ == "__main__":
    main()
