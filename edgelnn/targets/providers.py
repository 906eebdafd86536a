"""Which ONNX execution providers a row asked for, which ran, and whether it fell back.

onnxruntime silently drops a requested provider that this build or machine lacks (a warning,
not an error) and runs on the next one; a Jetson profile asks for TensorRT, CUDA, then CPU.
The row must say when the numbers are CPU numbers. Standard library only (runs on devices).
"""
from __future__ import annotations


def annotate(row: dict, requested) -> dict:
    """Add ``providers_requested``, ``provider_fallback`` and ``provider_note`` to an ONNX row."""
    if row.get("format") != "onnx" or not requested:
        return row
    names = [p[0] if isinstance(p, (list, tuple)) else p for p in requested]
    used = list(row.get("providers_used") or [])
    row["providers_requested"] = names
    if not used:                # the artifact never loaded: nothing ran
        row.setdefault("provider_fallback", None)
        return row
    missing = [p for p in names if p not in used]
    row["provider_fallback"] = names[0] not in used       # the preferred provider did not run
    if missing:
        row["provider_note"] = (f"{'fallback: ' if row['provider_fallback'] else ''}"
                                f"{', '.join(missing)} not available on this device; ran on {used[0]}")
    return row
