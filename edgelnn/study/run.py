"""``run_study``: train every model x seed, export, bench, report -- resumably.

Layout of a study folder::

    study.json                 state: finished steps and their input fingerprints
    checkpoints/<model>-s<seed>.pt
    bundles/<model>-s<seed>/   export bundles
    results/<model>-s<seed>.jsonl
    report/                    report.md, report.html, results.csv, plots/

Fingerprints chain (train -> export -> bench), so changing e.g. the schemes redoes export and
bench but keeps the checkpoints.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import InputError  # a ValueError that the CLI shows as one line
from .budget import units_for_budget
from .config import StudyConfig, fingerprint
from .state import StudyState

Log = Callable[[str], None]


@dataclass
class StepLog:
    key: str
    action: str  # "ran" or "skipped"
    seconds: float


@dataclass
class StudyResult:
    config: StudyConfig
    folder: Path
    report: object  # edgelnn.report.ReportFiles
    seconds: float
    units: dict[str, int]
    steps: list[StepLog] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return sum(s.action == "ran" for s in self.steps)

    @property
    def skipped(self) -> int:
        return sum(s.action == "skipped" for s in self.steps)


def resolve_units(config: StudyConfig) -> dict[str, int]:
    """Units per model: fixed ``units``, or chosen per model to land near ``param_budget``."""
    from ..data import get_info
    from ..models import get_kind

    for m in config.models:
        get_kind(m)  # unknown names fail before any work
    info = get_info(config.dataset)
    if config.param_budget is None:
        return {m: config.units for m in config.models}
    return {m: units_for_budget(m, info.input_size, info.output_size, config.param_budget).units
            for m in config.models}


class _Runner:
    """Holds the shared bits of one study run; one method per pipeline stage."""

    def __init__(self, config: StudyConfig, folder: Path, state: StudyState, log: Log, progress):
        self.config, self.folder, self.state, self.log, self.progress = config, folder, state, log, progress
        self.steps: list[StepLog] = []
        self._datasets: dict[int, object] = {}

    def step(self, key: str, fp: str, output: Path, work: Callable[[], dict | None]) -> None:
        if self.state.done(key, fp, output):
            self.log(f"skipped {key} (done)")
            self.steps.append(StepLog(key, "skipped", 0.0))
            return
        start = time.perf_counter()
        info = work() or {}
        seconds = time.perf_counter() - start
        self.state.record(key, fp, output, seconds, **info)
        self.steps.append(StepLog(key, "ran", seconds))
        self.log(f"{key}: {seconds:.1f} s" + "".join(f", {k} {v}" for k, v in info.items()))

    def dataset(self, seed: int):
        if seed not in self._datasets:
            from ..data import load

            self._datasets[seed] = load(self.config.dataset, seed=seed)
        return self._datasets[seed]

    def train(self, model: str, seed: int, units: int, ckpt: Path) -> dict:
        from ..train import TrainConfig, train

        c = self.config
        cfg = TrainConfig(model=model, dataset=c.dataset, units=units, epochs=c.epochs,
                          batch_size=c.batch_size, lr=c.lr, seed=seed, patience=c.patience)
        cb = self.progress.epoch_callback(f"train {model} s{seed}", c.epochs) if self.progress else None
        _, result = train(cfg, ckpt, progress=cb, dataset=self.dataset(seed))
        return {"params": result.params, result.metric: round(result.test_metric, 4),
                "epochs": result.epochs_run}

    def export(self, ckpt: Path, bundle: Path) -> dict:
        from ..export import export_bundle

        if bundle.exists():
            shutil.rmtree(bundle)
        report = export_bundle(ckpt, bundle, formats=list(self.config.formats),
                               schemes=list(self.config.schemes), graphs=list(self.config.graphs))
        return {"artifacts": len(report.passed), "not passed": len(report.results) - len(report.passed)}

    def bench(self, bundle: Path, results: Path) -> dict:
        from ..bench import BenchSettings, append_rows, bench_bundle

        rows = bench_bundle(bundle, target=self.config.target, settings=BenchSettings(**self.config.bench),
                            on_target=self.config.target == "host")
        tmp = results.with_name(results.name + ".partial")
        tmp.unlink(missing_ok=True)
        append_rows(tmp, rows)
        os.replace(tmp, results)
        return {"rows": len(rows), "passed": sum(r["status"] == "passed" for r in rows)}


def run_study(config: StudyConfig, *, fresh: bool = False, log: Log | None = None,
              progress=None) -> StudyResult:
    """Run (or resume) a study; returns the report files and what ran or was skipped.

    ``progress``: an object with ``epoch_callback(label, total)`` and ``advance()`` (the CLI's
    rich progress bars); ``log``: one line per step.
    """
    from ..report import build_report

    if config.target != "host":
        raise InputError(f"study --target {config.target!r}: only 'host' is supported by the study "
                         "runner yet; bench the study's bundles on a device with `edgelnn bench`")
    start = time.perf_counter()
    units = resolve_units(config)  # bad model names fail before anything is written
    folder = Path(config.out)
    if fresh and (folder / "study.json").exists():
        (folder / "study.json").unlink()
    folder.mkdir(parents=True, exist_ok=True)
    state = StudyState(folder)
    log = log or (lambda line: None)
    state.set("config", config.to_dict())
    state.set("units", units)
    _torch_threads(config.torch_threads)
    run = _Runner(config, folder, state, log, progress)
    results = []
    for model in config.models:
        for seed in range(config.seeds):
            name = f"{model}-s{seed}"
            ckpt = folder / "checkpoints" / f"{name}.pt"
            bundle = folder / "bundles" / name
            res = folder / "results" / f"{name}.jsonl"
            res.parent.mkdir(parents=True, exist_ok=True)
            fp_train = fingerprint("train", config.dataset, model, units[model], config.epochs,
                                   config.batch_size, config.lr, config.patience, seed)
            fp_export = fingerprint(fp_train, config.formats, config.graphs, config.schemes)
            fp_bench = fingerprint(fp_export, config.target, config.bench)
            run.step(f"train {name}", fp_train, ckpt, lambda: run.train(model, seed, units[model], ckpt))
            _advance(progress)
            run.step(f"export {name}", fp_export, bundle / "manifest.json", lambda: run.export(ckpt, bundle))
            _advance(progress)
            run.step(f"bench {name}", fp_bench, res, lambda: run.bench(bundle, res))
            _advance(progress)
            results.append(res)
    title = f"edgelnn study: {', '.join(config.models)} on {config.dataset}"
    report = build_report(results, folder / "report", budget=config.budget,
                          bundles=[folder / "bundles"], title=title,
                          preamble=describe(config, units, state.data["steps"]))
    seconds = time.perf_counter() - start
    state.set("last_run", {"seconds": round(seconds, 1), "ran": sum(s.action == "ran" for s in run.steps),
                           "report": str(report.html)})
    return StudyResult(config, folder, report, seconds, units, run.steps)


def command_line(config: StudyConfig) -> str:
    """The `edgelnn study` command that reproduces ``config`` (bench settings aside)."""
    parts = ["edgelnn study", f"--dataset {config.dataset}", f"--models {','.join(config.models)}",
             f"--seeds {config.seeds}", f"--epochs {config.epochs}"]
    parts.append(f"--param-budget {config.param_budget}" if config.param_budget else f"--units {config.units}")
    parts += [f"--formats {','.join(config.formats)}", f"--graphs {','.join(config.graphs)}",
              f"--schemes {','.join(config.schemes)}", f"--target {config.target}", f"--budget {config.budget:g}"]
    return " ".join(parts)


def describe(config: StudyConfig, units: dict[str, int], steps: dict) -> str:
    """The study's settings and where its time went, for the report's overview."""
    stage: dict[str, float] = {}
    for key, step in steps.items():
        stage[key.split()[0]] = stage.get(key.split()[0], 0.0) + float(step.get("seconds", 0.0))
    spent = ", ".join(f"{k} {v:.0f} s" for k, v in stage.items())
    sizes = ", ".join(f"{m} {u}" for m, u in units.items())
    return (f"Study: `{command_line(config)}` — units per model: {sizes}; training: batch "
            f"{config.batch_size}, lr {config.lr:g}, early stopping after {config.patience} epochs "
            f"without validation gain; bench: {', '.join(f'{k}={v}' for k, v in config.bench.items()) or 'full'}. "
            f"Compute time of the steps (first runs): {spent}.")


def _torch_threads(n: int) -> None:
    """Intra-op threads for training/export: batch-16, 16-unit cells gain nothing from more than
    one, and OpenMP threads spinning against each other (or other jobs) cost up to 30x."""
    import torch

    torch.set_num_threads(max(1, int(n)))


def _advance(progress) -> None:
    if progress is not None:
        progress.advance()


def load_state(folder: str | Path) -> dict:
    """The study.json of a study folder (for tools and tests)."""
    return json.loads((Path(folder) / "study.json").read_text())
