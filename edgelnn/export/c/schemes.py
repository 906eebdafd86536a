"""C schemes, keyed by the names users type, and their per-tensor precision plans.

A scheme fixes how the generated code computes (float, or integer only) and, through
``plan()``, the storage precision of every constant tensor. The plan is a plain dict
{tensor name: "fp32" | "int8" | "int16"} that callers may override tensor by tensor
(``precision=``), so a mixed-precision search can drive it without a new scheme.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CScheme:
    name: str
    compute: str              # "float" (FPU) or "fixed" (integers only, float API wrappers)
    matrix: str               # precision of matrix-vector weights
    loop_matrix: str          # precision of other constant matrices (read element-wise in loops)
    vector: str               # precision of constant vectors (biases, per-neuron constants)
    description: str
    matvec: str = "float"     # dense int8 matrix-vector products: "float", or "q15" (integer, q15.py)

    def plan(self, consts: dict[str, np.ndarray], matrices: set[str] = frozenset()) -> dict[str, str]:
        """Default precision of each constant: matrix-vector weights ``matrix``, other
        matrices ``loop_matrix``, vectors ``vector``; scalars always stay literals."""
        out = {}
        for name, value in consts.items():
            v = np.asarray(value)
            if v.size <= 1 or v.dtype.kind not in "f":
                continue
            dims = [d for d in v.shape if d != 1]
            if name in matrices:
                out[name] = self.matrix
            else:
                out[name] = self.loop_matrix if len(dims) >= 2 else self.vector
        return out


SCHEMES: dict[str, CScheme] = {
    "fp32": CScheme("fp32", "float", "fp32", "fp32", "fp32",
                    "float32 weights and arithmetic"),
    "int8-weight": CScheme("int8-weight", "float", "int8", "int8", "fp32",
                           "int8 weight matrices (per-channel scales where a channel holds >= 32 "
                           "values, else per tensor), float32 arithmetic: for cores with an FPU"),
    "int16-fixed": CScheme("int16-fixed", "fixed", "int8", "int16", "int16",
                           "integer only: int16 activations and state (power-of-two scales from "
                           "calibration), int8 weight matrices, int32 accumulation, table-driven "
                           "sigmoid/tanh; float entry points convert at the edges"),
    "int16x8-dynamic": CScheme("int16x8-dynamic", "float", "int8", "int8", "fp32",
                               "int8 weight matrices as int8-weight; each dense matrix-vector product "
                               "quantizes its input vector to int16 with one scale per call and sums "
                               "in int32 (SMLAD on Cortex-M with the DSP extension, the same integers "
                               "in plain C elsewhere), one float rescale per output; float32 elsewhere",
                               matvec="q15"),
}


def get(name: str) -> CScheme:
    from ..errors import UnknownNameError

    if name not in SCHEMES:
        raise UnknownNameError(f"unknown C scheme {name!r}; known: {', '.join(SCHEMES)}")
    return SCHEMES[name]
