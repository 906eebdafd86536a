"""What a study produces, one schema per concept: a tuning trial, a final run, the design.

The study engine writes these (JSON, one file per record); the study report reads them. Per-item
scores make paired statistics possible: for one dataset every model and seed is scored on the
same test items in the same order (the test split is fixed; shifted variants are drawn with a
fixed seed per shift and level, never the model's seed).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError  # a ValueError that the CLI shows as one line

RECORD_SCHEMA = "edgelnn-study-record"
RECORD_SCHEMA_VERSION = 1
ARMS = ("plain", "time-aug")  # time-aug: random drop / resample of samples while training


@dataclass
class ShiftScore:
    """One shifted test variant (e.g. noise at 10 dB): the metric and the per-item scores."""

    metric: float
    scores: list[float]


@dataclass
class TrialRecord:
    """One tuning trial: settings tried for (dataset, model, budget), scored on validation only."""

    dataset: str
    model: str
    budget: int
    trial: int
    hparams: dict            # lr, options (e.g. backbone_units), max epochs, patience, batch size
    units: int
    params_active: int
    seed: int
    val_metric: float
    val_loss: float
    best_epoch: int
    epochs_run: int
    seconds: float
    worker: str = ""
    diverged: bool = False   # training diverged (NaN/inf loss): val_loss is inf, never chosen
    extension: int = 0       # 0: the base grid; k: added by the k-th extension (edgelnn.study.search)
    # training-failure codes (edgelnn.train.recipe; empty: healthy): a flagged setting is not chosen
    training_failure: list[str] = field(default_factory=list)
    # runs trained together in this run's job (edgelnn.train.stacked; 1: alone): ``seconds`` is its share
    stacked: int = 1
    val_items: int = 0       # items its validation score is over (edgelnn.study.validation; 0: not recorded)
    retry: str = ""          # "capacity": added by the capacity retry (edgelnn.study.stages)


@dataclass
class RunRecord:
    """One final model (tuned settings, one seed, one arm), scored once on test and its shifts.

    ``test_scores`` / ``ShiftScore.scores``: per test item, in test-split order: 1.0 / 0.0
    correct for classification, squared error in original units for regression.
    """

    dataset: str
    model: str
    family: str              # "liquid" or "rnn"
    budget: int              # nominal parameter budget the model was sized for
    arm: str                 # one of ARMS
    seed: int
    units: int
    params_active: int       # masked synapses excluded
    params_total: int        # every trainable tensor element
    hparams: dict            # the chosen settings (from tuning)
    metric: str              # "accuracy" or "rmse"
    val_metric: float
    test_metric: float
    test_scores: list[float]
    shifts: dict[str, dict[str, ShiftScore]] = field(default_factory=dict)  # shift -> level -> score
    best_epoch: int = 0
    epochs_run: int = 0
    train_seconds: float = 0.0
    train_peak_mb: float | None = None
    worker: str = ""
    checkpoint: str = ""     # path relative to the study folder
    # training-failure codes (edgelnn.train.recipe; empty: healthy). A flagged run is no result:
    # it never carries a verdict. "falls-with-capacity" is added per cell when records are read
    # (edgelnn.study.failures). ``attempts``: every run made (the retries at lower rates).
    training_failure: list[str] = field(default_factory=list)
    attempts: list[dict] = field(default_factory=list)
    # runs trained together in this run's job (edgelnn.train.stacked; 1: alone): ``train_seconds`` is
    # this run's share of the stack's wall time, ``train_peak_mb`` the whole stack's peak
    stacked: int = 1
    val_items: int = 0       # items ``val_metric`` is over (one fold: edgelnn.study.validation; 0: not recorded)
    # "capacity": a rerun after the cell was re-tuned by the capacity retry (edgelnn.study.stages); it
    # replaces the run of the same cell and seed without the marker, which the report lists as replaced
    retry: str = ""
    # the metric (``val_metric``'s form) on the run's own training split: a model far from fitting
    # what it was trained on under-fits (None: not recorded, e.g. a study run before it was added)
    train_metric: float | None = None

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.model}-b{self.budget}-{self.arm}-s{self.seed}"


def to_dict(record) -> dict:
    return {"schema": RECORD_SCHEMA, "schema_version": RECORD_SCHEMA_VERSION,
            "type": type(record).__name__, **dataclasses.asdict(record)}


def from_dict(data: dict):
    """A TrialRecord or RunRecord from its JSON form (ValueError on a foreign or damaged record)."""
    if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA:
        raise InputError("not an edgelnn study record")
    if data.get("schema_version") != RECORD_SCHEMA_VERSION:
        raise InputError(f"study record schema version {data.get('schema_version')!r}, "
                         f"this edgelnn reads {RECORD_SCHEMA_VERSION}")
    body = {k: v for k, v in data.items() if k not in ("schema", "schema_version", "type")}
    kind = data.get("type")
    if kind == "TrialRecord":
        return TrialRecord(**body)
    if kind == "RunRecord":
        body["shifts"] = {name: {level: ShiftScore(**s) for level, s in levels.items()}
                          for name, levels in body.get("shifts", {}).items()}
        return RunRecord(**body)
    raise InputError(f"unknown study record type {kind!r}")


def write(record, path: str | Path) -> None:
    """Write one record atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_dict(record), indent=1))
    tmp.replace(path)


def read(path: str | Path):
    try:
        return from_dict(json.loads(Path(path).read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise InputError(f"{path}: damaged study record ({exc})") from None
