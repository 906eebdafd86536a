"""What is copied to a device: the runner zipapp and the bundle's files.

The runner is a zipapp (stdlib ``zipapp``) of ``edgelnn.runtime``, ``edgelnn.bench``,
``edgelnn.metrics``, ``edgelnn.errors`` and the device side of ``edgelnn.targets`` — pure Python,
no torch; the device supplies numpy and the runtimes. ``python runner.pyz ...`` runs
:mod:`edgelnn.targets.device_entry`.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipapp
from pathlib import Path

from ..errors import BundleError

PACKAGE = Path(__file__).resolve().parents[1]           # .../edgelnn
RUNNER_MODULES = ("__init__.py", "errors.py", "metrics.py", "schema.py", "probe.py", "files.py", "checks.py")
RUNNER_PACKAGES = ("runtime", "bench")
TARGET_MODULES = ("probe.py", "protocol.py", "providers.py", "errors.py", "device_entry.py")
TARGETS_STUB = '"""Device-side subset of edgelnn.targets (inside the runner zipapp)."""\n'
MAIN = "from edgelnn.targets.device_entry import main\nimport sys\nsys.exit(main())\n"


def runner_sources() -> list[tuple[Path, str]]:
    """(file, name inside the zipapp) of everything the device runner needs."""
    files = [(PACKAGE / m, f"edgelnn/{m}") for m in RUNNER_MODULES]
    for pkg in RUNNER_PACKAGES:
        folder = PACKAGE / pkg
        if not folder.is_dir():
            raise BundleError(f"edgelnn/{pkg} is missing: cannot build the device runner")
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" not in path.parts:
                files.append((path, f"edgelnn/{path.relative_to(PACKAGE).as_posix()}"))
    files += [(PACKAGE / "targets" / m, f"edgelnn/targets/{m}") for m in TARGET_MODULES]
    return files


def build_runner(out: str | Path) -> Path:
    """Write the runner zipapp to ``out``; returns its path."""
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="edgelnn-runner.") as tmp:
        root = Path(tmp) / "app"
        for src, arc in runner_sources():
            dst = root / arc
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        (root / "edgelnn/targets/__init__.py").write_text(TARGETS_STUB)
        for folder in [p for p in root.rglob("*") if p.is_dir()]:
            if folder != root and not (folder / "__init__.py").exists():
                (folder / "__init__.py").write_text("")   # zipimport needs regular packages
        (root / "__main__.py").write_text(MAIN)
        zipapp.create_archive(root, out, interpreter="/usr/bin/env python3", compressed=True)
    return out


def runner_digest() -> str:
    h = hashlib.sha256()
    for src, arc in runner_sources():
        h.update(arc.encode())
        h.update(src.read_bytes())
    return h.hexdigest()[:16]


def bundle_files(bundle: str | Path, arcroot: str = "bundle") -> list[tuple[Path, str]]:
    """The files a device needs from a bundle: manifest, golden, eval and every artifact the
    manifest lists, and the calibration data (TensorRT int8 builds its table from it); anything
    else stays here."""
    bundle = Path(bundle)
    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        raise BundleError(f"{bundle} is not an export bundle: no manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise BundleError(f"{manifest_path} is not valid JSON: {exc}") from None
    names = ["manifest.json", manifest.get("golden_file") or "golden.npz",
             (manifest.get("evaluation") or {}).get("file") or "eval.npz"]
    names += [a["file"] for a in manifest.get("artifacts", []) if a.get("file")]
    names += [x["file"] for a in manifest.get("artifacts", []) for x in a.get("extra_files") or []
              if isinstance(x, dict) and x.get("file")]      # C headers, batched LiteRT files
    calibration = (manifest.get("calibration") or {}).get("file")      # TensorRT int8 tables
    optional = {names[2]} | ({calibration} if calibration else set())
    names += [calibration] if calibration else []
    out = []
    for name in dict.fromkeys(names):
        path = bundle / name
        if Path(name).name != name:
            raise BundleError(f"{manifest_path}: file name {name!r} must not contain a folder")
        if not path.is_file():
            if name in optional:
                continue                       # eval.npz is optional for the golden check
            raise BundleError(f"bundle file missing: {path}")
        out.append((path, f"{arcroot}/{name}"))
    return out
