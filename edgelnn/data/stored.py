"""The data a checkpoint carries so that ``edgelnn export CKPT`` needs no registry and no file:
seeded subsets of the normalised train / val / test splits (calibration, parity, golden and
evaluation data come from them), with a sha256 over every array. Per-step targets are kept as
they are: the task metric reads every valid step of them (edgelnn.metrics.scored).

``pack(ds)`` -> (arrays, record); ``unpack(arrays, config)`` -> Dataset. Torch-free.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ..errors import EdgeLNNError
from .types import Dataset, Split

# At most this many sequences of each split travel in the checkpoint (export uses up to 32
# calibration + 64 parity sequences; the test split gives the reference metric and eval.npz).
CAPS = {"train": 256, "val": 256, "test": 4096}
KEYS = ("x", "dt", "y", "lengths")


class StoredDataError(EdgeLNNError):
    """The data stored in a checkpoint is missing or does not match its sha256."""


def digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def pack(ds: Dataset, seed: int = 0) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays ``<split>_<x|dt|y|lengths>`` (seeded subsets where a split is over its cap) and the
    record to keep in the checkpoint's config: what is stored, of how many, and the sha256."""
    arrays, counts = {}, {}
    rng = np.random.default_rng(seed)
    for name in ("train", "val", "test"):
        split: Split = getattr(ds, name)
        n = len(split)
        idx = np.arange(n) if n <= CAPS[name] else np.sort(rng.permutation(n)[:CAPS[name]])
        sub = split.subset(idx)
        for key in KEYS:
            arrays[f"{name}_{key}"] = np.ascontiguousarray(getattr(sub, key))
        counts[name] = {"stored": int(len(idx)), "of": int(n)}
    per_step = ds.train.y.ndim == (2 if ds.task == "classification" else 3)
    record = {"name": ds.name, "task": ds.task, "per_step": bool(per_step), "input_size": ds.input_size, "output_size": ds.output_size,
              "label_names": list(ds.label_names), "norm_mean": list(ds.norm_mean), "norm_std": list(ds.norm_std),
              "target_mean": float(ds.target_mean), "target_std": float(ds.target_std),
              "nominal_dt": float(ds.nominal_dt), "description": ds.description, "source": ds.source,
              "stored": counts, "sha256": digest(arrays)}
    return arrays, record


def unpack(arrays: dict[str, np.ndarray], record: dict, where: str = "checkpoint") -> Dataset:
    """The Dataset a checkpoint carries (StoredDataError when an array is missing or changed)."""
    missing = [f"{s}_{k}" for s in ("train", "val", "test") for k in KEYS if f"{s}_{k}" not in arrays]
    if missing:
        raise StoredDataError(f"{where}: the stored data lacks {', '.join(missing)}; import or train it again")
    if digest(arrays) != record.get("sha256"):
        raise StoredDataError(f"{where}: the stored data does not match its sha256; the file was changed or "
                              "damaged: import or train it again")
    splits = {s: Split(*(arrays[f"{s}_{k}"] for k in KEYS)) for s in ("train", "val", "test")}
    return Dataset(name=record["name"], task=record["task"], input_size=int(record["input_size"]),
                   output_size=int(record["output_size"]), label_names=list(record["label_names"]),
                   train=splits["train"], val=splits["val"], test=splits["test"],
                   norm_mean=list(record["norm_mean"]), norm_std=list(record["norm_std"]),
                   target_mean=float(record["target_mean"]), target_std=float(record["target_std"]),
                   nominal_dt=float(record["nominal_dt"]), description=record.get("description", ""),
                   source=record.get("source", ""))


def attach(model, ds: Dataset, provenance: dict | None = None, seed: int = 0) -> None:
    """Make ``model`` carry ``ds`` (``model.save`` then writes it into the checkpoint): the arrays
    go to ``model.stored_data``, the record (and where the data came from) to config["data"]."""
    arrays, record = pack(ds, seed)
    if provenance:
        record["provenance"] = provenance
    model.stored_data = arrays
    model.config["data"] = record
