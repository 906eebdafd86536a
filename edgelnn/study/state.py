"""The study's state file (``study.json``): which steps finished, with which inputs.

A step is resumed (skipped) only when the state records it with the same fingerprint *and* its
output still exists; the file is rewritten atomically after every step.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

STATE_FILE = "study.json"


class StudyState:
    def __init__(self, folder: Path):
        self.path = Path(folder) / STATE_FILE
        self.data: dict = {"schema": "edgelnn-study", "schema_version": 1, "steps": {}}
        if self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text())
                if isinstance(loaded, dict) and isinstance(loaded.get("steps"), dict):
                    self.data = loaded
            except json.JSONDecodeError:
                pass  # a damaged state only costs a redo

    def done(self, key: str, fp: str, output: Path) -> bool:
        step = self.data["steps"].get(key)
        return bool(step) and step.get("fingerprint") == fp and Path(output).exists()

    def record(self, key: str, fp: str, output: Path, seconds: float, **info) -> None:
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.data["steps"][key] = {"fingerprint": fp, "output": str(output), "seconds": round(seconds, 2),
                                   "finished": now, **info}
        self.save()

    def set(self, name: str, value) -> None:
        self.data[name] = value
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        os.replace(tmp, self.path)
