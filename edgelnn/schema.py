"""One declaration of the files edgelnn writes and reads back: the export bundle's manifest
(``export/README.md``) and the benchmark's result rows (README.md, "Result rows").

Torch-free and standard-library only: the exporter, the device runtime, the bench and the report
all import these names from here, and the device runner zipapp carries this module.

Also the containment rule for every file name read from one of these files: a plain name inside
its folder, checked before anything is opened.
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import BundleError, UnsafePathError

# -- export bundle -----------------------------------------------------------------------------
BUNDLE_SCHEMA = "edgelnn-bundle"
BUNDLE_SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
GOLDEN = "golden.npz"
EVAL = "eval.npz"
CALIBRATION = "calibration.npz"

# -- result rows -------------------------------------------------------------------------------
RESULT_SCHEMA = "edgelnn-result"
RESULT_SCHEMA_VERSION = 1
# status -> (group, label shown in reports)
STATUS_LABELS = {
    "passed": ("passed", "passed"),
    "golden_failed": ("exported-failed", "exported, failed golden check"),
    "rejected": ("exported-failed", "exported, failed parity check"),
    "failed": ("failed", "failed to run"),
    "unsupported": ("failed", "not exported (unsupported)"),
}
STATUSES = tuple(STATUS_LABELS)
# Fields a row must have to be read at all; of those, the ones that may not be null.
ROW_REQUIRED = ("schema", "schema_version", "bundle", "model", "dataset", "format", "scheme", "status")
ROW_NON_NULL = ("schema", "schema_version", "bundle", "status")

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# Shift names bundles (manifest evaluation.shifts) and rows (shifts[].shift) used before a rename:
# read as the new name.
SHIFT_RENAMES = {"length": "sampling-rate"}


def mcu_of(item: dict) -> dict:
    """The microcontroller figures ``{core: figures}`` of a C artifact's manifest entry or result
    row: its ``footprint["mcu"]`` (a top-level ``mcu`` in files written before the footprint
    existed); {} when there are none."""
    fp = item.get("footprint") if isinstance(item.get("footprint"), dict) else {}
    figs = fp.get("mcu") or item.get("mcu")
    return figs if isinstance(figs, dict) else {}


# -- containment -------------------------------------------------------------------------------
def plain_name(value, what: str, error=UnsafePathError) -> str:
    """``value`` if it is a plain file or folder name (no folder part, not ``.``/``..``, not
    hidden, no control characters), else ``error`` naming ``what``."""
    if not isinstance(value, str) or not value:
        raise error(f"{what} must be a file name, got {value!r}")
    bad = ("/" in value or "\\" in value or value in (".", "..") or value.startswith(".")
           or any(ord(c) < 32 for c in value) or Path(value).name != value)
    if bad:
        raise error(f"{what} {value!r} is not a plain file name inside its folder "
                    "(no '/', '..', leading '.' or absolute path)")
    return value


def inside(folder: str | Path, name, what: str, error=UnsafePathError) -> Path:
    """``folder / name`` after checking that ``name`` is a plain name (see :func:`plain_name`)."""
    return Path(folder) / plain_name(name, what, error)


def manifest_files(manifest: dict, where: str = MANIFEST) -> dict[str, str]:
    """{role: file name} of every file a manifest names, each checked to be a plain name.

    Roles: ``golden``, ``eval``, ``calibration``, ``artifact:<i>``, ``rejected:<i>``. A name
    that leaves the bundle folder is a BundleError naming the manifest and the entry."""
    out: dict[str, str] = {}

    def check(role: str, value) -> None:
        out[role] = plain_name(value, f"{where}: {role} file", BundleError)

    check("golden", manifest.get("golden_file") or GOLDEN)
    evaluation = manifest.get("evaluation") or {}
    if not isinstance(evaluation, dict):
        raise BundleError(f"{where}: evaluation must be an object")
    check("eval", evaluation.get("file") or EVAL)
    calibration = manifest.get("calibration") or {}
    if not isinstance(calibration, dict):
        raise BundleError(f"{where}: calibration must be an object")
    if calibration.get("file") is not None:
        check("calibration", calibration["file"])
    for key in ("artifacts", "rejected"):
        entries = manifest.get(key) or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise BundleError(f"{where}: {key} must be a list of objects")
        for i, entry in enumerate(entries):
            if key == "artifacts" or entry.get("file") is not None:
                check(f"{key}[{i}]", entry.get("file"))
    return out


def check_sha256(entry: dict, where: str) -> str:
    """The artifact entry's sha256 (64 lower-case hex digits), else a BundleError: without it
    a changed file could not be told from the one the exporter checked."""
    value = entry.get("sha256")
    if not isinstance(value, str) or not SHA256_RE.match(value.lower()):
        shown = "missing" if value is None else f"malformed ({str(value)[:20]!r})"
        raise BundleError(f"{where}: artifact {entry.get('file')!r} has a {shown} sha256; "
                          "re-export the bundle")
    return value.lower()
