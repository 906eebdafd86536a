"""Writing files so that nothing a user had is lost: whole files by rename, JSON lines whole.

Standard library only (the device runner may carry it).
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from .errors import OutputError


MAX_JSON_DEPTH = 64      # objects and lists inside each other in one document we read


class JSONNestingError(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH (never an edgelnn file)."""


def json_loads(text: str | bytes):
    """``json.loads`` with bounded nesting: deeper than MAX_JSON_DEPTH (or than the parser's
    recursion limit) is a JSONNestingError (a ValueError), not a RecursionError."""
    try:
        obj = json.loads(text)
    except RecursionError:
        raise JSONNestingError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise JSONNestingError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            stack += [(v, depth + 1) for v in (value.values() if isinstance(value, dict) else value)]
    return obj


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file next to ``path`` and rename it into place: readers
    never see half a file, and an error or Ctrl-C leaves the old file as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def jsonl_problem(path: str | Path, accept=None) -> str | None:
    """Why an existing file is not a JSON-lines file we may append to (None: it is one, or it is
    empty). ``accept(obj)`` may refuse objects that are JSON but not ours (returns a reason)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not data.strip():
        return None
    if not data.endswith(b"\n"):
        return "ends with an incomplete line (a write that was cut off?)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not text (not UTF-8)"
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json_loads(line)
        except JSONNestingError as exc:
            return f"line {lineno} is {exc}"
        except ValueError:
            return f"line {lineno} is not JSON"
        if not isinstance(obj, dict):
            return f"line {lineno} is not a JSON object"
        if accept is not None:
            why = accept(obj)
            if why:
                return f"line {lineno} {why}"
    return None


def append_jsonl(path: str | Path, objects: list[dict]) -> int:
    """Append one JSON object per line; each line is written whole or not at all.

    A write that fails part-way (disk full, file size limit) is undone by truncating the file
    back to the end of the last whole line, then :class:`OutputError` says how many rows were
    written. Returns the number of rows written."""
    path = Path(path)
    lines = [(json.dumps(obj, allow_nan=False) + "\n").encode("utf-8") for obj in objects]
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    written = 0
    try:
        for line in lines:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(line)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
            except OSError as exc:
                try:
                    os.ftruncate(fd, start)
                except OSError:
                    pass
                why = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file size limit was reached",
                       errno.EDQUOT: "the disk quota is exceeded"}.get(exc.errno, exc.strerror or str(exc))
                if not existed and written == 0:       # nothing of ours in it: leave no empty file
                    try:
                        path.unlink()
                    except OSError:
                        pass
                raise OutputError(f"{path}: {why}; {written} of {len(lines)} row(s) appended, each "
                                  "whole (the file holds no partial line)") from None
            written += 1
        os.fsync(fd)
    finally:
        os.close(fd)
    return written
