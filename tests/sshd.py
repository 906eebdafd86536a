"""A real OpenSSH server on 127.0.0.1 and a torch-free "device" Python, for the remote tests.

``sshd_server`` (session fixture) starts Debian's ``/usr/sbin/sshd -D`` on a free port with a
generated host key and one authorized client key, all under a temporary folder; the client side
gets the key and a known_hosts file for that host key (host key checking stays on).

``device_python`` (session fixture) is a separate virtualenv with only the device requirements
(numpy, onnxruntime, ai-edge-litert; no torch), built once and cached under
``~/.cache/edgelnn-test-device-venv`` (``$EDGELNN_TEST_DEVICE_VENV``) keyed by the pinned versions,
so CI pays for it once per machine. ``numpy_only_python`` is the same without any runtime.

In CI (``$CI`` set) a missing sshd fails the tests instead of skipping them.
"""
from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
DEVICE_PACKAGES = ("numpy", "onnxruntime", "ai-edge-litert")


@dataclass
class SSHServer:
    host: str
    port: int
    user: str
    client_key: Path          # private key authorized on the server
    known_hosts: Path         # has the server's host key
    folder: Path
    proc: subprocess.Popen

    def connection(self, **extra) -> dict:
        """A profile ``[connection]`` table that reaches this server."""
        return {"kind": "ssh", "host": self.host, "port": self.port, "user": self.user,
                "identity_file": str(self.client_key), "known_hosts": str(self.known_hosts),
                "ssh_config": "/dev/null", "connect_timeout": 5, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgelnn-test",
                    "-f", str(path)], check=True, capture_output=True)


def start_sshd(folder: Path) -> SSHServer:
    folder.mkdir(parents=True, exist_ok=True)
    host_key, client_key = folder / "host_ed25519_key", folder / "client_key"
    _keygen(host_key)
    _keygen(client_key)
    shutil.copy(f"{client_key}.pub", folder / "authorized_keys")
    port = free_port()
    user = getpass.getuser()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no", f"AllowUsers {user}",
        "MaxStartups 64", "MaxSessions 64", "LogLevel VERBOSE",
        "Subsystem sftp internal-sftp", ""]))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)      # privilege separation dir
    check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"sshd rejects the test config: {check.stderr.strip()}")
    log = open(folder / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(folder / 'sshd.log').read_text()[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("sshd did not start listening within 15 s")
            time.sleep(0.1)
    pub = Path(f"{host_key}.pub").read_text().split()
    known = folder / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    return SSHServer("127.0.0.1", port, user, client_key, known, folder, proc)


def _pinned(packages) -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in packages:
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            out.append(pkg)
    return out


def device_venv(name: str, packages=DEVICE_PACKAGES) -> Path:
    """Python of a cached venv holding only ``packages`` (pinned to this venv's versions)."""
    base = Path(os.environ.get("EDGELNN_TEST_DEVICE_VENV",
                               "~/.cache/edgelnn-test-device-venv")).expanduser()
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    reqs = _pinned(packages)
    key = hashlib.sha256(json.dumps([sys.version, base_python, reqs]).encode()).hexdigest()[:12]
    venv = base / f"{name}-{key}"
    python = venv / "bin" / "python"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".ready").is_file():
            return python
        shutil.rmtree(venv, ignore_errors=True)        # a half-built one from a killed run
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True, capture_output=True)
        proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", *reqs],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"device venv {name}: pip install failed: {proc.stderr[-800:]}")
        (venv / ".ready").write_text(json.dumps(reqs) + "\n")
    return python


def _need_sshd() -> None:
    if Path(SSHD).exists():
        return
    msg = f"{SSHD} missing: apt-get install -y openssh-server"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory):
    _need_sshd()
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.proc.terminate()
    try:
        server.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="session")
def device_python() -> Path:
    return device_venv("device")


@pytest.fixture(scope="session")
def numpy_only_python() -> Path:
    return device_venv("numpy-only", ("numpy",))
