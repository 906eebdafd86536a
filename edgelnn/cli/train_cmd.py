"""``edgelnn train``, ``edgelnn models``, ``edgelnn datasets``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .app import app, console


def _parse_options(pairs: list[str]) -> dict:
    """``--option mode=pure`` -> {"mode": "pure"}; numbers become numbers."""
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        options[key] = value
    return options


def _check_writable(out: Path) -> None:
    """Refuse an unwritable --out before minutes of training, not after."""
    import tempfile

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=".edgelnn-write-test"):
            pass
    except OSError as exc:
        raise OSError(f"cannot write the checkpoint to {out} ({exc.strerror or exc})") from None


@app.command()
def train(
    model: str = typer.Option(..., "--model", "-m", help="model kind: see `edgelnn models`"),
    dataset: str = typer.Option(..., "--dataset", "-d", help="dataset: see `edgelnn datasets`"),
    units: int = typer.Option(32, help="hidden units (neurons for NCP wirings)"),
    epochs: int = typer.Option(50, help="maximum epochs (early stopping on validation)"),
    batch_size: int = typer.Option(16, help="mini-batch size"),
    lr: float = typer.Option(0.01, help="Adam learning rate"),
    patience: int = typer.Option(10, help="epochs without a lower validation loss before stopping"),
    seed: int = typer.Option(0, help="seed for weights, validation split and batches"),
    threads: int = typer.Option(1, help="torch threads (one is fastest for these small cells)"),
    option: list[str] = typer.Option([], "--option", "-o", help="model option KEY=VALUE, e.g. mode=pure"),
    augment: Optional[str] = typer.Option(None, help="training augmentation: 'time' = random drop / "
                                          "sampling-rate change of each batch (true dt kept)"),
    out: Path = typer.Option(..., "--out", help="checkpoint file to write, e.g. runs/cfc.pt"),
):
    """Train a model on a dataset (CPU) and write a checkpoint."""
    from ..data import load as load_dataset
    from ..models import get_kind
    from ..train import TrainConfig, train as run_training
    from ..train.augment import get_augment

    get_kind(model)  # fail on an unknown name before loading anything
    get_augment(augment)
    _check_writable(out)
    ds = load_dataset(dataset, seed=seed)
    config = TrainConfig(model=model, dataset=dataset, units=units, epochs=epochs,
                         batch_size=batch_size, lr=lr, seed=seed, patience=patience, threads=threads,
                         options=_parse_options(option), augment=augment)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task(f"train {model} on {dataset}", total=epochs, status="")

        def progress(epoch, total, loss, val):
            bar.update(task, completed=epoch, status=f"epoch {epoch} loss {loss:.4f} val {val:.4f}")

        _, result = run_training(config, out, progress=progress, dataset=ds)
    unit = "" if result.metric == "accuracy" else " (original units)"
    console.print(f"[green]test {result.metric}{unit}: {result.test_metric:.4f}[/]  "
                  f"params: {result.params_active} active / {result.params} total  "
                  f"best epoch: {result.best_epoch}/{result.epochs_run}  time: {result.seconds:.1f}s"
                  + (f"  peak memory: {result.peak_mb:.1f} MB" if result.peak_mb is not None else ""))
    console.print(f"checkpoint: {out}")


@app.command()
def models():
    """List the model kinds of the zoo."""
    from ..models import MODELS, create

    table = Table(title="models (params at 32 units, 6 in, 4 out; active = masked synapses excluded)")
    for col in ("name", "family", "active params", "total params", "description", "options"):
        table.add_column(col)
    for name, kind in MODELS.items():
        model = create(name, 6, 4, units=32)
        opts = ", ".join(f"{k}={v}" for k, v in kind.defaults.items())
        table.add_row(name, kind.family, str(model.active_param_count()), str(model.param_count()),
                      kind.description, opts)
    console.print(table)


@app.command()
def datasets():
    """List the datasets shipped with edgelnn (all offline)."""
    from ..data import DATASETS

    table = Table(title="datasets (train includes the validation part)")
    for col in ("name", "task", "channels", "classes/outputs", "train", "test", "length", "description"):
        table.add_column(col)
    for name, info in DATASETS.items():
        table.add_row(*[str(v) for v in _dataset_row(name, info)])
    console.print(table)


def _dataset_row(name, info):
    length = (str(info.min_length) if info.min_length == info.max_length
              else f"{info.min_length}–{info.max_length}")
    short = info.description.split(";")[0].split(". ")[0]
    return (name, info.task, info.input_size, info.output_size, info.n_train, info.n_test, length,
            short if len(short) <= 60 else short[:57] + "...")


@app.command()
def info(checkpoint: Path = typer.Argument(..., help="a checkpoint written by `edgelnn train`")):
    """Show what a checkpoint holds: kind, sizes, options, dataset, metrics."""
    from ..models import load

    model = load(checkpoint)
    table = Table(title=str(checkpoint), show_header=False)
    cfg = model.config
    for key in ("kind", "input_size", "output_size", "units", "options", "task", "dataset",
                "label_names", "seed"):
        table.add_row(key, str(cfg.get(key)))
    table.add_row("params (active)", str(model.active_param_count()))
    table.add_row("params (total)", str(model.param_count()))
    table.add_row("state", ", ".join(f"{n}[{s}]" for n, s in model.state_spec))
    for key, value in model.metrics.items():
        table.add_row(f"metric: {key}", f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def _read_samples(path: Path):
    """A (T, C) array of raw samples from .npy, .csv or .json (list of rows)."""
    import json

    import numpy as np

    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    elif path.suffix == ".csv":
        arr = np.loadtxt(path, delimiter=",", ndmin=2)
    else:
        arr = np.asarray(json.loads(path.read_text()), dtype=np.float32)
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if not np.isfinite(arr).all():
        raise ValueError(f"{path} contains NaN or infinite values")
    return arr


@app.command()
def predict(
    checkpoint: Path = typer.Argument(..., help="a checkpoint written by `edgelnn train`"),
    input: Path = typer.Option(..., "--input", "-i", help="raw samples, (time, channels): .npy, .csv or .json"),
    dt: float = typer.Option(1.0, help="elapsed time between samples"),
    normalised: bool = typer.Option(False, help="input is already normalised"),
):
    """Stream a sequence of raw samples through a checkpoint, step by step (PyTorch reference)."""
    import numpy as np
    import torch

    from ..models import load

    model = load(checkpoint)
    samples = _read_samples(input)
    if not normalised:
        samples = (samples - np.asarray(model.config["norm_mean"], np.float32)[: samples.shape[1]]) / \
            np.asarray(model.config["norm_std"], np.float32)[: samples.shape[1]]
    state = model.initial_state(1)
    with torch.no_grad():
        for row in samples:
            y, state = model.step(torch.from_numpy(np.ascontiguousarray(row[None])), dt, state)
    y = y[0].numpy()
    if model.config["task"] == "classification":
        labels = model.config["label_names"] or [str(i) for i in range(len(y))]
        probs = np.exp(y - y.max()) / np.exp(y - y.max()).sum()
        best = int(np.argmax(y))
        console.print(f"prediction after {len(samples)} steps: [bold]{labels[best]}[/] (p={probs[best]:.3f})")
    else:
        console.print(f"prediction after {len(samples)} steps: {y.tolist()} (normalised units)")
