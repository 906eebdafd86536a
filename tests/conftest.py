"""Shared pytest fixtures. Each section is owned by the engineer of that stage."""
from __future__ import annotations

# --- runtime / bench fixtures (runtime engineer) ---------------------------------------------
# A tiny real export bundle (LSTM, 8 units: two state tensors, the harder binding case), built
# by edgelnn.export.export_bundle (every format and scheme); where the exporter is not
# importable, the bundle layout of export/README.md is written by hand (torch.onnx + litert-torch).
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

TINY = {"kind": "lstm", "input_size": 3, "output_size": 2, "units": 8, "steps": 10, "chunk": 5}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tiny_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    t, c = TINY["steps"], TINY["input_size"]
    x = rng.standard_normal((n, t, c)).astype(np.float32)
    dt = rng.uniform(0.5, 1.5, (n, t)).astype(np.float32)
    lengths = rng.integers(t // 2, t + 1, n).astype(np.int64)
    lengths[0] = t
    for i, L in enumerate(lengths):
        x[i, L:] = 0.0
        dt[i, L:] = 1.0
    return x, dt, lengths


def _build_by_hand(out: Path) -> Path:
    import torch

    from edgelnn import metrics, models
    from edgelnn.export.graphs import StepGraph, WindowGraph, io_names, sample_inputs

    torch.manual_seed(0)
    model = models.create(TINY["kind"], TINY["input_size"], TINY["output_size"], units=TINY["units"],
                          task="classification", label_names=["a", "b"], dataset="tiny")
    model.eval()
    name = out.name
    out.mkdir(parents=True)
    ins, outs = io_names(model)
    chunk = TINY["chunk"]

    def torch_y(x, dt):
        with torch.no_grad():
            return model(torch.from_numpy(x), torch.from_numpy(dt)).numpy()

    files = []
    step_args = sample_inputs(model, 1)
    seq_args = sample_inputs(model, 1, chunk)
    with torch.no_grad():
        p = out / f"{name}.step.fp32.onnx"
        torch.onnx.export(StepGraph(model), step_args, str(p), input_names=ins, output_names=outs,
                          dynamo=False, opset_version=17)
        files.append(("onnx", "step", "fp32", None, p))
        p = out / f"{name}.seq.fp32.onnx"
        torch.onnx.export(WindowGraph(model, chunk), seq_args, str(p), input_names=ins,
                          output_names=outs, dynamo=False, opset_version=17)
        files.append(("onnx", "seq", "fp32", chunk, p))
    from onnxruntime.quantization import QuantType, quantize_dynamic

    p = out / f"{name}.step.int8-dynamic.onnx"
    quantize_dynamic(str(out / f"{name}.step.fp32.onnx"), str(p), weight_type=QuantType.QInt8)
    files.append(("onnx", "step", "int8-dynamic", None, p))
    import litert_torch

    for graph, module, args in (("step", StepGraph(model), step_args),
                                ("seq", WindowGraph(model, chunk), seq_args)):
        p = out / f"{name}.{graph}.fp32.tflite"
        litert_torch.convert(module.eval(), args).export(str(p))
        files.append(("tflite", graph, "fp32", chunk if graph == "seq" else None, p))

    gx, gdt, glen = _tiny_data(3, 1)
    np.savez(out / "golden.npz", x=gx, dt=gdt, lengths=glen, y=torch_y(gx, gdt))
    ex, edt, elen = _tiny_data(12, 2)
    ey = np.random.default_rng(3).integers(0, 2, 12).astype(np.int64)
    sx = (ex + np.random.default_rng(4).normal(0, 0.3, ex.shape)).astype(np.float32)
    np.savez(out / "eval.npz", test_x=ex, test_dt=edt, test_lengths=elen, test_y=ey,
             s0_x=sx, s0_dt=edt, s0_lengths=elen)
    ref = metrics.score(metrics.last_valid(torch_y(ex, edt), elen), ey, "classification")
    ref_s0 = metrics.score(metrics.last_valid(torch_y(sx, edt), elen), ey, "classification")

    fp32_bytes = {(f, g): p.stat().st_size for f, g, s, _, p in files if s == "fp32"}
    artifacts = []
    for fmt, graph, scheme, ch, p in files:
        tol = 1e-4 if scheme == "fp32" else 0.1
        artifacts.append({
            "file": p.name, "format": fmt, "graph": graph, "scheme": scheme, "chunk": ch,
            "sha256": _sha(p), "bytes": p.stat().st_size,
            "size_ratio": p.stat().st_size / fp32_bytes[(fmt, graph)], "quantized": scheme != "fp32",
            "note": "", "io": {"inputs": ins, "outputs": outs},
            "parity": {"passed": True, "max_abs": 0.0, "steps": TINY["steps"]},
            "golden": {"max_abs_host": 0.0, "tolerance": tol}, "tools": {}})
    state = [{"name": s, "size": size, "input": s, "output": f"{s}_out"}
             for s, size in model.state_spec]
    manifest = {
        "schema": "edgelnn-bundle", "schema_version": 1, "name": name,
        "created": "2026-01-01T00:00:00Z", "edgelnn_version": "0.1.0",
        "model": {**model.config, "params": model.param_count()},
        "dataset": {"name": "tiny", "task": "classification", "metric": "accuracy",
                    "label_names": ["a", "b"], "nominal_dt": 1.0, "target_mean": 0.0,
                    "target_std": 1.0},
        "normalisation": {"mean": [0.0] * 3, "std": [1.0] * 3},
        "reference": {"metric": "accuracy", "test": ref},
        "tensors": {"step": {"inputs": [], "outputs": [], "state": state}},
        "artifacts": artifacts,
        "rejected": [{"file": f"{name}.step.int8-static.onnx", "format": "onnx", "graph": "step",
                      "scheme": "int8-static", "reason": "parity max_abs 0.9 > 0.05"}],
        "unsupported": [{"format": "tflite", "graph": "seq", "scheme": "int8-static",
                         "reason": "not in this tiny bundle"}],
        "golden_file": "golden.npz",
        "evaluation": {"file": "eval.npz", "metric": "accuracy", "reference": ref,
                       "shifts": [{"key": "s0", "shift": "noise", "level": 10.0,
                                   "reference": ref_s0}]},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out


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
    digest = hashlib.sha256(json.dumps([TINY, EXPORTED]).encode())
    for sub in ("export", "models", "data", "metrics.py", "runtime"):
        for f in sorted((root / sub).rglob("*.py")) if (root / sub).is_dir() else [root / sub]:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def build_tiny_bundle(out: Path) -> Path:
    try:
        import edgelnn.export.bundle  # noqa: F401
    except ImportError:
        return _build_by_hand(out)
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

# --- targets fixtures (targets engineer): a real sshd on 127.0.0.1 and torch-free device venvs ---
from sshd import device_python, numpy_only_python, sshd_server  # noqa: E402,F401
# --- end targets fixtures --------------------------------------------------------------------

# --- export fixtures (export engineer) -------------------------------------------------------
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


@pytest.fixture(scope="session")
def fp32_bundle(tmp_path_factory, export_checkpoint):
    """build(kind) -> (bundle path, ExportReport): fp32 only; onnx step + seq graphs, tflite step
    graph (when the extra is installed); units 8, basicmotions (100-step sequences)."""
    from edgelnn.export import export_bundle
    from edgelnn.export.formats import FORMATS

    root = tmp_path_factory.mktemp("export-fp32")
    formats = [f for f in ("onnx", "tflite") if FORMATS[f].available() is None]
    cache: dict = {}

    def build(kind: str):
        if kind not in cache:
            out = root / f"{kind}-basicmotions"
            report = export_bundle(export_checkpoint(kind), out, formats=formats, schemes=["fp32"],
                                   graphs={"onnx": ["step", "seq"], "tflite": ["step"]})
            cache[kind] = (out, report)
        return cache[kind]

    return build


# int8 checks tolerate any metric change here: untrained models have near-tied logits, so a
# tiny error flips argmax; the error bounds still apply.
LOOSE_METRIC = {s: {"metric_delta": 1.0} for s in
                ("fp16", "int8-weight", "int8-dynamic", "int8-static", "int16x8-static")}


@pytest.fixture(scope="session")
def scheme_bundle(tmp_path_factory, export_checkpoint):
    """build(kind) -> (bundle path, ExportReport): every scheme of every available format, step
    graph, units 64 (so int8 size ratios are not dominated by fixed overhead), target host."""
    from edgelnn.export import export_bundle
    from edgelnn.export.formats import FORMATS

    root = tmp_path_factory.mktemp("export-schemes")
    formats = [f for f in ("onnx", "tflite") if FORMATS[f].available() is None]
    cache: dict = {}

    def build(kind: str):
        if kind not in cache:
            out = root / f"{kind}-64"
            report = export_bundle(export_checkpoint(kind, units=64), out, formats=formats,
                                   graphs=["step"], target="host", tolerances=LOOSE_METRIC)
            cache[kind] = (out, report)
        return cache[kind]

    return build
# --- end export fixtures ---------------------------------------------------------------------
