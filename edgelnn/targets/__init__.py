"""Deployment targets: device profiles (``targets/*.toml``), remote benchmarks over SSH,
fleets, device check/setup, and the arm64 check.

    from edgelnn.targets import load_profile, bench_targets
    rows = bench_targets("export/cfc-basicmotions", ["rpi5"], ["pi@raspberrypi.local"])
"""
from .errors import (AuthenticationError, DeviceRuntimeMissingError, DiskSpaceError,
                     HostKeyError, HostUnreachableError, ProfileError, PythonMissingError,
                     RemoteError, RemoteTimeoutError, TargetError)
from .profile import (Connection, Profile, list_profiles, load_profile, load_profile_file,
                      parse_host, parse_profile, profile_paths, resolve, search_dirs)
from .remote import (DeviceReport, assess, bench_fleet, bench_local, bench_remote, bench_targets,
                     check_target, failure_row, setup_target)

__all__ = [
    "AuthenticationError", "Connection", "DeviceReport", "DeviceRuntimeMissingError",
    "DiskSpaceError", "HostKeyError", "HostUnreachableError", "Profile", "ProfileError",
    "PythonMissingError", "RemoteError", "RemoteTimeoutError", "TargetError", "assess",
    "bench_fleet", "bench_local", "bench_remote", "bench_targets", "check_target",
    "failure_row", "list_profiles", "load_profile", "load_profile_file", "parse_host",
    "parse_profile", "profile_paths", "resolve", "search_dirs", "setup_target",
]
