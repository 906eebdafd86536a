"""Checkpoints: config + state dict, loadable with ``torch.load(weights_only=True)``.

Each checkpoint carries a sha256 of its config and tensors (``checksum``): a file whose bytes
were flipped or edited is refused instead of loading wrong weights. Checkpoints written before
the checksum existed load with a warning.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from pathlib import Path

import torch

from ..errors import EdgeLNNError, OutputError

FORMAT = "edgelnn-checkpoint"
SCHEMA_VERSION = 1


class CheckpointError(EdgeLNNError, ValueError):
    """The file is not an edgelnn checkpoint this version can read, or it was changed."""


def checksum(config: dict, state_dict: dict) -> str:
    """sha256 over the config (canonical JSON) and every tensor's name, dtype, shape and bytes."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"\0{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save(model, path) -> None:
    """Write atomically: a temporary file in the same folder, then a rename (an interrupted
    save leaves the previous checkpoint as it was and no temporary file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "config": model.config,
               "metrics": getattr(model, "metrics", {}), "state_dict": state,
               "checksum": {"algorithm": "sha256", "value": checksum(model.config, state)}}
    stored = getattr(model, "stored_data", None)
    if stored:  # the data export needs (edgelnn.data.stored); its sha256 is in config["data"]
        payload["data"] = {k: torch.from_numpy(v) for k, v in stored.items()}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:   # torch reports a failed write (ENOSPC...) as RuntimeError
        raise OutputError(f"cannot write the checkpoint {path} ({_write_reason(exc, path)}); "
                          "nothing was written") from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _write_reason(exc: BaseException, path: Path) -> str:
    """What the OS said, also when torch wrapped it in a RuntimeError without the errno."""
    import shutil

    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    try:
        if shutil.disk_usage(path.parent).free < 1 << 20:
            return "No space left on device"
    except OSError:
        pass
    if not os.access(path.parent, os.W_OK):
        return "the folder is not writable"
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def _what_instead(payload) -> str:
    """A state dict or another framework's checkpoint: say how to bring it."""
    if isinstance(payload, dict) and payload and (
            all(isinstance(v, torch.Tensor) for v in payload.values())
            or any(isinstance(payload.get(k), dict) for k in ("state_dict", "model_state_dict", "model"))):
        return (" (it looks like a state_dict: weights without the module that uses them); rebuild your module "
                "in a file and bring it with `edgelnn import FILE.py:FUNCTION --data DATA --out CKPT.pt` (see "
                "README 'Your own model')")
    return "; a model trained elsewhere comes in with `edgelnn import FILE.py:FUNCTION --data DATA --out CKPT.pt`"


def load(path):
    from .sequence import SequenceModel

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        if isinstance(exc, pickle.UnpicklingError) and "Unsupported global" in str(exc):
            raise CheckpointError(f"{path} holds a pickled Python object (a whole module?), which edgelnn never "
                                  "loads; bring your model with `edgelnn import FILE.py:FUNCTION --data DATA --out "
                                  "CKPT.pt` (see README 'Your own model')") from None
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an edgelnn checkpoint{_what_instead(payload)}")
    if payload.get("schema_version") != SCHEMA_VERSION:
        raise CheckpointError(f"{path} has checkpoint schema {payload.get('schema_version')!r}; "
                              f"this edgelnn reads schema {SCHEMA_VERSION}")
    config, state = payload.get("config"), payload.get("state_dict")
    if not isinstance(config, dict) or not isinstance(state, dict) or \
            not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is damaged: no config or weights")
    stored = payload.get("checksum")
    if stored is None:
        warnings.warn(f"{path} has no checksum (written by an older edgelnn), so damaged weights "
                      "cannot be detected; load and save it again to add one", stacklevel=2)
    elif not isinstance(stored, dict) or stored.get("value") != checksum(config, state):
        raise CheckpointError(f"{path} was changed or damaged: its weights do not match the "
                              "checksum written with them; train or copy it again")
    try:
        model = SequenceModel(config)
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match its config ({str(exc).splitlines()[0]})") from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, EdgeLNNError):
            raise CheckpointError(f"{path}: {exc}") from None
        raise CheckpointError(f"{path} has a damaged config ({type(exc).__name__}: {exc})") from None
    model.metrics = dict(payload.get("metrics", {}))
    model.stored_data = None
    if isinstance(config.get("data"), dict):
        arrays = payload.get("data")
        if not isinstance(arrays, dict) or not all(isinstance(v, torch.Tensor) for v in arrays.values()):
            raise CheckpointError(f"{path} is damaged: its config names stored data but the data is missing")
        from ..data.stored import StoredDataError, unpack

        model.stored_data = {k: v.numpy() for k, v in arrays.items()}
        try:
            unpack(model.stored_data, config["data"], str(path))
        except StoredDataError as exc:
            raise CheckpointError(str(exc)) from None
    model.eval()
    return model
