"""TFLite artifacts: litert-torch conversion and ai-edge-quantizer schemes (``tflite`` extra).

Public surface (what the export orchestrator calls through its format registry)::

    available() -> str | None                       # None, or why the extra is unusable
    convert(model, graph, out_path, chunk=None) -> {"io": {...}, "note": str, "signature": str}
    quantize(fp32_path, scheme, calibration, out_path) -> {"quantized": bool, "note": str}
    SCHEMES                                         # ("fp16", "int8-weight", ...)
    RECIPES                                         # scheme name -> Scheme (recipe builder)

Nothing heavy is imported here: litert-torch, ai-edge-quantizer and ai-edge-litert are
imported inside the functions that need them, so ``import edgelnn.export`` stays cheap and
works without the extra.
"""
from __future__ import annotations

INSTALL_HINT = "pip install 'edgelnn[tflite]'"
_PACKAGES = (("litert_torch", "litert-torch"), ("ai_edge_quantizer", "ai-edge-quantizer"),
             ("ai_edge_litert.interpreter", "ai-edge-litert"))


def available() -> str | None:
    """None when the three packages import; else a one-line reason with the install hint."""
    import importlib

    for module, package in _PACKAGES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # ImportError, or a broken native library
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"TFLite export needs {package} ({reason}); install it with {INSTALL_HINT}"
    return None


from .conversion import GRAPHS, TFLiteExportError, convert  # noqa: E402  (torch only)
from .quantization import RECIPES, SCHEMES, Scheme, quantize  # noqa: E402  (lazy inside)

__all__ = ["GRAPHS", "INSTALL_HINT", "RECIPES", "SCHEMES", "Scheme", "TFLiteExportError",
           "available", "convert", "quantize"]
