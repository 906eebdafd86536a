"""Export: ONNX and TFLite bundles, quantized, every artifact checked against PyTorch.

Public surface: ``export_bundle`` / ``ExportReport`` (``edgelnn.export.bundle``),
``CalibrationData`` (``edgelnn.export.calibration``), the ``FORMATS`` registry
(``edgelnn.export.formats``). Imported lazily so ``import edgelnn.export`` stays cheap.
"""
from __future__ import annotations

from .calibration import CalibrationData

__all__ = ["CalibrationData", "ExportReport", "FORMATS", "export_bundle"]


def __getattr__(name):
    if name in ("export_bundle", "ExportReport"):
        from . import bundle
        return getattr(bundle, name)
    if name == "FORMATS":
        from .formats import FORMATS
        return FORMATS
    raise AttributeError(name)
