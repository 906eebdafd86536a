"""SSH transport: the system OpenSSH client, so ~/.ssh/config, keys, the agent and jump hosts
work as they do for the user.

Safety: ``BatchMode=yes`` (never a password prompt), ``StrictHostKeyChecking=yes`` unless the
profile says ``accept-new`` (never ``no``), a connect timeout and a run timeout. Remote commands
are a fixed ``sh`` script plus positional arguments, each quoted with ``shlex.quote`` — no user
value is ever pasted into script text. Failures are classified from ssh's exit status and
stderr into one-line errors (unreachable, authentication, host key, python, disk).
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, Callable

from .. import interrupt
from .errors import (AuthenticationError, DiskSpaceError, HostKeyError, HostUnreachableError,
                     ProfileError, PythonMissingError, RemoteError, RemoteTimeoutError,
                     TargetError)
from .profile import Connection

# Shell prelude shared by every remote script: ``~/`` expansion done here (arguments arrive
# quoted, so the login shell does not expand them) and the choice of python.
PRELUDE = r'''
set -u
expand() { case "$1" in "~/"*) printf '%s' "$HOME/${1#"~/"}" ;; *) printf '%s' "$1" ;; esac; }
fail() { printf 'EDGELNN-ERROR %s\n' "$1" >&2; exit "$2"; }
pick_python() {  # $1: python setting ("auto" or a command/path), $2: venv folder
    PY=$(expand "$1"); VENV=$(expand "$2")
    if [ "$PY" = auto ]; then
        if [ -n "$VENV" ] && [ -x "$VENV/bin/python" ]; then PY="$VENV/bin/python"; else PY=python3; fi
    fi
    command -v "$PY" >/dev/null 2>&1 || fail "python-missing $PY" 91
    "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 9) else 1)' 2>/dev/null ||
        fail "python-old $PY $("$PY" -c 'import platform; print(platform.python_version())' 2>&1)" 94
}
'''
EXIT_PYTHON_MISSING, EXIT_DISK, EXIT_WORKDIR, EXIT_PYTHON_OLD, EXIT_COPY = 91, 92, 93, 94, 95
WORKDIR_RE = re.compile(r"^/[^\s'\"\\]*/edgelnn\.[A-Za-z0-9]{8}$")

_HOSTKEY = ("host key verification failed", "remote host identification has changed",
            "host key is known for", "no matching host key", "host key for")
_AUTH = ("permission denied", "too many authentication failures",
         "no more authentication methods", "authentications that can continue")
_UNREACHABLE = ("could not resolve hostname", "connection refused", "connection timed out",
                "operation timed out", "no route to host", "network is unreachable",
                "connection closed by", "connection reset", "kex_exchange_identification",
                "name or service not known", "temporary failure in name resolution",
                "host is down", "timed out")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class SSH:
    """Runs scripts on one device. ``what`` names the target in every error message."""

    def __init__(self, conn: Connection, what: str, *, ssh_binary: str = "ssh"):
        if conn.kind != "ssh":
            raise ProfileError(f"target {what} is local; it has no ssh connection")
        if not conn.host:
            raise ProfileError(f"target {what} has no host: pass --host [user@]host[:port] "
                               "or set connection.host in its profile")
        if shutil.which(ssh_binary) is None:
            raise TargetError("the OpenSSH client (ssh) is not installed here: "
                              "apt-get install -y openssh-client")
        self.conn = conn
        self.what = what
        self.ssh_binary = ssh_binary

    @property
    def address(self) -> str:
        return self.conn.address

    def base_args(self) -> list[str]:
        c = self.conn
        args = [self.ssh_binary, "-T", "-o", "BatchMode=yes",
                "-o", f"StrictHostKeyChecking={c.strict_host_key_checking}",
                "-o", f"ConnectTimeout={c.connect_timeout}",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
                "-o", "LogLevel=ERROR"]
        if c.ssh_config:
            args += ["-F", c.ssh_config]
        if c.known_hosts:
            args += ["-o", f"UserKnownHostsFile={c.known_hosts}"]
        if c.identity_file:
            args += ["-i", c.identity_file, "-o", "IdentitiesOnly=yes"]
        if c.port:
            args += ["-p", str(c.port)]
        if c.user:
            args += ["-l", c.user]
        for opt in c.ssh_options:
            args += ["-o", opt]
        return args + ["--", c.host]

    def command(self, script: str, args: list[str]) -> list[str]:
        """argv for running ``script`` under ``sh`` on the device with quoted ``args``."""
        remote = " ".join(["sh", "-c", shlex.quote(PRELUDE + script), "edgelnn"]
                          + [shlex.quote(str(a)) for a in args])
        return self.base_args() + [remote]

    def run(self, script: str, args: list[str], *, stdin: IO[bytes] | None = None,
            timeout: float | None = None, on_stderr: Callable[[str], None] | None = None,
            check: bool = True) -> Result:
        """Run a script; classified TargetError on ssh failure (and on any non-zero exit when
        ``check``). ``on_stderr`` gets each stderr line as it arrives (progress)."""
        timeout = timeout or self.conn.run_timeout
        cmd = self.command(script, args)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out_chunks: list[bytes] = []
        err_lines: list[str] = []

        def read_out():
            for chunk in iter(lambda: proc.stdout.read(65536), b""):
                out_chunks.append(chunk)

        def read_err():
            for raw in iter(proc.stderr.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                err_lines.append(line)
                if on_stderr is not None:
                    try:
                        on_stderr(line)
                    except Exception:  # noqa: BLE001 - a progress printer must not kill the run
                        pass

        readers = [threading.Thread(target=read_out, daemon=True),
                   threading.Thread(target=read_err, daemon=True)]
        for t in readers:
            t.start()
        try:
            with interrupt.stopper(proc.kill):      # Ctrl-C: the ssh dies at once, then we unwind
                proc.wait(timeout=timeout)
            if interrupt.is_set() and proc.returncode < 0:   # killed by the stopper: a worker thread
                raise interrupt.Interrupted()
        except KeyboardInterrupt as exc:
            proc.kill()
            proc.wait()
            for t in readers:
                t.join(timeout=2)
            exc.workdir = workdir_from("\n".join(err_lines))   # the caller stops the run there
            raise
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            for t in readers:
                t.join(timeout=5)
            error = RemoteTimeoutError(f"{self.what} ({self.address}): no answer within "
                                       f"{timeout:.0f} s; raise connection.run_timeout or "
                                       "check the device")
            error.workdir = workdir_from("\n".join(err_lines))
            raise error from None
        for t in readers:
            t.join(timeout=30)
        result = Result(proc.returncode, b"".join(out_chunks).decode("utf-8", "replace"),
                        "\n".join(err_lines), time.monotonic() - t0)
        error = self.classify(result)
        if error is not None and (check or result.returncode == 255 or _marker(result.stderr)):
            raise error
        return result

    # -- errors ----------------------------------------------------------------------------
    def classify(self, r: Result) -> TargetError | None:
        """The error a failed run means, or None when it exited 0."""
        if r.returncode == 0:
            return None
        where = f"{self.what} ({self.address})"
        text = r.stderr.lower()
        if r.returncode == 255:
            if any(s in text for s in _HOSTKEY):
                if "has changed" in text or "identification has changed" in text:
                    return HostKeyError(
                        f"{where}: the host key has CHANGED since it was recorded in known_hosts "
                        "(a reinstalled device, or someone in between); if you expect it, remove "
                        f"the old key with ssh-keygen -R {self.conn.host}")
                return HostKeyError(
                    f"{where}: unknown host key; ssh refuses to connect with host key checking "
                    f"on. Connect once with `ssh {self._ssh_hint()}` and verify the fingerprint "
                    "(or add it to known_hosts with ssh-keyscan after checking it)")
            if any(s in text for s in _AUTH):
                return AuthenticationError(
                    f"{where}: authentication refused (key-based login only, BatchMode): "
                    "install your public key on the device with ssh-copy-id, or set "
                    "connection.identity_file in the profile")
            if any(s in text for s in _UNREACHABLE):
                detail = _ssh_detail(r.stderr)
                return HostUnreachableError(f"{where}: host unreachable ({detail})")
            return RemoteError(f"{where}: ssh failed: {_ssh_detail(r.stderr) or 'exit 255'}")
        marker = _marker(r.stderr)
        if marker:
            kind, _, rest = marker.partition(" ")
            if kind == "python-missing":
                return PythonMissingError(
                    f"{where}: python {rest!r} not found on the device; install Python 3 "
                    "(sudo apt-get install -y python3 python3-venv) or set connection.python")
            if kind == "python-old":
                py, _, version = rest.partition(" ")
                return PythonMissingError(f"{where}: {py} is Python {version}; the runner needs "
                                          "Python >= 3.9 (set connection.python to a newer one)")
            if kind == "disk":
                avail, need, folder = (rest.split(" ", 2) + ["", "", ""])[:3]
                return DiskSpaceError(
                    f"{where}: not enough disk in {folder}: {int(avail) // 1024} MB free, "
                    f"{int(need) // 1024} MB needed for the bundle and the runner; free space "
                    "or set connection.workdir to a bigger disk")
            if kind == "workdir":
                return RemoteError(f"{where}: cannot create a working folder in {rest} "
                                   "(set connection.workdir to a writable folder)")
            if kind == "copy":
                return RemoteError(f"{where}: copying the bundle failed ({rest})")
            return RemoteError(f"{where}: {marker}")
        if r.returncode == 127:
            return RemoteError(f"{where}: command not found on the device: "
                               f"{_ssh_detail(r.stderr)}")
        if r.returncode == 124:
            return RemoteTimeoutError(f"{where}: the device run passed its "
                                      f"{self.conn.run_timeout} s timeout")
        return RemoteError(f"{where}: remote command exited {r.returncode}: "
                           f"{_ssh_detail(r.stderr) or 'no output'}")

    def _ssh_hint(self) -> str:
        c = self.conn
        dest = f"{c.user}@{c.host}" if c.user else c.host
        return f"-p {c.port} {dest}" if c.port else dest


def _marker(stderr: str) -> str | None:
    for line in reversed(stderr.splitlines()):
        if line.startswith("EDGELNN-ERROR "):
            return line[len("EDGELNN-ERROR "):].strip()
    return None


def _ssh_detail(stderr: str) -> str:
    """The most telling line of ssh's stderr."""
    lines = [ln.strip() for ln in stderr.splitlines()
             if ln.strip() and not ln.startswith(("[device]", "EDGELNN-WORKDIR", "@@@@"))]
    for line in lines:
        low = line.lower()
        if any(s in low for s in _UNREACHABLE + _AUTH + _HOSTKEY):
            return line.removeprefix("ssh: ")
    return lines[-1] if lines else ""


def workdir_from(stderr: str) -> str | None:
    """The remote working folder the run script announced (for cleanup after a timeout)."""
    for line in stderr.splitlines():
        if line.startswith("EDGELNN-WORKDIR "):
            path = line.split(" ", 1)[1].strip()
            if WORKDIR_RE.match(path):
                return path
    return None
