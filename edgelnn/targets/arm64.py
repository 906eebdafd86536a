"""arm64 check: do a bundle and the torch-free runner work in a Debian bookworm arm64 userland?

Raspberry Pi OS 64-bit is Debian bookworm arm64, so this is the closest thing to a Pi that an
x86 machine can run. The userland comes from Debian's own packages (``debootstrap --foreign``:
download and unpack, no second stage, so no arm64 code runs while building it), the Python
packages from the aarch64 wheels on PyPI (``pip --platform``), and every arm64 instruction runs
under ``qemu-aarch64-static`` started *inside* a chroot (no binfmt_misc needed, so nothing is
registered on the host; the price is that arm64 programs cannot start arm64 subprocesses, so
the check is the golden check only, in one process).

Times under emulation mean nothing: the result is pass/fail per artifact, never latency.

Needs root (chroot), debootstrap and qemu-user-static (installed with apt-get when missing).
The rootfs and the wheels are cached under ``~/.cache/edgelnn/arm64`` (``$EDGELNN_ARM64_CACHE``).

    python -m edgelnn.targets.arm64 export/cfc-basicmotions [--json out.json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import TargetError

SUITE = "bookworm"
MIRROR = os.environ.get("EDGELNN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PYTHON = "python3.11"
PY_VERSION = "3.11"
# The device requirements, as on a Pi (`edgelnn targets setup`); versions follow this machine's
# so the arm64 run exercises the same runtime versions as the host's tests.
DEVICE_PACKAGES = ("numpy", "onnxruntime", "ai-edge-litert")
PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64",
             "manylinux2014_aarch64")
QEMU = "/usr/bin/qemu-aarch64-static"
SITE = "/opt/edgelnn-site"
ROOTFS_VERSION = "1"          # bump to rebuild cached rootfs after changing how it is made


def cache_dir() -> Path:
    return Path(os.environ.get("EDGELNN_ARM64_CACHE", "~/.cache/edgelnn/arm64")).expanduser()


@dataclass
class ArtifactCheck:
    artifact: str
    format: str
    graph: str
    scheme: str
    runtime: str | None
    passed: bool
    max_abs: float | None
    tolerance: float | None
    error: str | None = None


@dataclass
class Arm64Result:
    bundle: str
    passed: bool
    machine: str                  # uname -m inside the chroot, under qemu
    python: str
    packages: dict = field(default_factory=dict)
    artifacts: list[ArtifactCheck] = field(default_factory=list)
    seconds: float = 0.0
    note: str = "qemu-user emulation: pass/fail only, no latency"
    skipped: list[dict] = field(default_factory=list)   # {"artifact", "reason"}: not checked here

    def to_json(self) -> dict:
        return asdict(self)


def _log(msg: str) -> None:
    print(f"[arm64] {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise TargetError(f"arm64 check: {what} failed (exit {proc.returncode}): "
                          f"{' | '.join(tail) or 'no output'}")
    return proc


# -- tools -----------------------------------------------------------------------------
def ensure_tools(install: bool = True) -> None:
    """debootstrap and qemu-aarch64-static present (apt-get install them when root)."""
    if os.geteuid() != 0:
        raise TargetError("arm64 check needs root (chroot); run it with sudo")
    missing = [pkg for tool, pkg in (("debootstrap", "debootstrap"), (QEMU, "qemu-user-static"))
               if not (shutil.which(tool) or Path(tool).exists())]
    if not missing:
        return
    if not install or not shutil.which("apt-get"):
        raise TargetError(f"arm64 check needs {' and '.join(missing)}: "
                          f"apt-get install -y {' '.join(missing)}")
    _log(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-qq"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-qq", *missing], "apt-get install", env=env)


# -- rootfs ----------------------------------------------------------------------------
def build_rootfs(cache: Path | None = None) -> Path:
    """A bookworm arm64 userland with python3.11, cached; returns its root folder."""
    cache = cache or cache_dir()
    root = cache / f"{SUITE}-arm64"
    marker = root / ".edgelnn-rootfs"
    if marker.is_file() and marker.read_text().strip() == ROOTFS_VERSION:
        return root
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f"{SUITE}-arm64.building"
    if tmp.exists():
        shutil.rmtree(tmp)
    _log(f"debootstrap --foreign {SUITE} arm64 (first time only; cached in {cache})")
    _run(["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase",
          f"--include={PYTHON}", SUITE, str(tmp), MIRROR], "debootstrap")
    # The first stage unpacks only the base set; --include'd packages (python) are only
    # downloaded. Unpack every downloaded deb (no maintainer scripts: they would be arm64).
    debs = sorted((tmp / "var/cache/apt/archives").glob("*.deb"))
    if not any(d.name.startswith(f"{PYTHON}_") for d in debs):
        raise TargetError(f"arm64 check: debootstrap did not fetch {PYTHON}")
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(tmp)], f"dpkg -x {deb.name}")
    if not (tmp / "usr/bin" / PYTHON).exists():
        raise TargetError(f"arm64 check: {PYTHON} missing from the unpacked rootfs")
    (tmp / "tmp").mkdir(exist_ok=True)
    os.chmod(tmp / "tmp", 0o1777)
    (tmp / ".edgelnn-rootfs").write_text(ROOTFS_VERSION + "\n")
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    return root


def _pinned(packages) -> list[str]:
    """Pin to this machine's versions when they are installed here (same code on both sides)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in packages:
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            out.append(pkg)
    return out


def install_site(root: Path, packages=DEVICE_PACKAGES) -> dict:
    """aarch64 wheels for the device requirements in ROOT/opt/edgelnn-site; {name: version}."""
    reqs = _pinned(packages)
    site = root / SITE.lstrip("/")
    marker = site / ".edgelnn-site.json"
    key = hashlib.sha256(json.dumps([reqs, PLATFORMS]).encode()).hexdigest()[:16]
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("key") == key:
            return info["packages"]
    if site.exists():
        shutil.rmtree(site)
    _log(f"pip install --platform aarch64 {' '.join(reqs)}")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(site),
           "--only-binary=:all:", "--python-version", PY_VERSION, "--implementation", "cp",
           "--abi", "cp311"]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    _run(cmd + reqs, "pip install of the aarch64 wheels")
    from email.parser import HeaderParser

    found = {}
    for meta in site.glob("*.dist-info/METADATA"):
        head = HeaderParser().parsestr(meta.read_text(errors="replace"))
        found[head["Name"]] = head["Version"]
    marker.write_text(json.dumps({"key": key, "packages": found}, indent=1))
    return found


def prepare(cache: Path | None = None, install_tools: bool = True) -> tuple[Path, dict]:
    """Tools, rootfs and wheels; returns (root, installed packages)."""
    ensure_tools(install_tools)
    root = build_rootfs(cache)
    packages = install_site(root)
    shutil.copy2(QEMU, root / "usr/bin/qemu-aarch64-static")
    return root, packages


# -- the check -------------------------------------------------------------------------
def _chroot_python(root: Path, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run the arm64 python3.11 under qemu in the chroot. /proc and /sys stay unmounted
    (onnxruntime segfaults under qemu-user when both are there), so does binfmt."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
           "PYTHONPATH": SITE, "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": "1"}
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    cmd = [chroot, str(root), "/usr/bin/qemu-aarch64-static", f"/usr/bin/{PYTHON}", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TargetError(f"arm64 check: emulated run passed its {timeout:.0f} s timeout") from None


def check_bundle(bundle: str | Path, cache: Path | None = None, timeout: float = 1500,
                 install_tools: bool = True) -> Arm64Result:
    """Golden check of every artifact of ``bundle`` in the arm64 userland."""
    from .package import build_runner, bundle_files
    from .protocol import parse_result

    bundle = Path(bundle)
    if not (bundle / "manifest.json").is_file():
        raise TargetError(f"{bundle} is not an export bundle (no manifest.json)")
    t0 = time.monotonic()
    root, packages = prepare(cache, install_tools)
    work = Path(tempfile.mkdtemp(prefix="edgelnn-check.", dir=root / "tmp"))
    try:
        inner = "/" + str(work.relative_to(root))
        build_runner(work / "runner.pyz")
        for path, arc in bundle_files(bundle, "bundle"):
            (work / arc).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, work / arc)
        skipped = _drop_unchecked(work / "bundle" / "manifest.json")
        proc = _chroot_python(root, [f"{inner}/runner.pyz", "golden", f"{inner}/bundle"], timeout)
        doc = parse_result(proc.stdout, proc.stderr, proc.returncode, "arm64 chroot")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    checks = [ArtifactCheck(**{k: r.get(k) for k in ArtifactCheck.__dataclass_fields__})
              for r in doc["results"]]
    return Arm64Result(bundle=bundle.name, passed=bool(checks) and all(c.passed for c in checks),
                       machine=doc["facts"].get("machine", "?"),
                       python=doc["facts"].get("python", "?"), packages=packages,
                       artifacts=checks, seconds=round(time.monotonic() - t0, 1), skipped=skipped)


NO_CC = ("the arm64 userland has no C compiler (C artifacts compile on the device itself: "
         "the SSH bench path checks them)")


def _drop_unchecked(manifest_path: Path) -> list[dict]:
    """The userland holds Python and the wheels only: C artifacts are listed as skipped."""
    manifest = json.loads(manifest_path.read_text())
    keep, skipped = [], []
    for a in manifest.get("artifacts", []):
        if a.get("format") == "c":
            skipped.append({"artifact": a["file"], "reason": NO_CC})
        else:
            keep.append(a)
    manifest["artifacts"] = keep
    manifest_path.write_text(json.dumps(manifest))
    return skipped


def format_result(result: Arm64Result) -> str:
    lines = [f"arm64 check of {result.bundle}: machine {result.machine}, Python {result.python}, "
             + ", ".join(f"{k} {v}" for k, v in sorted(result.packages.items()))]
    for c in result.artifacts:
        status = "PASS" if c.passed else "FAIL"
        detail = (f"max_abs {c.max_abs:.2e} <= tol {c.tolerance:.2e}" if c.passed and c.max_abs is not None
                  else (c.error or f"max_abs {c.max_abs} > tol {c.tolerance}"))
        lines.append(f"  {status}  {c.artifact:<45} {c.runtime or '-':<12} {detail}")
    for sk in result.skipped:
        lines.append(f"  SKIP  {sk['artifact']:<45} {'-':<12} {sk['reason']}")
    n_ok = sum(c.passed for c in result.artifacts)
    lines.append(f"{'PASSED' if result.passed else 'FAILED'}: {n_ok}/{len(result.artifacts)} "
                 f"artifacts match their golden outputs under arm64 ({result.note}); "
                 f"{result.seconds:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arm64_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="export bundle folder")
    parser.add_argument("--json", help="also write the result as JSON to this file")
    parser.add_argument("--cache", help="cache folder (default ~/.cache/edgelnn/arm64)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="build the rootfs and wheels, check nothing")
    parser.add_argument("--no-install", action="store_true",
                        help="do not apt-get install debootstrap/qemu-user-static")
    args = parser.parse_args(argv)
    cache = Path(args.cache) if args.cache else None
    try:
        if args.prepare_only:
            root, packages = prepare(cache, not args.no_install)
            print(f"arm64 userland ready: {root} ({', '.join(f'{k} {v}' for k, v in packages.items())})")
            return 0
        result = check_bundle(args.bundle, cache, install_tools=not args.no_install)
    except (TargetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_result(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
