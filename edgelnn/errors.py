"""Errors a user can cause. The CLI prints them as one line and exits non-zero.

Torch-free on purpose: ``edgelnn.runtime`` imports this on devices.

Every error that is the user's input, not a bug, derives from :class:`EdgeLNNError`; the CLI
prints anything else as an internal error. Errors about a value the caller passed also derive
from ``ValueError`` so that code written against the plain Python convention keeps working.
"""


class EdgeLNNError(Exception):
    """Base of every error that is the user's input, not a bug."""


class InputError(EdgeLNNError, ValueError):
    """A value given to a command or to the Python API is invalid (unknown name, zero units,
    NaN, a wrong shape, ...)."""


class ShapeError(InputError):
    """An input array or tensor does not have the shape the model or artifact was built for."""


class NumericError(EdgeLNNError):
    """A model produced NaN or infinite outputs (its weights or inputs hold NaN/inf)."""


class UnsafePathError(EdgeLNNError):
    """A file name read from a manifest, a results row or an option leaves its folder."""


class OutputError(EdgeLNNError):
    """An output path cannot be used: it is a folder where a file is needed, holds something
    that is not ours and would be overwritten, or cannot be written."""


class MissingExtraError(EdgeLNNError):
    """A command needs an optional part of edgelnn (torch for training, the TFLite exporters,
    Dask for studies) that is not installed; the message has the pip line."""


class BundleError(EdgeLNNError):
    """A folder is not a readable export bundle, or a file in it was changed."""


class RuntimeMissingError(EdgeLNNError):
    """The runtime an artifact needs is not installed."""


class ParityError(EdgeLNNError):
    """An artifact disagrees with its reference beyond tolerance."""
