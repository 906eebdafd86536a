"""``import_model``: the user's module (or (module, head)) + data -> a checked edgelnn checkpoint."""
from __future__ import annotations

import copy
import importlib.util
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import metrics
from ..errors import InputError, ShapeError
from .describe import UnsupportedModuleError, describe_head, describe_rnn, output_size
from .verify import Agreement, check


@dataclass
class ImportResult:
    checkpoint: str
    module: str                # the user's module type, e.g. ncps.CfC
    input_size: int
    output_size: int
    state_size: int
    params: int
    dt_input: str              # "used" (ncps: timespans) or "ignored" (torch.nn: no time input)
    max_abs: float             # against the user's module
    rel: float
    sequences: int
    how: str
    metric: str
    test_metric: float | None
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


class FactoryError(InputError):
    """FILE.py:FUNCTION cannot be loaded or called."""


def load_factory(spec: str):
    """Run the user's ``path/to/file.py:function`` and return what it returns (their own code:
    nothing is unpickled)."""
    path, sep, func = str(spec).rpartition(":")
    if not sep or not path or not func.isidentifier():
        raise FactoryError(f"expected FILE.py:FUNCTION (a Python file and the function in it that returns your "
                           f"trained module), got {spec!r}")
    file = Path(path)
    if not file.is_file() or file.suffix != ".py":
        raise FactoryError(f"{file}: no such Python file; give FILE.py:FUNCTION")
    name = f"edgelnn_user_factory_{abs(hash(str(file.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(file.resolve().parent))     # the file may import its neighbours
    try:
        module_spec.loader.exec_module(module)
        fn = getattr(module, func, None)
        if not callable(fn):
            have = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                          and getattr(v, "__module__", None) == name)
            raise FactoryError(f"{file} has no function {func!r} (functions there: {', '.join(have) or 'none'})")
        return fn()
    except FactoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code: report it in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise FactoryError(f"{spec} raised {type(exc).__name__}: {first[:200]}; fix the factory so that it "
                           "returns your trained module (or (module, head))") from None
    finally:
        sys.path.remove(str(file.resolve().parent))


def _unpack(obj):
    if isinstance(obj, tuple) and len(obj) == 2:
        rnn, head = obj
    elif isinstance(obj, nn.Module):
        rnn, head = obj, None
    else:
        raise UnsupportedModuleError(f"the factory returned {type(obj).__name__}; return the trained recurrent "
                                     "module, or a (module, head) pair")
    if not isinstance(rnn, nn.Module) or not (head is None or isinstance(head, nn.Module)):
        raise UnsupportedModuleError(f"expected (nn.Module, nn.Module or None), got ({type(rnn).__name__}, "
                                     f"{type(head).__name__})")
    return rnn, head


def _dataset(data, input_size, task, data_options):
    from ..data.types import Dataset
    from ..data.userdata import load_dataset

    if isinstance(data, Dataset):
        if data.input_size != input_size:
            raise ShapeError(f"the data has {data.input_size} feature(s); the module takes {input_size}")
        return data, {"source": data.name}
    return load_dataset(data, task=task, input_size=input_size, **data_options)


def import_model(module_or_pair, data, *, task: str | None = None, out=None, label: str | None = None,
                 target: str | None = None, features=None, time_col: str = "t", seq_id: str = "seq_id",
                 seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2, normalise: bool = False,
                 label_names: list[str] | None = None, origin: str = "python"):
    """Import a trained recurrent module with its data; returns (SequenceModel, ImportResult).

    ``module_or_pair``: an ncps CfC/LTC/CfCCell/WiredCfCCell/LTCCell, a torch.nn LSTM/GRU/RNN or an
    edgelnn SequenceModel, or a (module, head) pair (head: Linear, a Sequential of known layers, or
    a module of the user's own class that torch.fx traces into known ops; applied to every step's
    output). ``data``: a .npz/.csv path (or a Dataset). The module is put
    in eval mode. Its outputs on the data are compared with the imported model's before anything
    is written (ImportMismatchError beyond 1e-5 relative). ``normalise`` False (default): the data
    reaches the model as in the file (the module was trained on raw data). ``out``: write the
    checkpoint there (with the data subsets export needs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)     # small cells: on a busy machine two threads spin-wait on each other (see export)
    try:
        return _import(module_or_pair, data, task, out, label, target, features, time_col, seq_id, seed,
                       val_fraction, test_fraction, normalise, label_names, origin)
    finally:
        torch.set_num_threads(threads)


def _import(module_or_pair, data, task, out, label, target, features, time_col, seq_id, seed, val_fraction,
            test_fraction, normalise, label_names, origin):
    from ..models.sequence import SequenceModel

    start = time.perf_counter()
    rnn, head = _unpack(module_or_pair)
    data_options = {"label": label, "target": target, "features": features, "time": time_col, "seq_id": seq_id,
                    "seed": seed, "val_fraction": val_fraction, "test_fraction": test_fraction,
                    "normalise_inputs": normalise}
    if isinstance(rnn, SequenceModel):
        return _import_zoo(rnn, head, data, task, out, data_options, start, origin)
    rnn.eval()
    if head is not None:
        head.eval()
    structure = describe_rnn(rnn)
    structure["head"] = describe_head(head)
    in_size = int(structure["args"]["input_size"])
    ds, provenance = _dataset(data, in_size, task, data_options)
    out_size = output_size(structure, rnn, head)
    names = _labels(ds, out_size, label_names)
    from ..models.imported import TIME_AWARE, ImportedStep

    dt_input = "used" if structure["type"] in TIME_AWARE else "ignored"
    cell_probe = ImportedStep(in_size, out_size, 1, structure)
    config = {"kind": "imported", "input_size": in_size, "output_size": out_size,
              "units": int(cell_probe.state_spec[0][1]), "options": {"structure": structure}, "task": ds.task,
              "label_names": names, "dataset": ds.name, "seed": int(seed), "norm_mean": list(ds.norm_mean),
              "norm_std": list(ds.norm_std), "dt_input": dt_input,
              "imported": {"module": structure["type"], "from": origin,
                           "state": [[n, s] for n, s in cell_probe.parts],
                           "dt": ("the module's time input (ncps timespans): dt as given" if dt_input == "used" else
                                  "the module has no time input: dt is accepted and ignored by every exported "
                                  "graph")}}
    model = SequenceModel(config)
    _copy_weights(model.cell.rnn, rnn, "module")
    if head is not None:
        _copy_weights(model.cell.head, head, "head", used_only=structure["head"]["type"] == "Graph")
    model.eval()
    split = ds.val if len(ds.val) else ds.test
    agreement = check(model, rnn, head, structure, split)
    return _finish(model, ds, provenance, agreement, structure["type"], dt_input, out, seed, start)


def _labels(ds, out_size: int, given) -> list[str]:
    if ds.task == "regression":
        if ds.output_size != out_size:
            raise ShapeError(f"the model gives {out_size} output(s) per step; the data has {ds.output_size} "
                             "target(s): pick the target column(s) that match, or the head that gives them")
        return []
    names = list(given) if given else list(ds.label_names)
    if len(names) > out_size:
        raise ShapeError(f"the data has {len(names)} classes ({', '.join(names[:8])}); the model gives {out_size} "
                         "output(s) per step: import the head that scores every class")
    return names + [str(i) for i in range(len(names), out_size)]


def _copy_weights(dst: nn.Module, src: nn.Module, what: str, used_only: bool = False) -> None:
    """``used_only``: a traced head keeps only what its forward reads (a layer it never calls is left out)."""
    keep = dst.state_dict().keys() if used_only else None
    state = {k: v.detach().to(torch.float32).clone() for k, v in src.state_dict().items() if keep is None or k in keep}
    try:
        dst.load_state_dict(state)
    except RuntimeError as exc:
        raise UnsupportedModuleError(f"the {what}'s weights do not fit its rebuilt structure "
                                     f"({str(exc).splitlines()[0][:160]}); it may be a modified subclass") from None


def _finish(model, ds, provenance, agreement: Agreement, module: str, dt_input: str, out, seed, start):
    from ..data.stored import attach
    from ..train.loop import predict_steps

    metric = metrics.metric_name(ds.task)
    test = None
    if len(ds.test):
        test = metrics.score_outputs(predict_steps(model, ds.test), ds.test.lengths, ds.test.y, ds.task,
                                     ds.target_std)
    model.metrics = {"metric": metric, "test": test, "import_max_abs": agreement.max_abs,
                     "import_rel": agreement.rel}
    attach(model, ds, provenance, seed)
    if out is not None:
        model.save(out)
    result = ImportResult(str(out) if out else "", module, model.input_size, model.output_size,
                          model.state_spec[0][1] if model.state_spec else 0, model.param_count(), dt_input,
                          agreement.max_abs, agreement.rel, agreement.sequences, agreement.how, metric, test,
                          round(time.perf_counter() - start, 3))
    return model, result


def _import_zoo(model, head, data, task, out, data_options, start, origin):
    """An edgelnn model brought with new data: its own forward is the reference."""
    if head is not None:
        raise UnsupportedModuleError("an edgelnn model has its own head; import it without a second one")
    model = copy.deepcopy(model).eval()
    ds, provenance = _dataset(data, model.input_size, task or model.config.get("task"), data_options)
    model.config.update(dataset=ds.name, norm_mean=list(ds.norm_mean), norm_std=list(ds.norm_std), task=ds.task,
                        label_names=_labels(ds, model.output_size, model.config.get("label_names") or None))
    with torch.no_grad():
        split = ds.val if len(ds.val) else ds.test
        n = min(32, len(split))
        y = model(torch.from_numpy(split.x[:n]), torch.from_numpy(split.dt[:n])).numpy()
    agreement = Agreement(0.0, 0.0, n, int(split.lengths[:n].sum()), "the model's own forward")
    if not np.isfinite(y).all():
        raise InputError("the model gives NaN or infinite outputs on this data")
    return _finish(model, ds, provenance, agreement, f"edgelnn.{model.kind}", "used", out,
                   int(data_options["seed"]), start)
