"""Benchmarks on devices: one target (local or over ssh), several in parallel, check, setup.

A remote run: probe the device (python, numpy, runtimes, disk) -> stream one tar (runner
zipapp + bundle + request) into a ``mktemp -d`` folder after checking ``df`` -> the device runs
the golden check and the benchmark (``edgelnn.bench.bench_bundle``, torch-free) -> its JSON rows
come back on stdout -> the folder is removed (shell ``trap``; after a timeout, by a second
connection). Rows get ``measured_on`` of the device.

``bench_targets`` is what ``edgelnn bench --target ... --host ...`` calls.
"""
from __future__ import annotations

import io
import json
import re
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import BundleError
from .errors import (DeviceRuntimeMissingError, ProfileError, PythonMissingError,
                     RemoteTimeoutError, TargetError)
from .package import build_runner, bundle_files
from .profile import RUNTIME_FORMAT, Profile, native_facts, resolve
from .protocol import find_document, parse_result
from .providers import annotate
from .ssh import SSH, WORKDIR_RE

Progress = Callable[[str], None]

PROBE_SCRIPT = r'''
WORK=$(expand "$1"); pick_python "$2" "$3"; VENV=$(expand "$3")
"$PY" - "$WORK" "$VENV"
'''

RUN_SCRIPT = r'''
PARENT=$(expand "$1"); NEED_KB=$4; LIMIT=$5
pick_python "$2" "$3"; shift 5
mkdir -p "$PARENT" 2>/dev/null
WD=$(mktemp -d "$PARENT/edgelnn.XXXXXXXX" 2>/dev/null) || fail "workdir $PARENT" 93
CHILD=
trap 'rm -rf "$WD"' EXIT
trap '[ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null; exit 129' HUP INT TERM
printf '%s\n' "$$" > "$WD/.edgelnn-run.pid"
printf 'EDGELNN-WORKDIR %s\n' "$WD" >&2
AVAIL=$(df -Pk "$WD" 2>/dev/null | awk 'NR==2 {print $4}')
case "$AVAIL" in
    ''|*[!0-9]*) ;;
    *) [ "$AVAIL" -ge "$NEED_KB" ] || fail "disk $AVAIL $NEED_KB $PARENT" 92 ;;
esac
tar -xf - -C "$WD" 2>/dev/null || fail "copy tar could not unpack the upload in $WD" 95
cd "$WD" || fail "workdir $WD" 93
# In the background so that the TERM trap (from a stop over a second connection) can end it.
if command -v timeout >/dev/null 2>&1; then timeout "$LIMIT" "$PY" "$@" & else "$PY" "$@" & fi
CHILD=$!
wait "$CHILD"
'''

# Stop a run that was cut off (Ctrl-C, SIGTERM or a timeout here): TERM its shell (whose trap
# stops the runner and removes the folder), then make sure the folder is gone.
CLEANUP_SCRIPT = r'''
case "$1" in */edgelnn.????????) ;; *) exit 0 ;; esac
if [ -f "$1/.edgelnn-run.pid" ]; then
    PID=$(cat "$1/.edgelnn-run.pid" 2>/dev/null)
    case "$PID" in ''|*[!0-9]*) ;; *) kill -TERM "$PID" 2>/dev/null ;; esac
    i=0; while [ -d "$1" ] && [ $i -lt 10 ]; do sleep 1; i=$((i + 1)); done
fi
rm -rf -- "$1"
'''

SETUP_SCRIPT = r'''
BASE=$(expand "$1"); VENV=$(expand "$2"); shift 2
[ "$BASE" = auto ] && BASE=python3
command -v "$BASE" >/dev/null 2>&1 || fail "python-missing $BASE" 91
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    mkdir -p "$(dirname "$VENV")"
    echo "[device] $BASE -m venv $VENV" >&2
    "$BASE" -m venv "$VENV" >&2 ||
        fail "msg $BASE -m venv $VENV failed (Debian/Ubuntu: sudo apt-get install -y python3-venv)" 96
fi
echo "[device] pip install $*" >&2
"$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -- "$@" >&2 ||
    fail "msg pip install $* failed in $VENV (see the pip output above)" 97
'''

DISK_MARGIN_KB = 20 * 1024        # unpacked runner + bundle + results + python bytecode


def _say(progress: Progress | None, prefix: str) -> Progress:
    def say(msg: str) -> None:
        if progress is not None:
            progress(f"[{prefix}] {msg}")
    return say


def _settings_dict(settings) -> dict:
    if settings is None:
        return {}
    if is_dataclass(settings):
        return asdict(settings)
    return dict(settings)


def _norm_arch(machine: str | None) -> str:
    return {"arm64": "aarch64", "amd64": "x86_64", "armv8l": "aarch64"}.get(
        (machine or "").lower(), (machine or "").lower())


def on_target(profile: Profile, machine: str | None) -> bool:
    """Did it run on hardware of the profile's kind? (architecture check; the host profile
    and other ``arch = "native"`` ones always match)."""
    return profile.arch == "native" or _norm_arch(machine) == profile.arch


# -- device facts and what is missing ---------------------------------------------------
@dataclass
class DeviceReport:
    """``edgelnn targets check``: facts of a device and what its profile still needs."""
    target: str
    address: str
    facts: dict
    missing: list[str] = field(default_factory=list)     # one line each
    notes: list[str] = field(default_factory=list)       # fine, but worth knowing
    requirements: list[str] = field(default_factory=list)  # pip requirements to install
    fix: str | None = None                               # the exact command(s)
    missing_formats: set = field(default_factory=set)    # artifact formats it cannot run

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict:
        out = asdict(self)
        out["missing_formats"] = sorted(self.missing_formats)
        return {**out, "ok": self.ok}


def assess(profile: Profile, facts: dict, formats: set[str] | None = None) -> DeviceReport:
    """Compare device facts with the profile; ``formats`` limits the runtime check to the
    artifact formats a bundle has (None: every format of the profile's runtimes)."""
    rep = DeviceReport(profile.name, profile.connection.address, facts)
    if not facts.get("python_ok", True):
        rep.missing.append(f"Python {facts.get('python')} is too old (the runner needs >= 3.9)")
    if facts.get("numpy") is None:
        rep.missing.append(f"numpy is not installed ({facts.get('numpy_error') or 'import failed'})")
        rep.requirements.append(profile.pip.get("numpy", "numpy"))
    runtimes = facts.get("runtimes") or {}
    wanted = formats if formats is not None else {RUNTIME_FORMAT[r] for r in profile.runtimes}
    for fmt in sorted(wanted):
        names = [r for r in profile.runtimes if RUNTIME_FORMAT[r] == fmt]
        if not names:
            rep.missing.append(f"the profile lists no runtime for {fmt} artifacts")
            rep.missing_formats.add(fmt)
            continue
        if not any((runtimes.get(r) or {}).get("ok") for r in names):
            first = names[0]
            why = (runtimes.get(first) or {}).get("error") or "not installed"
            rep.missing.append(f"{first} ({fmt} artifacts) is missing on the device: {why}")
            if profile.pip_requirement(first):
                rep.requirements.append(profile.pip_requirement(first))
            rep.missing_formats.add(fmt)
    for name, info in sorted(runtimes.items()):
        if info.get("error") and info.get("version"):
            rep.notes.append(f"{name} {info['version']} is installed but does not import: "
                             f"{info['error']}")
    ort = runtimes.get("onnxruntime") or {}
    if ort.get("ok") and profile.gpu_providers:
        absent = [p for p in profile.gpu_providers if p not in (ort.get("providers") or [])]
        if absent:
            rep.notes.append(f"{', '.join(absent)} not available in onnxruntime "
                             f"{ort.get('version')}: ONNX runs fall back to CPUExecutionProvider "
                             "(install NVIDIA's onnxruntime-gpu for JetPack; see [pip] in the profile)")
    if not on_target(profile, facts.get("machine")):
        rep.notes.append(f"the device is {facts.get('machine')} but profile {profile.name} "
                         f"describes {profile.arch}: rows will say on_target false")
    if facts.get("free_mb") is not None and facts["free_mb"] < 100:
        rep.missing.append(f"only {facts['free_mb']} MB free in {facts.get('workdir')} "
                           "(set connection.workdir to a bigger disk)")
    if rep.requirements:
        py = facts.get("executable") or "python3"
        rep.fix = (f"edgelnn targets setup {profile.name}   (or on the device: "
                   f"{py} -m pip install {' '.join(rep.requirements)})")
    return rep


def assess_mcu(profile: Profile) -> DeviceReport:
    """A microcontroller profile: this machine's cross compiler, C library and emulator."""
    from ..errors import RuntimeMissingError
    from ..runtime.c.toolchain import QEMU_HINT, compiler_version, find_cross, require_cross
    from ..runtime.c.mcu import find_qemu
    from . import probe

    facts = probe.facts(None, None, import_runtimes=False)
    rep = DeviceReport(profile.name, "emulated", facts)
    cross = find_cross()
    facts["cross_compiler"] = compiler_version(cross) if cross else None
    try:
        require_cross()
    except RuntimeMissingError as exc:
        rep.missing.append(str(exc))
    qemu = find_qemu()
    facts["emulator"] = compiler_version(qemu) if qemu else None
    if profile.mcu.emulator and qemu is None:
        rep.missing.append(f"the emulated golden check needs qemu-system-arm: {QEMU_HINT}")
    if not (facts.get("runtimes") or {}).get("c", {}).get("ok"):
        rep.missing.append("no host C compiler (the parity gate compiles C artifacts): sudo apt-get install gcc")
    if rep.missing:
        rep.fix = "sudo apt-get install gcc gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
    return rep


class Device:
    """One ssh-reachable device of a profile."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self.ssh = SSH(profile.connection, profile.name)

    @property
    def address(self) -> str:
        return self.profile.connection.address

    def probe(self) -> dict:
        c = self.profile.connection
        source = (Path(__file__).parents[1] / "probe.py").read_bytes()   # edgelnn/probe.py
        with tempfile.TemporaryFile() as fh:
            fh.write(source)
            fh.seek(0)
            r = self.ssh.run(PROBE_SCRIPT, [c.workdir, c.python, c.venv or ""], stdin=fh,
                             timeout=c.connect_timeout + 120)
        return parse_result(r.stdout, r.stderr, r.returncode, f"{self.profile.name} probe")["facts"]

    def run_runner(self, bundle: Path, args: list[str], extra: dict[str, bytes],
                   progress: Progress | None = None, timeout: float | None = None) -> dict:
        """Upload runner + bundle (+ extra files), run ``python runner.pyz ARGS`` there.
        The bundle keeps its folder name (rows name it); ARGS refer to it as ``BUNDLE``."""
        bundle_dir = _safe_name(Path(bundle).resolve().name)
        args = [bundle_dir if a == "BUNDLE" else a for a in args]
        c = self.profile.connection
        timeout = timeout or c.run_timeout
        with tempfile.TemporaryDirectory(prefix="edgelnn-upload.") as tmp:
            runner = build_runner(Path(tmp) / "runner.pyz")
            tar_path = Path(tmp) / "upload.tar"
            with tarfile.open(tar_path, "w") as tar:
                tar.add(runner, arcname="runner.pyz")
                for path, arc in bundle_files(bundle, bundle_dir):
                    tar.add(path, arcname=arc)
                for name, data in extra.items():
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                    tar.addfile(info, io.BytesIO(data))
            need_kb = tar_path.stat().st_size // 1024 + DISK_MARGIN_KB

            def on_line(line: str) -> None:
                if line.startswith("[device] ") and progress is not None:
                    progress(line[len("[device] "):])

            with open(tar_path, "rb") as fh:
                try:
                    r = self.ssh.run(RUN_SCRIPT, [c.workdir, c.python, c.venv or "", need_kb,
                                                  int(timeout), "runner.pyz", *args],
                                     stdin=fh, timeout=timeout + 30, on_stderr=on_line,
                                     check=False)
                except (RemoteTimeoutError, KeyboardInterrupt) as exc:
                    if isinstance(exc, KeyboardInterrupt) and progress is not None:
                        progress("interrupted: stopping the run on the device")
                    self.cleanup(getattr(exc, "workdir", None))
                    raise
        if find_document(r.stdout) is None and r.returncode != 0:
            raise self.ssh.classify(r)
        return parse_result(r.stdout, r.stderr, r.returncode, f"{self.profile.name} ({self.address})")

    def cleanup(self, workdir: str | None) -> None:
        """Best effort: stop the run in a working folder that was cut off and remove the folder
        (over a second connection; the first one is gone)."""
        if workdir and WORKDIR_RE.match(workdir):
            try:
                self.ssh.run(CLEANUP_SCRIPT, [workdir],
                             timeout=self.profile.connection.connect_timeout + 30)
            except (TargetError, KeyboardInterrupt):
                pass

    def setup(self, requirements: list[str], progress: Progress | None = None) -> None:
        c = self.profile.connection
        if not c.venv:
            raise ProfileError(f"target {self.profile.name} has no connection.venv to set up")
        base = c.python if c.python != "auto" else "python3"
        if any(r.split("=")[0].split("<")[0].split(">")[0].strip().lower() in ("torch", "ncps")
               for r in requirements):
            raise ProfileError("edgelnn never installs torch or ncps on a device")

        def on_line(line: str) -> None:
            if progress is not None and line.strip():
                progress(line.removeprefix("[device] "))

        self.ssh.run(SETUP_SCRIPT, [base, c.venv, *requirements], on_stderr=on_line,
                     timeout=max(c.run_timeout, 1800))


# -- one target ---------------------------------------------------------------------------
def _safe_name(name: str) -> str:
    """A bundle folder name usable as a relative path on the device."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".-") or "bundle"
    return name if name not in ("runner.pyz", "request.json") else f"bundle-{name}"


def _formats(bundle: Path, artifacts: list[str] | None) -> set[str]:
    from ..runtime import load_bundle

    b = load_bundle(bundle)
    entries = [b.artifact(a) for a in artifacts] if artifacts else b.artifacts
    return {e["format"] for e in entries}


_PIP_RE = re.compile(r"\bpip install ([A-Za-z0-9_.\-\[\]=<>~!,]+)")


def _device_pip(row: dict, python: str, address: str) -> dict:
    """'pip install X' in a device row's error -> the exact line for that device."""
    err = row.get("error")
    if err and "pip install" in err and "-m pip install" not in err:
        row["error"] = _PIP_RE.sub(lambda m: f"{python} -m pip install {m.group(1)} (on {address})",
                                   err)
    return row


def bench_remote(bundle: str | Path, target: str | Profile, host: str | None = None, *,
                 artifacts: list[str] | None = None, threads: int | None = None,
                 runtimes: list[str] | None = None, providers: list | None = None,
                 settings=None, progress: Progress | None = None) -> list[dict]:
    """Bench a bundle on one ssh target; result rows with ``measured_on`` of the device.

    Raises a one-line TargetError when the device cannot be used at all (unreachable,
    authentication, host key, python/numpy/runtime missing, disk)."""
    bundle = Path(bundle)
    profile = resolve(target, host)
    if profile.is_mcu:             # a microcontroller: emulated golden check + flash/RAM rows
        from ..bench.mcu import bench_mcu

        return bench_mcu(bundle, profile, artifacts=artifacts, settings=settings,
                         progress=_say(progress, profile.name) if progress else None)
    if not profile.is_remote:
        return bench_local(bundle, profile, artifacts=artifacts, threads=threads,
                           runtimes=runtimes, providers=providers, settings=settings,
                           progress=progress)
    formats = _formats(bundle, artifacts)          # a bad bundle fails here, before any ssh
    say = _say(progress, profile.name)
    device = Device(profile)
    say(f"connecting to {device.address}")
    facts = device.probe()
    report = assess(profile if not runtimes else _with_runtimes(profile, runtimes), facts, formats)
    python = facts.get("executable") or "python3"
    where = f"{profile.name} ({device.address})"
    fix = f"; fix: {report.fix}" if report.fix else ""
    if not facts.get("python_ok", True):
        raise PythonMissingError(f"{where}: Python {facts.get('python')} is too old; the runner "
                                 "needs >= 3.9 (set connection.python to a newer one)")
    if facts.get("numpy") is None:
        raise DeviceRuntimeMissingError(f"{where}: numpy is missing on the device{fix}")
    if formats and formats <= report.missing_formats:
        lines = [m for m in report.missing if "artifacts)" in m]
        raise DeviceRuntimeMissingError(f"{where}: {'; '.join(lines)}{fix}")
    for m in report.missing:
        say(f"warning: {m}")
    say(f"{facts.get('board') or facts.get('cpu')}, {facts.get('machine')}, Python "
        f"{facts.get('python')}; uploading runner + bundle")
    request = {"target": profile.name, "threads": threads or profile.threads,
               "providers": list(providers or profile.onnx_providers),
               "runtimes": list(runtimes or profile.runtimes), "artifacts": artifacts,
               "settings": _settings_dict(settings),
               "on_target": on_target(profile, facts.get("machine")),
               "device": facts.get("board") or facts.get("cpu"),
               "include_manifest_failures": True, "accel": profile.accel}
    doc = device.run_runner(bundle, ["bench", "BUNDLE", "--request", "request.json"],
                            {"request.json": json.dumps(request).encode()}, progress=say)
    rows = doc.get("rows") or []
    for row in rows:
        row["target"] = profile.name
        row["bundle"] = bundle.resolve().name
        row.setdefault("measured_on", {}).update(
            hostname=(doc.get("facts") or facts).get("hostname"), on_target=request["on_target"],
            device=request["device"], address=device.address, via="ssh")
        _device_pip(row, python, device.address)
    say(f"{len(rows)} rows back from {device.address}")
    return rows


def _with_runtimes(profile: Profile, runtimes: list[str]) -> Profile:
    from dataclasses import replace

    return replace(profile, runtimes=tuple(runtimes))


def bench_local(bundle: str | Path, profile: Profile, *, artifacts: list[str] | None = None,
                threads: int | None = None, runtimes: list[str] | None = None,
                providers: list | None = None, settings=None,
                progress: Progress | None = None) -> list[dict]:
    """A local profile (``host``): this process, the profile's runtimes/providers/threads."""
    from ..bench import bench_bundle
    from ..bench.settings import BenchSettings
    from .device_entry import choose_runtimes

    bundle = Path(bundle)
    chosen = choose_runtimes(list(runtimes or profile.runtimes), _formats(bundle, artifacts))
    if settings is not None and not isinstance(settings, BenchSettings):
        settings = BenchSettings(**_settings_dict(settings))
    providers = list(providers or profile.onnx_providers)
    rows = bench_bundle(bundle, artifacts=artifacts, target=profile.name,
                        threads=threads or profile.threads, providers=providers, runtimes=chosen,
                        settings=settings, on_target=on_target(profile, native_facts()["arch"]),
                        progress=_say(progress, profile.name) if progress else None,
                        accel=profile.accel)
    return [annotate(r, providers) for r in rows]


# -- fleets -------------------------------------------------------------------------------
def failure_row(bundle: str | Path, target: str, error: str, address: str | None = None) -> dict:
    """One result row saying a whole target failed (same schema as every other row)."""
    from ..bench.rows import ResultRow

    bundle = Path(bundle)
    model = dataset = None
    try:
        manifest = json.loads((bundle / "manifest.json").read_text())
        model = (manifest.get("model") or {}).get("kind")
        dataset = (manifest.get("dataset") or {}).get("name")
    except (OSError, ValueError):
        pass
    import datetime as _dt

    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return ResultRow(bundle=bundle.name, model=model, dataset=dataset, artifact=None, format=None,
                     graph=None, scheme=None, status="failed", error=error, target=target,
                     measured_on={"hostname": None, "on_target": False, "device": None,
                                  "address": address},
                     timestamp=now).to_dict()


def assign_hosts(targets: Sequence[str | Profile], hosts: Sequence[str] = ()) -> dict[str, str]:
    """``--host`` values -> {target: host}. ``NAME=HOST`` pairs, or one plain HOST when there
    is exactly one target."""
    names = [t.name if isinstance(t, Profile) else str(t) for t in targets]
    out: dict[str, str] = {}
    plain = []
    for h in hosts or ():
        name, sep, value = h.partition("=")
        if sep and name in names:
            out[name] = value
        elif sep:
            raise ProfileError(f"--host {h!r}: {name!r} is not one of the targets "
                               f"({', '.join(names)})")
        else:
            plain.append(h)
    if plain:
        if len(plain) > 1 or len(names) != 1:
            raise ProfileError("with several --target, give each host as --host NAME=[user@]host")
        out[names[0]] = plain[0]
    return out


def bench_fleet(bundle: str | Path, targets: Sequence[str | Profile],
                hosts: dict[str, str] | None = None, *, max_workers: int | None = None,
                progress: Progress | None = None, **options) -> list[dict]:
    """Bench on several targets in parallel (one thread each). A target that fails as a whole
    (unreachable, ...) gives one failed row with the reason; the others carry on. Rows come
    back grouped by target in the order given."""
    hosts = hosts or {}
    profiles: list[Profile] = [resolve(t, hosts.get(t.name if isinstance(t, Profile) else t))
                               for t in targets]
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise ProfileError(f"a target is named twice: {', '.join(names)}")

    def one(profile: Profile) -> list[dict]:
        try:
            return bench_remote(bundle, profile, progress=progress, **options)
        except (TargetError, BundleError, OSError, ValueError) as exc:
            if progress is not None:
                progress(f"[{profile.name}] failed: {exc}")
            return [failure_row(bundle, profile.name, str(exc), profile.connection.address)]

    with ThreadPoolExecutor(max_workers=max_workers or len(profiles) or 1,
                            thread_name_prefix="edgelnn-target") as pool:
        results = list(pool.map(one, profiles))
    return [row for rows in results for row in rows]


def bench_targets(bundle: str | Path, targets: Sequence[str], hosts: Sequence[str] = (), *,
                  artifacts: list[str] | None = None, threads: int | None = None,
                  runtimes: list[str] | None = None, providers: list | None = None,
                  settings=None, progress: Progress | None = None) -> list[dict]:
    """The integration point of ``edgelnn bench BUNDLE --target NAME... [--host ...]``.

    One target: its rows, or a one-line error. Several: all their rows, run in parallel, a
    failed target as a failed row. ``threads``/``providers``/``runtimes`` None: each
    profile's own; ``hosts``: ``--host`` values (``[user@]host[:port]``, or ``NAME=HOST``)."""
    targets = list(targets) or ["host"]
    hostmap = assign_hosts(targets, hosts)
    options = dict(artifacts=artifacts, threads=threads, runtimes=runtimes, providers=providers,
                   settings=settings)
    if len(targets) == 1:
        return bench_remote(bundle, targets[0], hostmap.get(targets[0]), progress=progress,
                            **options)
    return bench_fleet(bundle, targets, hostmap, progress=progress, **options)


# -- check / setup ------------------------------------------------------------------------
def check_target(target: str | Profile, host: str | None = None,
                 progress: Progress | None = None) -> DeviceReport:
    """Facts of the device and what is missing for its profile (``edgelnn targets check``)."""
    profile = resolve(target, host)
    if profile.is_mcu:
        return assess_mcu(profile)
    if not profile.is_remote:
        from . import probe

        return assess(profile, probe.facts(profile.connection.workdir, None))
    device = Device(profile)
    _say(progress, profile.name)(f"connecting to {device.address}")
    return assess(profile, device.probe())


def setup_target(target: str | Profile, host: str | None = None,
                 progress: Progress | None = None) -> DeviceReport:
    """Make a venv on the device (connection.venv) and pip-install numpy and the profile's
    runtimes into it (never torch); returns the check that follows."""
    profile = resolve(target, host)
    if profile.is_mcu:
        raise ProfileError(f"target {profile.name} is a microcontroller (C artifacts, emulated here): "
                           "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")
    if not profile.is_remote:
        raise ProfileError(f"target {profile.name} is local: install the device extras here "
                           "with pip install edgelnn (the base package is the device package)")
    device = Device(profile)
    say = _say(progress, profile.name)
    say(f"connecting to {device.address}")
    device.setup(profile.device_requirements(), progress=say)
    if profile.connection.python != "auto":
        say(f"note: connection.python is {profile.connection.python!r}; set it to \"auto\" or "
            f"to {profile.connection.venv}/bin/python to use the new venv")
    return assess(profile, device.probe())
