"""The command line's contract, in a real ``edgelnn`` process (issue 11):

usage errors -> usage text, one ``error:`` line, exit 2; ``--version``; SIGINT and SIGTERM during
train, export and bench (local, and remote over a real sshd) -> ``error: interrupted``, exit 130,
no temporary folder left and the run stopped on the device; identifier columns never cut,
piped or at 40 columns in a terminal; ``--json`` prints JSON on stdout.
"""
from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgelnn import __version__

ENV = {**os.environ, "COLUMNS": "100"}


def edgelnn(*args, cwd=None, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "edgelnn", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env or ENV, timeout=timeout)


def error_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("error:")]


# -- usage errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("args, usage, message", [
    (["train", "--model", "cfc", "--out", "x.pt"], "Usage: edgelnn train", "Missing option '--dataset'"),
    (["train", "-m", "cfc", "-d", "basicmotions", "--units", "abc", "--out", "x.pt"], "Usage: edgelnn train",
     "Invalid value for '--units'"),
    (["bench", "b", "--no-such-option"], "Usage: edgelnn bench", "No such option: --no-such-option"),
    (["frobnicate"], "Usage: edgelnn [OPTIONS] COMMAND", "No such command 'frobnicate'"),
    ([], "Usage: edgelnn [OPTIONS] COMMAND", "missing command"),
], ids=["missing-option", "bad-int", "unknown-option", "unknown-command", "bare"])
def test_usage_errors_print_usage_and_exit_2(args, usage, message, tmp_path):
    proc = edgelnn(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert usage in proc.stderr
    assert "--help" in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_version():
    proc = edgelnn("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"edgelnn {__version__}"


def test_help_keeps_brackets():
    proc = edgelnn("bench", "--help", env={**ENV, "COLUMNS": "200"})
    assert "[user@]host[:port]" in proc.stdout
    proc = edgelnn("targets", "check", "--help", env={**ENV, "COLUMNS": "200"})
    assert "[user@]host[:port]" in proc.stdout


def test_typer_and_rich_are_bounded():
    from importlib.metadata import requires

    reqs = {r.split(";")[0].replace(" ", "") for r in requires("edgelnn")}
    assert any(r.startswith("typer") and "<" in r for r in reqs), reqs
    assert any(r.startswith("rich") and "<" in r for r in reqs), reqs


# -- Ctrl-C and SIGTERM ------------------------------------------------------------------------
def _start(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "edgelnn", *map(str, args)], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"edgelnn ended before {what}: {proc.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _loaded(proc, library: str) -> bool:
    try:
        return library in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


def _interrupt(proc, sig) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _assert_interrupted(code, out, err):
    assert code == 130, (code, out, err)
    assert error_lines(err) == ["error: interrupted"], err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_train(sig, tmp_path):
    proc = _start("train", "-m", "ltc", "-d", "basicmotions", "--epochs", "500", "--out", "runs/m.pt",
                  cwd=tmp_path)
    _wait_for(lambda: _loaded(proc, "libtorch_cpu"), proc, "torch to load")
    time.sleep(2.0)                                   # into the dataset / training loop
    _assert_interrupted(*_interrupt(proc, sig))
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob(".*tmp*"))


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_export_keeps_the_old_bundle(sig, tmp_path, export_checkpoint, tiny_bundle):
    import shutil

    out = tmp_path / "b"
    shutil.copytree(tiny_bundle, out)                 # the bundle the user has there
    before = _tree(out)
    proc = _start("export", export_checkpoint("cfc"), "--out", out, "--format", "onnx", cwd=tmp_path)
    _wait_for(lambda: list(tmp_path.glob(".b.tmp-*")), proc, "the export's temporary folder")
    time.sleep(1.0)
    _assert_interrupted(*_interrupt(proc, sig))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"], list(tmp_path.iterdir())
    assert _tree(out) == before


def test_sigint_during_local_bench(tmp_path, tiny_bundle):
    results = tmp_path / "results.jsonl"
    proc = _start("bench", tiny_bundle, "--min-seconds", "120", "--no-memory", "--out", results,
                  cwd=tmp_path)
    _wait_for(lambda: _loaded(proc, "onnxruntime"), proc, "onnxruntime to load")
    time.sleep(1.0)
    _assert_interrupted(*_interrupt(proc, signal.SIGINT))
    assert not results.exists()


def _device_processes(workdir: Path) -> list[int]:
    """pids whose working folder is inside ``workdir`` (the runner on the 'device')."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd.startswith(str(workdir)):
                found.append(int(entry.name))
    return found


def test_sigint_stops_the_remote_bench_on_the_device(tmp_path, sshd_server, device_python, tiny_bundle):
    from test_remote import table, to_toml

    workdir = tmp_path / "device-work"
    workdir.mkdir()
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "loop.toml").write_text(to_toml(table(sshd_server, device_python, workdir=str(workdir))))
    env = {**ENV, "EDGELNN_TARGETS_DIR": str(targets)}
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    onnx = next(a["file"] for a in manifest["artifacts"] if a["format"] == "onnx" and a["scheme"] == "fp32")
    proc = subprocess.Popen([sys.executable, "-m", "edgelnn", "bench", str(tiny_bundle), "-t", "loop",
                             "-a", onnx, "--min-seconds", "300", "--no-memory", "--no-accuracy"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _device_processes(workdir), proc, "the runner to start on the device")
    time.sleep(2.0)
    assert _device_processes(workdir)
    _assert_interrupted(*_interrupt(proc, signal.SIGINT))
    deadline = time.monotonic() + 30
    while (_device_processes(workdir) or list(workdir.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _device_processes(workdir) == [], "the runner still runs on the device"
    assert list(workdir.iterdir()) == [], "the device's working folder was left behind"


# -- output policy -----------------------------------------------------------------------------
NAMES = ["basicmotions", "japanesevowels", "italypowerdemand", "irregular-sine"]
TARGETS = ["jetson-nano", "jetson-orin-nano", "rpi4", "rpi5"]


@pytest.mark.parametrize("columns", ["40", "80"])
def test_piped_tables_never_cut_names(columns):
    env = {**os.environ, "COLUMNS": columns}
    datasets = edgelnn("datasets", env=env)
    targets = edgelnn("targets", "list", env=env)
    assert datasets.returncode == 0 and targets.returncode == 0
    for name in NAMES:
        assert re.search(rf"\b{re.escape(name)}\b", datasets.stdout), datasets.stdout
    for name in TARGETS:
        assert re.search(rf"│ {re.escape(name)} +│", targets.stdout), targets.stdout
    assert "…" not in datasets.stdout + targets.stdout


def _in_terminal(args, columns: int) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "edgelnn", *args], stdin=slave, stdout=slave,
                            stderr=slave, env={**os.environ, "COLUMNS": str(columns), "TERM": "xterm"},
                            close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))


def test_terminal_at_40_columns_never_cuts_names():
    text = _in_terminal(["datasets"], 40)
    for name in NAMES:
        assert name in text, text
    text = _in_terminal(["targets", "list"], 40)
    for name in TARGETS:
        assert name in text, text
    assert "…" not in text


@pytest.mark.parametrize("args", [["datasets"], ["models"], ["targets", "list"], ["targets", "show", "rpi5"]])
def test_json_goes_to_stdout(args):
    proc = edgelnn(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)


def test_inspect_and_bench_json(tiny_bundle):
    proc = edgelnn("inspect", tiny_bundle, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["manifest"]["schema"] == "edgelnn-bundle"
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    onnx = next(a["file"] for a in manifest["artifacts"] if a["format"] == "onnx" and a["scheme"] == "fp32")
    proc = edgelnn("bench", tiny_bundle, "-a", onnx, "--no-memory", "--min-runs", "5", "--min-seconds", "0",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows[0]["artifact"] == onnx and rows[0]["status"] == "passed"


# -- nothing lost ------------------------------------------------------------------------------
def test_a_full_disk_leaves_only_whole_rows(tmp_path, tiny_bundle):
    """`ulimit -f` makes the results file hit its size limit in the middle of a row: the rows
    before it stay, the cut row is taken back, one error line says so, and report still reads it."""
    from edgelnn.bench.rows import ResultRow
    from edgelnn.report.rows import load_results

    results = tmp_path / "results.jsonl"
    row = ResultRow(bundle=tiny_bundle.name, model="lstm", dataset="japanesevowels", artifact=None,
                    format="onnx", graph="step", scheme="int8-static", status="unsupported",
                    error="not produced").to_dict()
    results.write_text("".join(json.dumps(row) + "\n" for _ in range(8)))
    before = results.read_bytes()
    blocks = len(before) // 1024 + 2                  # room for about one more row of ~1.5 KB
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    files = [a["file"] for a in manifest["artifacts"] if a["graph"] == "step"][:4]
    cmd = " ".join([sys.executable, "-m", "edgelnn", "bench", str(tiny_bundle), "--no-memory",
                    "--no-accuracy", "--min-runs", "1", "--min-seconds", "0", "--warmup", "0",
                    *[f"-a {f}" for f in files], "--out", str(results)])
    proc = subprocess.run(["bash", "-c", f"ulimit -f {blocks}; exec {cmd}"], capture_output=True,
                          text=True, env=ENV, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "file size limit" in lines[0] and "each whole" in lines[0], proc.stderr
    data = results.read_bytes()
    assert data.startswith(before) and data.endswith(b"\n") and len(data) <= blocks * 1024
    assert len(data.splitlines()) < 8 + len(files)
    assert len(load_results([results])) == len(data.splitlines())


def test_export_where_nothing_passes_keeps_the_old_bundle(tmp_path, export_checkpoint, tiny_bundle):
    import shutil

    out = tmp_path / "b"
    shutil.copytree(tiny_bundle, out)
    before = _tree(out)
    proc = edgelnn("export", export_checkpoint("gru"), "--out", out, "-f", "onnx", "-q", "fp32",
                   "--graph", "step", "--tolerance", "fp32=1e-30", cwd=tmp_path)
    assert proc.returncode == 1
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "no artifact passed" in lines[0] and "left as it was" in lines[0], proc.stderr
    assert "rejected" in proc.stdout                       # the table says why
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


# -- the interrupt mechanism other commands reuse (edgelnn.interrupt) --------------------------
def test_interrupt_runs_stoppers_then_cleanups_and_removes_temporary_folders(tmp_path):
    import textwrap

    script = textwrap.dedent(f"""
        import os, signal, subprocess, sys, time
        from pathlib import Path
        from edgelnn import interrupt
        interrupt.install()
        root = Path({str(tmp_path)!r})
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            with interrupt.cleanup(lambda: (root / "cleaned").write_text(str(child.wait(timeout=20)))):
                with interrupt.stopper(child.kill), interrupt.temporary_folder(root, ".work-") as d:
                    (d / "partial").write_text("half a result")
                    os.kill(os.getpid(), signal.SIGTERM)
                    child.wait()
                    time.sleep(30)
        except KeyboardInterrupt:
            interrupt.exit_interrupted()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130 and proc.stderr.strip() == "error: interrupted", proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cleaned"]     # the folder is gone
    assert (tmp_path / "cleaned").read_text() == str(-signal.SIGKILL)     # the stopper killed the child first


def test_an_interrupt_python_dropped_still_stops_the_loop_and_a_second_signal_raises_again():
    """A signal landing where its exception cannot propagate (CI: an import lock's weakref
    callback) is printed as "Exception ignored" and dropped; training must still stop."""
    import textwrap

    script = textwrap.dedent("""
        import os, signal, sys, time
        from edgelnn import interrupt
        interrupt.install()
        def dropped():                      # what Python does to an exception in a callback
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
            except KeyboardInterrupt:
                pass
        dropped()
        try:
            for _ in range(100):
                interrupt.check()           # the training loop's check, once a batch
                time.sleep(0.1)
            print("check did not raise"); sys.exit(3)
        except interrupt.Interrupted as exc:
            print("check:", exc.signame)
        interrupt.reset(); interrupt.install()
        dropped()
        try:
            os.kill(os.getpid(), signal.SIGTERM)   # the user presses again
            time.sleep(5)
            print("second signal ignored"); sys.exit(4)
        except interrupt.Interrupted as exc:
            print("second:", exc.signame)
        interrupt.exit_interrupted()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split("\n")[:2] == ["check: SIGINT", "second: SIGTERM"], proc.stdout + proc.stderr
    assert proc.returncode == 130 and proc.stderr.strip() == "error: interrupted", proc.stderr


def test_an_interrupt_python_dropped_during_export_keeps_the_old_bundle(tmp_path, export_checkpoint, tiny_bundle):
    """The export's counterpart: a dropped interrupt (CI: SIGTERM while a converter ran) stops
    the export at its next step, before the new bundle replaces the user's."""
    import shutil
    import textwrap

    out = tmp_path / "b"
    shutil.copytree(tiny_bundle, out)
    before = _tree(out)
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        from edgelnn import interrupt
        from edgelnn.export import export_bundle
        interrupt.install()
        try:                                # what Python does to an exception in a callback
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        except KeyboardInterrupt:
            pass
        try:
            export_bundle({str(export_checkpoint("cfc"))!r}, {str(out)!r}, formats=["onnx"])
            print("exported"); sys.exit(3)
        except interrupt.Interrupted as exc:
            print("stopped:", exc.signame)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.stdout.strip() == "stopped: SIGTERM", proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"], list(tmp_path.iterdir())
    assert _tree(out) == before


def test_an_old_checkpoint_loads_with_one_warning_line(tmp_path):
    import torch

    from edgelnn import models

    models.create("gru", 6, 4, units=4).save(tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    del payload["checksum"]
    torch.save(payload, tmp_path / "old.pt")
    with pytest.warns(UserWarning, match="no checksum"):
        models.load(tmp_path / "old.pt")
    proc = edgelnn("info", tmp_path / "old.pt")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning:") and "no checksum" in lines[0], proc.stderr
