"""What a study runs: datasets x models x parameter budgets x seeds x training arms, the equal
tuning every model gets, and what is exported and benchmarked.

The default is the design the questions need (7 datasets, tuning at every budget); its estimated
cost (``edgelnn study --plan``; :func:`edgelnn.study.costs.plan_time`, which the report's design
section prints) is far above two hours on a 2-core machine -- the report and --plan say so.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from ..errors import InputError
from .records import ARMS

# the three of the first study, the two shipped sets it left unused (basicmotions; co2: real irregular
# sampling, regression) and two generated offline: irregularly observed physical dynamics
# (double-pendulum, regression) and event-based classification (digits-events)
DEFAULT_DATASETS = ("italypowerdemand", "japanesevowels", "irregular-sine", "basicmotions", "co2",
                    "double-pendulum", "digits-events")
# CfC and LTC each fully connected (the LTC paper's setting) and on an NCP wiring, and three RNNs
DEFAULT_MODELS = ("cfc", "cfc-ncp", "ltc", "ltc-ncp", "lstm", "gru", "gru-d")
DEFAULT_BUDGETS = (250, 1000, 4000)
# Mini-batch size per dataset, the same for every model (and the middle of the batch sizes tuning
# tries): none set by default -- the training recipe's, the largest power of two that gives >= 10
# optimizer steps an epoch within 8..64 (edgelnn.train.recipe.default_batch_size). The former
# full-batch irregular-sine (one step an epoch, 150 in all) is what collapsed CfC-NCP there.
BATCH_SIZES: dict[str, int] = {}
# Short bench settings (a stable p50 on a shared 2-core machine in seconds per artifact). Accuracy
# through the artifact on the clean test split only, capped at 300 sequences (one runtime call per
# sample and step): the shift suite is scored per item in PyTorch by the final runs themselves.
BENCH = {"warmup": 10, "min_runs": 100, "min_seconds": 0.1, "max_eval_sequences": 300, "shifts": False}


@dataclass(frozen=True)
class StudyDesign:
    """Every setting that shapes a study's numbers (``to_dict`` goes into study.json and the report)."""

    datasets: tuple[str, ...] = DEFAULT_DATASETS
    models: tuple[str, ...] = DEFAULT_MODELS
    budgets: tuple[int, ...] = DEFAULT_BUDGETS       # active parameters (masked synapses excluded)
    seeds: int = 5                                   # final runs per (dataset, model, budget, arm)
    arms: tuple[str, ...] = ARMS
    aug_budgets: tuple[int, ...] = (1000,)           # budgets the time-aug arm runs at (empty: all)
    # datasets the time-aug arm runs on (empty: all). Default: the regularly sampled ones, whose
    # training data never shows dropped samples or another rate; irregular-sine's already does.
    aug_datasets: tuple[str, ...] = ("italypowerdemand", "japanesevowels", "basicmotions")
    # tuning (edgelnn.study.search): ``trials`` learning rates over 1e-4..1e-1 x batch_factors x the
    # dataset's batch, tune_seeds seeds each, at every budget (tune_budget None), the same for every
    # model; a best rate on the grid's edge extends the grid by one step, up to max_extensions times
    trials: int = 4
    tune_budget: int | None = None                   # None: tune at every budget; else tune there and reuse
    tune_seed: int = 0                               # the first tuning seed
    tune_seeds: int = 2
    # validation (edgelnn.study.validation): each run validates on one of 5 disjoint folds (its seed
    # picks it); a dataset whose fold holds fewer items than this is tuned over more folds (0: never)
    min_val_items: int = 50
    batch_factors: tuple[float, ...] = (0.5, 1.0)
    max_extensions: int = 2
    retries: int = 2                                 # retries of a flagged final run (edgelnn.train.recipe)
    # later stages (edgelnn.study.stages): rungs the budget ladder may grow by (x4 each) on a dataset
    # whose best model still improves at the top budget (0: never), and the re-tuning of a cell
    # whose validation score falls with capacity
    extra_budgets: int = 1
    capacity_retry: bool = True
    max_epochs: int = 150
    patience: int = 20
    batch_sizes: dict = field(default_factory=lambda: dict(BATCH_SIZES))
    # Cells whose final run is estimated (edgelnn.study.costs) to cost more CPU seconds than this
    # are deferred -- listed in the report with their estimate, not run (None: run everything).
    # 250: every CfC, CfC-NCP and RNN cell runs with the mini-batch recipe (75, the former cap, deferred
    # CfC and CfC-NCP on irregular-sine -- the cells the review is about); LTC beyond it until a faster
    # LTC cell brings its runs under the cap
    max_run_seconds: float | None = 250.0
    export: bool = True                              # export + bench the chosen point of each cell
    # datasets whose chosen points are exported and benchmarked (empty: all). Default: one -- weight,
    # state and MAC counts and latency depend on the model and its input width, not on the data.
    export_datasets: tuple[str, ...] = ("italypowerdemand",)
    formats: tuple[str, ...] = ("onnx", "tflite")
    graphs: tuple[str, ...] = ("step",)
    schemes: tuple[str, ...] = ("fp32", "int8-dynamic")
    bench: dict = field(default_factory=lambda: dict(BENCH))
    quick: bool = False                              # a first look: no verdicts beyond what it carries

    def __post_init__(self):
        for name in ("datasets", "models", "budgets", "arms", "aug_budgets", "aug_datasets", "export_datasets",
                     "formats", "graphs", "schemes", "batch_factors"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "budgets", tuple(int(b) for b in self.budgets))
        object.__setattr__(self, "aug_budgets", tuple(int(b) for b in self.aug_budgets))
        if not self.datasets or not self.models or not self.budgets or not self.arms:
            raise InputError("a study needs at least one dataset, model, budget and arm")
        for name in ("datasets", "models", "budgets", "arms"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise InputError(f"--{name} lists a value twice: {', '.join(map(str, values))}")
        bad = [a for a in self.arms if a not in ARMS]
        if bad:
            raise InputError(f"unknown arm {bad[0]!r}; known: {', '.join(ARMS)}")
        if min(self.budgets) < 10:
            raise InputError(f"a parameter budget must be >= 10, got {min(self.budgets)}")
        if self.seeds < 1 or self.trials < 1 or self.max_epochs < 1 or self.patience < 1 or self.tune_seeds < 1:
            raise InputError("--seeds, --trials, --tune-seeds, --max-epochs and --patience must be >= 1")
        if self.max_extensions < 0 or self.retries < 0 or self.min_val_items < 0 or self.extra_budgets < 0:
            raise InputError("--max-extensions, --retries, --min-val-items and --extra-budgets must be >= 0")
        if not self.batch_factors or min(self.batch_factors) <= 0:
            raise InputError("--batch-factors must be positive numbers")
        if self.tune_budget is not None and self.tune_budget not in self.budgets:
            object.__setattr__(self, "tune_budget", _middle(self.budgets))
        if any(d not in self.datasets for d in self.aug_datasets):
            object.__setattr__(self, "aug_datasets", tuple(d for d in self.aug_datasets if d in self.datasets))
        if any(d not in self.datasets for d in self.export_datasets):
            object.__setattr__(self, "export_datasets", tuple(d for d in self.export_datasets if d in self.datasets))
        if any(b not in self.budgets for b in self.aug_budgets):
            object.__setattr__(self, "aug_budgets", tuple(b for b in self.aug_budgets if b in self.budgets)
                               or (_middle(self.budgets),))

    # -- what runs -------------------------------------------------------------------------
    def batch_size(self, dataset: str) -> int:
        """The dataset's batch size: the design's, else the training recipe's for its training split."""
        if dataset in self.batch_sizes:
            return int(self.batch_sizes[dataset])
        from ..train.recipe import default_batch_size
        from .costs import data_shape

        return default_batch_size(data_shape(dataset).n_train)

    def tuning_seeds(self, dataset: str | None = None) -> range:
        """The seeds (= validation folds) each tuning setting runs at: ``tune_seeds``, more on a
        dataset whose folds are small (edgelnn.study.validation.tuning_folds)."""
        n = self.tune_seeds
        if dataset is not None:
            from .validation import tuning_folds

            n = tuning_folds(dataset, self.tune_seeds, self.trials, self.min_val_items)
        return range(self.tune_seed, self.tune_seed + n)

    def tuning_budgets(self) -> tuple[int, ...]:
        """Budgets tuning runs at: one (reused for the others) or every budget."""
        return (self.tune_budget,) if self.tune_budget is not None else self.budgets

    def tuned_at(self, budget: int) -> int:
        """The budget whose tuning result a final run at ``budget`` uses."""
        return self.tune_budget if self.tune_budget is not None else budget

    def arm_budgets(self, arm: str, dataset: str) -> tuple[int, ...]:
        """Budgets ``arm`` runs at on ``dataset`` (the plain arm: all)."""
        if arm == "plain":
            return self.budgets
        if self.aug_datasets and dataset not in self.aug_datasets:
            return ()
        return self.budgets if not self.aug_budgets else tuple(b for b in self.budgets if b in self.aug_budgets)

    def check_names(self) -> None:
        """Unknown dataset or model names fail here, before anything is written."""
        from ..data import get_info
        from ..models import get_kind

        for d in self.datasets:
            get_info(d)
        for m in self.models:
            get_kind(m)

    # -- serialisation ---------------------------------------------------------------------
    def replace(self, **changes) -> "StudyDesign":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "StudyDesign":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _middle(budgets) -> int:
    ordered = sorted(budgets)
    return ordered[(len(ordered) - 1) // 2]


def default_design() -> StudyDesign:
    """`edgelnn study` with no options (docs/study-design.md: why these sizes). Where a C compiler
    is installed the C backend joins the export (fp32 and int8-weight): its flash / RAM / stack
    per microcontroller answer the memory question for the deployed model, not a runtime."""
    from ..runtime.c.toolchain import find_cc

    if find_cc() is None:
        return StudyDesign()
    return StudyDesign(formats=("onnx", "tflite", "c"), schemes=("fp32", "int8-dynamic", "int8-weight"))


def quick_design() -> StudyDesign:
    """`edgelnn study --quick`: a first look in <= 5 minutes -- two datasets (one irregularly
    sampled), two budgets, two seeds, no search (one setting: the training recipe's rate and batch,
    one tuning seed), 15 epochs, the plain arm, ONNX only; cells over 20 CPU s a run deferred.
    No verdicts."""
    return StudyDesign(datasets=("italypowerdemand", "irregular-sine"), budgets=(250, 1000), seeds=2,
                       arms=("plain",), aug_budgets=(), aug_datasets=(), trials=1, tune_budget=250,
                       tune_seeds=1, max_extensions=0, retries=1, extra_budgets=0, capacity_retry=False,
                       max_epochs=15, patience=5, max_run_seconds=20.0, formats=("onnx",),
                       # irregular-sine at the recipe's batch of 32 puts CfC-NCP over the 20 s cap
                       batch_sizes={"irregular-sine": 128},
                       schemes=("fp32", "int8-dynamic"), bench={**BENCH, "max_eval_sequences": 100}, quick=True)


def fingerprint(*parts) -> str:
    """Stable short hash of JSON-able parts: a job is redone when its inputs change."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
