"""Per-layer quantization sensitivity: which tensors of an int8 artifact carry the error.

Method (both formats): replay golden sequences through the fp32 artifact and the quantized one
with every intermediate tensor exposed. Both get the *same* inputs and the fp32 model's state
at every step (teacher forcing), so a tensor's error is the error this step's quantization adds,
not error compounded over time. Per tensor present in both graphs: SQNR (dB) = 10 log10(
sum ref^2 / sum (q - ref)^2), relative RMS error, and the relative error *added at that op*
(its output's relative error minus the largest of its inputs'), which points at where the
error enters. Weights are compared too
(dequantized int8 vs fp32) when the quantized file stores them under a recognisable name.

Torch-free: numpy, onnx + onnxruntime, ai_edge_litert.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runtime.integrity import sha256_file

MAX_SEQUENCES = 4
MAX_STEPS = 64


@dataclass
class TensorError:
    name: str
    label: str  # readable layer name, e.g. "time gate time_a" or "ODE unfold 3"
    op: str
    kind: str  # "activation" or "weight"
    sqnr_db: float
    rel_err: float
    max_abs: float
    added: float | None = None  # relative RMS error added at this op (activations)


@dataclass
class Sensitivity:
    bundle: str
    artifact: str
    reference: str
    format: str
    scheme: str
    tensors: list[TensorError] = field(default_factory=list)
    output_sqnr_db: float | None = None
    steps: int = 0
    note: str = ""
    error: str | None = None  # why it could not be computed

    def worst(self, n: int = 8, kind: str = "activation") -> list[TensorError]:
        """The n tensors where the most error enters (activations) / lowest SQNR (weights)."""
        ts = [t for t in self.tensors if t.kind == kind]
        if kind == "activation":
            return sorted(ts, key=lambda t: (-(t.added or 0.0), t.sqnr_db))[:n]
        return sorted(ts, key=lambda t: t.sqnr_db)[:n]


def compare(ref: np.ndarray, q: np.ndarray) -> tuple[float, float, float]:
    """(SQNR dB, relative RMS error, max abs error); SQNR is +inf for identical tensors."""
    ref = ref.astype(np.float64).ravel()
    err = q.astype(np.float64).ravel() - ref
    p_sig, p_err = float(np.mean(ref ** 2)), float(np.mean(err ** 2))
    sqnr = math.inf if p_err == 0 else (10 * math.log10(p_sig / p_err) if p_sig > 0 else -math.inf)
    rel = math.sqrt(p_err / p_sig) if p_sig > 0 else (0.0 if p_err == 0 else math.inf)
    return sqnr, rel, float(np.max(np.abs(err))) if err.size else 0.0


def golden_inputs(bundle: Path, max_sequences: int = MAX_SEQUENCES, max_steps: int = MAX_STEPS):
    """[(x[T,C], dt[T])] from golden.npz, at most ``max_sequences`` x ``max_steps``."""
    with np.load(bundle / "golden.npz") as g:
        x, dt, lengths = g["x"], g["dt"], g["lengths"]
    out = []
    for i in range(min(max_sequences, len(x))):
        n = int(min(lengths[i], max_steps))
        out.append((x[i, :n].astype(np.float32), dt[i, :n].astype(np.float32)))
    return out


def _reference_entry(manifest: dict, entry: dict) -> dict | None:
    for a in manifest.get("artifacts", []):
        if (a.get("format"), a.get("graph"), a.get("scheme")) == (entry.get("format"), entry.get("graph"), "fp32"):
            return a
    return None


def rebuild(bundle: Path, manifest: dict, entry: dict, ref: dict, folder: Path) -> tuple[Path, str]:
    """Re-make a rejected artifact (its file is not kept in the bundle) with the exporter's own
    quantizer from the bundle's fp32 artifact and calibration.npz. Needs the export extras."""
    from ..export.calibration import CalibrationData
    from ..export.formats import FORMATS
    from ..export.targets import target_settings

    fmt = FORMATS[entry["format"]]
    from ..schema import CALIBRATION, inside

    calib = CalibrationData.load(inside(bundle, (manifest.get("calibration") or {}).get("file") or CALIBRATION,
                                        "calibration file"))
    options = {"reduce_range": target_settings(manifest.get("target"))["reduce_range"]} if fmt.name == "onnx" else {}
    path = folder / entry["file"]
    fmt.load().quantize(bundle / ref["file"], entry["scheme"], calib, path, **options)
    same = "byte-identical" if sha256_file(path) == entry.get("sha256") else "not byte-identical"
    return path, f"rejected file rebuilt from the fp32 artifact + calibration.npz ({same})"


def analyse(bundle: str | Path, artifact: str, rebuild_rejected: bool = True) -> Sensitivity:
    """Sensitivity of ``artifact`` (a file name in the bundle's manifest) vs its fp32 sibling.

    A rejected artifact (kept out of the bundle) is rebuilt first when ``rebuild_rejected``.
    Never raises for a bundle problem: the reason lands in ``Sensitivity.error``.
    """
    bundle = Path(bundle)
    result = Sensitivity(bundle.name, artifact, "", "", "")
    try:
        from ..runtime.bundle import read_manifest

        manifest = read_manifest(bundle)   # every file name checked to stay inside the bundle
        entry = next((a for a in manifest.get("artifacts", []) if a.get("file") == artifact), None)
        rejected = next((a for a in manifest.get("rejected", []) if a.get("file") == artifact
                         and a.get("status", "rejected") == "rejected" and a.get("io")), None)
        if entry is None and rejected is not None and rebuild_rejected:
            entry = rejected
        if entry is None:
            raise FileNotFoundError(f"{artifact} is not in the bundle's manifest")
        result.format, result.scheme = entry.get("format", ""), entry.get("scheme", "")
        if entry.get("graph", "step") != "step":
            raise ValueError("only step graphs are analysed (see the step artifact of this scheme)")
        ref = _reference_entry(manifest, entry)
        if ref is None:
            raise FileNotFoundError(f"no fp32 {entry.get('format')} step artifact to compare with")
        result.reference = ref["file"]
        kind = manifest.get("model", {}).get("kind", "")
        seqs = golden_inputs(bundle)
        if result.format == "onnx":
            from .sensitivity_onnx import analyse_onnx as run
        elif result.format == "tflite":
            from .sensitivity_tflite import analyse_tflite as run
        else:
            raise ValueError(f"no sensitivity analysis for format {result.format!r}")
        with tempfile.TemporaryDirectory(prefix="edgelnn-sens-") as tmp:
            path = bundle / artifact
            if entry is rejected:
                path, result.note = rebuild(bundle, manifest, entry, ref, Path(tmp))
            result.tensors, result.output_sqnr_db, result.steps = run(
                bundle / ref["file"], path, ref, entry, seqs, kind)
    except Exception as exc:  # noqa: BLE001 - a report must not die on one artifact
        result.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return result


def added_at_ops(errors: dict[str, tuple[float, float, float]],
                 inputs_of: dict[str, list[str]]) -> dict[str, float]:
    """Relative error added at each op: its output's minus the largest of its compared inputs'."""
    added = {}
    for name, (_, rel, _) in errors.items():
        ins = [errors[i][1] for i in inputs_of.get(name, []) if i in errors]
        added[name] = max(0.0, rel - max(ins, default=0.0)) if math.isfinite(rel) else math.inf
    return added
