"""C compilers: find them, say in one line what to install when they are missing, build the
host shared library of a C artifact once and cache it by sha256.

Standard library only (this runs on devices, inside the runner zipapp).
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ...errors import RuntimeMissingError

CC_CANDIDATES = ("cc", "gcc", "clang")
CC_HINT = "install a C compiler, e.g. sudo apt-get install gcc (or set CC)"
CROSS_CC = "arm-none-eabi-gcc"
CROSS_HINT = "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
QEMU = "qemu-system-arm"
QEMU_HINT = "sudo apt-get install qemu-system-arm"
# -std=gnu99 only to allow FMA contraction (ISO C mode turns it off); the code itself is C99.
# Reassociation lets dot products vectorise; results stay within the fp32 parity bound.
HOST_FLAGS = ("-std=gnu99", "-O3", "-fPIC", "-shared", "-ffp-contract=fast", "-fno-math-errno",
              "-fno-trapping-math", "-fno-signed-zeros", "-fassociative-math")
NATIVE_FLAG = "-march=native"
BUILD_VERSION = "2"        # bump when the shim or the flags change meaning


class CompileError(RuntimeError):
    """The compiler rejected a generated file (a generator bug or a tampered file)."""


def find_cc() -> list[str] | None:
    """The host C compiler as an argv prefix: $CC, else the first of cc, gcc, clang on PATH."""
    env = os.environ.get("CC")
    if env:
        argv = shlex.split(env)
        if argv and shutil.which(argv[0]):
            return argv
        return None
    for name in CC_CANDIDATES:
        path = shutil.which(name)
        if path:
            return [path]
    return None


def require_cc() -> list[str]:
    cc = find_cc()
    if cc is None:
        hint = f"$CC ({os.environ['CC']}) is not found" if os.environ.get("CC") else \
            "no C compiler found (cc, gcc or clang on PATH)"
        raise RuntimeMissingError(f"the c runtime needs a C compiler: {hint}; {CC_HINT}")
    return cc


def find_cross() -> str | None:
    return shutil.which(CROSS_CC)


def require_cross() -> str:
    cc = find_cross()
    if cc is None:
        raise RuntimeMissingError(f"microcontroller figures need {CROSS_CC} (not found): {CROSS_HINT}")
    if not _newlib_ok(cc):
        raise RuntimeMissingError(f"{CROSS_CC} has no C library (newlib): sudo apt-get install "
                                  "libnewlib-arm-none-eabi")
    return cc


def _newlib_ok(cc: str) -> bool:
    try:
        out = subprocess.run([cc, "-print-file-name=libc.a"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return os.path.isabs(out.stdout.strip()) and Path(out.stdout.strip()).is_file()


def compiler_version(cc: list[str] | str) -> str:
    argv = [cc] if isinstance(cc, str) else list(cc)
    try:
        out = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (out.splitlines() or ["unknown"])[0].strip()


def cache_dir() -> Path:
    root = os.environ.get("EDGELNN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgelnn")
    return Path(root) / "c"


def run(argv: list[str], cwd: str | Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise RuntimeMissingError(f"{argv[0]} not found: {exc}") from None


def first_error(text: str) -> str:
    for line in text.splitlines():
        if "error" in line.lower():
            return line.strip()[:300]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else "no output")[:300]


def build_shared(sources: dict[str, str], main: list[str], native: bool = True,
                 extra_flags: tuple[str, ...] = ()) -> tuple[Path, dict]:
    """Compile ``sources`` ({file name: text}; ``main`` the .c files to compile) into a shared
    library, cached under ~/.cache/edgelnn/c/<sha256>; returns (library, build facts)."""
    cc = require_cc()
    version = compiler_version(cc)
    flags = list(HOST_FLAGS) + list(extra_flags)
    attempts = [flags + [NATIVE_FLAG], flags] if native else [flags]
    if sys.platform == "darwin":
        attempts = [[f for f in a if f != "-shared"] + ["-dynamiclib"] for a in attempts]
    else:
        attempts = [a + ["-Wl,-Bsymbolic"] for a in attempts]
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    digest.update(("|".join(cc) + "|" + version + "|" + BUILD_VERSION + "|" + " ".join(main)).encode())
    errors = []
    for argv_flags in attempts:
        key = hashlib.sha256(digest.digest() + " ".join(argv_flags).encode()).hexdigest()
        name = "lib.dylib" if sys.platform == "darwin" else "lib.so"
        lib = cache_dir() / key[:2] / key / name
        if lib.is_file():
            return lib, {"compiler": version, "flags": argv_flags, "cache": str(lib), "cached": True}
        try:
            built = _compile(cc, argv_flags, sources, main, cache_dir(), lib)
        except OSError:               # a read-only or full cache: build in a private temporary folder
            private = _private_root()
            built = _compile(cc, argv_flags, sources, main, private, private / key / name)
        if isinstance(built, str):
            errors.append(built)
            continue
        return built, {"compiler": version, "flags": argv_flags, "cache": str(built), "cached": False}
    raise CompileError(f"{' '.join(cc)} failed: {errors[-1] if errors else 'unknown error'}")


_PRIVATE: list[Path] = []


def _private_root() -> Path:
    """This process's own build folder (removed at exit), when the cache cannot be written."""
    if not _PRIVATE:
        import atexit

        path = Path(tempfile.mkdtemp(prefix="edgelnn-c-"))
        atexit.register(shutil.rmtree, path, True)
        _PRIVATE.append(path)
    return _PRIVATE[0]


def _compile(cc, argv_flags, sources, main, tmp_root: Path, lib: Path) -> Path | str:
    """Build into ``lib`` (under ``tmp_root``); the compiler's first error line when it fails.
    OSError when ``tmp_root`` cannot be written."""
    folder = lib.parent
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=tmp_root) as tmp:
        for name, text in sources.items():
            (Path(tmp) / name).write_text(text)
        out = Path(tmp) / lib.name
        proc = run([*cc, *argv_flags, "-o", str(out), *main, "-lm"], cwd=tmp)
        if proc.returncode != 0:
            return first_error(proc.stderr)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f".{lib.name}.{os.getpid()}"
        shutil.copyfile(out, final)
        os.replace(final, lib)
    return lib
