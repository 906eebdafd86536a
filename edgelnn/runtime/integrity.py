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


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise BundleError when the file's sha256 is not the manifest's."""
    actual = sha256_file(path)
    if actual.lower() != str(expected).lower():
        raise BundleError(f"artifact {Path(path).name} was modified: sha256 {actual[:16]}... "
                          f"!= manifest {str(expected)[:16]}...; re-export or copy the bundle again")
