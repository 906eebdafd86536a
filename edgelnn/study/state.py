"""The study's state file (``study.json``): the design, every finished job with the fingerprint of
its inputs, where it ran and what it cost, and one entry per invocation.

A job is resumed (skipped) only when the state records it with the same fingerprint *and* its
outputs still exist. The file is rewritten atomically after every job, so an interrupted or
killed study loses at most the jobs that were running. A damaged state file is an error that
names the file and how to start afresh -- never silently discarded (it records hours of work).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path

from ..errors import InputError
from ..files import json_loads

STATE_FILE = "study.json"
SCHEMA = "edgelnn-study"
SCHEMA_VERSION = 2
TMP_MARK = ".tmp"  # every temporary file or folder the engine writes has this in its name


class StudyStateError(InputError):
    """study.json cannot be read; the message says how to start afresh."""


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class StudyState:
    def __init__(self, folder: Path, data: dict | None = None):
        self.folder = Path(folder)
        self.path = self.folder / STATE_FILE
        self.data: dict = data or {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "design": {},
                                   "jobs": {}, "invocations": []}

    @classmethod
    def read(cls, folder: str | Path) -> "StudyState":
        """The state of ``folder`` (a fresh one when there is no study.json); StudyStateError when
        the file is damaged or from another tool."""
        folder = Path(folder)
        path = folder / STATE_FILE
        if not path.exists():
            return cls(folder)
        fresh = f"move it away or rerun with --fresh to start the study afresh (finished jobs are then redone)"
        try:
            data = json_loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StudyStateError(f"{path} is damaged ({_short(exc)}); {fresh}") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise StudyStateError(f"{path} is not an edgelnn study state file; {fresh}")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise StudyStateError(f"{path} is from an older edgelnn study (state schema "
                                  f"{data.get('schema_version')!r}, this edgelnn reads {SCHEMA_VERSION}); {fresh}")
        if not isinstance(data.get("jobs"), dict) or not isinstance(data.get("invocations", []), list):
            raise StudyStateError(f"{path} is damaged (no job table); {fresh}")
        data.setdefault("invocations", [])
        return cls(folder, data)

    # -- jobs --------------------------------------------------------------------------------
    def done(self, key: str, fp: str, outputs: list[str]) -> bool:
        job = self.data["jobs"].get(key)
        return (bool(job) and job.get("fingerprint") == fp
                and all((self.folder / rel).exists() for rel in outputs))

    def record(self, key: str, fp: str, outputs: list[str], **info) -> None:
        self.data["jobs"][key] = {"fingerprint": fp, "outputs": list(outputs), "finished": now(), **info}
        self.save()

    def job(self, key: str) -> dict | None:
        return self.data["jobs"].get(key)

    # -- the rest ------------------------------------------------------------------------------
    def set(self, name: str, value) -> None:
        self.data[name] = value
        self.save()

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + TMP_MARK)
        tmp.write_text(json.dumps(self.data, indent=1, default=str), encoding="utf-8")
        os.replace(tmp, self.path)


def clear_stale(folder: Path) -> list[Path]:
    """Remove temporary files and folders a killed or interrupted run left (their names hold
    ``.tmp``); returns what was removed."""
    removed = []
    if not Path(folder).is_dir():
        return removed
    for path in sorted(Path(folder).rglob(f"*{TMP_MARK}*"), key=lambda p: -len(p.parts)):
        if TMP_MARK not in path.name or not path.exists():
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
