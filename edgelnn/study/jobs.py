"""The study's jobs, as functions a worker runs: train (a tuning trial or a final run), export,
bench. Each takes a JSON-able spec (plus input files as bytes) and returns a payload of
``{"record": ..., "files": {relative path: bytes}, "worker": ..., "cpu_seconds": ...}``: results
travel back through the Dask client into the study folder, so no shared file system is needed.

A job's result depends only on its spec: the seed fixes the data split, the initial weights, the
batch order and the augmentation draws, and training uses one torch thread -- the same bytes
whether it ran in-process, on a local cluster or on a remote worker with the same CPU.
"""
from __future__ import annotations

import os
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from . import records as rec


# -- where am I ---------------------------------------------------------------------------------
def where() -> str:
    """The Dask worker's address when running on one, else ``in-process@host``."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"in-process@{socket.gethostname()}"


@contextmanager
def scratch():
    """A temporary folder: under the Dask worker's local directory when on a worker (removed with
    the worker even if it is killed mid-job), else under the system temp folder."""
    base = None
    try:
        from distributed import get_worker

        base = get_worker().local_directory
    except (ImportError, ValueError):
        pass
    with tempfile.TemporaryDirectory(prefix="edgelnn-job-", dir=base) as tmp:
        yield Path(tmp)


def _payload(record, files: dict, start_cpu: float, start_wall: float, **extra) -> dict:
    return {"record": rec.to_dict(record) if record is not None else None, "files": files,
            "worker": where(), "pid": os.getpid(), "cpu_seconds": round(time.process_time() - start_cpu, 3),
            "seconds": round(time.perf_counter() - start_wall, 3), **extra}


# -- train ----------------------------------------------------------------------------------------
def _config(spec: dict):
    from ..train import TrainConfig

    return TrainConfig(model=spec["model"], dataset=spec["dataset"], units=spec["units"],
                       epochs=spec["max_epochs"], batch_size=spec["batch_size"], lr=spec["lr"],
                       seed=spec["seed"], patience=spec["patience"], options=dict(spec["options"]),
                       augment="time" if spec["arm"] == "time-aug" else None, retries=spec.get("retries", 0))


def run_train(spec: dict) -> dict:
    """A tuning trial (scored on validation only) or a final run (plus test and the shift suite,
    per item; its checkpoint comes back as bytes)."""
    import torch

    from ..data import load
    from ..errors import NumericError
    from ..train import train

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    torch.set_num_threads(1)
    ds = load(spec["dataset"], seed=spec["seed"], folds=spec.get("val_folds"))  # edgelnn.study.validation
    with scratch() as tmp:
        ckpt = tmp / Path(spec["checkpoint"]).name if spec["type"] == "final" else None  # same name: same bytes
        try:
            outcome = train(_config(spec), ckpt, dataset=ds)
        except NumericError as exc:
            outcome = exc
        return _train_payload(spec, ds, outcome, ckpt, start_cpu, start_wall)


def run_train_stack(specs: list[dict]) -> dict:
    """Several tuning trials, or final runs, that differ only in seed and rate, trained stacked
    (edgelnn.train.stacked: each member equals its own ``run_train``); ``{"members": [payload, ...]}``
    in the order of ``specs``, a member whose run failed as ``{"error": message}``. Each record says
    ``stacked`` = len(specs): its seconds are its share of the stack's, its peak memory the stack's."""
    import torch

    from ..data import load
    from ..train.stacked import train_many

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    torch.set_num_threads(1)
    datasets = {s["seed"]: load(s["dataset"], seed=s["seed"], folds=s.get("val_folds")) for s in specs}
    outcomes = train_many([_config(s) for s in specs], datasets, max_members=len(specs))
    share_cpu = (time.process_time() - start_cpu) / len(specs)
    members = []
    for spec, outcome in zip(specs, outcomes):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with scratch() as tmp:
            ckpt = tmp / Path(spec["checkpoint"]).name if spec["type"] == "final" else None
            if ckpt is not None and not isinstance(outcome, BaseException):
                outcome[0].save(ckpt)
                outcome[1].checkpoint = str(ckpt)
            try:
                members.append(_train_payload(spec, datasets[spec["seed"]], outcome, ckpt,
                                              cpu0 - share_cpu, wall0 - outcome[1].seconds
                                              if not isinstance(outcome, BaseException) else wall0,
                                              stacked=len(specs)))
            except Exception as exc:  # noqa: BLE001 -- the member's failure, reported as its own job's
                members.append({"error": f"{type(exc).__name__}: {exc}"})
    return {"members": members, "worker": where(), "pid": os.getpid(),
            "cpu_seconds": round(time.process_time() - start_cpu, 3),
            "seconds": round(time.perf_counter() - start_wall, 3)}


def _train_payload(spec: dict, ds, outcome, ckpt, start_cpu: float, start_wall: float, stacked: int = 1) -> dict:
    """The payload of one trained spec: ``outcome`` is ``loop.train``'s (model, result) or the
    NumericError it raised (a final run's is raised again: a failed job)."""
    from ..data import shifted_test
    from ..metrics import score_from_items
    from ..models import get_kind
    from ..train.loop import evaluate, item_scores

    final = spec["type"] == "final"
    files = {}
    hparams = {"lr": spec["lr"], **spec["search"], "options": dict(spec["options"]),
               "max_epochs": spec["max_epochs"], "patience": spec["patience"], "batch_size": spec["batch_size"]}
    if final and spec.get("retries"):
        hparams["retries"] = spec["retries"]
    if isinstance(outcome, BaseException):
        if final:
            raise outcome  # a final run that diverges is a failed job, reported as such
        # a trial that diverges is a result of the search: its settings are never chosen
        record = rec.TrialRecord(
            dataset=spec["dataset"], model=spec["model"], budget=spec["budget"], trial=spec["trial"],
            hparams=hparams, units=spec["units"], params_active=spec["params_active"], seed=spec["seed"],
            val_metric=float("nan"), val_loss=float("inf"), best_epoch=0, epochs_run=0,
            seconds=round(time.perf_counter() - start_wall, 3), worker=where(), diverged=True,
            extension=spec.get("extension", 0), training_failure=["diverged"], stacked=stacked,
            val_items=len(ds.val), retry=spec.get("retry", ""))
        return _payload(record, files, start_cpu, start_wall)
    model, result = outcome
    if final:
        files[spec["checkpoint"]] = ckpt.read_bytes()
    if not final:
        record = rec.TrialRecord(
            dataset=spec["dataset"], model=spec["model"], budget=spec["budget"], trial=spec["trial"],
            hparams=hparams, units=spec["units"], params_active=result.params_active, seed=spec["seed"],
            val_metric=float(result.val_metric), val_loss=float(result.val_loss), best_epoch=result.best_epoch,
            epochs_run=result.epochs_run, seconds=round(result.seconds, 3), worker=where(),
            extension=spec.get("extension", 0), training_failure=list(result.failure), stacked=stacked,
            val_items=len(ds.val), retry=spec.get("retry", ""))
        return _payload(record, files, start_cpu, start_wall)
    test = item_scores(model, ds.test, ds)
    shifts: dict[str, dict[str, rec.ShiftScore]] = {}
    for name, level in spec["shifts"]:
        items = item_scores(model, shifted_test(ds, name, level), ds)
        shifts.setdefault(name, {})[f"{level:g}"] = rec.ShiftScore(float(score_from_items(items, ds.task)),
                                                                  [float(v) for v in items])
    record = rec.RunRecord(
        dataset=spec["dataset"], model=spec["model"], family=get_kind(spec["model"]).family,
        budget=spec["budget"], arm=spec["arm"], seed=spec["seed"], units=spec["units"],
        params_active=result.params_active, params_total=result.params, hparams=hparams,
        metric=result.metric, val_metric=float(result.val_metric),
        test_metric=float(score_from_items(test, ds.task)), test_scores=[float(v) for v in test],
        shifts=shifts, best_epoch=result.best_epoch, epochs_run=result.epochs_run,
        train_seconds=round(result.seconds, 3), train_peak_mb=result.peak_mb, worker=where(),
        checkpoint=spec["checkpoint"], training_failure=list(result.failure), attempts=list(result.attempts),
        stacked=stacked, val_items=len(ds.val), retry=spec.get("retry", ""),
        train_metric=float(result.train_metric if result.train_metric is not None else evaluate(model, ds.train, ds)))
    return _payload(record, files, start_cpu, start_wall)


# -- export and bench -------------------------------------------------------------------------------
def _read_tree(root: Path, rel: str) -> dict[str, bytes]:
    return {f"{rel}/{p.relative_to(root).as_posix()}": p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _write_tree(files: dict[str, bytes], rel: str, root: Path) -> None:
    for name, blob in files.items():
        path = root / Path(name).relative_to(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)


def run_export(spec: dict, checkpoint: bytes) -> dict:
    """Export the chosen point's checkpoint (every artifact through the parity gate)."""
    from ..export import export_bundle

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    with scratch() as tmp:
        ckpt = tmp / Path(spec["checkpoint"]).name
        ckpt.write_bytes(checkpoint)
        bundle = tmp / "bundle"
        report = export_bundle(ckpt, bundle, formats=list(spec["formats"]), schemes=list(spec["schemes"]),
                               graphs=list(spec["graphs"]), name=spec["name"])
        files = _read_tree(bundle, spec["bundle"])
    return _payload(None, files, start_cpu, start_wall, artifacts=len(report.passed),
                    not_passed=len(report.results) - len(report.passed) - len(report.by_status("unsupported")))


def run_bench(spec: dict, bundle: dict[str, bytes]) -> dict:
    """Bench one bundle on this machine (the engine runs these one at a time, after training)."""
    from ..bench import BenchSettings, append_rows, bench_bundle

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    with scratch() as tmp:
        root = tmp / Path(spec["bundle"]).name
        _write_tree(bundle, spec["bundle"], root)
        rows = bench_bundle(root, target="host", settings=BenchSettings(**spec["bench"]), on_target=True)
        out = tmp / "rows.jsonl"
        append_rows(out, rows)
        files = {spec["results"]: out.read_bytes()}
    return _payload(None, files, start_cpu, start_wall, rows=len(rows),
                    passed=sum(r["status"] == "passed" for r in rows))


def worker_facts() -> dict:
    """What a worker runs (checked against the client before a study uses it)."""
    import platform

    from .. import __version__ as edgelnn_version

    facts = {"edgelnn": edgelnn_version, "python": platform.python_version(), "host": socket.gethostname()}
    try:
        import torch

        facts["torch"] = torch.__version__
    except ImportError:
        facts["torch"] = None
    return facts
