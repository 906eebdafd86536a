"""What a deployment target changes in an export: default schemes and int8 reduce_range.

The profile comes from ``edgelnn.targets`` (validated, user folders included); ``None`` means
this host, where the exporter decides ``reduce_range`` from the CPU's VNNI support.
"""
from __future__ import annotations


def target_settings(target: str | None) -> dict:
    """{"name", "schemes" (list or None), "reduce_range" (bool or None = decide on this host)}."""
    if target is None:
        return {"name": None, "schemes": None, "reduce_range": None}
    from ..targets import load_profile

    profile = load_profile(target)  # ProfileError (one line, names the file and key) when bad
    return {"name": profile.name, "schemes": list(profile.schemes) or None,
            "reduce_range": bool(profile.reduce_range)}
