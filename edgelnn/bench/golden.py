"""Golden check: replay golden.npz through the artifact before anything is timed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..runtime import Golden, Runner


@dataclass
class GoldenResult:
    ok: bool
    max_abs: float
    tolerance: float
    sequences: int
    error: str | None = None


def golden_check(runner: Runner, golden: Golden, tolerance: float) -> GoldenResult:
    """Each golden sequence from the zero state; compare every valid step's output.

    Steps after a sequence's length are zero padding in golden.npz and are not compared.
    """
    lengths = np.asarray(golden.lengths, dtype=np.int64)
    y = runner.run_each(golden.x, golden.dt, lengths)
    valid = np.arange(y.shape[1])[None, :] < lengths[:, None]
    diff = np.abs(y - golden.y[:, :y.shape[1]])[valid]
    worst = float(diff.max()) if diff.size else 0.0
    if not np.isfinite(diff).all():
        worst = float("inf")
    ok = worst <= tolerance
    error = None if ok else (f"golden check failed: max |y - golden| {worst:.3g} > tolerance "
                             f"{tolerance:.3g} on this machine ({runner.runtime} "
                             f"{runner.runtime_version})")
    return GoldenResult(ok, worst, float(tolerance), int(len(golden.lengths)), error)
