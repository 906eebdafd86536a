"""Typed export errors. Each message is one clear line (the CLI prints it as ``error: ...``)."""
from __future__ import annotations

from ..errors import EdgeLNNError, ParityError, RuntimeMissingError

__all__ = ["ConversionError", "ExportError", "NothingPassedError", "ParityError", "RuntimeMissingError",
           "ShapeError", "UnknownNameError", "UnsupportedError"]


class ExportError(EdgeLNNError):
    """Base of export failures."""


class NothingPassedError(ExportError):
    """No artifact passed the parity gate: no bundle is written and an existing one at ``out``
    stays as it was. ``report`` holds what was tried and why each failed."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class UnknownNameError(ExportError, ValueError):
    """An unknown format or scheme, or a scheme the chosen format lacks (raised before any work)."""


class ConversionError(ExportError):
    """An exporter or quantizer failed on a graph."""


class UnsupportedError(ExportError):
    """A combination (model kind x format x graph x scheme) that cannot be produced."""


class ShapeError(ExportError):
    """An exported file's input/output names, shapes or dtypes differ from what was asked."""
