"""Training: CPU, Adam, early stopping on validation, deterministic for a seed."""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .. import checks, interrupt
from .. import data as data_mod
from .. import metrics
from ..errors import InputError, NumericError
from ..models import create
from . import recipe
from .augment import augment_rng, get_augment
from .memory import PeakMemory

ProgressFn = Callable[[int, int, float, float], None]  # epoch, epochs, train_loss, val_metric


@dataclass
class TrainConfig:
    """One training run. ``batch_size`` and ``lr`` None: the recipe's (edgelnn.train.recipe) --
    derived from the training-set size and the kind."""

    model: str
    dataset: str
    units: int = 32
    epochs: int = recipe.DEFAULT_EPOCHS
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    patience: int = recipe.DEFAULT_PATIENCE
    options: dict = field(default_factory=dict)
    val_fraction: float = 0.2
    # Intra-op threads. These cells are tiny (batch 16, tens of units): one thread is fastest,
    # and OpenMP threads spinning against other work cost up to 30x (1.7 s vs 53.7 s measured).
    threads: int = 1
    # None, or a name of edgelnn.train.augment.AUGMENTS ("time": random drop / resample per batch)
    augment: str | None = None
    # retries of a run the failure rule flags (edgelnn.train.recipe.diagnose), each at a lower rate
    retries: int = 0

    def __post_init__(self):
        for name in ("units", "epochs", "patience", "threads"):
            checks.positive_int(getattr(self, name), name)
        if self.batch_size is not None:
            checks.positive_int(self.batch_size, "batch_size")
        if self.lr is not None:
            checks.positive_number(self.lr, "lr")
        checks.integer(self.seed, "seed", 0)
        checks.integer(self.retries, "retries", 0)
        frac = checks.number(self.val_fraction, "val_fraction", minimum=0.0)
        if frac >= 1.0:
            raise InputError(f"val_fraction must be < 1, got {frac}")
        get_augment(self.augment)  # an unknown name fails here, before any work

    def resolved(self, n_train: int) -> "TrainConfig":
        """This config with the recipe's batch size and rate filled in where they are None."""
        return dataclasses.replace(
            self, batch_size=self.batch_size or recipe.default_batch_size(n_train),
            lr=self.lr if self.lr is not None else recipe.default_lr(self.model))


@dataclass
class TrainResult:
    checkpoint: str
    model: str
    dataset: str
    units: int
    seed: int
    params: int
    metric: str
    test_metric: float
    val_metric: float
    best_epoch: int
    epochs_run: int
    seconds: float                      # wall time of training and test scoring (data loading excluded)
    params_active: int = 0              # masked synapses excluded (``params``: every trainable element)
    val_loss: float | None = None       # the best (early-stopping) validation loss
    peak_mb: float | None = None        # training peak memory above the process's (edgelnn.train.memory)
    augment: str | None = None
    history: list[dict] = field(default_factory=list)
    lr: float | None = None             # the rate the kept run trained with (after any retry)
    batch_size: int | None = None
    # training-failure codes of the kept run (edgelnn.train.recipe; empty: healthy)
    failure: list[str] = field(default_factory=list)
    # every run made: [{"lr", "failure", "val_metric", "val_loss", "best_epoch"}] (retries after the first)
    attempts: list[dict] = field(default_factory=list)
    # per-step targets: loss, early stopping and metric over every valid step (else each sequence's last)
    per_step: bool = False
    # the kept model on its own training split: low beside validation = under-fitting (None: not scored)
    train_metric: float | None = None

    @property
    def failed(self) -> bool:
        return bool(self.failure)

    def to_dict(self) -> dict:
        return asdict(self)


def _tensors(split):
    return (torch.from_numpy(split.x), torch.from_numpy(split.dt), torch.from_numpy(split.y),
            torch.from_numpy(split.lengths))


def _last(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return outputs[torch.arange(outputs.shape[0]), lengths - 1]


def _step_loss(loss_fn, outputs: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-step targets: the loss over every valid step of every sequence (padding masked out)."""
    valid = torch.arange(outputs.shape[1])[None, :] < lengths[:, None]
    return loss_fn(outputs[valid], y[:, :outputs.shape[1]][valid])


def predict_steps(model, split, batch_size: int = 256) -> np.ndarray:
    """Per-step outputs (N, T, O) of the PyTorch model from the zero state."""
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(split), batch_size):
            x = torch.from_numpy(split.x[i:i + batch_size])
            dt = torch.from_numpy(split.dt[i:i + batch_size])
            outs.append(model(x, dt).numpy())
    return np.concatenate(outs, axis=0)


def evaluate(model, split, dataset) -> float:
    """The task metric (accuracy, or RMSE in original units) of ``model`` on ``split``."""
    return metrics.score_outputs(predict_steps(model, split), split.lengths, split.y, dataset.task,
                                 dataset.target_std)


def item_scores(model, split, dataset) -> np.ndarray:
    """Per-item scores of ``model`` on ``split``, in split order: 1.0 / 0.0 correct, or squared
    error in original units (regression); ``metrics.score_from_items`` gives back the metric."""
    return metrics.item_scores_of_outputs(predict_steps(model, split), split.lengths, split.y, dataset.task,
                                          dataset.target_std)


def _val_loss(model, split, loss_fn) -> float:
    """Validation loss: a smooth early-stopping signal (accuracy on a small val set is coarse)."""
    last, y = metrics.scored(predict_steps(model, split), split.lengths, split.y,
                             "classification" if isinstance(loss_fn, nn.CrossEntropyLoss) else "regression")
    return float(loss_fn(torch.from_numpy(last), torch.from_numpy(np.ascontiguousarray(y))))


def _val_scores(model, ds, loss_fn) -> tuple[float, float]:
    """Validation metric and loss from one pass over the validation split (the same numbers as
    ``evaluate`` and ``_val_loss``, at half the cost: a study spends ~10 % of training on it)."""
    last, y = metrics.scored(predict_steps(model, ds.val), ds.val.lengths, ds.val.y, ds.task)
    metric = metrics.score(last, y, ds.task, ds.target_std)
    return metric, float(loss_fn(torch.from_numpy(last), torch.from_numpy(np.ascontiguousarray(y))))


def train(config: TrainConfig, out: str | Path | None = None, progress: ProgressFn | None = None,
          dataset=None):
    """Train one model; returns (model, TrainResult). Saves a checkpoint when ``out`` is given.

    A run the failure rule flags (edgelnn.train.recipe) is retried up to ``config.retries`` times,
    each at the next lower rate of ``recipe.retry_lrs``; the first healthy run is kept, else the
    flagged run with the lowest validation loss (its ``failure`` says why). A run whose loss
    diverges counts as flagged while retries remain; the last one raises NumericError."""
    get_augment(config.augment)  # an unknown name fails before any work
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, config.threads))
    try:
        ds = dataset or data_mod.load(config.dataset, seed=config.seed, val_fraction=config.val_fraction)
        if config.augment and metrics.per_step(ds.train.y, ds.task):
            raise InputError(f"--augment {config.augment} changes the steps of a sequence, so per-step targets "
                             "would no longer match them; train per-step targets without --augment")
        config = config.resolved(len(ds.train))
        _warm_up()
        _rehearse(config, ds)
        rates = [config.lr] + recipe.retry_lrs(config.lr, config.retries)
        kept, attempts = None, []
        with PeakMemory() as peak:  # the run itself: the data is loaded already
            for k, lr in enumerate(rates):
                try:
                    model, result = _train(dataclasses.replace(config, lr=lr), progress, ds)
                except NumericError:
                    if k == len(rates) - 1:
                        raise
                    attempts.append({"lr": lr, "failure": [recipe.DIVERGED], "val_metric": None,
                                     "val_loss": None, "best_epoch": 0})
                    continue
                attempts.append({"lr": lr, "failure": list(result.failure), "val_metric": result.val_metric,
                                 "val_loss": result.val_loss, "best_epoch": result.best_epoch})
                if kept is None or not result.failure or result.val_loss < kept[1].val_loss:
                    kept = (model, result)
                if not result.failure:
                    break
        model, result = kept
        result.attempts = attempts
        result.peak_mb = peak.mb
        result.checkpoint = str(out) if out else ""
        if out:
            model.save(out)
        return model, result
    finally:
        torch.set_num_threads(threads_before)


_warm = False


def _warm_up() -> None:
    """Train a 2-unit GRU for one epoch on 8 tiny sequences, once per process: torch's lazy
    one-time initialisation (~85 MB here) then stays out of every peak-memory figure. With it
    and ``_rehearse`` a process's first run reads 0.03-0.14 MB above its second here (13 fresh
    processes); with ``_rehearse`` alone 0.4-0.5 MB, with this alone 0.8 (edgelnn.train.memory)."""
    global _warm
    if _warm:
        return
    from ..data.prepare import RawData, build
    from ..data.synthetic import make_irregular_sine

    raw = RawData(make_irregular_sine(12, length=6, seed=0), make_irregular_sine(3, length=6, seed=1),
                  ["a", "b", "c"])
    ds = build(raw, name="warm-up", task="classification", seed=0, val_fraction=0.25)
    with torch.random.fork_rng(devices=[]):
        _train(TrainConfig("gru", "warm-up", units=2, epochs=1, batch_size=4, lr=0.01), None, ds)
    _warm = True


_rehearsed: set = set()


def _rehearse(config: TrainConfig, ds) -> None:
    """Run, once per process and model shape, every tensor shape the run will use -- a full and
    the last partial training batch (forward, backward, clipping, Adam) and the validation and
    test passes -- on a throwaway model. torch initialises itself lazily per kind and shape too
    (kernel and primitive caches: up to 1.2 MB here, 2.6 MB on another CPU); rehearsed, that
    stays out of the peak-memory figure, which then does not depend on the run's place in a
    worker's queue (edgelnn.train.memory)."""
    key = (config.model, config.units, ds.name, ds.input_size, ds.output_size, len(ds.train),
           len(ds.val), len(ds.test), config.batch_size, repr(sorted(config.options.items())))
    if key in _rehearsed:
        return
    with torch.random.fork_rng(devices=[]):
        model = _create(config, ds)
        loss_fn = _loss_fn(ds)
        per_step = metrics.per_step(ds.train.y, ds.task)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        tensors = _tensors(ds.train)
        n = len(ds.train)
        model.train()
        # the same lines as _train's batch step, on purpose: a shared helper measurably raised
        # the first run's peak (~0.15 MB in six fresh-process pairs), the figure this stabilises
        for size in sorted({min(config.batch_size, n), n % config.batch_size} - {0}):
            xb, dtb, yb, lb = _batch(tensors, torch.arange(size), None, None)
            loss = (_step_loss(loss_fn, model(xb, dtb), yb, lb) if per_step else
                    loss_fn(_last(model(xb, dtb), lb), yb))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), recipe.CLIP_NORM)
            opt.step()
            model.after_optimizer_step()
        _val_scores(model, ds, loss_fn)
        evaluate(model, ds.test, ds)
        copy.deepcopy(model.state_dict())
    _rehearsed.add(key)


def _create(config: TrainConfig, ds):
    return create(config.model, ds.input_size, ds.output_size, units=config.units, task=ds.task,
                  label_names=ds.label_names, norm_mean=ds.norm_mean, norm_std=ds.norm_std,
                  dataset=ds.name, seed=config.seed, **config.options)


def _loss_fn(ds):
    return nn.CrossEntropyLoss() if ds.task == "classification" else nn.MSELoss()


def _batch(split_tensors, idx, augment, rng):
    """The mini-batch ``idx`` as tensors, augmented when ``augment`` is set."""
    x, dt, y, lengths = split_tensors
    if augment is None:
        return x[idx], dt[idx], y[idx], lengths[idx]
    from ..data import Split

    i = idx.numpy()
    b = augment(Split(x.numpy()[i], dt.numpy()[i], y.numpy()[i], lengths.numpy()[i]), rng)
    return torch.from_numpy(b.x), torch.from_numpy(b.dt), torch.from_numpy(b.y), torch.from_numpy(b.lengths)


def _train(config: TrainConfig, progress, ds):
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    model = _create(config, ds)
    metric = metrics.metric_name(ds.task)
    loss_fn = _loss_fn(ds)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    # Cosine decay: with few samples (BasicMotions: 2 steps an epoch) a constant rate keeps
    # the loss oscillating late in training.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.epochs),
                                                          eta_min=config.lr * recipe.FINAL_LR_FRACTION)
    train_tensors = _tensors(ds.train)
    gen = torch.Generator().manual_seed(config.seed)
    augment, aug_rng = get_augment(config.augment), augment_rng(config.seed)
    per_step = metrics.per_step(ds.train.y, ds.task)   # targets at every step: loss over valid steps

    best_loss, best_val, best_state, best_epoch, bad_epochs, history = None, None, None, 0, 0, []
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(ds.train), generator=gen)
        total = 0.0
        for i in range(0, len(order), config.batch_size):
            interrupt.check()          # an interrupt Python dropped (e.g. during an import) still stops
            idx = order[i:i + config.batch_size]
            xb, dtb, yb, lb = _batch(train_tensors, idx, augment, aug_rng)
            if per_step:
                loss = _step_loss(loss_fn, model(xb, dtb), yb, lb)
            else:
                out_last = _last(model(xb, dtb), lb)
                loss = loss_fn(out_last, yb)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), recipe.CLIP_NORM)
            opt.step()
            model.after_optimizer_step()
            total += loss.item() * len(idx)
        schedule.step()
        train_loss = total / len(order)
        if not np.isfinite(train_loss):
            raise NumericError(f"training diverged: the loss is {train_loss} in epoch {epoch}; "
                               f"lower the learning rate (--lr, now {config.lr})")
        val, val_loss = _val_scores(model, ds, loss_fn)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                        f"val_{metric}": val})
        if progress:
            progress(epoch, config.epochs, train_loss, val)
        if best_loss is None or val_loss < best_loss:
            best_loss, best_val, best_epoch, bad_epochs = val_loss, val, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            if bad_epochs >= config.patience:
                break

    model.load_state_dict(best_state)
    model.eval()
    val_last = metrics.scored(predict_steps(model, ds.val), ds.val.lengths, ds.val.y, ds.task)[0] \
        if len(ds.val) else None
    failure = recipe.diagnose(best_epoch, len(history),
                              val_last is not None and recipe.constant_output(val_last, ds.task))
    test = evaluate(model, ds.test, ds)
    model.metrics = {"metric": metric, "test": test, "val": best_val, "best_epoch": best_epoch,
                     "augment": config.augment, "lr": config.lr, "batch_size": config.batch_size,
                     "training_failure": ", ".join(failure) or "none"}
    if per_step:
        model.metrics["scored_at"] = "every valid step"
    result = TrainResult(checkpoint="", model=config.model, dataset=ds.name,
                         units=config.units, seed=config.seed, params=model.param_count(),
                         metric=metric, test_metric=test, val_metric=best_val,
                         best_epoch=best_epoch, epochs_run=len(history),
                         seconds=time.perf_counter() - start, params_active=model.active_param_count(),
                         val_loss=best_loss, augment=config.augment, history=history,
                         lr=config.lr, batch_size=config.batch_size, failure=failure, per_step=per_step,
                         train_metric=evaluate(model, ds.train, ds))
    return model, result
