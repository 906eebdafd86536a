"""Target profiles: ``targets/<name>.toml`` -> a validated ``Profile``.

A profile says what the device is (architecture, CPU, cores, memory), how to run a bundle on
it (runtimes and ONNX execution providers in order of preference, threads, the quantization
schemes that suit it) and how to reach it (``local``, or ``ssh`` with host, user, port, python,
working folder). Every key is checked; an unknown key or a bad value is a ``ProfileError`` that
names the file and the key.

Profiles are looked up, first match wins, in ``$EDGELNN_TARGETS_DIR`` (``os.pathsep``-separated
folders), ``~/.config/edgelnn/targets`` (``$XDG_CONFIG_HOME``), then the ``targets/`` folder
shipped with edgelnn.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ProfileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# The repository's targets/ (a checkout or editable install); a wheel installs the same files
# as data under <prefix>/share/edgelnn/targets.
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "targets"
INSTALLED_DIR = Path(sys.prefix) / "share" / "edgelnn" / "targets"

ARCHES = ("native", "x86_64", "aarch64", "armv7l", "armv7e-m", "armv6-m")
MCU_ARCHES = ("armv7e-m", "armv6-m")       # microcontrollers: C artifacts, [mcu] table required
RUNTIMES = ("onnxruntime", "litert", "tflite-runtime", "c")
RUNTIME_FORMAT = {"onnxruntime": "onnx", "litert": "tflite", "tflite-runtime": "tflite", "c": "c"}
# The pip requirement that installs each runtime (a profile may override it in [pip]); the c
# runtime needs a system C compiler instead (apt), so pip installs nothing for it.
RUNTIME_PIP = {"onnxruntime": "onnxruntime", "litert": "ai-edge-litert",
               "tflite-runtime": "tflite-runtime", "c": None}
ONNX_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider",
                  "XnnpackExecutionProvider", "ArmNNExecutionProvider", "ACLExecutionProvider",
                  "OpenVINOExecutionProvider", "CoreMLExecutionProvider", "QNNExecutionProvider",
                  "ROCMExecutionProvider", "DmlExecutionProvider")
# Exporter scheme names: fp32, fp16, bf16, int8-dynamic, int8-static, int8-weight, int16x8-static..
SCHEME_RE = re.compile(r"^(fp32|fp16|bf16|u?int(4|8|16)(x(4|8|16))?(-[a-z0-9]+)*)$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
CONNECTION_KINDS = ("local", "ssh", "emulator")   # emulator: a microcontroller under qemu-system-arm
# ssh -o options a profile may set: transport tuning only. Anything that runs a program here
# (ProxyCommand, KnownHostsCommand, LocalCommand, Match exec), changes host-key checking
# (UserKnownHostsFile, StrictHostKeyChecking, GlobalKnownHostsFile, CheckHostIP...) or batch mode
# is refused; ProxyJump reaches jump hosts with ssh itself, so it is allowed with host values.
SSH_OPTIONS = {name.lower(): name for name in (
    "AddressFamily", "Ciphers", "Compression", "ConnectionAttempts", "ConnectTimeout",
    "HostKeyAlgorithms", "HostKeyAlias", "IPQoS", "KexAlgorithms", "MACs", "ProxyJump",
    "PubkeyAcceptedAlgorithms", "PubkeyAcceptedKeyTypes", "RekeyLimit", "ServerAliveCountMax",
    "ServerAliveInterval", "TCPKeepAlive", "ControlMaster", "ControlPersist")}
SSH_OPTION_VALUE = re.compile(r"^[A-Za-z0-9@._:,+\[\]%-]+$")
# A [pip] value is one requirement: name[extras] and version specifiers, or the path or https
# URL of one wheel file (Jetson's onnxruntime-gpu); never a pip option.
PIP_WHEEL = re.compile(r"^(/|~/|https://)[^\s'\"]+\.whl$")
PIP_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?"
                             r"(\s*(===|==|>=|<=|~=|!=|<|>)\s*[A-Za-z0-9.*+!_-]+"
                             r"(\s*,\s*(===|==|>=|<=|~=|!=|<|>)\s*[A-Za-z0-9.*+!_-]+)*)?"
                             r"(\s*;\s*[A-Za-z0-9_.\s'\"<>=!~()]+)?$")


@dataclass(frozen=True)
class Connection:
    """How to reach the device. ``python = "auto"`` uses the venv made by ``targets setup``
    when it exists on the device, else ``python3``."""
    kind: str = "local"
    host: str | None = None
    user: str | None = None
    port: int | None = None
    python: str = "auto"
    workdir: str = "/tmp"                      # parent of the per-run ``mktemp -d`` folder
    venv: str = "~/.cache/edgelnn/venv"        # where ``targets setup`` makes the venv
    identity_file: str | None = None
    ssh_config: str | None = None              # ssh -F FILE (default: ~/.ssh/config)
    known_hosts: str | None = None             # UserKnownHostsFile (default: ssh's own)
    strict_host_key_checking: str = "yes"      # "yes" or "accept-new"; never "no"
    connect_timeout: int = 10
    run_timeout: int = 1800
    ssh_options: tuple[str, ...] = ()          # extra ``-o Key=Value`` options

    @property
    def address(self) -> str:
        """user@host:port as typed (for messages and rows)."""
        if self.kind == "local":
            return "local"
        out = f"{self.user}@{self.host}" if self.user else str(self.host)
        return f"{out}:{self.port}" if self.port else out


@dataclass(frozen=True)
class Mcu:
    """A microcontroller target's build and budget ([mcu] table): how C artifacts are
    cross-compiled for it, the emulated board of its golden check, a reference part's memory."""
    core: str                                  # e.g. "cortex-m4"
    cflags: tuple[str, ...]                    # -mcpu/-mthumb/-mfpu/-mfloat-abi
    opt: str = "-Os"
    fpu: bool = True
    emulator: str | None = None                # qemu-system-arm -M machine (None: no golden run)
    emulator_flash_kb: int = 4096
    emulator_ram_kb: int = 4096
    stack_kb: int = 8                          # stack the emulated harness reserves
    flash_kb: int | None = None                # reference part: budget for "fits"
    ram_kb: int | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    arch: str
    cpu: str
    cores: int | None
    memory_mb: int | None
    runtimes: tuple[str, ...]
    onnx_providers: tuple[str, ...]
    threads: int
    schemes: tuple[str, ...]
    reduce_range: bool
    accelerator: str | None
    connection: Connection
    pip: dict = field(default_factory=dict)
    source: str = ""
    mcu: Mcu | None = None
    # accelerator options (edgelnn/runtime/accel.py): {"onnxruntime": {provider: {option: value}},
    # "litert": {option: value}}, from [onnx_provider_options.<Provider>] and [litert_options]
    accel: dict = field(default_factory=dict)

    @property
    def is_remote(self) -> bool:
        return self.connection.kind == "ssh"

    @property
    def is_mcu(self) -> bool:
        return self.mcu is not None

    @property
    def gpu_providers(self) -> tuple[str, ...]:
        return tuple(p for p in self.onnx_providers if p != "CPUExecutionProvider")

    def pip_requirement(self, runtime: str) -> str | None:
        return self.pip.get(runtime, RUNTIME_PIP[runtime])

    def device_requirements(self) -> list[str]:
        """What ``targets setup`` installs: numpy and the profile's runtimes (never torch)."""
        reqs = [self.pip.get("numpy", "numpy")]
        for rt in self.runtimes:
            if rt == "tflite-runtime" and "litert" in self.runtimes:
                continue          # fallback only; litert is the one to install
            if self.pip_requirement(rt):
                reqs.append(self.pip_requirement(rt))
        return reqs

    def with_host(self, host: str | None) -> "Profile":
        """This profile reached at ``[user@]host[:port]`` instead of its own host."""
        if not host:
            return self
        user, hostname, port = parse_host(host)
        conn = replace(self.connection, kind="ssh", host=hostname,
                       user=user or self.connection.user, port=port or self.connection.port)
        return replace(self, connection=conn)

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("connection", "mcu")}
        out["connection"] = {f.name: getattr(self.connection, f.name)
                             for f in fields(self.connection)}
        out["mcu"] = None if self.mcu is None else {f.name: (list(getattr(self.mcu, f.name))
                                                             if isinstance(getattr(self.mcu, f.name), tuple)
                                                             else getattr(self.mcu, f.name))
                                                    for f in fields(self.mcu)}
        for k, v in list(out.items()):
            if isinstance(v, tuple):
                out[k] = list(v)
        out["connection"]["ssh_options"] = list(self.connection.ssh_options)
        return out


def parse_host(text: str) -> tuple[str | None, str, int | None]:
    """``[ssh://][user@]host[:port]`` (IPv6 as ``[::1]:22``) -> (user, host, port)."""
    s = text.strip()
    if s.startswith("ssh://"):
        s = s[len("ssh://"):].rstrip("/")
    user = None
    if "@" in s:
        user, s = s.rsplit("@", 1)
    port = None
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
    elif s.count(":") == 1:
        host, port = s.split(":")
    else:
        host = s
    bad_user = user is not None and not re.match(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$", user)
    if not host or host.startswith("-") or not re.match(r"^[A-Za-z0-9._:%-]+$", host) or bad_user:
        raise ProfileError(f"--host {text!r} is not [user@]host[:port]")
    if port is not None:
        if not str(port).isdigit() or not 0 < int(port) < 65536:
            raise ProfileError(f"--host {text!r}: port must be 1-65535")
        port = int(port)
    return user, host, port


# -- validation ------------------------------------------------------------------------
class _Check:
    """Checks values of one table, naming ``file: key`` in every error."""

    def __init__(self, source: str, table: dict, prefix: str = ""):
        self.source, self.table, self.prefix = source, table, prefix

    def fail(self, key: str, why: str):
        raise ProfileError(f"{self.source}: {self.prefix}{key} {why}")

    def unknown(self, allowed) -> None:
        for key in self.table:
            if key not in allowed:
                near = [a for a in allowed if a.replace("_", "") == key.replace("_", "").replace("-", "")]
                hint = f" (did you mean {near[0]!r}?)" if near else \
                    f" (known: {', '.join(sorted(allowed))})"
                raise ProfileError(f"{self.source}: unknown key {self.prefix}{key}{hint}")

    def get(self, key, kind, default=..., choices=None, minimum=None, pattern=None):
        if key not in self.table:
            if default is ...:
                self.fail(key, "is required")
            return default
        value = self.table[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail(key, f"must be an integer, got {value!r}")
        if kind is str and not isinstance(value, str):
            self.fail(key, f"must be a string, got {value!r}")
        if kind is bool and not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(key, f"must be >= {minimum}, got {value}")
        if choices is not None and value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
        if pattern is not None and not pattern.match(value):
            self.fail(key, f"has a bad value {value!r}")
        return value

    def strings(self, key, default=..., choices=None, pattern=None, nonempty=True) -> tuple:
        if key not in self.table:
            if default is ...:
                self.fail(key, "is required")
            return tuple(default)
        value = self.table[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"must be a list of strings, got {value!r}")
        if nonempty and not value:
            self.fail(key, "must not be empty")
        for v in value:
            if choices is not None and v not in choices:
                self.fail(key, f"has unknown value {v!r} (known: {', '.join(choices)})")
            if pattern is not None and not pattern.match(v):
                self.fail(key, f"has a bad value {v!r}")
        if len(set(value)) != len(value):
            self.fail(key, f"lists a value twice: {value!r}")
        return tuple(value)


TOP_KEYS = ("name", "description", "arch", "cpu", "cores", "memory_mb", "runtimes",
            "onnx_providers", "threads", "schemes", "reduce_range", "accelerator", "connection",
            "pip", "mcu", "onnx_provider_options", "litert_options")
CONNECTION_KEYS = tuple(f.name for f in fields(Connection))
MCU_KEYS = tuple(f.name for f in fields(Mcu))


def _parse_mcu(source: str, data, arch: str) -> Mcu | None:
    if data is None:
        if arch in MCU_ARCHES:
            raise ProfileError(f"{source}: arch {arch} is a microcontroller: an [mcu] table is required")
        return None
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: mcu must be a table ([mcu])")
    if arch not in MCU_ARCHES:
        raise ProfileError(f"{source}: [mcu] is only for microcontroller arches ({', '.join(MCU_ARCHES)})")
    c = _Check(source, data, "mcu.")
    c.unknown(MCU_KEYS)
    flags = c.strings("cflags", pattern=re.compile(r"^-m[a-z0-9-]+(=[A-Za-z0-9._+-]+)?$"))
    emulator = c.get("emulator", str, None, pattern=re.compile(r"^[a-z0-9][a-z0-9.-]*$"))
    return Mcu(core=c.get("core", str, pattern=NAME_RE), cflags=flags,
               opt=c.get("opt", str, "-Os", choices=("-Os", "-O2", "-O3", "-Oz", "-O1")),
               fpu=c.get("fpu", bool, True), emulator=emulator,
               emulator_flash_kb=c.get("emulator_flash_kb", int, 4096, minimum=16),
               emulator_ram_kb=c.get("emulator_ram_kb", int, 4096, minimum=4),
               stack_kb=c.get("stack_kb", int, 8, minimum=1),
               flash_kb=c.get("flash_kb", int, None, minimum=1),
               ram_kb=c.get("ram_kb", int, None, minimum=1))


def _parse_accel(source: str, data: dict, providers: tuple) -> dict:
    """[onnx_provider_options.<Provider>] and [litert_options], checked by the runtime's own
    registry (edgelnn/runtime/accel.py); options for a provider the profile does not list are
    refused (they could never apply)."""
    from ..errors import InputError
    from ..runtime.accel import check_litert_options, check_onnx_options

    try:
        onnx = check_onnx_options(data.get("onnx_provider_options"))
        litert = check_litert_options(data.get("litert_options"))
    except InputError as exc:
        raise ProfileError(f"{source}: {exc}") from None
    for provider in onnx:
        if provider not in providers:
            raise ProfileError(f"{source}: onnx_provider_options.{provider}: the profile's onnx_providers "
                               f"do not list {provider}")
    return {k: v for k, v in (("onnxruntime", onnx), ("litert", litert)) if v}


def parse_profile(data: dict, name: str, source: str = "<profile>") -> Profile:
    """Validate a parsed TOML table into a Profile."""
    top = _Check(source, data)
    top.unknown(TOP_KEYS)
    if not NAME_RE.match(name):
        raise ProfileError(f"{source}: profile name {name!r} must be lower-case letters, digits, "
                           "'.', '_' or '-'")
    declared = top.get("name", str, name)
    if declared != name:
        top.fail("name", f"is {declared!r} but the file is {name}.toml; they must match")
    arch = top.get("arch", str, choices=ARCHES)
    runtimes = top.strings("runtimes", choices=RUNTIMES)
    providers = top.strings("onnx_providers", ("CPUExecutionProvider",), choices=ONNX_PROVIDERS)
    if "CPUExecutionProvider" not in providers:
        top.fail("onnx_providers", "must end with CPUExecutionProvider (the fallback)")
    if providers[-1] != "CPUExecutionProvider":
        top.fail("onnx_providers", "must list CPUExecutionProvider last (it is the fallback)")
    mcu = _parse_mcu(source, data.get("mcu"), arch)
    accel = _parse_accel(source, data, providers)
    cores = top.get("cores", int, None, minimum=1)
    memory = top.get("memory_mb", int, None, minimum=16)
    if arch != "native" and mcu is None and (cores is None or memory is None):
        top.fail("cores" if cores is None else "memory_mb",
                 "is required (only arch = \"native\" detects it)")
    threads = top.get("threads", int, 1, minimum=1)
    if cores is not None and threads > cores:
        top.fail("threads", f"is {threads} but the device has {cores} cores")

    conn_table = data.get("connection", {"kind": "local"})
    if not isinstance(conn_table, dict):
        top.fail("connection", "must be a table ([connection])")
    conn = _Check(source, conn_table, "connection.")
    conn.unknown(CONNECTION_KEYS)
    kind = conn.get("kind", str, choices=CONNECTION_KINDS)
    host = conn.get("host", str, None)
    if host is not None:
        try:
            parse_host(host)
        except ProfileError:
            conn.fail("host", f"has a bad value {host!r} (a host name or address)")
        if "@" in host or (host.count(":") == 1):
            conn.fail("host", f"must be a bare host name ({host!r}); use user = and port =")
    user = conn.get("user", str, None, pattern=re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$"))
    port = conn.get("port", int, None, minimum=1)
    if port is not None and port > 65535:
        conn.fail("port", f"must be <= 65535, got {port}")
    python = conn.get("python", str, "auto")
    if not python or any(c.isspace() for c in python):
        conn.fail("python", f"must be a command or path without spaces, got {python!r}")
    workdir = conn.get("workdir", str, "/tmp")
    if not (workdir.startswith("/") or workdir.startswith("~/")):
        conn.fail("workdir", f"must be an absolute path or start with ~/, got {workdir!r}")
    venv = conn.get("venv", str, "~/.cache/edgelnn/venv")
    if venv and not (venv.startswith("/") or venv.startswith("~/")):
        conn.fail("venv", f"must be an absolute path or start with ~/, got {venv!r}")
    strict = conn.get("strict_host_key_checking", str, "yes", choices=("yes", "accept-new"))
    ssh_opts = conn.strings("ssh_options", (), nonempty=False,
                            pattern=re.compile(r"^[A-Za-z][A-Za-z0-9]*=\S+$"))
    for opt in ssh_opts:
        key, _, value = opt.partition("=")
        if key.lower() not in SSH_OPTIONS:
            conn.fail("ssh_options", f"may not set {key} (allowed: {', '.join(sorted(SSH_OPTIONS.values()))}; "
                      "edgelnn keeps host key checking and batch mode on and runs no local "
                      "command: put anything else in ~/.ssh/config)")
        if not SSH_OPTION_VALUE.match(value) or value.startswith("-"):
            conn.fail("ssh_options", f"has a bad value for {key}: {value!r}")
    known_hosts = conn.get("known_hosts", str, None)
    if known_hosts is not None and os.path.realpath(os.path.expanduser(known_hosts)) == os.devnull:
        conn.fail("known_hosts", f"is {known_hosts}: that switches host key checking off")
    connection = Connection(
        kind=kind, host=host, user=user, port=port, python=python, workdir=workdir, venv=venv,
        identity_file=conn.get("identity_file", str, None),
        ssh_config=conn.get("ssh_config", str, None),
        known_hosts=known_hosts, strict_host_key_checking=strict,
        connect_timeout=conn.get("connect_timeout", int, 10, minimum=1),
        run_timeout=conn.get("run_timeout", int, 1800, minimum=1), ssh_options=ssh_opts)
    if kind == "local" and host is not None:
        conn.fail("host", "is set but kind is \"local\" (use kind = \"ssh\")")
    if (kind == "emulator") != (mcu is not None):
        conn.fail("kind", "\"emulator\" goes with microcontroller profiles ([mcu]) and only with them")

    pip = data.get("pip", {})
    if not isinstance(pip, dict):
        top.fail("pip", "must be a table ([pip] runtime = \"requirement\")")
    pcheck = _Check(source, pip, "pip.")
    pcheck.unknown(RUNTIMES + ("numpy",))
    for key in pip:
        value = pcheck.get(key, str)
        if value.strip().startswith("-") or not (PIP_REQUIREMENT.match(value.strip())
                                                 or PIP_WHEEL.match(value.strip())):
            pcheck.fail(key, f"must be one pip requirement such as \"onnxruntime>=1.20\" or the "
                        f"path of a .whl file (never a pip option), got {value!r}")

    return Profile(
        name=name, description=top.get("description", str, ""), arch=arch,
        cpu=top.get("cpu", str, "native" if arch == "native" else ...),
        cores=cores, memory_mb=memory, runtimes=runtimes, onnx_providers=providers,
        threads=threads, schemes=top.strings("schemes", pattern=SCHEME_RE),
        reduce_range=top.get("reduce_range", bool, False),
        accelerator=top.get("accelerator", str, None), connection=connection, pip=dict(pip),
        source=source, mcu=mcu, accel=accel)


def load_profile_file(path: str | Path) -> Profile:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ProfileError(f"cannot read target profile {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: not UTF-8 text (byte {exc.start}); a target profile is UTF-8 TOML") from None
    except RecursionError:
        raise ProfileError(f"{path}: nested too deeply to be a target profile") from None
    return parse_profile(data, path.stem, str(path))


def search_dirs() -> list[Path]:
    dirs = [Path(p).expanduser() for p in os.environ.get("EDGELNN_TARGETS_DIR", "").split(os.pathsep)
            if p]
    config = Path(os.environ.get("XDG_CONFIG_HOME") or "~/.config").expanduser()
    dirs.append(config / "edgelnn" / "targets")
    dirs.append(BUILTIN_DIR if BUILTIN_DIR.is_dir() else INSTALLED_DIR)
    return dirs


def profile_paths() -> dict[str, Path]:
    """{name: file} of every profile found, the first folder winning."""
    found: dict[str, Path] = {}
    for d in search_dirs():
        if d.is_dir():
            for path in sorted(d.glob("*.toml")):
                found.setdefault(path.stem, path)
    return found


def load_profile(name: str | Path) -> Profile:
    """A profile by name (searched as above) or by path to a .toml file."""
    text = str(name)
    if text.endswith(".toml") or os.sep in text:
        return load_profile_file(text)
    paths = profile_paths()
    if text not in paths:
        known = ", ".join(sorted(paths)) or "none"
        raise ProfileError(f"unknown target {text!r} (known: {known}; add targets/{text}.toml "
                           f"or ~/.config/edgelnn/targets/{text}.toml)")
    return load_profile_file(paths[text])


def list_profiles() -> list[Profile]:
    """Every profile found, sorted by name (a broken one raises, naming its file and key)."""
    return [load_profile_file(p) for _, p in sorted(profile_paths().items())]


def resolve(target: "str | Profile", host: str | None = None) -> Profile:
    profile = target if isinstance(target, Profile) else load_profile(target)
    return profile.with_host(host)


def native_facts() -> dict[str, Any]:
    """arch / cores / memory of this machine, for ``arch = "native"`` profiles."""
    import platform

    from .probe import memory_mb

    return {"arch": platform.machine(), "cores": os.cpu_count(), "memory_mb": memory_mb()}
