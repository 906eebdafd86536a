"""Each format's own checker, part of the export gate (issue 20): an artifact that fails it is
rejected with the checker's message and never enters a manifest.

- onnx: ``onnx.checker.check_model(full_check=True)`` and strict shape inference, then a few
  rollout steps through ``onnx.reference.ReferenceEvaluator`` beside onnxruntime (a runtime that
  trusts the spec must compute what onnxruntime computes).
- tflite: LiteRT's model analyzer reads the file, and every operator is a builtin LiteRT has
  (no custom op).
- c: the strict compile (``-std=c99 -Wall -Wextra -Werror -pedantic``) under every one of gcc
  and clang that is installed.

``check_format(fmt, path) -> str`` returns what was checked (the manifest's ``checked``) or
raises FormatCheckError.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .errors import ExportError

REFERENCE_SEQUENCES = 2      # rollouts run through the reference evaluator
REFERENCE_STEPS = 6          # steps of each (recurrent error compounds; a few show a wrong graph)


class FormatCheckError(ExportError):
    """An artifact fails its format's own checker (the message is the checker's)."""


def _line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def check_onnx(path: Path) -> str:
    import onnx

    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto, full_check=True)
        onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - the checker's own message is the reason
        raise FormatCheckError(f"{path.name} fails onnx.checker (full check, strict shape inference): "
                               f"{_line(exc)}") from None
    return f"onnx.checker full_check {onnx.__version__}, strict shape inference, reference evaluator"


def check_tflite(path: Path) -> str:
    try:
        from ai_edge_litert import _pywrap_analyzer_wrapper as analyzer
        from ai_edge_litert import schema_py_generated as fb
    except ImportError as exc:
        raise FormatCheckError(f"{path.name}: LiteRT's analyzer is not importable ({_line(exc)})") from None
    try:
        text = analyzer.ModelAnalyzer(str(path), True, False)
    except Exception as exc:  # noqa: BLE001
        raise FormatCheckError(f"{path.name} fails LiteRT's analyzer: {_line(exc)}") from None
    if not text.startswith("Your TFLite model has"):
        raise FormatCheckError(f"{path.name} fails LiteRT's analyzer: {' '.join(text.split())[:300]}")
    model = fb.Model.GetRootAsModel(path.read_bytes(), 0)
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == fb.BuiltinOperator.CUSTOM or code not in names:
            what = (oc.CustomCode() or b"?").decode("utf-8", "replace") if code == fb.BuiltinOperator.CUSTOM \
                else f"operator code {code}"
            raise FormatCheckError(f"{path.name} uses an op LiteRT does not have as a builtin: {what} "
                                   "(custom or unsupported ops are not shipped)")
    return "LiteRT analyzer, builtin ops only"


def check_c(path: Path) -> str:
    from .c.build import STRICT, strict_compile
    from .errors import ConversionError

    compilers = [[c] for c in ("gcc", "clang") if shutil.which(c)]
    if not compilers:
        from ..runtime.c.toolchain import require_cc
        compilers = [require_cc()]
    try:
        strict_compile(path, compilers)
    except ConversionError as exc:
        raise FormatCheckError(f"{path.name}: {exc}") from None
    return f"{' '.join(STRICT)} under {', '.join(c[0] for c in compilers)}"


CHECKERS = {"onnx": check_onnx, "tflite": check_tflite, "c": check_c}


def check_format(fmt: str, path) -> str:
    """What was checked, or FormatCheckError with the checker's message."""
    return CHECKERS[fmt](Path(path))


# -- the reference evaluator beside onnxruntime --------------------------------------------------
def _feeds(proto, x: np.ndarray, dt: np.ndarray, states: list[np.ndarray]) -> dict:
    names = [i.name for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    return dict(zip(names, [x, dt, *states]))


def _rollouts(proto, io: dict, x: np.ndarray, dt: np.ndarray, state_sizes: list[int], run) -> np.ndarray:
    """Every output of every step, concatenated (step graph: fed back one step at a time; seq
    graph: the window at once), for the given runner ``run(feeds) -> outputs``."""
    rank = len(proto.graph.input[0].type.tensor_type.shape.dim)
    outs = []
    for i in range(x.shape[0]):
        states = [np.zeros((1, s), np.float32) for s in state_sizes]
        if rank == 3:
            got = run(_feeds(proto, x[i:i + 1], dt[i:i + 1], states))
            outs += [np.ravel(g) for g in got]
            continue
        for t in range(x.shape[1]):
            got = run(_feeds(proto, x[i, t:t + 1], dt[i, t:t + 1].reshape(1, 1), states))
            states = [np.asarray(s, np.float32) for s in got[1:]]
            outs += [np.ravel(g) for g in got]
    return np.concatenate(outs) if outs else np.zeros(0, np.float32)


def reference_agreement(path, state_sizes: list[int], x: np.ndarray, dt: np.ndarray,
                        tolerance, span: float) -> dict:
    """Run the first REFERENCE_STEPS steps of REFERENCE_SEQUENCES rollouts through
    ``onnx.reference.ReferenceEvaluator`` and onnxruntime; FormatCheckError when they disagree by
    more than the scheme's error bound (max_abs, or rel_range of the reference output span).
    Returns {"steps", "max_abs"}."""
    import onnx
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    path = Path(path)
    proto = onnx.load(str(path))
    x = np.ascontiguousarray(x[:REFERENCE_SEQUENCES, :REFERENCE_STEPS], np.float32)
    dt = np.ascontiguousarray(dt[:REFERENCE_SEQUENCES, :REFERENCE_STEPS], np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in proto.graph.output]
    try:
        evaluator = ReferenceEvaluator(proto)
        ref = _rollouts(proto, {}, x, dt, state_sizes, lambda f: evaluator.run(outputs, f))
    except Exception as exc:  # noqa: BLE001 - the evaluator's message is the reason
        raise FormatCheckError(f"{path.name} does not run in onnx.reference.ReferenceEvaluator: "
                               f"{_line(exc)}") from None
    got = _rollouts(proto, {}, x, dt, state_sizes, lambda f: session.run(outputs, f))
    diff = float(np.abs(ref.astype(np.float64) - got.astype(np.float64)).max()) if got.size else 0.0
    bound = [b for b in ((tolerance.max_abs), (tolerance.rel_range * span if tolerance.rel_range is not None
                                                 and span > 0 else None)) if b is not None]
    limit = min(bound) if bound else 1e-4
    if not np.isfinite(diff) or diff > limit + 1e-12:
        raise FormatCheckError(f"{path.name}: onnx.reference.ReferenceEvaluator and onnxruntime disagree "
                               f"by {diff:.3g} > {limit:.3g} over {x.shape[0]}x{x.shape[1]} steps")
    return {"steps": int(x.shape[0] * x.shape[1]), "max_abs": float(f"{diff:.4g}")}
