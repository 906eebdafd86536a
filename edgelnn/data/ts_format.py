"""Minimal reader for the UEA/UCR ``.ts`` format, so the bundled archives load with numpy alone."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def read_ts(path: str | Path) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Return (series, labels, class_labels): one (C, T_i) float64 array per case.

    Variable-length cases keep their true length; padding is the caller's job.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    meta: dict[str, str] = {}
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    with opener(path, "rt", encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or (not in_data and line.startswith("#")):
                continue
            if not in_data:
                key, _, value = line.partition(" ")
                if key.lower() == "@data":
                    in_data = True
                elif key.startswith("@"):
                    meta[key[1:].lower()] = value.strip()
                continue
            *dims, label = line.split(":")
            arr = np.array([[float(v) for v in d.replace("?", "nan").split(",")] for d in dims])
            series.append(arr)
            labels.append(label.strip())
    if meta.get("timestamps", "false").lower() == "true":
        raise ValueError(f"{path.name}: timestamped .ts files are not supported")
    cls = meta.get("classlabel", "false").split()
    class_labels = cls[1:] if cls and cls[0].lower() == "true" else []
    if meta.get("equallength", "true").lower() == "true" and len({s.shape for s in series}) > 1:
        raise ValueError(f"{path.name}: @equalLength true but cases differ in shape")
    if len({s.shape[0] for s in series}) > 1:
        raise ValueError(f"{path.name}: cases differ in number of dimensions")
    if class_labels and not set(labels) <= set(class_labels):
        raise ValueError(f"{path.name}: labels outside @classLabel: {set(labels) - set(class_labels)}")
    return series, labels, class_labels
