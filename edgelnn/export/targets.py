"""What a deployment target changes in an export: default schemes and int8 reduce_range.

The profile comes from ``edgelnn.targets`` (validated, user folders included); ``None`` means
this host, where the exporter decides ``reduce_range`` from the CPU's VNNI support.
"""
from __future__ import annotations


def target_settings(target: str | None) -> dict:
    """{"name", "schemes" (list or None), "reduce_range" (bool or None = decide on this host),
    "formats" (the formats its runtimes run, or None), "mcu" (a microcontroller: C only)}."""
    if target is None:
        return {"name": None, "schemes": None, "reduce_range": None, "formats": None, "mcu": False}
    from ..targets import load_profile
    from ..targets.profile import RUNTIME_FORMAT

    profile = load_profile(target)  # ProfileError (one line, names the file and key) when bad
    formats = list(dict.fromkeys(RUNTIME_FORMAT[r] for r in profile.runtimes))
    return {"name": profile.name, "schemes": list(profile.schemes) or None,
            "reduce_range": bool(profile.reduce_range), "formats": formats, "mcu": profile.is_mcu}
