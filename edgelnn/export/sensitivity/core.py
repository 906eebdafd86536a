"""Per-tensor quantization error: the measure shared by the report (where the error enters)
and ``--quant auto`` (which ops to keep at higher precision).

Both models get the *same* inputs and the fp32 model's state at every step (teacher forcing),
so a tensor's error is the error this step's quantization adds, not error compounded over
time. Per tensor present in both graphs: SQNR (dB) = 10 log10(sum ref^2 / sum (q - ref)^2),
relative RMS error, and the relative error *added at that op* (its output's relative error
minus the largest of its inputs'), which points at where the error enters.

Torch-free: numpy, onnx + onnxruntime, ai_edge_litert.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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
    tensor: str = ""  # the full tensor name in the file (``name`` may be shortened for reading)
    added_peak: float | None = None  # peak error / the tensor's range, added at this op (activations)


def compare(ref: np.ndarray, q: np.ndarray) -> tuple[float, float, float]:
    """(SQNR dB, relative RMS error, max abs error); SQNR is +inf for identical tensors."""
    ref = ref.astype(np.float64).ravel()
    err = q.astype(np.float64).ravel() - ref
    p_sig, p_err = float(np.mean(ref ** 2)), float(np.mean(err ** 2))
    sqnr = math.inf if p_err == 0 else (10 * math.log10(p_sig / p_err) if p_sig > 0 else -math.inf)
    rel = math.sqrt(p_err / p_sig) if p_sig > 0 else (0.0 if p_err == 0 else math.inf)
    return sqnr, rel, float(np.max(np.abs(err))) if err.size else 0.0


def added_at_ops(errors: dict[str, tuple[float, float, float]],
                 inputs_of: dict[str, list[str]]) -> dict[str, float]:
    """Relative error added at each op: its output's minus the largest of its compared inputs'."""
    added = {}
    for name, (_, rel, _) in errors.items():
        ins = [errors[i][1] for i in inputs_of.get(name, []) if i in errors]
        added[name] = max(0.0, rel - max(ins, default=0.0)) if math.isfinite(rel) else math.inf
    return added


def span(ref: np.ndarray) -> float:
    return float(np.max(ref) - np.min(ref)) if ref.size else 0.0


def peak_added_at_ops(errors: dict[str, tuple[float, float, float]], spans: dict[str, float],
                      inputs_of: dict[str, list[str]]) -> dict[str, float]:
    """Like ``added_at_ops`` for the peak error relative to each tensor's range (what the parity
    gate bounds): a clipped range shows here at full size while it hardly moves an RMS."""
    peak = {n: (0.0, (e[2] / spans[n]) if spans.get(n) else (0.0 if e[2] == 0 else math.inf), e[2])
            for n, e in errors.items()}
    return added_at_ops(peak, inputs_of)
