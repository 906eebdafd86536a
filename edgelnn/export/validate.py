"""The parity gate: an artifact runs in its real runtime and is compared with PyTorch.

Whole sequences are stepped from the zero state (recurrent error compounds, so one step
proves nothing); figures: max abs error, that error relative to the reference output range,
and the task-metric change. Tolerances per scheme (``DEFAULT_TOLERANCES``, justified in
export/README.md), overridable as ``{"int8-static": {"rel_range": 0.2}}`` or ``"int8-static=0.2"``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import metrics
from .errors import UnknownNameError


@dataclass(frozen=True)
class Tolerance:
    """Pass when every bound that is set holds. ``metric_delta``: allowed worsening of the task
    metric (accuracy points; for RMSE in units of the target's std)."""

    max_abs: float | None = None
    rel_range: float | None = None
    metric_delta: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(max_abs=1e-4),
    "fp16": Tolerance(max_abs=1e-2, metric_delta=0.05),
    "int8-weight": Tolerance(rel_range=0.1, metric_delta=0.05),
    "int8-dynamic": Tolerance(rel_range=0.1, metric_delta=0.05),
    "int8-static": Tolerance(rel_range=0.2, metric_delta=0.05),
    "int16x8-static": Tolerance(rel_range=0.1, metric_delta=0.02),
    "int16-fixed": Tolerance(rel_range=0.1, metric_delta=0.05),
    "int16x8-dynamic": Tolerance(rel_range=0.1, metric_delta=0.05),     # int8-weight's
}
_KEY = {"fp32": "max_abs", "fp16": "max_abs"}  # which bound a bare number sets; else rel_range


def parse_tolerances(spec) -> dict[str, Tolerance]:
    """Defaults updated by ``spec``: a dict {scheme: number | {bound: value}} or a list of
    ``"scheme=value"`` / ``"scheme.bound=value"`` strings (the CLI's ``--tolerance``)."""
    result = dict(DEFAULT_TOLERANCES)
    if not spec:
        return result
    items = []
    if isinstance(spec, dict):
        for scheme, value in spec.items():
            if isinstance(value, Tolerance):
                result[_known(scheme)] = value
            elif isinstance(value, dict):
                items += [(scheme, bound, v) for bound, v in value.items()]
            else:
                items.append((scheme, None, value))
    else:
        for text in spec:
            key, sep, value = str(text).partition("=")
            if not sep:
                raise UnknownNameError(f"bad tolerance {text!r}; use SCHEME=VALUE or SCHEME.BOUND=VALUE "
                                       "(bounds: max_abs, rel_range, metric_delta)")
            scheme, _, bound = key.strip().partition(".")
            items.append((scheme, bound or None, value))
    for scheme, bound, value in items:
        scheme = _known(scheme)
        bound = bound or _KEY.get(scheme, "rel_range")
        if bound not in ("max_abs", "rel_range", "metric_delta"):
            raise UnknownNameError(f"unknown tolerance bound {bound!r}; use max_abs, rel_range or metric_delta")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UnknownNameError(f"tolerance for {scheme} must be a number, got {value!r}") from None
        if not (number >= 0 and number != float("inf")):
            raise UnknownNameError(f"tolerance for {scheme} must be a finite number >= 0, got {value!r}")
        result[scheme] = Tolerance(**{**asdict(result[scheme]), bound: number})
    return result


def _known(scheme: str) -> str:
    if scheme not in DEFAULT_TOLERANCES:
        raise UnknownNameError(f"tolerance for unknown scheme {scheme!r}; known: {', '.join(DEFAULT_TOLERANCES)}")
    return scheme


@dataclass
class Reference:
    """Sequences and the PyTorch fp32 per-step outputs on them (zero initial state)."""

    x: np.ndarray          # (N, T, C)
    dt: np.ndarray         # (N, T)
    lengths: np.ndarray    # (N,)
    y: np.ndarray          # (N,) class or (N, O) target
    outputs: np.ndarray    # (N, T, O) PyTorch
    task: str
    target_std: float = 1.0
    source: str = ""

    @classmethod
    def from_split(cls, model, split, task: str, target_std: float = 1.0, source: str = "") -> "Reference":
        return cls(split.x.astype(np.float32), split.dt.astype(np.float32), split.lengths.astype(np.int64),
                   split.y, torch_outputs(model, split.x, split.dt), task, target_std, source)

    @property
    def steps(self) -> int:
        return int(self.lengths.sum())

    def metric(self, outputs: np.ndarray) -> float:
        return metrics.score_outputs(outputs, self.lengths, self.y, self.task, self.target_std)


def torch_outputs(model, x: np.ndarray, dt: np.ndarray, batch: int = 256) -> np.ndarray:
    """PyTorch fp32 per-step outputs (N, T, O) from the zero state."""
    import torch

    parts = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            parts.append(model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch], np.float32)),
                               torch.from_numpy(np.ascontiguousarray(dt[i:i + batch], np.float32))).numpy())
    return np.concatenate(parts) if parts else np.zeros((0, x.shape[1], model.output_size), np.float32)


def run_artifact(path, entry: dict, state_sizes: list[int], x, dt, lengths) -> np.ndarray:
    """Each sequence through the artifact in its real runtime (``edgelnn.runtime``), from the zero
    state, valid steps only; returns (N, T, O) with zeros after each length."""
    from ..runtime import open_runner

    runner = open_runner(Path(path), entry, state_sizes, threads=1)
    try:
        return runner.run_each(x, dt, lengths)
    finally:
        runner.close()


def compare(outputs: np.ndarray, ref: Reference, tolerance: Tolerance) -> dict:
    """Parity figures of artifact ``outputs`` against ``ref`` and the pass/fail verdict."""
    mask = np.arange(ref.x.shape[1])[None, :] < ref.lengths[:, None]
    diff = np.abs(outputs - ref.outputs)[mask]
    finite = bool(np.isfinite(outputs[mask]).all())
    max_abs = float(diff.max()) if finite and diff.size else float("inf")
    valid = ref.outputs[mask]
    span = float(valid.max() - valid.min()) if valid.size else 0.0
    rel = max_abs / span if span > 0 else (0.0 if max_abs == 0 else float("inf"))
    m_ref = ref.metric(ref.outputs)
    m_art = ref.metric(np.nan_to_num(outputs)) if finite else float("nan")
    worse = (m_ref - m_art) if ref.task == "classification" else (m_art - m_ref) / (ref.target_std or 1.0)
    checks = []
    if tolerance.max_abs is not None:
        checks.append(("max_abs", max_abs, tolerance.max_abs))
    if tolerance.rel_range is not None:
        checks.append(("rel_range", rel, tolerance.rel_range))
    if tolerance.metric_delta is not None:
        checks.append(("metric_delta", worse, tolerance.metric_delta))
    failed = [f"{k} {v:.3g} > {t:.3g}" for k, v, t in checks if not (v <= t + 1e-12)]
    if not finite:
        failed.insert(0, "non-finite outputs")
    return {"passed": not failed, "max_abs": _r(max_abs), "rel_range": _r(rel),
            "steps": ref.steps, "sequences": int(len(ref.lengths)), "max_steps": int(ref.lengths.max()),
            "metric_fp32": _r(m_ref), "metric": _r(m_art), "metric_delta": _r(worse),
            "tolerance": tolerance.to_dict(), "data": ref.source,
            "reason": "; ".join(failed) if failed else None}


GAP_FACTORS = (50.0, 100.0)   # dt gaps the parity gate of C artifacts replays, x the median dt
GAP_SEQUENCES = 8


def gap_reference(model, ref: Reference) -> Reference:
    """Up to GAP_SEQUENCES of ``ref``'s sequences with one sensor gap each of GAP_FACTORS x the
    median dt (at 1/3 and 2/3 of the sequence), and PyTorch's outputs on them: a scheme that
    cannot represent such a gap fails the gate instead of shipping."""
    mask = np.arange(ref.x.shape[1])[None, :] < ref.lengths[:, None]
    median = float(np.median(ref.dt[mask])) if mask.any() else 1.0
    idx = np.flatnonzero(ref.lengths >= 3)[:GAP_SEQUENCES]
    x, dt, lengths = ref.x[idx].copy(), ref.dt[idx].copy(), ref.lengths[idx].copy()
    for i, n in enumerate(lengths):
        for k, factor in enumerate(GAP_FACTORS):
            dt[i, (k + 1) * int(n) // (len(GAP_FACTORS) + 1)] = factor * median
    return Reference(x, dt, lengths, ref.y[idx], torch_outputs(model, x, dt), ref.task, ref.target_std,
                     f"{ref.source} with dt gaps of {'/'.join(f'{f:g}' for f in GAP_FACTORS)}x the median "
                     f"dt ({median:.4g})")


def compare_gaps(outputs: np.ndarray, gaps: Reference, tolerance: Tolerance) -> dict:
    """``compare`` on the gap sequences with the error bounds of ``tolerance`` (the task metric of
    a handful of gapped sequences says nothing)."""
    out = compare(outputs, gaps, Tolerance(tolerance.max_abs, tolerance.rel_range,
                                           None if (tolerance.max_abs or tolerance.rel_range) else
                                           tolerance.metric_delta))
    return {"passed": out["passed"], "max_abs": out["max_abs"], "rel_range": out["rel_range"],
            "sequences": out["sequences"], "gap_factors": list(GAP_FACTORS), "data": gaps.source,
            "reason": out["reason"]}


def _r(v: float) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else float(f"{v:.4g}")


def validate(path, entry: dict, state_sizes: list[int], ref: Reference, tolerance: Tolerance) -> dict:
    """Run the artifact on ``ref``'s sequences in its runtime and compare (see ``compare``)."""
    outputs = run_artifact(path, entry, state_sizes, ref.x, ref.dt, ref.lengths)
    return compare(outputs, ref, tolerance)
