"""The device side prints one JSON document between two marker lines on stdout; this reads it.

Anything else on stdout (a runtime's banner, warnings) is ignored. A document with
``"ok": false`` carries the device's one-line error and its kind.
"""
from __future__ import annotations

import json

from .errors import RemoteError
from .probe import BEGIN, END


def find_document(stdout: str) -> dict | None:
    """The last marked JSON document in ``stdout``, or None."""
    if BEGIN not in stdout:
        return None
    body = stdout.rsplit(BEGIN, 1)[1].split(END, 1)[0].strip()
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def parse_result(stdout: str, stderr: str, returncode: int, where: str) -> dict:
    """The device's document; RemoteError when there is none or it says it failed."""
    doc = find_document(stdout)
    if doc is None:
        why = last_line(stderr) or last_line(stdout) or "no output"
        raise RemoteError(f"{where}: the device runner exited {returncode} without a result: {why}")
    if not doc.get("ok"):
        raise RemoteError(f"{where}: {doc.get('error') or 'failed'}")
    return doc
