"""``edgelnn import``: a recurrent model trained elsewhere -> a checked, self-contained checkpoint."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
from .data_options import FEATURES, LABEL, SEQ_ID, TARGET, TASK, TEST, TIME, VAL
from .output import Col, JsonOption, console, print_json, show, table
from .paths import check_output_file
from .train_cmd import _is_checkpoint


@app.command("import")
def import_(
    factory: str = typer.Argument(..., metavar="FILE.py:FUNCTION",
                                  help="your Python file and the function in it that returns the trained recurrent "
                                       "module, or a (module, head) pair (head: torch layers or a module of "
                                       "your own class that torch.fx can trace)"),
    data: Path = typer.Option(..., "--data", help="your data: .npz (x, y, t or dt, lengths) or a long .csv "
                                                  "(seq_id, t, features, label or target)"),
    out: Path = typer.Option(..., "--out", "-o", help="checkpoint to write, e.g. runs/mine.pt"),
    label: Optional[str] = LABEL, target: Optional[str] = TARGET, features: Optional[str] = FEATURES,
    time: str = TIME, seq_id: str = SEQ_ID, task: Optional[str] = TASK,
    seed: int = typer.Option(0, min=0, help="seed of the train/val/test split"),
    val_fraction: float = VAL, test_fraction: float = TEST,
    normalise: bool = typer.Option(False, "--normalise/--no-normalise",
                                   help="normalise inputs with the train split's statistics (default: no, the "
                                        "module was trained on the data as it is in the file)"),
    as_json: bool = JsonOption,
):
    """Import a model trained elsewhere (ncps CfC/LTC, torch.nn LSTM/GRU/RNN) with your data.

    The imported model is compared with your module (its own forward, your data and timestamps)
    before anything is written; the checkpoint carries the data export needs."""
    from ..importer import import_model, load_factory

    check_output_file(out, "--out", keep_if=_is_checkpoint, kind="an edgelnn checkpoint")
    obj = load_factory(factory)
    _, result = import_model(obj, data, task=task, out=out, label=label, target=target, features=features,
                             time_col=time, seq_id=seq_id, seed=seed, val_fraction=val_fraction,
                             test_fraction=test_fraction, normalise=normalise, origin=factory)
    if as_json:
        print_json(result.to_dict())
        return
    t = table(f"imported {result.module} from {factory}", [Col("key", ident=True), "value"], show_header=False)
    rows = [("module", result.module), ("inputs / outputs", f"{result.input_size} / {result.output_size}"),
            ("state", f"{result.state_size} floats"), ("params", str(result.params)),
            ("dt", "used (ncps timespans)" if result.dt_input == "used" else
             "ignored: the module has no time input (the manifest says so)"),
            ("vs your module", f"max error {result.max_abs:.2g} ({result.rel:.2g} relative) over "
                               f"{result.sequences} sequences; {result.how}"),
            (f"test {result.metric}", "" if result.test_metric is None else f"{result.test_metric:.4f}")]
    for key, value in rows:
        t.add_row(key, value)
    show(t)
    console.print(f"checkpoint: {out}  ({result.seconds:.1f}s); next: edgelnn export {out}", highlight=False,
                  soft_wrap=True)
