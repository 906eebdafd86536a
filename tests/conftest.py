"""Shared pytest fixtures, one section per pipeline stage."""
from __future__ import annotations

# --- runtime / bench fixtures ---------------------------------------------
# A tiny real export bundle (LSTM, 8 units: two state tensors, the harder binding case), built
# by edgelnn.export.export_bundle (every format and scheme).
import hashlib
import json
import shutil
from pathlib import Path

import pytest

EXPORTED = {"kind": "lstm", "units": 8, "dataset": "japanesevowels"}   # variable lengths 7..29


def _build_by_exporter(out: Path) -> Path:
    """Every format and scheme the exporter makes, for an untrained 8-unit LSTM.

    int16x8-static gets an impossible bound so that the bundle always holds one `rejected`
    artifact (whether an untrained model's int8 error passes the default bound is luck)."""
    from edgelnn import data, models
    from edgelnn.export.bundle import export_bundle

    ds = data.load(EXPORTED["dataset"])
    model = models.create(EXPORTED["kind"], ds.input_size, ds.output_size, units=EXPORTED["units"],
                          task=ds.task, label_names=ds.label_names, norm_mean=ds.norm_mean,
                          norm_std=ds.norm_std, dataset=ds.name, seed=0)
    ckpt = out.parent / f"{out.name}.pt"
    model.save(ckpt)
    export_bundle(ckpt, out, tolerances={"int16x8-static": {"rel_range": 1e-12}})
    return out


def _source_key() -> str:
    """Hash of the code a bundle depends on: a cached bundle is reused only while it is current."""
    root = Path(__file__).resolve().parents[1] / "edgelnn"
    digest = hashlib.sha256(json.dumps([EXPORTED]).encode())
    for sub in ("export", "models", "data", "metrics.py", "runtime"):
        for f in sorted((root / sub).rglob("*.py")) if (root / sub).is_dir() else [root / sub]:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def build_tiny_bundle(out: Path) -> Path:
    return _build_by_exporter(out)


@pytest.fixture(scope="session")
def tiny_bundle(request, tmp_path_factory) -> Path:
    """A real export bundle (read-only: copy it with `bundle_copy` before changing anything).

    Cached in pytest's cache folder under a hash of the exporter/model/data/runtime code, so
    each test file does not pay the export (~20 s) again; built fresh when the code changed."""
    name = "lstm8-tiny"
    try:
        cache = Path(request.config.cache.mkdir("edgelnn-bundle")) / _source_key()
    except (AttributeError, OSError):     # -p no:cacheprovider
        cache = None
    if cache is not None and (cache / name / "manifest.json").is_file():
        return cache / name
    built = build_tiny_bundle(tmp_path_factory.mktemp("bundles") / name)
    if cache is None:
        return built
    tmp = cache.parent / f".{cache.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(built, tmp / name)
    try:
        tmp.rename(cache)
    except OSError:                       # another session cached it first
        shutil.rmtree(tmp, ignore_errors=True)
    for old in cache.parent.iterdir():    # bundles of older code
        if old != cache and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return cache / name


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    """A writable copy of the tiny bundle, for tests that tamper with files."""
    dst = tmp_path / tiny_bundle.name
    shutil.copytree(tiny_bundle, dst)
    return dst
# --- end runtime / bench fixtures ------------------------------------------------------------

# --- targets fixtures a real sshd on 127.0.0.1 and torch-free device venvs ---
from sshd import device_python, numpy_only_python, sshd_server  # noqa: E402,F401
# --- end targets fixtures --------------------------------------------------------------------

# --- export fixtures -------------------------------------------------------
# Untrained tiny models are enough for parity (the artifact must reproduce PyTorch whatever the
# weights); bundles are built once per session and per model kind, lazily, because conversions
# are slow on a shared 2-core machine.


@pytest.fixture(scope="session")
def export_checkpoint(tmp_path_factory):
    """make(kind, units=8, dataset="basicmotions") -> path of a saved untrained checkpoint."""
    from edgelnn import data, models

    root = tmp_path_factory.mktemp("export-ckpt")
    cache: dict = {}

    def make(kind: str, units: int = 8, dataset: str = "basicmotions") -> Path:
        key = (kind, units, dataset)
        if key not in cache:
            ds = data.load(dataset)
            model = models.create(kind, ds.input_size, ds.output_size, units=units, task=ds.task,
                                  label_names=ds.label_names, norm_mean=ds.norm_mean,
                                  norm_std=ds.norm_std, dataset=ds.name, seed=0)
            path = root / f"{kind}-{units}-{dataset}.pt"
            model.save(path)
            cache[key] = path
        return cache[key]

    return make


def _bundle_builder(root, suffix, export):
    """build(kind) -> (bundle path, ExportReport), exporting each kind once per session with
    every format whose extra is installed; ``export(kind, out, formats)`` returns the report."""
    from edgelnn.export.formats import FORMATS

    formats = [f for f in ("onnx", "tflite") if FORMATS[f].available() is None]
    cache: dict = {}

    def build(kind: str):
        if kind not in cache:
            out = root / f"{kind}-{suffix}"
            cache[kind] = (out, export(kind, out, formats))
        return cache[kind]

    return build


@pytest.fixture(scope="session")
def fp32_bundle(tmp_path_factory, export_checkpoint):
    """fp32 only; onnx step + seq graphs, tflite step graph (when the extra is installed);
    units 8, basicmotions (100-step sequences)."""
    from edgelnn.export import export_bundle

    return _bundle_builder(tmp_path_factory.mktemp("export-fp32"), "basicmotions", lambda kind, out, formats: export_bundle(
        export_checkpoint(kind), out, formats=formats, schemes=["fp32"],
        graphs={"onnx": ["step", "seq"], "tflite": ["step"]}))


# int8 checks tolerate any metric change here: untrained models have near-tied logits, so a
# tiny error flips argmax; the error bounds still apply.
LOOSE_METRIC = {s: {"metric_delta": 1.0} for s in
                ("fp16", "int8-weight", "int8-dynamic", "int8-static", "int16x8-static")}


@pytest.fixture(scope="session")
def scheme_bundle(tmp_path_factory, export_checkpoint):
    """Every scheme of every available format, step graph, units 64 (so int8 size ratios are
    not dominated by fixed overhead), target host."""
    from edgelnn.export import export_bundle

    return _bundle_builder(tmp_path_factory.mktemp("export-schemes"), "64", lambda kind, out, formats: export_bundle(
        export_checkpoint(kind, units=64), out, formats=formats, graphs=["step"], target="host",
        tolerances=LOOSE_METRIC))
# --- end export fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def c_cache(tmp_path_factory):
    """Compiled C libraries go to a test folder, not the user's ~/.cache (modules that compile
    C artifacts use it: ``pytestmark = pytest.mark.usefixtures("c_cache")``)."""
    import os

    old = os.environ.get("EDGELNN_CACHE_DIR")
    os.environ["EDGELNN_CACHE_DIR"] = str(tmp_path_factory.mktemp("c-cache"))
    yield
    if old is None:
        os.environ.pop("EDGELNN_CACHE_DIR", None)
    else:
        os.environ["EDGELNN_CACHE_DIR"] = old
