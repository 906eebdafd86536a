"""Read an export bundle torch-free: manifest, artifacts, golden vectors, evaluation data."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BundleError
from ..metrics import SHIFT_RENAMES
from .base import Runner

SCHEMA = "edgelnn-bundle"
SCHEMA_VERSION = 1


@dataclass
class Golden:
    """Reference inputs and PyTorch outputs: x (G,T,C), dt (G,T), lengths (G,), y (G,T,O)."""
    x: np.ndarray
    dt: np.ndarray
    lengths: np.ndarray
    y: np.ndarray


@dataclass
class EvalSplit:
    """One evaluation set: the test split or a shift variant (targets are always test_y)."""
    key: str
    x: np.ndarray
    dt: np.ndarray
    lengths: np.ndarray
    shift: str | None = None
    level: float | None = None
    reference: float | None = None       # PyTorch fp32 metric on this set


@dataclass
class Evaluation:
    metric: str
    task: str
    y: np.ndarray
    target_std: float
    test: EvalSplit
    shifts: list[EvalSplit] = field(default_factory=list)


@dataclass
class Bundle:
    path: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.path.name

    @property
    def artifacts(self) -> list[dict]:
        return list(self.manifest.get("artifacts", []))

    @property
    def rejected(self) -> list[dict]:
        return list(self.manifest.get("rejected", []))

    @property
    def unsupported(self) -> list[dict]:
        return list(self.manifest.get("unsupported", []))

    @property
    def model(self) -> dict:
        return self.manifest.get("model", {})

    @property
    def dataset(self) -> dict:
        return self.manifest.get("dataset", {})

    @property
    def task(self) -> str:
        return self.dataset.get("task") or self.model.get("task", "classification")

    @property
    def state_sizes(self) -> list[int]:
        return [int(s["size"]) for s in self.manifest["tensors"]["step"]["state"]]

    def artifact(self, file: str) -> dict:
        """The manifest entry of an artifact, by file name."""
        for entry in self.artifacts:
            if entry["file"] == Path(file).name:
                return entry
        known = ", ".join(a["file"] for a in self.artifacts) or "none"
        raise BundleError(f"bundle {self.path.name} has no artifact {Path(file).name!r} "
                          f"(artifacts: {known})")

    def artifact_path(self, entry: dict | str) -> Path:
        return self.path / (entry if isinstance(entry, str) else entry["file"])

    def open(self, entry: dict | str, *, runtime: str | None = None, threads: int | None = 1,
             providers=None, verify: bool = True) -> Runner:
        """A Runner for an artifact, its sha256 checked against the manifest first."""
        from .runners import open_runner

        if isinstance(entry, str):
            entry = self.artifact(entry)
        return open_runner(self.artifact_path(entry), entry, self.state_sizes, runtime=runtime,
                           threads=threads, providers=providers,
                           expected_sha256=entry.get("sha256") if verify else None)

    def golden(self) -> Golden:
        data = _npz(self.path / self.manifest.get("golden_file", "golden.npz"),
                    ["x", "dt", "lengths", "y"])
        return Golden(data["x"].astype(np.float32), data["dt"].astype(np.float32),
                      data["lengths"].astype(np.int64), data["y"].astype(np.float32))

    def evaluation(self) -> Evaluation:
        info = self.manifest.get("evaluation") or {}
        data = _npz(self.path / info.get("file", "eval.npz"),
                    ["test_x", "test_dt", "test_lengths", "test_y"])
        test = EvalSplit("test", data["test_x"].astype(np.float32),
                         data["test_dt"].astype(np.float32), data["test_lengths"].astype(np.int64),
                         reference=info.get("reference", self.manifest.get("reference", {}).get("test")))
        shifts = []
        for s in info.get("shifts", []):
            key = s["key"]
            missing = [f"{key}_{k}" for k in ("x", "dt", "lengths") if f"{key}_{k}" not in data]
            if missing:
                raise BundleError(f"{self.path.name}/eval.npz lacks {', '.join(missing)}")
            shifts.append(EvalSplit(key, data[f"{key}_x"].astype(np.float32),
                                    data[f"{key}_dt"].astype(np.float32),
                                    data[f"{key}_lengths"].astype(np.int64),
                                    SHIFT_RENAMES.get(s.get("shift"), s.get("shift")),  # "length": old bundles
                                    s.get("level"), s.get("reference")))
        metric = info.get("metric") or self.dataset.get("metric") or \
            {"classification": "accuracy"}.get(self.task, "rmse")
        return Evaluation(metric, self.task, data["test_y"],
                          float(self.dataset.get("target_std", 1.0) or 1.0), test, shifts)


def _npz(path: Path, required: list[str]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise BundleError(f"bundle file missing: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - zip/npy errors of many types
        raise BundleError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    missing = [k for k in required if k not in data]
    if missing:
        raise BundleError(f"{path} lacks {', '.join(missing)}")
    return data


def load_bundle(path: str | Path) -> Bundle:
    """Read and validate ``manifest.json`` of an export bundle folder."""
    return Bundle(Path(path), read_manifest(path))


def read_manifest(path: str | Path) -> dict:
    """The validated manifest of a bundle folder; BundleError (one line) when it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path} is not a folder (expected an export bundle from `edgelnn export`)")
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise BundleError(f"{path} is not an export bundle: no manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{manifest_path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        found = manifest.get("schema") if isinstance(manifest, dict) else type(manifest).__name__
        raise BundleError(f"{manifest_path} is not an edgelnn bundle manifest "
                          f"(schema {found!r}, expected {SCHEMA!r})")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise BundleError(f"{manifest_path} has schema_version {manifest.get('schema_version')!r}; "
                          f"this edgelnn reads version {SCHEMA_VERSION}")
    try:
        [int(s["size"]) for s in manifest["tensors"]["step"]["state"]]
        for a in manifest.get("artifacts", []):
            a["file"], a["format"], a["graph"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{manifest_path} is incomplete: missing {exc}") from None
    return manifest
