"""Checks of output paths, before any work: nothing a user owns is overwritten, and a path that
cannot be written fails in one line before minutes of training or exporting, not after."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import OutputError


def _writable_parent(path: Path, option: str) -> None:
    parent = path.absolute().parent
    existing = next((p for p in [parent, *parent.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise OutputError(f"{option} {path}: cannot write there ({existing} is a file, not a folder)")
    probe_dir = parent if parent.is_dir() else existing
    if probe_dir is None:
        return
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".edgelnn-write-test"):
            pass
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot write in {probe_dir} "
                          f"({exc.strerror or exc})") from None


def check_output_file(path: Path, option: str, *, keep_if: Callable[[Path], bool] | None = None,
                      kind: str = "") -> None:
    """``path`` may be written: it does not exist, or it is a file ``keep_if`` recognises as one
    of ours (``kind`` names what, for the message); its folder is writable."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise OutputError(f"{option} {path} exists and is not a regular file")
    if path.is_file() and keep_if is not None and not keep_if(path):
        raise OutputError(f"{option} {path} exists and is not {kind or 'a file edgelnn wrote'}; "
                          "it is left as it is: choose another name or remove it first")
    _writable_parent(path, option)
    if path.is_file() and not os.access(path, os.W_OK):
        raise OutputError(f"{option} {path} is not writable")


def check_output_folder(path: Path, option: str, *, ours: Callable[[Path], bool],
                        kind: str) -> None:
    """``path`` may be written as a folder: it does not exist, is empty, or ``ours`` recognises
    it as one edgelnn wrote (``kind``: "an export bundle", "a report folder")."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path} exists and is a file; give a folder")
    if path.is_dir() and any(path.iterdir()) and not ours(path):
        raise OutputError(f"{option} {path} exists, is not empty and is not {kind}; "
                          "choose another folder")
    _writable_parent(path / "x", option)
