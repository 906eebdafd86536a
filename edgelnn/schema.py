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
    # exported and fine, but of a format the target cannot run (e.g. ONNX on a microcontroller)
    "not_applicable": ("not-applicable", "not applicable to this target"),
}
STATUSES = tuple(STATUS_LABELS)
# One entry of a row's ``streams`` list (bench --streams): one stream count B.
ROW_STREAMS_KEYS = ("streams", "batch_mode", "golden_ok", "golden_max_abs", "latency_us", "stream_steps_per_s",
                    "per_stream_step_us", "state_bytes", "error")
STREAMS_BATCH_MODES = ("batched", "one stream per call")
# Fields a row must have to be read at all; of those, the ones that may not be null.
ROW_REQUIRED = ("schema", "schema_version", "bundle", "model", "dataset", "format", "scheme", "status")
ROW_NON_NULL = ("schema", "schema_version", "bundle", "status")

# Fields that rows and manifest artifact entries written before a rename carry under their old
# name: read as the new one. size_ratio was the file-size ratio (beside a size_bytes that is no
# file's size for C); rows now carry file_ratio, weight_ratio and flash_ratio, each one thing, and
# manifests the same file_ratio.
FIELD_RENAMES = {"size_ratio": "file_ratio"}


def with_new_names(obj: dict) -> dict:
    """``obj`` with each field written under an old name (FIELD_RENAMES) under its new one (kept
    as it is where the new name is there too)."""
    return {(FIELD_RENAMES[k] if k in FIELD_RENAMES and FIELD_RENAMES[k] not in obj else k): v
            for k, v in obj.items()}


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
            for j, extra in enumerate(entry.get("batch_files") or []):      # LiteRT files per batch size
                check(f"{key}[{i}].batch_files[{j}]", extra.get("file") if isinstance(extra, dict) else extra)
    return out


def check_sha256(entry: dict, where: str, what: str | None = None) -> str:
    """The entry's sha256 (64 hex digits, returned lower-case), else a BundleError that says
    whether it is missing or malformed: without it a changed file could not be told from the
    one the exporter checked. ``what`` names the file in the message (default: the artifact)."""
    value = entry.get("sha256")
    what = what or f"artifact {entry.get('file')!r}"
    if value is None:
        raise BundleError(f"{where}: missing sha256 for {what} (every file an artifact uses must carry "
                          "one); re-export the bundle")
    if not isinstance(value, str) or not SHA256_RE.match(value.lower()):
        raise BundleError(f"{where}: malformed sha256 for {what} ({str(value)[:20]!r}, expected 64 hex "
                          "digits); re-export the bundle")
    return value.lower()


def artifact_files(entry: dict, where: str = MANIFEST) -> list[tuple[str, str]]:
    """[(plain name, sha256)] of every file an artifact uses: the artifact itself, then each of
    its ``extra_files`` (a C artifact's header, an ONNX file's external data). Every one must be
    a plain name inside the bundle and carry a well-formed sha256; a C artifact must list its
    header (it is compiled with the source). BundleError (one line) otherwise."""
    name = plain_name(entry.get("file"), f"{where}: artifact file", BundleError)
    files = [(name, check_sha256(entry, where))]
    extras = entry.get("extra_files", [])
    if extras is None:
        extras = []
    if not isinstance(extras, list) or not all(isinstance(x, dict) for x in extras):
        raise BundleError(f"{where}: extra_files of artifact {name!r} must be a list of objects")
    for x in extras:
        extra = plain_name(x.get("file"), f"{where}: extra file of artifact {name!r}", BundleError)
        files.append((extra, check_sha256(x, where, f"file {extra!r} of artifact {name!r}")))
    if entry.get("format") == "c" and not any(n.endswith(".h") for n, _ in files[1:]):
        raise BundleError(f"{where}: C artifact {name!r} lists no header in extra_files (the header is "
                          "compiled with it and must carry a sha256); re-export the bundle")
    return files
