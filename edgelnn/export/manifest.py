"""manifest.json, golden.npz and eval.npz (layout: export/README.md, schema_version 1)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import metrics
from ..schema import BUNDLE_SCHEMA as SCHEMA  # noqa: F401 - one declaration, edgelnn/schema.py
from ..schema import BUNDLE_SCHEMA_VERSION as SCHEMA_VERSION  # noqa: F401
from ..schema import CALIBRATION, EVAL, GOLDEN, MANIFEST  # noqa: F401
from .specs import tensor_specs

# The shift variants stored in eval.npz: the dataset's standard suite, edgelnn.data.shift_suite.


from ..runtime.integrity import sha256_file as sha256  # noqa: E402,F401 - one hasher for export and devices


def edgelnn_version() -> str:
    try:
        from importlib.metadata import version
        return version("edgelnn")
    except Exception:  # noqa: BLE001 - running from a source tree
        return "0.1.0"


def dataset_info(ds) -> dict:
    return {"name": ds.name, "task": ds.task, "metric": metrics.metric_name(ds.task),
            "label_names": list(ds.label_names), "nominal_dt": float(ds.nominal_dt),
            "target_mean": float(ds.target_mean), "target_std": float(ds.target_std)}


def base_manifest(name: str, model, ds, reference_metric: float, chunk: int | None) -> dict:
    """Everything but artifacts: model config, dataset, normalisation, tensors, reference."""
    metric = metrics.metric_name(ds.task)
    tensors = {"step": tensor_specs(model, "step"), "seq": tensor_specs(model, "seq")}
    if chunk:
        tensors["seq_window"] = {**tensor_specs(model, "seq", dynamic=False, chunk=chunk), "chunk": chunk}
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "name": name,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "edgelnn_version": edgelnn_version(),
        "model": {**model.config, "params": model.param_count(), "params_active": model.active_param_count()},
        "dataset": dataset_info(ds),
        "normalisation": {"mean": list(model.config["norm_mean"]), "std": list(model.config["norm_std"])},
        "reference": {"metric": metric, "test": _f(reference_metric)},
        "tensors": tensors,
        "artifacts": [], "rejected": [], "unsupported": [],
    }


def _f(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def write_golden(path, x, dt, lengths, outputs) -> None:
    np.savez_compressed(path, x=x.astype(np.float32), dt=dt.astype(np.float32),
                        lengths=lengths.astype(np.int64), y=outputs.astype(np.float32))


def write_eval(path, test, variants: list[tuple[str, str, float, object]]) -> None:
    """``test`` split plus (key, shift, level, split) variants -> eval.npz."""
    arrays = {"test_x": test.x.astype(np.float32), "test_dt": test.dt.astype(np.float32),
              "test_lengths": test.lengths.astype(np.int64), "test_y": test.y}
    for key, _, _, split in variants:
        arrays.update({f"{key}_x": split.x.astype(np.float32), f"{key}_dt": split.dt.astype(np.float32),
                       f"{key}_lengths": split.lengths.astype(np.int64)})
    np.savez_compressed(path, **arrays)


def write(folder: Path, manifest: dict) -> Path:
    path = Path(folder) / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, allow_nan=False) + "\n")
    return path


def read(folder) -> dict:
    """The manifest of a bundle folder (BundleError when it is not one): the device's reader."""
    from ..runtime.bundle import read_manifest

    return read_manifest(folder)
