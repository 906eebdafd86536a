"""Errors a user can cause. The CLI prints them as one line and exits non-zero.

Torch-free on purpose: ``edgelnn.runtime`` imports this on devices.
"""


class EdgeLNNError(Exception):
    """Base of every error that is the user's input, not a bug."""


class BundleError(EdgeLNNError):
    """A folder is not a readable export bundle, or a file in it was changed."""


class RuntimeMissingError(EdgeLNNError):
    """The runtime an artifact needs is not installed."""


class ParityError(EdgeLNNError):
    """An artifact disagrees with its reference beyond tolerance."""
