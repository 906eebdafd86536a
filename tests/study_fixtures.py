"""Synthetic study folders (no training) and the checks every study report must pass.

``write_synthetic_study`` writes the layout of STUDY_CONTRACT.md -- ``study.json``, ``records/``,
``tuning/``, ``results/`` -- with per-item scores drawn so that a model's accuracy is the one
asked for (``accuracy(dataset, model, budget, arm)``, ``shifted(...)``). ``check_study_report``
asserts what the engine's end-to-end test (and every study report) must contain: the curves,
the pair table and the competence table, in Markdown, HTML, CSV and summary.json.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from edgelnn.study import records as rec

FAMILY = {"cfc": "liquid", "cfc-ncp": "liquid", "ltc": "liquid", "lstm": "rnn", "gru": "rnn", "gru-d": "rnn"}
DEFAULT_SHIFTS = {"noise": ["20", "10"], "drop": ["0.2", "0.4"], "sampling-rate": ["0.5", "2"]}


def default_accuracy(dataset: str, model: str, budget: int, arm: str) -> float:
    return 0.90


def default_shifted(dataset, model, budget, arm, shift, level, clean) -> float:
    return clean - 0.10


def draw(rng: np.random.Generator, p: float, n: int) -> list[float]:
    """n per-item 1/0 scores whose mean is round(p * n) / n exactly (then shuffled)."""
    k = int(round(min(max(p, 0.0), 1.0) * n))
    s = np.zeros(n)
    s[:k] = 1.0
    rng.shuffle(s)
    return s.tolist()


def write_synthetic_study(folder: str | Path, *, datasets=("italypowerdemand", "irregular-sine"),
                          models=("cfc", "ltc", "lstm", "gru"), budgets=(250, 1000, 4000), seeds=5,
                          arms=("plain", "time-aug"), aug_budgets=None, n_items=300, accuracy=None,
                          shifted=None, shifts=None, trials=2, bench=True, quick=False, seed=0,
                          seed_noise=0.0) -> Path:
    """Write a complete synthetic study folder; returns it.

    ``seed_noise``: std of a per-seed offset added to each accuracy (training instability).
    """
    folder = Path(folder)
    accuracy = accuracy or default_accuracy
    shifted = shifted or default_shifted
    shifts = DEFAULT_SHIFTS if shifts is None else shifts
    aug_budgets = aug_budgets if aug_budgets is not None else [sorted(budgets)[(len(budgets) - 1) // 2]]
    seed_list = list(range(seeds))
    for ds in datasets:
        for model in models:
            for b in budgets:
                for t in range(trials):
                    rec.write(rec.TrialRecord(ds, model, b, t, {"lr": [0.003, 0.01, 0.03][t % 3], "max_epochs": 150,
                                                                "patience": 20}, units=8, params_active=b,
                                              seed=0, val_metric=0.8 + 0.01 * t, val_loss=0.5, best_epoch=30,
                                              epochs_run=50, seconds=2.0 + t),
                              folder / "tuning" / ds / f"{model}-b{b}-t{t}.json")
                for arm in arms:
                    if arm != "plain" and b not in aug_budgets:
                        continue
                    for s in seed_list:
                        # one generator per run: adding a model leaves the others' scores unchanged
                        rng = np.random.default_rng(zlib.crc32(f"{seed}|{ds}|{model}|{b}|{arm}|{s}".encode()))
                        p = accuracy(ds, model, b, arm) + (rng.normal(0, seed_noise) if seed_noise else 0.0)
                        scores = draw(rng, p, n_items)
                        sh = {}
                        for name, levels in shifts.items():
                            sh[name] = {}
                            for lvl in levels:
                                q = shifted(ds, model, b, arm, name, lvl, p)
                                ss = draw(rng, q, n_items)
                                sh[name][lvl] = rec.ShiftScore(float(np.mean(ss)), ss)
                        r = rec.RunRecord(
                            dataset=ds, model=model, family=FAMILY[model], budget=b, arm=arm, seed=s,
                            units=max(2, b // 60), params_active=int(b * 1.03),
                            params_total=int(b * (1.6 if model in ("cfc-ncp", "ltc") else 1.03)),
                            hparams={"lr": 0.01, "max_epochs": 150, "patience": 20}, metric="accuracy",
                            val_metric=p, test_metric=float(np.mean(scores)), test_scores=scores, shifts=sh,
                            best_epoch=40, epochs_run=60, train_seconds=10.0 + b / 100, train_peak_mb=300.0,
                            worker="local", checkpoint=f"checkpoints/{ds}/{model}-b{b}-{arm}-s{s}.pt")
                        rec.write(r, folder / "records" / ds / f"{model}-b{b}-{arm}-s{s}.json")
                if bench:
                    _write_bench(folder, ds, model, b, accuracy(ds, model, b, "plain"))
    design = {"datasets": list(datasets), "models": list(models), "budgets": list(budgets), "seeds": seeds,
              "arms": list(arms), "quick": quick,
              "notes": ["**Equal tuning.** Synthetic study: no training ran (tests/study_fixtures.py)."]}
    (folder / "study.json").write_text(json.dumps({"design": design, "jobs": {}}))
    return folder


def _write_bench(folder: Path, ds: str, model: str, budget: int, acc: float) -> None:
    rows = []
    macs = budget * (3 if FAMILY[model] == "liquid" else 1)
    for fmt, runtime in (("onnx", "onnxruntime"), ("tflite", "litert")):
        for scheme, bits in (("fp32", 32), ("int8-dynamic", 8)):
            wb = budget * bits // 8
            rows.append({
                "schema": "edgelnn-result", "schema_version": 1, "bundle": f"{model}-b{budget}", "model": model,
                "dataset": ds, "artifact": f"{model}.step.{scheme}.{fmt}", "format": fmt, "graph": "step",
                "scheme": scheme, "status": "passed", "runtime": runtime, "runtime_version": "1.0",
                "target": "host", "latency_us": {"p50": 10.0 + macs / 500, "p99": 20.0 + macs / 500},
                "per_sample_us": 10.0 + macs / 500, "size_bytes": wb + 6000, "params": budget,
                "accuracy": acc, "accuracy_fp32": acc, "model_rss_mb": 10.5, "peak_rss_mb": 60.0,
                "footprint": {"weight_elements": budget, "weight_bytes": wb, "state_bytes": 4 * 16,
                              "macs_per_step": macs, "elementwise_per_step": budget // 4 * (8 if model == "ltc" else 1),
                              "file_bytes": wb + 6000, "structure_bytes": 6000}})
    rows.append({**rows[0], "artifact": f"{model}.c", "format": "c", "runtime": "qemu-cortex-m4",
                 "target": "mps2-an386", "latency_us": None, "per_sample_us": None, "model_rss_mb": None,
                 "footprint": {**rows[0]["footprint"], "mcu": {"cortex-m4": {
                     "flash_bytes": 9000 + budget * 4, "ram_static_bytes": 0, "stack_bytes": 256,
                     "state_bytes": 64, "fits": True}}}})
    path = folder / "results" / ds / f"{model}-b{budget}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


REPORT_TABLES = ["design-datasets", "design-budgets", "competence", "curves", "pairs", "robustness-levels",
                 "robustness-pairs", "cross-wilcoxon", "footprint", "latency", "training"]


def check_study_report(files) -> dict:
    """Assert a study report has its files, curves, pair table and competence table; return summary.json."""
    out = Path(files.out)
    for name in ("report.md", "report.html", "findings.md", "summary.json", "records.csv", "pairs.csv",
                 "competence.csv", "footprint.csv", "curves.csv"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for heading in ("## Findings", "## Design", "## Competence gate", "## Accuracy vs active parameters",
                    "## Pairs: accuracy and parameter efficiency", "## Robustness", "## Across datasets",
                    "## Memory and speed at the model's scale", "## Training time and peak memory"):
        assert heading in md, heading
    for table in ("competence", "curves", "pairs"):
        assert f'id="{table}"' in html, table
    assert "<script" not in html and "http://" not in html.split("</style>", 1)[1]
    curves = sorted(out.glob("plots/curves-*.png"))
    assert curves and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in curves)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == "edgelnn-study-report"
    assert summary["curves"] and summary["competence"]
    assert (out / "findings.md").read_text() == summary["findings"]
    return summary
