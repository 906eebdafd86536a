"""What a deployment target changes in an export: default schemes and int8 reduce_range.

Reads ``targets/<name>.toml`` (``schemes``, ``reduce_range``); ``None`` means this host.
"""
from __future__ import annotations

from pathlib import Path

from .errors import UnknownNameError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

def _roots() -> tuple[Path, ...]:
    return (Path.cwd() / "targets", Path(__file__).resolve().parents[2] / "targets")


def _find(target: str) -> Path | None:
    p = Path(target)
    if p.suffix == ".toml" and p.is_file():
        return p
    for root in _roots():
        if (root / f"{target}.toml").is_file():
            return root / f"{target}.toml"
    return None


def target_settings(target: str | None) -> dict:
    """{"name", "schemes" (list or None), "reduce_range" (bool or None = decide on this host)}."""
    if target is None:
        return {"name": None, "schemes": None, "reduce_range": None}
    path = _find(target)
    if path is None:
        known = sorted({p.stem for root in _roots() if root.is_dir() for p in root.glob("*.toml")})
        raise UnknownNameError(f"unknown target {target!r}; known targets: {', '.join(known) or 'none'}")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UnknownNameError(f"target file {path} is not readable TOML ({exc})") from None
    schemes = data.get("schemes")
    rr = data.get("reduce_range")
    return {"name": path.stem, "schemes": list(schemes) if schemes else None,
            "reduce_range": None if rr is None else bool(rr)}
