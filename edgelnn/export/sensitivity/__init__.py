"""Per-tensor quantization sensitivity of a quantized step graph against its fp32 sibling.

``analyse_pair(format, fp32_path, q_path, fp32_entry, q_entry, seqs, kind)`` ->
(tensor errors, output SQNR dB, steps). Used by the report (where an int8 artifact's error
enters) and by ``--quant auto`` (which ops to keep at higher precision). Torch-free.
"""
from __future__ import annotations

from .core import TensorError, added_at_ops, compare

ANALYSERS = {"onnx": "edgelnn.export.sensitivity.onnx_tensors:analyse_onnx",
             "tflite": "edgelnn.export.sensitivity.tflite_tensors:analyse_tflite"}


def analyse_pair(fmt: str, ref_path, q_path, ref_entry: dict, q_entry: dict, seqs, kind: str):
    """Teacher-forced per-tensor errors of ``q_path`` vs ``ref_path`` (step graphs of ``fmt``)."""
    import importlib

    if fmt not in ANALYSERS:
        raise ValueError(f"no sensitivity analysis for format {fmt!r}")
    module, func = ANALYSERS[fmt].split(":")
    return getattr(importlib.import_module(module), func)(ref_path, q_path, ref_entry, q_entry, seqs, kind)


__all__ = ["ANALYSERS", "TensorError", "added_at_ops", "analyse_pair", "compare"]
