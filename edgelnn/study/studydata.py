"""Read a study folder (records/, tuning/, results/, study.json) into cells the report analyses.

A *cell* is one (dataset, model, budget, arm): its final runs over seeds. Nothing here decides
anything; a record that cannot be read is listed in ``problems`` (the report prints them), never
skipped silently.
"""
from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import records as rec
from .metrics import METRICS
from .records import RunRecord, TrialRecord
from .stats import Series

HIGHER_IS_BETTER = {name: m.higher_is_better for name, m in METRICS.items()}
# The RunRecord field the trainer sets on a run it flags as a training failure (truthy: a reason
# string or True); read with getattr so records written before the field existed still load.
FAILURE_FIELD = "training_failure"
FAMILY_ORDER = {"liquid": 0, "rnn": 1}
BENCH_NAME = re.compile(r"^(?P<model>.+)-b(?P<budget>\d+)\.jsonl$")


@dataclass
class Cell:
    dataset: str
    model: str
    family: str
    budget: int
    arm: str
    metric: str
    runs: list[RunRecord]  # sorted by seed
    divisor: float = 1.0   # per-item scores are divided by it (relative MSE: the baseline MSE)

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def key(self) -> tuple:
        return (self.dataset, self.model, self.budget, self.arm)

    @property
    def failure(self) -> str:
        """'' unless the trainer flagged a run of this cell as a training failure; else its reason
        (any flagged seed makes the cell a failure: its mean is not a trained model's figure)."""
        for r in self.runs:
            flag = getattr(r, FAILURE_FIELD, None)
            if flag:
                why = flag if isinstance(flag, str) else ", ".join(map(str, flag)) if isinstance(
                    flag, (list, tuple)) else "flagged"
                return f"seed {r.seed}: {why}"
        return ""

    @property
    def name(self) -> str:
        return f"{self.model}|{self.budget}|{self.arm}"

    def mean(self, attr: str) -> float | None:
        vals = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.fmean(vals) if vals else None

    def std(self, attr: str) -> float | None:
        vals = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.stdev(vals) if len(vals) > 1 else (0.0 if vals else None)

    def test_series(self) -> Series:
        return Series(self.seeds, np.asarray([r.test_scores for r in self.runs], dtype=np.float64) / self.divisor)

    def shift_levels(self) -> dict[str, list[str]]:
        """shift -> levels present in every run of the cell (in the records' order)."""
        out: dict[str, list[str]] = {}
        first = self.runs[0].shifts if self.runs else {}
        for shift, levels in first.items():
            common = [lvl for lvl in levels if all(lvl in r.shifts.get(shift, {}) for r in self.runs)]
            if common:
                out[shift] = common
        return out

    def shift_series(self, shift: str, level: str) -> Series:
        return Series(self.seeds, np.asarray([r.shifts[shift][level].scores for r in self.runs],
                                             dtype=np.float64) / self.divisor)

    def shift_metric(self, shift: str, level: str) -> list[float]:
        return [r.shifts[shift][level].metric for r in self.runs]


@dataclass
class StudyData:
    folder: Path
    design: dict
    runs: list[RunRecord]
    trials: list[TrialRecord]
    bench: list = field(default_factory=list)  # edgelnn.report.rows.Row, .raw["budget"] set
    problems: list[str] = field(default_factory=list)
    cells: dict[tuple, Cell] = field(default_factory=dict)
    # runs a capacity retry replaced (edgelnn.study.stages): listed in the report, never analysed
    replaced: list[RunRecord] = field(default_factory=list)
    # study.json's jobs and invocations (edgelnn.study.timing: the measured run time); {} without one
    state: dict = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        order = list(self.design.get("datasets") or [])
        seen = sorted({c.dataset for c in self.cells.values()})
        return [d for d in order if d in seen] + [d for d in seen if d not in order]

    def models(self, dataset: str | None = None) -> list[str]:
        """Model names, liquid first, in the design's order (else alphabetical)."""
        order = list(self.design.get("models") or [])
        fam = self.families
        names = {c.model for c in self.cells.values() if dataset is None or c.dataset == dataset}
        rank = {m: (order.index(m) if m in order else len(order)) for m in names}
        return sorted(names, key=lambda m: (FAMILY_ORDER.get(fam.get(m, ""), 2), rank[m], m))

    @property
    def families(self) -> dict[str, str]:
        return {c.model: c.family for c in self.cells.values()}

    def liquid(self, dataset: str | None = None) -> list[str]:
        return [m for m in self.models(dataset) if self.families[m] == "liquid"]

    def rnn(self, dataset: str | None = None) -> list[str]:
        return [m for m in self.models(dataset) if self.families[m] == "rnn"]

    def budgets(self, dataset: str | None = None) -> list[int]:
        return sorted({c.budget for c in self.cells.values() if dataset is None or c.dataset == dataset})

    def arms(self) -> list[str]:
        present = {c.arm for c in self.cells.values()}
        return [a for a in rec.ARMS if a in present] + sorted(present - set(rec.ARMS))

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.runs})

    def cell(self, dataset: str, model: str, budget: int, arm: str = "plain") -> Cell | None:
        return self.cells.get((dataset, model, budget, arm))

    def metric(self, dataset: str) -> str:
        return next(c.metric for c in self.cells.values() if c.dataset == dataset)


def _read_records(paths: list[Path], folder: Path, problems: list[str]) -> list:
    out = []
    for path in paths:
        try:
            out.append(rec.read(path))
        except (ValueError, OSError) as exc:
            problems.append(f"{path.relative_to(folder)}: {exc}")
    return out


def _check_cell(cell: Cell, problems: list[str]) -> bool:
    lengths = {len(r.test_scores) for r in cell.runs}
    if len(lengths) != 1:
        problems.append(f"{cell.dataset}/{cell.name}: runs scored on different numbers of test "
                        f"items {sorted(lengths)}; cell left out")
        return False
    for r in cell.runs:
        if len(r.test_scores) == 0:
            problems.append(f"{r.key}: no per-item test scores; cell left out")
            return False
        shifted = [v for levels in r.shifts.values() for v in levels.values()]
        if not all(math.isfinite(x) for x in r.test_scores) or \
                not all(math.isfinite(x) for v in shifted for x in v.scores):
            problems.append(f"{r.key}: NaN or infinite per-item scores; cell left out")
            return False
        mean = sum(r.test_scores) / len(r.test_scores)
        from_scores = mean ** 0.5 if r.metric == "rmse" else mean
        if abs(from_scores - r.test_metric) > 1e-6 + 1e-4 * abs(r.test_metric):
            problems.append(f"{r.key}: test_metric {r.test_metric:.6g} disagrees with its per-item scores "
                            f"({from_scores:.6g}); the report uses the per-item scores")
    return True


def load_study(folder: str | Path, *, relative: bool = True) -> StudyData:
    """Every record, trial and bench row of a study folder (paths relative to it).

    ``relative``: regression cells are analysed on relative MSE (see ``_relative_regression``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such study folder")
    problems: list[str] = []
    design: dict = {}
    saved: dict = {}
    state = folder / "study.json"
    if state.is_file():
        try:
            data = json.loads(state.read_text())
            design = data.get("design") or {}
            saved = {k: data.get(k) for k in ("jobs", "invocations")}
        except (json.JSONDecodeError, OSError, AttributeError) as exc:
            problems.append(f"study.json: unreadable ({exc}); design taken from the records")
    runs = [r for r in _read_records(sorted((folder / "records").glob("*/*.json")), folder, problems)
            if isinstance(r, RunRecord)]
    trials = [t for t in _read_records(sorted((folder / "tuning").glob("*/*.json")), folder, problems)
              if isinstance(t, TrialRecord)]
    from .failures import flag_runs

    runs, replaced = replace_retried(runs)
    flag_runs(runs)   # the cell-level training-failure rule (falls with capacity) joins each run's own
    data = StudyData(folder, design, runs, trials, problems=problems, replaced=replaced, state=saved)
    groups: dict[tuple, list[RunRecord]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.model, r.budget, r.arm), []).append(r)
    for key, rs in sorted(groups.items()):
        rs.sort(key=lambda r: r.seed)
        if len({r.seed for r in rs}) != len(rs):
            problems.append(f"{key[0]}/{key[1]}-b{key[2]}-{key[3]}: duplicate seeds; cell left out")
            continue
        cell = Cell(*key[:2], rs[0].family, key[2], key[3], rs[0].metric, rs)
        if _check_cell(cell, problems):
            data.cells[key] = cell
    n_items: dict[str, set] = {}
    for c in data.cells.values():
        n_items.setdefault(c.dataset, set()).add(len(c.runs[0].test_scores))
    for ds, ns in n_items.items():
        if len(ns) > 1:
            problems.append(f"{ds}: models were scored on different numbers of test items "
                            f"{sorted(ns)}; pairs across them are not paired")
    if relative:
        _relative_regression(data)
    data.bench = _read_bench(folder, problems)
    return data


def replace_retried(runs: list[RunRecord]) -> tuple[list[RunRecord], list[RunRecord]]:
    """(runs analysed, runs replaced): a run of a cell the capacity retry re-tuned (``retry`` set)
    replaces the first run of the same cell and seed (edgelnn.study.stages)."""
    rerun = {(r.dataset, r.model, r.budget, r.arm, r.seed) for r in runs if getattr(r, "retry", "")}
    keep = [r for r in runs if getattr(r, "retry", "") or (r.dataset, r.model, r.budget, r.arm, r.seed) not in rerun]
    gone = [r for r in runs if not getattr(r, "retry", "") and (r.dataset, r.model, r.budget, r.arm, r.seed) in rerun]
    return keep, gone


def _relative_regression(data: StudyData) -> None:
    """Regression cells (RMSE records) -> relative MSE: every per-item squared error over the
    dataset's predict-the-mean MSE on its (fixed) test split. Where that baseline cannot be had
    (an unknown dataset, another number of test items) the cells keep RMSE and a problem says so."""
    from .metrics import REGRESSION_CLAIMED, REGRESSION_RECORDED, baseline_mse

    for ds in {c.dataset for c in data.cells.values() if c.metric == REGRESSION_RECORDED}:
        cells = [c for c in data.cells.values() if c.dataset == ds]
        try:
            base, n = baseline_mse(ds)
        except (ValueError, OSError, ImportError) as exc:
            data.problems.append(f"{ds}: no predict-the-mean baseline ({exc}); its claims stay on RMSE")
            continue
        seen = {len(c.runs[0].test_scores) for c in cells}
        if seen != {n} or not base > 0:
            data.problems.append(f"{ds}: records score {sorted(seen)} test items, its test split has {n}: "
                                 "no relative MSE; its claims stay on RMSE")
            continue
        for c in cells:
            c.metric, c.divisor = REGRESSION_CLAIMED, base


def _read_bench(folder: Path, problems: list[str]) -> list:
    from ..report.rows import ResultsError, load_results

    rows = []
    for path in sorted((folder / "results").glob("*/*.jsonl")):
        m = BENCH_NAME.match(path.name)
        try:
            got = load_results([path])
        except ResultsError as exc:
            problems.append(str(exc))
            continue
        for r in got:
            r.raw = {**r.raw, "budget": int(m["budget"]) if m else None}
        rows += got
    return rows
