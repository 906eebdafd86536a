"""``edgelnn train``, ``edgelnn models``, ``edgelnn datasets``, ``edgelnn info``, ``edgelnn predict``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError
from .app import app
from .data_options import FEATURES, LABEL, SEQ_ID, TARGET, TASK, TEST, TIME
from .output import Col, JsonOption, console, print_json, progress_console, show, table
from .paths import check_output_file


def _parse_options(pairs: list[str]) -> dict:
    """``--option mode=pure`` -> {"mode": "pure"}; numbers become numbers."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option expects KEY=VALUE, got {pair!r}")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        options[key.strip()] = value
    return options


def _is_checkpoint(path: Path) -> bool:
    """A file that starts like a torch zip checkpoint holding our format marker."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head != b"PK\x03\x04":
            return False
        import zipfile

        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/data.pkl") for n in z.namelist())
    except (OSError, ValueError, Exception):  # noqa: BLE001 - a damaged zip is not ours
        return False


@app.command()
def train(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", "-m", help="model kind: see `edgelnn models`"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="a bundled dataset: see `edgelnn datasets`"),
    data: Optional[Path] = typer.Option(None, "--data", help="your data instead: .npz (x, y, t or dt, lengths) or a "
                                        "long .csv (seq_id, t, features, label or target)"),
    label: Optional[str] = LABEL, target: Optional[str] = TARGET, features: Optional[str] = FEATURES,
    time: str = TIME, seq_id: str = SEQ_ID, task: Optional[str] = TASK,
    test_fraction: float = TEST,
    normalise: bool = typer.Option(True, "--normalise/--no-normalise",
                                   help="--data: normalise inputs (and regression targets) with the train split's "
                                        "statistics, recorded in the checkpoint and the manifest"),
    units: int = typer.Option(32, min=1, max=65536, help="hidden units (neurons for NCP wirings; 1..65536)"),
    epochs: int = typer.Option(100, min=1, max=1_000_000, help="maximum epochs (early stopping on validation; "
                               "1..1000000)"),
    batch_size: Optional[int] = typer.Option(None, min=1, help="mini-batch size [default: the largest power "
                                             "of two giving >= 10 steps an epoch, within 8-64]"),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate (> 0) [default: per model kind, "
                                       "e.g. cfc 0.005, ltc 0.01, gru 0.01]"),
    patience: int = typer.Option(20, min=1, help="epochs without a lower validation loss before stopping"),
    retries: int = typer.Option(2, min=0, max=100, help="(0..100) retries of a run flagged as a training failure (best "
                                "epoch <= 3, constant output, divergence), each at the rate / sqrt(10)"),
    seed: int = typer.Option(0, min=0, help="seed for weights, validation split and batches"),
    threads: int = typer.Option(1, min=1, max=1024, help="torch threads (one is fastest for these small cells; 1..1024)"),
    option: list[str] = typer.Option([], "--option", help="model option KEY=VALUE, e.g. mode=pure (repeatable)"),
    augment: Optional[str] = typer.Option(None, help="training augmentation: 'time' = random drop / "
                                          "sampling-rate change of each batch (true dt kept)"),
    out: Path = typer.Option(..., "--out", "-o", help="checkpoint file to write, e.g. runs/cfc.pt"),
    as_json: bool = JsonOption,
):
    """Train a model on a bundled dataset or your own data (CPU) and write a checkpoint."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..data import get_info, load as load_dataset
    from ..models import get_kind
    from ..train import TrainConfig, train as run_training
    from ..train.augment import get_augment

    get_kind(model)  # fail on an unknown name before loading anything
    if (dataset is None) == (data is None):
        import click

        raise click.UsageError("Missing option '--dataset' / '-d' (a bundled set) or '--data' (your .npz or "
                               ".csv): give one of them" if dataset is None else
                               "give --dataset or --data, not both", ctx=ctx)
    if dataset is not None:
        get_info(dataset)
    get_augment(augment)
    config = TrainConfig(model=model, dataset=dataset or Path(data).name, units=units, epochs=epochs,
                         batch_size=batch_size, lr=lr, seed=seed, patience=patience, threads=threads,
                         options=_parse_options(option), augment=augment, retries=retries)
    check_output_file(out, "--out", keep_if=_is_checkpoint, kind="an edgelnn checkpoint")
    record = None
    if data is not None:
        from ..data.userdata import load_dataset as load_user_data

        ds, record = load_user_data(data, task=task, label=label, target=target, features=features, time=time,
                                    seq_id=seq_id, seed=seed, val_fraction=config.val_fraction,
                                    test_fraction=test_fraction, normalise_inputs=normalise)
    else:
        ds = load_dataset(dataset, seed=seed)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                  TimeElapsedColumn(), console=progress_console(as_json), transient=as_json) as bar:
        bar_task = bar.add_task(f"train {model} on {ds.name}", total=epochs, status="")

        def progress(epoch, total, loss, val):
            bar.update(bar_task, completed=epoch, status=f"epoch {epoch} loss {loss:.4f} val {val:.4f}")

        trained, result = run_training(config, None if record else out, progress=progress, dataset=ds)
    if record is not None:    # the checkpoint carries the data export needs (no registry entry)
        from ..data.stored import attach

        attach(trained, ds, record, seed)
        trained.save(out)
        result.checkpoint = str(out)
    if as_json:
        print_json(result.to_dict())
        return
    from ..train import recipe

    unit = "" if result.metric == "accuracy" else " (original units)"
    if result.per_step:
        unit += " over every valid step"
    colour = "red" if result.failed else "green"
    console.print(f"[{colour}]test {result.metric}{unit}: {result.test_metric:.4f}[/]  "
                  f"val {result.metric}: {result.val_metric:.4f}  "
                  + (f"train {result.metric}: {result.train_metric:.4f}  " if result.train_metric is not None else "")
                  + f"params: {result.params_active} active / {result.params} total  "
                  f"best epoch: {result.best_epoch}/{result.epochs_run}  lr: {result.lr:g}  "
                  f"batch: {result.batch_size}  time: {result.seconds:.1f}s"
                  + (f"  peak memory: {result.peak_mb:.1f} MB" if result.peak_mb is not None else ""))
    for k, attempt in enumerate(result.attempts if len(result.attempts) > 1 else []):
        if attempt["failure"]:
            console.print(f"[yellow]run {k + 1} of {len(result.attempts)} at lr {attempt['lr']:g} flagged: "
                          f"{recipe.describe(attempt['failure'])}[/]")
    if result.failed:
        console.print(f"[bold red]TRAINING FAILURE: {recipe.describe(result.failure)} -- this model is not "
                      "a result; try another --lr or --batch-size[/]")
    console.print(f"checkpoint: {out}", highlight=False, soft_wrap=True)


@app.command()
def models(as_json: bool = JsonOption):
    """List the model kinds of the zoo."""
    from ..models import MODELS, create

    rows = []
    for name, kind in MODELS.items():
        model = create(name, 6, 4, units=32)
        rows.append({"name": name, "family": kind.family,
                     "params_32_units_6_in_4_out": model.param_count(),
                     "params_active_32_units_6_in_4_out": model.active_param_count(),
                     "description": kind.description, "options": dict(kind.defaults)})
    if as_json:
        print_json(rows)
        return
    t = table("models (params at 32 units, 6 in, 4 out; active = masked synapses excluded)",
              [Col("name", ident=True), Col("family", ident=True), Col("active params", justify="right"),
               Col("total params", justify="right"), "description", "options"])
    for r in rows:
        t.add_row(r["name"], r["family"], str(r["params_active_32_units_6_in_4_out"]),
                  str(r["params_32_units_6_in_4_out"]), r["description"],
                  ", ".join(f"{k}={v}" for k, v in r["options"].items()))
    show(t)


@app.command()
def datasets(as_json: bool = JsonOption):
    """List the datasets shipped with edgelnn (all offline)."""
    from ..data import DATASETS

    rows = [{"name": name, "task": info.task, "channels": info.input_size,
             "outputs": info.output_size, "train": info.n_train, "test": info.n_test,
             "min_length": info.min_length, "max_length": info.max_length,
             "description": info.description, "source": info.source}
            for name, info in DATASETS.items()]
    if as_json:
        print_json(rows)
        return
    t = table("datasets (train includes the validation part)",
              [Col("name", ident=True), Col("task", ident=True), Col("channels", justify="right"),
               Col("classes/outputs", justify="right"), Col("train", justify="right"),
               Col("test", justify="right"), Col("length", ident=True), "description"])
    for r in rows:
        length = (str(r["min_length"]) if r["min_length"] == r["max_length"]
                  else f"{r['min_length']}–{r['max_length']}")
        t.add_row(r["name"], r["task"], str(r["channels"]), str(r["outputs"]), str(r["train"]),
                  str(r["test"]), length, r["description"].split(";")[0].split(". ")[0])
    show(t)


@app.command()
def info(checkpoint: Path = typer.Argument(..., help="a checkpoint written by `edgelnn train`"),
         as_json: bool = JsonOption):
    """Show what a checkpoint holds: kind, sizes, options, dataset, metrics."""
    from ..models import load

    model = load(checkpoint)
    cfg = model.config
    data = {key: cfg.get(key) for key in ("kind", "input_size", "output_size", "units", "options",
                                          "task", "dataset", "label_names", "seed")}
    if cfg.get("kind") == "imported" and not as_json:   # the structure holds whole wiring matrices
        imp = cfg.get("imported", {})
        data["options"] = f"{imp.get('module')} from {imp.get('from')}; dt {cfg.get('dt_input')}"
    data.update(params=model.param_count(), params_active=model.active_param_count(),
                state=[{"name": n, "size": s} for n, s in model.state_spec],
                metrics=dict(model.metrics))
    if as_json:
        print_json({"checkpoint": str(checkpoint), **data})
        return
    t = table(str(checkpoint), [Col("key", ident=True), "value"], show_header=False)
    for key in ("kind", "input_size", "output_size", "units", "options", "task", "dataset",
                "label_names", "seed"):
        t.add_row(key, str(data[key]))
    t.add_row("params (active)", str(data["params_active"]))
    t.add_row("params (total)", str(data["params"]))
    t.add_row("state", ", ".join(f"{s['name']}[{s['size']}]" for s in data["state"]))
    for key, value in model.metrics.items():
        t.add_row(f"metric: {key}", f"{value:.4f}" if isinstance(value, float) else str(value))
    show(t)


def _read_samples(path: Path):
    """A (T, C) array of raw samples from .npy, .csv or .json (list of rows)."""
    import json

    import numpy as np

    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".csv":
            arr = np.loadtxt(path, delimiter=",", ndmin=2)
        elif path.suffix == ".json":
            arr = json.loads(path.read_text())
        else:
            raise InputError(f"{path}: unknown input format {path.suffix!r}; use .npy, .csv or .json")
        arr = np.asarray(arr, dtype=np.float32)
    except InputError:
        raise
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a table of numbers ({str(exc).splitlines()[0][:120]})") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InputError(f"{path}: expected samples as (time, channels), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{path} contains NaN or infinite values")
    return arr


@app.command()
def predict(
    checkpoint: Path = typer.Argument(..., help="a checkpoint written by `edgelnn train` or `edgelnn import`"),
    input: Path = typer.Option(..., "--input", "-i", help="raw samples: .npy / .json (time, channels), a .csv "
                                                          "(with a header: its time column gives dt, its seq_id "
                                                          "column several sequences) or .npz (x, t or dt, lengths)"),
    dt: float = typer.Option(1.0, help="elapsed time between samples where the input has no timestamps "
                                       "(finite, > 0)"),
    normalised: bool = typer.Option(False, help="input is already normalised"),
    features: Optional[str] = FEATURES, time: str = TIME, seq_id: str = SEQ_ID,
    as_json: bool = JsonOption,
):
    """Stream sequences of raw samples through a checkpoint, step by step (PyTorch reference)."""
    import numpy as np
    import torch

    from .. import checks
    from ..errors import NumericError
    from ..models import load

    checks.positive_number(dt, "--dt")
    model = load(checkpoint)
    seqs = _predict_inputs(model, checkpoint, input, dt, normalised, features, time, seq_id)
    results = []
    for name, x, dts in seqs:
        state = model.initial_state(1)
        with torch.no_grad():
            for row, d in zip(x, dts):
                y, state = model.step(torch.from_numpy(np.ascontiguousarray(row[None])), float(d), state)
        y = y[0].numpy()
        if not np.isfinite(y).all():
            raise NumericError(f"the model's output is NaN or infinite after {len(x)} steps: "
                               f"the weights in {checkpoint} (or the input scale) are broken")
        out = {"sequence": name, "steps": len(x), "task": model.config["task"], "outputs": y.tolist()}
        if model.config["task"] == "classification":
            labels = model.config["label_names"] or [str(i) for i in range(len(y))]
            probs = np.exp(y - y.max()) / np.exp(y - y.max()).sum()
            best = int(np.argmax(y))
            out.update(label=labels[best], probability=float(probs[best]))
        else:
            data = model.config.get("data") or {}
            if data:
                out["outputs_original_units"] = (y * data.get("target_std", 1.0) + data.get("target_mean", 0.0)).tolist()
        results.append(out)
    if as_json:
        print_json(results[0] if len(results) == 1 and results[0]["sequence"] is None else results)
        return
    for out in results:
        head = f"prediction after {out['steps']} steps" + (f" of {out['sequence']}" if out["sequence"] else "")
        if "label" in out:
            console.print(f"{head}: [bold]{out['label']}[/] (p={out['probability']:.3f})")
        elif "outputs_original_units" in out:
            console.print(f"{head}: {out['outputs_original_units']}")
        else:
            console.print(f"{head}: {out['outputs']} (normalised units)")


def _has_header(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    for field in first.strip().split(","):
        try:
            float(field)
        except ValueError:
            return True
    return False


def _our_header(path: Path, model, time: str, seq_id: str) -> bool:
    """A header that names the time or sequence column, or the model's recorded features."""
    if not _has_header(path):
        return False
    from ..data.userdata import DataFileError, _header

    try:
        cols = _header(path)
    except DataFileError:
        return False
    recorded = ((model.config.get("data") or {}).get("provenance") or {}).get("features") or []
    return time in cols or seq_id in cols or (bool(recorded) and all(f in cols for f in recorded))


def _predict_inputs(model, checkpoint, path: Path, dt, normalised, features, time, seq_id):
    """[(sequence name or None, x (T, C) normalised, dt (T,))] from the input file."""
    import numpy as np

    from ..errors import ShapeError

    if path.suffix.lower() == ".npz" or (path.suffix.lower() == ".csv" and path.is_file() and
                                         _our_header(path, model, time, seq_id)):
        from ..data.userdata import _header, for_model

        cfg = model.config
        C = model.input_size
        mean, std = ([0.0] * C, [1.0] * C) if normalised else (cfg["norm_mean"], cfg["norm_std"])
        options = {}
        if path.suffix.lower() == ".csv":
            cols = _header(path)
            recorded = ((cfg.get("data") or {}).get("provenance") or {}).get("features")
            feats = features or (",".join(recorded) if recorded and all(f in cols for f in recorded) else None)
            options = {"features": feats, "time": time if time in cols else None,
                       "seq_id": seq_id if seq_id in cols else None}
        split, seqs = for_model(path, norm_mean=mean, norm_std=std, task=cfg["task"],
                                label_names=cfg.get("label_names") or [], need_targets=False,
                                nominal_dt=(cfg.get("data") or {}).get("nominal_dt"), **options)
        timed = path.suffix.lower() == ".npz" or options.get("time") is not None
        many = len(split.lengths) > 1 or options.get("seq_id") is not None
        return [(seqs.ids[i] if many else None, split.x[i, :L], split.dt[i, :L] if timed else np.full(L, dt))
                for i, L in enumerate(split.lengths)]
    samples = _read_samples(path)
    if samples.shape[1] != model.input_size:
        raise ShapeError(f"{path} has {samples.shape[1]} channels; the model in {checkpoint.name} "
                         f"expects {model.input_size}")
    if not normalised:
        samples = (samples - np.asarray(model.config["norm_mean"], np.float32)) / \
            np.asarray(model.config["norm_std"], np.float32)
    return [(None, samples, np.full(len(samples), dt))]
