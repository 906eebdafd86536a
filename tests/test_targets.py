"""Target profiles, their validation, host parsing, ssh argv safety, the runner zipapp.

No network and no sshd here (those are in test_remote.py); everything runs in well under a second.
"""
from __future__ import annotations

import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgelnn.targets import (ProfileError, assess, list_profiles, load_profile, parse_host,
                             parse_profile)
from edgelnn.targets.errors import (AuthenticationError, HostKeyError, HostUnreachableError,
                                    PythonMissingError)
from edgelnn.targets.profile import BUILTIN_DIR
from edgelnn.targets.providers import annotate
from edgelnn.targets.remote import assign_hosts
from edgelnn.targets.ssh import PRELUDE, SSH, Result

REQUIRED = {"host", "rpi4", "rpi5", "jetson-orin-nano", "jetson-nano"}

GOOD = """
description = "test board"
arch = "aarch64"
cpu = "Cortex-A76"
cores = 4
memory_mb = 4096
runtimes = ["litert", "onnxruntime"]
onnx_providers = ["CPUExecutionProvider"]
threads = 2
schemes = ["int8-static", "fp16", "fp32", "int16x8-static"]

[connection]
kind = "ssh"
host = "board.local"
user = "pi"
port = 2222
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _only_builtin(monkeypatch, tmp_path):
    """Keep the user's own profile folders out of these tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EDGELNN_TARGETS_DIR", raising=False)


# -- shipped profiles ---------------------------------------------------------------------
def test_every_shipped_profile_parses_and_validates():
    files = sorted(BUILTIN_DIR.glob("*.toml"))
    assert REQUIRED <= {f.stem for f in files}
    profiles = {p.name: p for p in list_profiles()}
    assert set(profiles) == {f.stem for f in files}
    for p in profiles.values():
        assert p.runtimes and p.onnx_providers[-1] == "CPUExecutionProvider" and p.schemes
        assert "torch" not in " ".join(p.device_requirements())
    assert profiles["host"].connection.kind == "local"
    assert profiles["rpi4"].cpu == "Cortex-A72" and profiles["rpi4"].cores == 4
    assert profiles["rpi5"].cpu == "Cortex-A76" and profiles["rpi5"].cores == 4
    orin = profiles["jetson-orin-nano"]
    assert orin.cores == 6 and orin.onnx_providers == (
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    assert "fp16" in orin.schemes and profiles["jetson-nano"].gpu_providers
    for name in ("rpi4", "rpi5", "jetson-orin-nano", "jetson-nano"):
        assert profiles[name].arch == "aarch64" and profiles[name].connection.kind == "ssh"
        assert profiles[name].reduce_range is False        # an x86 trick, not for Arm


def test_user_folder_overrides_and_adds(tmp_path, monkeypatch):
    user = tmp_path / "mine"
    write(user, "rpi5", GOOD.replace("board.local", "my-pi5"))
    write(user, "lab-board", GOOD)
    monkeypatch.setenv("EDGELNN_TARGETS_DIR", str(user))
    assert load_profile("rpi5").connection.host == "my-pi5"
    assert load_profile("rpi5").source == str(user / "rpi5.toml")
    assert {"lab-board", "rpi5", "host"} <= {p.name for p in list_profiles()}
    assert load_profile(str(user / "lab-board.toml")).threads == 2


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(ProfileError, match=r"unknown target 'rpi9'.*rpi4.*rpi5"):
        load_profile("rpi9")


# -- validation: every error names the file and the key -----------------------------------
@pytest.mark.parametrize("change, key", [
    (("threads = 2", "treads = 2"), "unknown key treads"),
    (("cores = 4", 'cores = "four"'), "cores must be an integer"),
    (("cores = 4", "cores = 0"), "cores must be >= 1"),
    (("threads = 2", "threads = 8"), "threads is 8 but the device has 4 cores"),
    (('arch = "aarch64"', 'arch = "arm"'), "arch must be one of"),
    (('["litert", "onnxruntime"]', '["litert", "tensorflow"]'), "runtimes has unknown value 'tensorflow'"),
    (('onnx_providers = ["CPUExecutionProvider"]',
      'onnx_providers = ["CPUExecutionProvider", "CUDAExecutionProvider"]'),
     "onnx_providers must list CPUExecutionProvider last"),
    (('onnx_providers = ["CPUExecutionProvider"]', 'onnx_providers = ["CUDAExecutionProvder"]'),
     "onnx_providers has unknown value 'CUDAExecutionProvder'"),
    (('"fp16"', '"fp-16"'), "schemes has a bad value 'fp-16'"),
    (("port = 2222", "port = 70000"), "connection.port must be <= 65535"),
    (('kind = "ssh"', 'kind = "telnet"'), "connection.kind must be one of local, ssh"),
    (('user = "pi"', 'usr = "pi"'), "unknown key connection.usr"),
    (('host = "board.local"', 'host = "pi@board.local"'), "connection.host must be a bare host"),
    (('user = "pi"', 'user = "-oProxyCommand=x"'), "connection.user has a bad value"),
    (('port = 2222', 'ssh_options = ["StrictHostKeyChecking=no"]'),
     "connection.ssh_options may not set StrictHostKeyChecking"),
    (('port = 2222', 'strict_host_key_checking = "no"'),
     "connection.strict_host_key_checking must be one of yes, accept-new"),
    (('memory_mb = 4096\n', ''), "memory_mb is required"),
    (('description = "test board"', 'name = "other"'), "name is 'other' but the file is"),
])
def test_bad_profile_names_the_key(tmp_path, change, key):
    old, new = change
    assert old in GOOD
    path = write(tmp_path, "board", GOOD.replace(old, new, 1))
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    assert key in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_toml_names_the_file(tmp_path):
    path = write(tmp_path, "broken", GOOD + "\ncores = = 3\n")
    with pytest.raises(ProfileError, match=r"broken\.toml: not valid TOML"):
        load_profile(str(path))


def test_good_profile_values(tmp_path):
    p = load_profile(str(write(tmp_path, "board", GOOD)))
    assert p.connection.address == "pi@board.local:2222"
    assert p.connection.python == "auto" and p.connection.strict_host_key_checking == "yes"
    assert p.device_requirements() == ["numpy", "ai-edge-litert", "onnxruntime"]
    q = p.with_host("root@10.0.0.7:22")
    assert (q.connection.user, q.connection.host, q.connection.port) == ("root", "10.0.0.7", 22)


# -- hosts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [
    ("raspberrypi.local", (None, "raspberrypi.local", None)),
    ("pi@raspberrypi.local", ("pi", "raspberrypi.local", None)),
    ("pi@10.1.2.3:2200", ("pi", "10.1.2.3", 2200)),
    ("ssh://nvidia@jetson:22", ("nvidia", "jetson", 22)),
    ("[::1]:2222", (None, "::1", 2222)),
    ("root@::1", ("root", "::1", None)),
])
def test_parse_host(text, want):
    assert parse_host(text) == want


@pytest.mark.parametrize("text", ["-oProxyCommand=sh", "pi@host:99999", "a b", "pi@", "x;rm"])
def test_parse_host_refuses(text):
    with pytest.raises(ProfileError):
        parse_host(text)


def test_assign_hosts():
    assert assign_hosts(["rpi5"], ["pi@a"]) == {"rpi5": "pi@a"}
    assert assign_hosts(["rpi4", "rpi5"], ["rpi5=pi@b"]) == {"rpi5": "pi@b"}
    with pytest.raises(ProfileError, match="NAME="):
        assign_hosts(["rpi4", "rpi5"], ["pi@b"])
    with pytest.raises(ProfileError, match="not one of the targets"):
        assign_hosts(["rpi4"], ["rpi9=pi@b"])


# -- ssh argv: options on, every remote argument quoted ------------------------------------
def _ssh(tmp_path, **conn):
    table = {"kind": "ssh", "host": "board.local", "user": "pi", "port": 2222,
             "known_hosts": str(tmp_path / "kh"), "identity_file": str(tmp_path / "id"), **conn}
    p = parse_profile({"arch": "native", "runtimes": ["onnxruntime"], "schemes": ["fp32"],
                       "connection": table}, "board")
    return SSH(p.connection, "board")


def test_ssh_argv_keeps_checks_on_and_quotes_everything(tmp_path):
    ssh = _ssh(tmp_path)
    nasty = ["a b", "$(touch /tmp/pwned)", "x'y\"z", "; rm -rf ~", "~/not-expanded-here"]
    argv = ssh.command('echo "$@"', nasty)
    opts = " ".join(argv)
    for want in ("BatchMode=yes", "StrictHostKeyChecking=yes", "ConnectTimeout=10",
                 f"UserKnownHostsFile={tmp_path / 'kh'}", "IdentitiesOnly=yes"):
        assert want in opts
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "pi"
    assert argv[-3:-1] == ["--", "board.local"]
    # The remote shell sees exactly: sh -c SCRIPT edgelnn ARGS...
    assert shlex.split(argv[-1]) == ["sh", "-c", PRELUDE + 'echo "$@"', "edgelnn", *nasty]


def test_remote_command_runs_as_quoted_locally(tmp_path):
    """The exact remote string, run by a local sh, echoes the arguments untouched."""
    ssh = _ssh(tmp_path)
    nasty = ["a b", "$(echo pwned)", "x'y", "*", "~/x"]
    remote = ssh.command('for a in "$@"; do printf "%s\\n" "$a"; done', nasty)[-1]
    out = subprocess.run(["sh", "-c", remote], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == nasty


@pytest.mark.parametrize("rc, stderr, kind, words", [
    (255, "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict "
          "checking.\nHost key verification failed.", HostKeyError, "unknown host key"),
    (255, "@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key "
          "verification failed.", HostKeyError, "CHANGED"),
    (255, "pi@board.local: Permission denied (publickey).", AuthenticationError,
     "authentication refused"),
    (255, "ssh: Could not resolve hostname board.local: Name or service not known",
     HostUnreachableError, "host unreachable"),
    (255, "ssh: connect to host board.local port 2222: Connection timed out",
     HostUnreachableError, "Connection timed out"),
    (91, "EDGELNN-ERROR python-missing python3", PythonMissingError, "python3-venv"),
    (94, "EDGELNN-ERROR python-old /usr/bin/python3 3.6.9", PythonMissingError, "3.6.9"),
])
def test_ssh_errors_are_classified(tmp_path, rc, stderr, kind, words):
    err = _ssh(tmp_path).classify(Result(rc, "", stderr, 0.1))
    assert isinstance(err, kind) and words in str(err) and "board" in str(err)


# -- providers: the row says when ONNX fell back to the CPU --------------------------------
def test_provider_fallback_is_annotated():
    jetson = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    row = annotate({"format": "onnx", "providers_used": ["CPUExecutionProvider"]}, jetson)
    assert row["provider_fallback"] is True and row["provider_note"].startswith("fallback:")
    assert row["providers_requested"] == jetson
    row = annotate({"format": "onnx", "providers_used": ["CUDAExecutionProvider",
                                                         "CPUExecutionProvider"]}, jetson)
    assert row["provider_fallback"] is True and "ran on CUDAExecutionProvider" in row["provider_note"]
    row = annotate({"format": "onnx", "providers_used": jetson}, jetson)
    assert row["provider_fallback"] is False and "provider_note" not in row
    assert "provider_fallback" not in annotate({"format": "tflite"}, jetson)


def test_assess_lists_what_is_missing_with_the_pip_line():
    p = load_profile("jetson-orin-nano")
    facts = {"machine": "x86_64", "python": "3.11.2", "python_ok": True, "numpy": "2.0.0",
             "executable": "/usr/bin/python3", "free_mb": 5000,
             "runtimes": {"onnxruntime": {"ok": True, "version": "1.20.0",
                                          "providers": ["CPUExecutionProvider"]},
                          "litert": {"ok": False, "error": "not installed"},
                          "c": {"ok": True, "version": "cc (Debian 12.2.0) 12.2.0"}}}
    rep = assess(p, facts)
    assert not rep.ok and rep.missing_formats == {"tflite"}
    assert "/usr/bin/python3 -m pip install ai-edge-litert" in rep.fix
    assert any("fall back to CPUExecutionProvider" in n for n in rep.notes)
    assert any("on_target false" in n for n in rep.notes)
    # no C compiler on the device: the c artifacts' line names the apt package, pip gets nothing
    facts["runtimes"]["c"] = {"ok": False, "version": None,
                              "error": "no C compiler (cc, gcc or clang): sudo apt-get install gcc"}
    rep = assess(p, facts)
    assert rep.missing_formats == {"tflite", "c"}
    assert any("c (c artifacts)" in m and "apt-get install gcc" in m for m in rep.missing)
    assert rep.requirements == ["ai-edge-litert"]


def test_microcontroller_profiles_and_their_schema(tmp_path):
    m4, m0 = load_profile("cortex-m4"), load_profile("cortex-m0plus")
    assert m4.is_mcu and m4.runtimes == ("c",) and m4.mcu.emulator == "mps2-an386" and m4.mcu.fpu
    assert m0.schemes == ("int16-fixed",) and not m0.mcu.fpu
    assert m4.device_requirements() == ["numpy"]                  # pip installs nothing for c
    base = {"description": "x", "arch": "armv7e-m", "cpu": "M4", "runtimes": ["c"], "schemes": ["fp32"],
            "connection": {"kind": "emulator"}}
    with pytest.raises(ProfileError, match=r"\[mcu\] table is required"):
        parse_profile(base, "m")
    with pytest.raises(ProfileError, match="mcu.cflags"):
        parse_profile({**base, "mcu": {"core": "cortex-m4", "cflags": ["-O2; rm -rf /"]}}, "m")
    with pytest.raises(ProfileError, match="unknown key mcu.flash"):
        parse_profile({**base, "mcu": {"core": "cortex-m4", "cflags": ["-mthumb"], "flash": 1}}, "m")
    with pytest.raises(ProfileError, match="emulator"):
        parse_profile({**base, "mcu": {"core": "cortex-m4", "cflags": ["-mthumb"]},
                       "connection": {"kind": "local"}}, "m")


# -- the runner zipapp ---------------------------------------------------------------------
def test_runner_zipapp_is_torch_free_and_self_contained(tmp_path):
    from edgelnn.targets.package import build_runner

    pyz = build_runner(tmp_path / "runner.pyz")
    names = set(zipfile.ZipFile(pyz).namelist())
    assert {"__main__.py", "edgelnn/__init__.py", "edgelnn/errors.py", "edgelnn/metrics.py",
            "edgelnn/runtime/__init__.py", "edgelnn/bench/__init__.py",
            "edgelnn/targets/device_entry.py", "edgelnn/targets/probe.py"} <= names
    assert not any(n.startswith(("edgelnn/models", "edgelnn/export", "edgelnn/train",
                                 "edgelnn/cli", "edgelnn/data")) for n in names)
    source = "\n".join(zipfile.ZipFile(pyz).read(n).decode() for n in names if n.endswith(".py"))
    assert "import torch" not in source and "import ncps" not in source
    # It runs with this python and reports the facts of this machine.
    out = subprocess.run([sys.executable, str(pyz), "probe", str(tmp_path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and '"ok": true' in out.stdout


# -- CLI -----------------------------------------------------------------------------------
def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-c", "from edgelnn.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_list_show_and_errors(tmp_path):
    import os

    env = {**os.environ, "COLUMNS": "200", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    out = _cli("targets", "list", env=env)
    assert out.returncode == 0
    for name in REQUIRED:
        assert name in out.stdout
    out = _cli("targets", "show", "jetson-orin-nano", env=env)
    assert out.returncode == 0 and "TensorrtExecutionProvider" in out.stdout
    write(tmp_path / "user", "bad", GOOD.replace("threads = 2", "treads = 2"))
    env["EDGELNN_TARGETS_DIR"] = str(tmp_path / "user")
    out = _cli("targets", "show", "bad", env=env)
    assert out.returncode == 1 and "unknown key treads" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
