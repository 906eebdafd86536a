"""Do a study's models fit their training data? Train / validation / test scores of its own final
checkpoints, and a probe of how dt enters the liquid models.

    PYTHONPATH=$PWD python benchmarks/study_fit.py STUDY --dataset digits-events [--probe 4000] \
        [--out benchmarks/study_fit.md]

A verdict says one model is more accurate than another; it does not say why. A model that cannot
reach a high score on the data it was trained on (under-fitting) is limited by what it can learn or
how it is trained; one that fits the training split but not validation over-fits. The study's
records hold validation and test scores only, so this script re-scores every final checkpoint
(plain arm) on the training split it was trained on (the same seed and validation fold).

``--probe BUDGET``: the RNN cells receive dt as an extra input feature; the liquid cells receive it
only as their time step. The probe retrains each liquid model at BUDGET with the study's own chosen
settings (its record's hparams, seeds 0-2) with dt also appended to its inputs, the way the RNNs get
it; if the gap to the RNNs closes, it came from the input encoding, not the cell.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edgelnn import data as data_mod  # noqa: E402
from edgelnn.models import checkpoint  # noqa: E402
from edgelnn.study import records  # noqa: E402
from edgelnn.study.validation import folds_for  # noqa: E402
from edgelnn.train.loop import TrainConfig, evaluate, train  # noqa: E402

LIQUID = ("cfc", "cfc-ncp", "ltc", "ltc-ncp")


def final_records(study: Path, dataset: str) -> list:  # plain-arm final runs, by model, budget, seed
    return sorted((records.read(p) for p in (study / "records" / dataset).glob("*-plain-s*.json")),
                  key=lambda r: (r.model, r.budget, r.seed))


def rescore(study: Path, dataset: str, record: bool = False) -> list[dict]:
    """Train / val / test score of each final checkpoint, on the splits its run used. ``record``:
    write the train score into each record that lacks it (``RunRecord.train_metric``, what a study
    now records itself) -- only where validation and test re-score to the record's own figures."""
    rows = []
    for path in sorted((study / "records" / dataset).glob("*.json")):
        r = records.read(path)
        ds = data_mod.load(dataset, seed=r.seed, folds=folds_for(dataset))
        model = checkpoint.load(study / r.checkpoint)
        model.eval()
        row = {"model": r.model, "budget": r.budget, "seed": r.seed, "arm": r.arm, "train": evaluate(model, ds.train, ds),
               "val": evaluate(model, ds.val, ds), "test": evaluate(model, ds.test, ds),
               "recorded_val": r.val_metric, "recorded_test": r.test_metric}
        rows.append(row)
        # the same checkpoint, to float32 rounding: training scored validation from its float32
        # outputs in another order, and LTC trained before its unfolds ran in C re-scores through
        # them (RMSE 2e-8 and 7e-9 apart, relative); another checkpoint would be ~1e-2 apart
        same = all(abs(row[k] - v) <= 1e-6 * max(1.0, abs(v)) for k, v in (("val", r.val_metric), ("test", r.test_metric)))
        if record and r.train_metric is None:
            if not same:
                raise SystemExit(f"{path}: its checkpoint re-scores to val {row['val']} / test {row['test']}, the "
                                 f"record says {r.val_metric} / {r.test_metric}; not writing a train score to it")
            r.train_metric = float(row["train"])
            records.write(r, path)
    return rows


def plain(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["arm"] == "plain"]


def with_dt_input(ds):
    """``ds`` with each sample's raw dt appended as one more input channel (what the RNN cells do)."""
    def add(s):
        return dataclasses.replace(s, x=np.concatenate([s.x, s.dt[..., None]], axis=2).astype(np.float32))
    return dataclasses.replace(ds, train=add(ds.train), val=add(ds.val), test=add(ds.test),
                               input_size=ds.input_size + 1, norm_mean=list(ds.norm_mean) + [0.0],
                               norm_std=list(ds.norm_std) + [1.0])


def result_scores(res) -> dict:
    """Train / val / test of a run just trained: the kept model's scores its TrainResult already
    holds (``loop.evaluate`` on each split), not a second pass over the data."""
    return {"train": res.train_metric, "val": res.val_metric, "test": res.test_metric}


def probe(study: Path, dataset: str, budget: int, seeds=(0, 1, 2)) -> list[dict]:
    rows = []
    for r in final_records(study, dataset):
        if r.model not in LIQUID or r.budget != budget or r.seed not in seeds:
            continue
        h = r.hparams
        ds = with_dt_input(data_mod.load(dataset, seed=r.seed, folds=folds_for(dataset)))
        cfg = TrainConfig(model=r.model, dataset=dataset, units=r.units, epochs=h["max_epochs"], batch_size=h["batch_size"],
                          lr=h["lr"], seed=r.seed, patience=h["patience"], options=dict(h.get("options") or {}),
                          retries=h.get("retries", 0))
        t0 = time.process_time()
        _, res = train(cfg, dataset=ds)
        rows.append({"model": r.model, "budget": budget, "seed": r.seed, **result_scores(res),
                     "cpu_s": time.process_time() - t0})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def elman(dataset: str, budget: int, seeds=(0, 1, 2), rates=(0.01, 0.001)) -> list[dict]:
    """A reference outside the study: the plain Elman RNN (``rnn``: tanh, dt as an input, no gate and
    no additive memory path) at ``budget``, with the training recipe, best of ``rates`` by mean
    validation loss. If it under-fits where LSTM and GRU fit, dt's encoding is not what limits."""
    from edgelnn.study.budget import fit_budget

    info = data_mod.get_info(dataset)
    units = fit_budget("rnn", info.input_size, info.output_size, budget).units
    by_rate = {}
    for lr in rates:
        runs = []
        for seed in seeds:
            ds = data_mod.load(dataset, seed=seed, folds=folds_for(dataset))
            cfg = TrainConfig(model="rnn", dataset=dataset, units=units, lr=lr, seed=seed, retries=2)
            _, res = train(cfg, dataset=ds)
            runs.append({"model": f"rnn (lr {lr:g})", "budget": budget, "seed": seed, "loss": res.val_loss,
                         **result_scores(res)})
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        by_rate[lr] = runs
    return min(by_rate.values(), key=lambda rs: statistics.mean(r["loss"] for r in rs))


def mean(rows, key):
    return statistics.mean(r[key] for r in rows)


def table(rows: list[dict], keys=("train", "val", "test")) -> list[str]:
    groups = defaultdict(list)
    for r in rows:
        groups[(r["model"], r["budget"])].append(r)
    out = ["| model | budget | seeds | " + " | ".join(keys) + " | train - val |",
           "|---|---|---|" + "---|" * len(keys) + "---|"]
    for (m, b), g in sorted(groups.items(), key=lambda kv: (kv[0][0] not in LIQUID, kv[0])):
        out.append(f"| {m} | {b:,} | {len(g)} | " + " | ".join(f"{mean(g, k):.3f}" for k in keys)
                   + f" | {mean(g, 'train') - mean(g, 'val'):+.3f} |")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--probe", type=int, default=None, metavar="BUDGET")
    ap.add_argument("--elman", action="store_true", help="with --probe: also train the plain Elman RNN there "
                    "(not in the study) as a reference")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--record", action="store_true",
                    help="write each train score into its record where missing (records from before "
                         "RunRecord.train_metric); refused where val / test do not re-score to the record's")
    args = ap.parse_args(argv)
    t0 = time.time()
    rows = plain(rescore(args.study, args.dataset, record=args.record))
    drift = max(abs(r["val"] - r["recorded_val"]) + abs(r["test"] - r["recorded_test"]) for r in rows)
    lines = [f"## {args.dataset}: do the study's final models fit their training data?", "",
             f"`python benchmarks/study_fit.py {args.study.name} --dataset {args.dataset}"
             + (f" --probe {args.probe}" if args.probe else "") + "`, "
             f"{time.strftime('%Y-%m-%d', time.gmtime())}. Each final checkpoint (plain arm) re-scored on the "
             "training split it was trained on; validation and test as the study recorded them "
             f"(re-scored here within {drift:.1e} of the records). Accuracy, mean over seeds.", ""]
    lines += table(rows)
    if args.probe:
        prows = probe(args.study, args.dataset, args.probe)
        base = [r for r in rows if r["budget"] == args.probe]
        lines += ["", f"**dt as an input feature** (liquid models at {args.probe:,}, the study's settings, seeds "
                  f"{', '.join(str(s) for s in sorted({r['seed'] for r in prows}))}): the study's runs (dt only as the time "
                  "step) beside retrained runs that also read dt as an input, as the RNN cells do.", "",
                  "| model | budget | seeds | train (study) | val (study) | test (study) | train (dt input) "
                  "| val (dt input) | test (dt input) |", "|---|---|---|---|---|---|---|---|---|"]
        for m in LIQUID:
            p = [r for r in prows if r["model"] == m]
            b = [r for r in base if r["model"] == m and r["seed"] in {x["seed"] for x in p}]
            if p and b:
                lines.append(f"| {m} | {args.probe:,} | {len(p)} | " + " | ".join(f"{mean(b, k):.3f}" for k in ("train", "val", "test"))
                             + " | " + " | ".join(f"{mean(p, k):.3f}" for k in ("train", "val", "test")) + " |")
        rnn = [r for r in base if r["model"] not in LIQUID]
        if rnn:
            lines += ["", f"RNNs at {args.probe:,} (dt as input, the study's runs): train {min(r['train'] for r in rnn):.3f}"
                      f"-{max(r['train'] for r in rnn):.3f}, test {min(r['test'] for r in rnn):.3f}-{max(r['test'] for r in rnn):.3f} "
                      "over models and seeds."]
    if args.probe and args.elman:
        er = elman(args.dataset, args.probe)
        lines += ["", f"**A reference outside the study**: the plain Elman RNN (`rnn`: tanh, dt as an input like the "
                  "other RNNs, but no gate and no additive memory path) at the same budget, the training recipe, the "
                  "better of lr 0.01 and 0.001 by mean validation loss, seeds 0-2:", ""]
        lines += table(er)
    lines += ["", f"{time.time() - t0:.0f} s wall."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
