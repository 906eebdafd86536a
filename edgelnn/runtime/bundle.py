"""Read an export bundle torch-free: manifest, artifacts, golden vectors, evaluation data."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BundleError
from ..files import json_loads
from ..schema import BUNDLE_SCHEMA as SCHEMA
from ..schema import BUNDLE_SCHEMA_VERSION as SCHEMA_VERSION
from ..schema import MANIFEST, SHIFT_RENAMES, artifact_files, manifest_files, with_new_names
from .base import Runner


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

    def normalise(self, raw) -> np.ndarray:
        """Raw features (..., C) -> what the model takes: (raw - mean) / std in float32 with the
        manifest's ``normalisation`` (the same numbers and arithmetic as a C header's
        ``<prefix>_normalise``)."""
        norm = self.manifest.get("normalisation") or {}
        raw = np.asarray(raw, np.float32)
        if not norm.get("mean"):
            return raw.copy()
        mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
        if raw.shape[-1] != len(mean):
            raise BundleError(f"normalise: {raw.shape[-1]} features given, the model takes {len(mean)}")
        return (raw - mean) / std

    def denormalise(self, y) -> np.ndarray:
        """A regression model's outputs (..., O) -> the target in its units: y * target_std +
        target_mean with the manifest's ``dataset`` statistics in float32, product and sum each
        rounded (the same numbers and arithmetic as a C header's ``<prefix>_denormalise``, which
        keeps the compiler from fusing them). A classification model has no units: BundleError."""
        if self.task != "regression":
            raise BundleError(f"denormalise: bundle {self.name} is a {self.task} model; its outputs are "
                              "class scores, not a quantity with units")
        mean, std = (self.dataset.get(k) for k in ("target_mean", "target_std"))
        if mean is None or std is None:
            raise BundleError(f"denormalise: bundle {self.name}'s manifest records no dataset.target_mean / "
                              "target_std")
        scaled = np.asarray(y, np.float32) * np.float32(std)
        return scaled + np.float32(mean)

    def artifact(self, file: str) -> dict:
        """The manifest entry of an artifact, by file name."""
        for entry in self.artifacts:
            if entry["file"] == Path(file).name:
                return entry
        known = ", ".join(a["file"] for a in self.artifacts) or "none"
        raise BundleError(f"bundle {self.path.name} has no artifact {Path(file).name!r} "
                          f"(artifacts: {known})")

    @property
    def files(self) -> dict[str, str]:
        """{role: file name} of the files the manifest names (checked plain names)."""
        return manifest_files(self.manifest, f"{self.path / MANIFEST}")

    def artifact_path(self, entry: dict | str) -> Path:
        return self.path / (entry if isinstance(entry, str) else entry["file"])

    def open(self, entry: dict | str, *, runtime: str | None = None, threads: int | None = 1,
             providers=None, verify: bool = True, accel: dict | None = None) -> Runner:
        """A Runner for an artifact, the sha256 of every file it uses (the artifact, a C header,
        external data) checked against the manifest first."""
        from .integrity import verify_artifact
        from .runners import open_runner

        if isinstance(entry, str):
            entry = self.artifact(entry)
        if verify:
            verify_artifact(self.path, entry, str(self.path / MANIFEST))
        return open_runner(self.artifact_path(entry), entry, self.state_sizes, runtime=runtime,
                           threads=threads, providers=providers, accel=accel,
                           expected_sha256=entry.get("sha256") if verify else None)

    def golden(self) -> Golden:
        data = _npz(self.path / self.files["golden"], ["x", "dt", "lengths", "y"])
        return Golden(data["x"].astype(np.float32), data["dt"].astype(np.float32),
                      data["lengths"].astype(np.int64), data["y"].astype(np.float32))

    def evaluation(self, eval_file: str | None = None) -> Evaluation:
        """eval.npz of the bundle, or ``eval_file`` (the same layout, test split only: the user's
        data, from ``bench --eval-data``; no PyTorch reference, no shifts)."""
        info = self.manifest.get("evaluation") or {}
        if eval_file is not None:
            info = {"metric": info.get("metric"), "reference": None}   # no PyTorch figure on this data
        data = _npz(Path(eval_file) if eval_file else self.path / self.files["eval"],
                    ["test_x", "test_dt", "test_lengths", "test_y"])
        test = EvalSplit("test", data["test_x"].astype(np.float32),
                         data["test_dt"].astype(np.float32), data["test_lengths"].astype(np.int64),
                         reference=info.get("reference", self.manifest.get("reference", {}).get("test")))
        shifts = []
        for s in info.get("shifts", []):
            key = s["key"]
            missing = [f"{key}_{k}" for k in ("x", "dt", "lengths") if f"{key}_{k}" not in data]
            if missing:
                raise BundleError(f"{self.path.name}/{self.files['eval']} lacks {', '.join(missing)}")
            shifts.append(EvalSplit(key, data[f"{key}_x"].astype(np.float32),
                                    data[f"{key}_dt"].astype(np.float32),
                                    data[f"{key}_lengths"].astype(np.int64),
                                    SHIFT_RENAMES.get(s.get("shift"), s.get("shift")),  # "length": old bundles
                                    s.get("level"), s.get("reference")))
        metric = info.get("metric") or self.dataset.get("metric") or \
            {"classification": "accuracy"}.get(self.task, "rmse")
        if self.task == "classification":
            _check_labels(data["test_y"], int(self.model.get("output_size") or 0),
                          f"{self.path.name}/{self.files['eval']}")
        return Evaluation(metric, self.task, data["test_y"],
                          float(self.dataset.get("target_std", 1.0) or 1.0), test, shifts)


def _check_labels(y: np.ndarray, classes: int, where: str) -> None:
    """Class labels must be integers in 0..classes-1: anything else scores as a silent 0."""
    y = np.asarray(y)
    if y.size == 0 or classes < 1:
        return
    if not np.isfinite(y).all() or (np.round(y) != y).any() or y.min() < 0 or y.max() >= classes:
        raise BundleError(f"{where}: test_y holds labels outside 0..{classes - 1} (the model has "
                          f"{classes} outputs); re-export the bundle")


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


# Fields the readers use, and their JSON types (None allowed unless the field is required):
# a value of another type is one BundleError naming it, never an AttributeError deep in a command.
_NUMBER = (int, float)
_TOP = {"name": str, "model": dict, "dataset": dict, "reference": dict, "tensors": dict,
        "evaluation": dict, "calibration": dict, "notes": list, "target": str, "golden_file": str}
_ENTRY = {"file": str, "format": str, "graph": str, "scheme": str, "io": dict, "golden": dict,
          "parity": dict, "footprint": dict, "chunk": int, "bytes": int, "file_ratio": _NUMBER,
          "quantized": bool, "note": str, "c_prefix": str, "tools": dict, "extra_files": list,
          "reason": str, "sha256": str}
_REQUIRED_ENTRY = ("file", "format", "graph", "scheme")
_FORMATS = ("onnx", "tflite", "c")


def _type_name(t) -> str:
    names = {str: "a string", dict: "an object", list: "a list", int: "an integer", bool: "true or false"}
    return "a number" if t == _NUMBER else names.get(t, t.__name__)


def _typed(value, t, what: str, where: str, required: bool = False) -> None:
    if value is None and not required:
        return
    ok = isinstance(value, t) and not (t in (int, _NUMBER) and isinstance(value, bool))
    if ok and t in (int, _NUMBER) and not np.isfinite(value):
        ok = False
    if not ok:
        raise BundleError(f"{where}: {what} must be {_type_name(t)}, got {json.dumps(value)[:40]}; "
                          "re-export the bundle")


def check_types(manifest: dict, where: str) -> None:
    """Every field a reader uses has its JSON type (finite numbers, known formats and graphs)."""
    for key, t in _TOP.items():
        _typed(manifest.get(key), t, key, where)
    for i, a in enumerate(manifest.get("artifacts", [])):
        for key, t in _ENTRY.items():
            _typed(a.get(key), t, f"artifacts[{i}].{key}", where, key in _REQUIRED_ENTRY)
        if a["format"] not in _FORMATS:
            raise BundleError(f"{where}: artifacts[{i}].format {a['format']!r} is not one of {', '.join(_FORMATS)}")
        if a["graph"] not in ("step", "seq"):
            raise BundleError(f"{where}: artifacts[{i}].graph {a['graph']!r} is not step or seq")
        io = a.get("io") or {}
        for side in ("inputs", "outputs"):
            names = io.get(side, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise BundleError(f"{where}: artifacts[{i}].io.{side} must be a list of names")
        golden = a.get("golden") or {}
        for key in ("tolerance", "max_abs_host"):
            _typed(golden.get(key), _NUMBER, f"artifacts[{i}].golden.{key}", where)
        if golden.get("tolerance") is not None and golden["tolerance"] < 0:
            raise BundleError(f"{where}: artifacts[{i}].golden.tolerance must be >= 0")
        if a.get("chunk") is not None and a["chunk"] < 1:
            raise BundleError(f"{where}: artifacts[{i}].chunk must be >= 1")
    for key in ("rejected", "unsupported"):
        for i, e in enumerate(manifest.get(key, [])):
            for field_ in ("file", "format", "graph", "scheme", "reason"):
                _typed(e.get(field_), str, f"{key}[{i}].{field_}", where)
    evaluation = manifest.get("evaluation") or {}
    _typed(evaluation.get("reference"), _NUMBER, "evaluation.reference", where)
    _typed(evaluation.get("metric"), str, "evaluation.metric", where)
    shifts = evaluation.get("shifts") or []
    _typed(shifts, list, "evaluation.shifts", where)
    for i, s in enumerate(shifts):
        _typed(s, dict, f"evaluation.shifts[{i}]", where, True)
        _typed(s.get("key"), str, f"evaluation.shifts[{i}].key", where, True)
        _typed(s.get("shift"), str, f"evaluation.shifts[{i}].shift", where)
        for k in ("level", "reference"):
            _typed(s.get(k), _NUMBER, f"evaluation.shifts[{i}].{k}", where)
    for key in ("model", "dataset"):
        for k, v in (manifest.get(key) or {}).items():
            if k in ("units", "input_size", "output_size", "params", "params_active"):
                _typed(v, int, f"{key}.{k}", where)
            elif k in ("task", "name", "kind", "metric"):
                _typed(v, str, f"{key}.{k}", where)
    _typed((manifest.get("reference") or {}).get("test"), _NUMBER, "reference.test", where)
    _typed((manifest.get("dataset") or {}).get("target_std"), _NUMBER, "dataset.target_std", where)
    state = manifest["tensors"]["step"]["state"]
    _typed(state, list, "tensors.step.state", where, True)
    for i, s in enumerate(state):
        _typed(s, dict, f"tensors.step.state[{i}]", where, True)
        _typed(s.get("size"), int, f"tensors.step.state[{i}].size", where, True)
        if s["size"] < 1:
            raise BundleError(f"{where}: tensors.step.state[{i}].size must be >= 1")


def read_manifest(path: str | Path) -> dict:
    """The validated manifest of a bundle folder; BundleError (one line) when it is not one."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in (".onnx", ".tflite", ".c", ".h", ".pt", ".pth"):
        raise BundleError(f"{path} is a single model file; bench measures an export bundle (the artifacts with "
                          "their manifest, golden and evaluation data): make one with `edgelnn export CKPT.pt "
                          "--out BUNDLE`; a model trained elsewhere comes in with `edgelnn import FILE.py:FUNCTION "
                          "--data DATA --out CKPT.pt` first (see README 'Your own model')")
    if not path.is_dir():
        raise BundleError(f"{path} is not a folder (expected an export bundle from `edgelnn export`)")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path} is not an export bundle: no manifest.json")
    try:
        manifest = json_loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{manifest_path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        found = manifest.get("schema") if isinstance(manifest, dict) else type(manifest).__name__
        raise BundleError(f"{manifest_path} is not an edgelnn bundle manifest "
                          f"(schema {found!r}, expected {SCHEMA!r})")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise BundleError(f"{manifest_path} has schema_version {manifest.get('schema_version')!r}; "
                          f"this edgelnn reads version {SCHEMA_VERSION}")
    for key in ("artifacts", "rejected", "unsupported"):
        if not isinstance(manifest.get(key, []), list) or \
                not all(isinstance(e, dict) for e in manifest.get(key, [])):
            raise BundleError(f"{manifest_path}: {key} must be a list of objects")
    try:
        [int(s["size"]) for s in manifest["tensors"]["step"]["state"]]
        for a in manifest.get("artifacts", []):
            a["file"], a["format"], a["graph"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{manifest_path} is incomplete: missing {exc}") from None
    for key in ("artifacts", "rejected", "unsupported"):      # bundles written before a rename
        if key in manifest:
            manifest[key] = [with_new_names(e) for e in manifest[key]]
    check_types(manifest, str(manifest_path))
    manifest_files(manifest, str(manifest_path))       # every file name stays inside the bundle
    for a in manifest.get("artifacts", []):
        artifact_files(a, str(manifest_path))           # every file it uses: plain name + sha256
    return manifest
