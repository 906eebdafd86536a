"""The operator registry of the C generator, keyed by ONNX op type.

Each op says what kind of kernel it lowers to (element-wise, reduction, matrix-vector, view,
concatenation) and how it computes, in numpy: that reference semantics folds constants, finds
the shape of every tensor, calibrates the fixed-point scheme and is checked against
onnxruntime on random inputs before any C is written. An op that is not here makes the
artifact ``unsupported`` with its name; adding one is an entry here (and, for element-wise
ops, a C expression in ``emit.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Eval = Callable[[list, dict], list]


@dataclass(frozen=True)
class Op:
    name: str
    kind: str          # elementwise | reduce | gemm | matmul | view | concat | split | slice | const
    eval: Eval
    arity: int = 1     # element-wise inputs that are tensors (constants allowed)


def _sigmoid(a):
    return (1.0 / (1.0 + np.exp(-a.astype(np.float64)))).astype(np.float32)


def _f32(fn):
    return lambda ins, at: [np.asarray(fn(*ins), dtype=np.float32)]


def _axes(ins, at, pos=1):
    if len(ins) > pos and ins[pos] is not None and np.size(ins[pos]):
        return tuple(int(a) for a in np.asarray(ins[pos]).reshape(-1))
    if "axes" in at:
        return tuple(int(a) for a in at["axes"])
    return None


def _reduce(fn):
    def run(ins, at):
        axes = _axes(ins, at)
        if axes is None and at.get("noop_with_empty_axes", 0):
            return [ins[0]]
        keep = bool(at.get("keepdims", 1))
        return [np.asarray(fn(ins[0], axis=axes, keepdims=keep), dtype=np.float32)]
    return run


def _gemm(ins, at):
    a, b = ins[0], ins[1]
    if at.get("transA", 0):
        a = a.T
    if at.get("transB", 0):
        b = b.T
    y = at.get("alpha", 1.0) * (a @ b)
    if len(ins) > 2 and ins[2] is not None:
        y = y + at.get("beta", 1.0) * ins[2]
    return [y.astype(np.float32)]


def _unsqueeze(ins, at):
    x = ins[0]
    for a in sorted(_axes(ins, at)):
        x = np.expand_dims(x, a if a >= 0 else a + x.ndim + 1)
    return [x]


def _squeeze(ins, at):
    axes = _axes(ins, at)
    return [np.squeeze(ins[0], axis=axes) if axes is not None else np.squeeze(ins[0])]


def _reshape(ins, at):
    shape = [int(s) for s in np.asarray(ins[1]).reshape(-1)]
    shape = [ins[0].shape[i] if s == 0 and not at.get("allowzero", 0) else s for i, s in enumerate(shape)]
    return [ins[0].reshape(shape)]


def _flatten(ins, at):
    axis = int(at.get("axis", 1))
    x = ins[0]
    axis = axis if axis >= 0 else axis + x.ndim
    return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


def _slice(ins, at):
    x = ins[0]
    starts, ends = np.asarray(ins[1]).reshape(-1), np.asarray(ins[2]).reshape(-1)
    axes = np.asarray(ins[3]).reshape(-1) if len(ins) > 3 and ins[3] is not None else np.arange(len(starts))
    steps = np.asarray(ins[4]).reshape(-1) if len(ins) > 4 and ins[4] is not None else np.ones(len(starts), int)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = int(a) + (x.ndim if a < 0 else 0)
        n = x.shape[a]
        s, e = int(max(min(s, n), -n - 1)), int(max(min(e, n), -n - 1))
        index[a] = slice(s, e, int(st))
    return [x[tuple(index)]]


def _split(ins, at, n_out):
    x = ins[0]
    axis = int(at.get("axis", 0))
    axis = axis if axis >= 0 else axis + x.ndim
    if len(ins) > 1 and ins[1] is not None:
        sizes = [int(s) for s in np.asarray(ins[1]).reshape(-1)]
    elif "split" in at:
        sizes = [int(s) for s in at["split"]]
    else:
        k = n_out or int(at.get("num_outputs", 1))
        base = -(-x.shape[axis] // k)
        sizes = [min(base, x.shape[axis] - i * base) for i in range(k)]
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


def _concat(ins, at):
    return [np.concatenate(ins, axis=int(at["axis"]))]


def _transpose(ins, at):
    perm = at.get("perm")
    return [np.transpose(ins[0], perm)]


def _clip(ins, at):
    lo = ins[1] if len(ins) > 1 and ins[1] is not None and np.size(ins[1]) else at.get("min", -np.inf)
    hi = ins[2] if len(ins) > 2 and ins[2] is not None and np.size(ins[2]) else at.get("max", np.inf)
    return [np.clip(ins[0], lo, hi).astype(np.float32)]


def _cast(ins, at):
    to = int(at.get("to", 1))
    dtype = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}.get(to)
    if dtype is None:
        raise ValueError(f"Cast to ONNX type {to}")
    return [ins[0].astype(dtype)]


def _softplus(a):
    a = a.astype(np.float64)
    return np.where(a > 20, a, np.log1p(np.exp(np.minimum(a, 20)))).astype(np.float32)


OPS: dict[str, Op] = {}


def _add(op: Op) -> None:
    OPS[op.name] = op


for _name, _fn in {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
                   "Pow": np.power, "Max": np.maximum, "Min": np.minimum}.items():
    _add(Op(_name, "elementwise", _f32(_fn), arity=2))
for _name, _fn in {
        "Sigmoid": _sigmoid, "Tanh": np.tanh, "Exp": np.exp, "Log": np.log, "Neg": np.negative,
        "Abs": np.abs, "Sqrt": np.sqrt, "Reciprocal": np.reciprocal, "Softplus": _softplus,
        "Relu": lambda a: np.maximum(a, 0), "Identity": lambda a: a}.items():
    _add(Op(_name, "elementwise", _f32(_fn)))
_add(Op("Clip", "elementwise", _clip))
_add(Op("LeakyRelu", "elementwise",
        lambda ins, at: [np.where(ins[0] >= 0, ins[0], at.get("alpha", 0.01) * ins[0]).astype(np.float32)]))
_add(Op("HardSigmoid", "elementwise", lambda ins, at: [np.clip(
    at.get("alpha", 0.2) * ins[0] + at.get("beta", 0.5), 0, 1).astype(np.float32)]))
_add(Op("ReduceSum", "reduce", _reduce(np.sum)))
_add(Op("ReduceMean", "reduce", _reduce(np.mean)))
_add(Op("ReduceMax", "reduce", _reduce(np.max)))
_add(Op("Gemm", "gemm", _gemm))
_add(Op("MatMul", "matmul", lambda ins, at: [np.matmul(ins[0], ins[1]).astype(np.float32)]))
_add(Op("Unsqueeze", "view", _unsqueeze))
_add(Op("Squeeze", "view", _squeeze))
_add(Op("Reshape", "view", _reshape))
_add(Op("Flatten", "view", _flatten))
_add(Op("Slice", "slice", _slice))
_add(Op("Split", "split", lambda ins, at: _split(ins, at, at.get("_n_out"))))
_add(Op("Concat", "concat", _concat))
# Only ever applied to constants (folded away); on activations they are unsupported.
for _name, _fn in {"Transpose": _transpose, "Cast": _cast,
                   "Shape": lambda ins, at: [np.asarray(ins[0].shape, dtype=np.int64)],
                   "Gather": lambda ins, at: [np.take(ins[0], ins[1], axis=int(at.get("axis", 0)))],
                   "ConstantOfShape": lambda ins, at: [np.full(
                       [int(v) for v in ins[0]], 0.0 if "value" not in at else at["value"].reshape(-1)[0],
                       dtype=np.float32 if "value" not in at else at["value"].dtype)],
                   "Expand": lambda ins, at: [ins[0] * np.ones([int(v) for v in ins[1]], ins[0].dtype)],
                   "Range": lambda ins, at: [np.arange(ins[0], ins[1], ins[2])],
                   "Equal": lambda ins, at: [np.equal(ins[0], ins[1])],
                   "Where": lambda ins, at: [np.where(ins[0], ins[1], ins[2])]}.items():
    _add(Op(_name, "const", _fn))

ELEMENTWISE = {n for n, o in OPS.items() if o.kind == "elementwise"}


def supported() -> list[str]:
    """ONNX op types the generator lowers (constant-only ops excluded)."""
    return sorted(n for n, o in OPS.items() if o.kind != "const")
