"""sha256 of artifact files: a device refuses a file that differs from what the exporter wrote."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import BundleError


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_artifact(folder: str | Path, entry: dict, where: str = "manifest.json") -> list[Path]:
    """Check every file an artifact uses (``edgelnn.schema.artifact_files``: the artifact, its
    header, external data) against its manifest sha256; returns their paths. BundleError names
    the first file that is missing, carries no or a malformed sha256, or was modified."""
    from ..schema import artifact_files

    paths = []
    for name, digest in artifact_files(entry, where):
        path = Path(folder) / name
        if not path.is_file():
            raise BundleError(f"bundle file missing: {path} (used by artifact {entry.get('file')})")
        verify_sha256(path, digest)
        paths.append(path)
    return paths


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise BundleError when the file's sha256 is not the manifest's."""
    actual = sha256_file(path)
    if actual.lower() != str(expected).lower():
        raise BundleError(f"artifact {Path(path).name} was modified: sha256 {actual[:16]}... "
                          f"!= manifest {str(expected)[:16]}...; re-export or copy the bundle again")
