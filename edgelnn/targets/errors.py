"""What can go wrong between this machine and a device, each as one clear line.

All are EdgeLNNError subclasses, so the CLI prints ``error: <message>`` and exits 1.
"""
from __future__ import annotations

from ..errors import EdgeLNNError


class TargetError(EdgeLNNError):
    """Base of every target / device error."""


class ProfileError(TargetError):
    """A target profile is missing, unreadable, or has an unknown key or a bad value."""


class HostUnreachableError(TargetError):
    """The device did not answer (DNS, refused, timed out, no route)."""


class AuthenticationError(TargetError):
    """The device refused our key (or asked for a password in batch mode)."""


class HostKeyError(TargetError):
    """The device's host key is unknown or has changed; ssh refused to connect."""


class PythonMissingError(TargetError):
    """The device has no usable python3 (or the profile's python path is wrong)."""


class DeviceRuntimeMissingError(TargetError):
    """A runtime the bundle needs is not installed on the device; the message has the pip line."""


class DiskSpaceError(TargetError):
    """Not enough free disk in the device's working folder for the bundle and the runner."""


class RemoteTimeoutError(TargetError):
    """A remote command ran past its timeout."""


class RemoteError(TargetError):
    """The device-side runner failed for another reason (its last line is the message)."""
