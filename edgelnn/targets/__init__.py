"""Deployment targets: device profiles (``targets/*.toml``), remote benchmarks over SSH,
fleets, device check/setup, and the arm64 check.

    from edgelnn.targets import load_profile, bench_targets
    rows = bench_targets("export/cfc-basicmotions", ["rpi5"], ["pi@raspberrypi.local"])
"""
from importlib import import_module

# Public names -> submodule. Loaded on first use (PEP 562) so that importing a light submodule
# (e.g. ``edgelnn.targets.probe`` from the bench's environment fingerprint) does not pull in
# the SSH and remote-run machinery.
_EXPORTS = {
    "errors": ("AuthenticationError", "DeviceRuntimeMissingError", "DiskSpaceError", "HostKeyError",
               "HostUnreachableError", "ProfileError", "PythonMissingError", "RemoteError",
               "RemoteTimeoutError", "TargetError"),
    "profile": ("Connection", "Profile", "list_profiles", "load_profile", "load_profile_file",
                "parse_host", "parse_profile", "profile_paths", "resolve", "search_dirs"),
    "remote": ("DeviceReport", "assess", "bench_fleet", "bench_local", "bench_remote",
               "bench_targets", "check_target", "failure_row", "setup_target"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
