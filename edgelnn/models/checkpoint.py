"""Checkpoints: config + state dict, loadable with ``torch.load(weights_only=True)``."""
from __future__ import annotations

from pathlib import Path

import torch

FORMAT = "edgelnn-checkpoint"
SCHEMA_VERSION = 1


class CheckpointError(ValueError):
    """The file is not an edgelnn checkpoint this version can read."""


def save(model, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "config": model.config,
               "metrics": getattr(model, "metrics", {}),
               "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load(path):
    from .sequence import SequenceModel

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an edgelnn checkpoint")
    if payload.get("schema_version") != SCHEMA_VERSION:
        raise CheckpointError(f"{path} has checkpoint schema {payload.get('schema_version')!r}; "
                              f"this edgelnn reads schema {SCHEMA_VERSION}")
    model = SequenceModel(payload["config"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match its config ({str(exc).splitlines()[0]})") from None
    model.metrics = dict(payload.get("metrics", {}))
    model.eval()
    return model
