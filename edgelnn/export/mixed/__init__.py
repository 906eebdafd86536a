"""``--quant auto``: the smallest quantized artifact within an accuracy budget, by per-op
mixed precision (int8 -> int16 activations -> float), guided by measured sensitivity.

Layout: ``plan.py`` (units, plans, the ``Planner`` protocol a format implements),
``search.py`` (the format-agnostic search and its ``Budget``), ``onnx_plan.py`` and
``tflite_plan.py`` (the planners), ``export.py`` (the bundle step that runs it).
A format takes part by registering ``"module:Class"`` in ``PLANNERS`` (keyed by the format's
name) and a module-level ``available() -> str | None``. The bundle constructs it as
``Class(fp32_step_artifact, calibration, kind=..., io=..., workdir=..., **format options)``
(ONNX also gets ``reduce_range``, C the model) and then only uses the ``Planner`` protocol, plus
three optional members: ``gate_scheme`` (whose gate the artifact passes; default int8-static),
``entry(path)`` (manifest fields the runtime needs to open a candidate) and ``place(plan, path)``
(write the chosen plan under its bundle name instead of moving the candidate file).
"""
from __future__ import annotations

import importlib

AUTO = "auto"
PLANNERS: dict[str, str] = {
    "onnx": "edgelnn.export.mixed.onnx_plan:OnnxPlanner",
    "tflite": "edgelnn.export.mixed.tflite_plan:TFLitePlanner",
    "c": "edgelnn.export.mixed.c_plan:CPlanner",
}


def has_planner(fmt: str) -> bool:
    return fmt in PLANNERS


def planner_class(fmt: str):
    """(class, why-unavailable or None) of the format's planner; KeyError when it has none."""
    module_name, cls = PLANNERS[fmt].split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - a missing extra can fail in many ways
        return None, f"--quant auto for {fmt} is unavailable ({type(exc).__name__}: {exc})"
    why = module.available() if hasattr(module, "available") else None
    return getattr(module, cls), why


__all__ = ["AUTO", "PLANNERS", "has_planner", "planner_class"]
