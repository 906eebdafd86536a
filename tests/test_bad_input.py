"""Bad input, as a user gives it, across every command and the Python API (issue 11).

Table-driven. Every case runs in a workspace holding files a user owns (a checkpoint, a bundle,
a results file, a text file, data) and asserts:

- a non-zero exit (CLI) or a typed exception under ``EdgeLNNError`` (Python API);
- exactly one ``error:`` line on stderr (CLI), no traceback anywhere;
- no file the user had was changed, and nothing was added (sha256 of the whole workspace
  before and after).

CLI cases run through the real entry point (``edgelnn.cli.app.run_app``) in this process, so
torch is imported once; a sample of them also runs as a real ``edgelnn`` subprocess
(``test_sample_in_a_real_process``).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import signal
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from edgelnn.errors import EdgeLNNError

# -- the workspace ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def user_files(tmp_path_factory, tiny_bundle):
    """Files a user has, made once: checkpoints (good, NaN weights, bytes flipped, without a
    checksum), a bundle, a results file, a text file, samples."""
    import torch

    from edgelnn import models
    from edgelnn.bench.rows import ResultRow
    from edgelnn.models import checkpoint as ckpt

    root = tmp_path_factory.mktemp("user-files")
    m = models.create("gru", 6, 4, units=4, dataset="basicmotions", seed=0)
    m.save(root / "model.pt")
    with torch.no_grad():
        next(m.parameters()).fill_(float("nan"))
    m.save(root / "nan.pt")
    data = bytearray((root / "model.pt").read_bytes())
    start = data.index(b"data/0") + 200            # inside the first tensor's bytes
    for i in range(start, start + 100):
        data[i] ^= 0xFF
    (root / "flipped.pt").write_bytes(bytes(data))
    payload = torch.load(root / "model.pt", weights_only=True)
    del payload["checksum"]
    torch.save(payload, root / "old.pt")
    assert ckpt.FORMAT == payload["format"]
    shutil.copytree(tiny_bundle, root / "bundle")
    row = ResultRow(bundle="bundle", model="lstm", dataset="japanesevowels", artifact=None,
                    format="onnx", graph="step", scheme="int8-static", status="unsupported",
                    error="not produced").to_dict()
    (root / "results.jsonl").write_text(json.dumps(row) + "\n")
    (root / "notes.txt").write_text("my notes, not a results file\n")
    np.savetxt(root / "data.csv", np.random.default_rng(0).normal(size=(20, 6)), delimiter=",")
    (root / "targets").mkdir()
    return root


@pytest.fixture
def ws(user_files, tmp_path):
    dst = tmp_path / "ws"
    shutil.copytree(user_files, dst)
    return dst


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


# -- workspace edits (the state a user has before the command) ---------------------------------
def manifest_edit(fn: Callable[[dict], None]) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        path = ws / "bundle" / "manifest.json"
        m = json.loads(path.read_text())
        fn(m)
        path.write_text(json.dumps(m))
    return setup


def first_artifact(ws: Path) -> str:
    return json.loads((ws / "bundle" / "manifest.json").read_text())["artifacts"][0]["file"]


def onnx_fp32(ws: Path) -> str:
    m = json.loads((ws / "bundle" / "manifest.json").read_text())
    return next(a["file"] for a in m["artifacts"] if a["format"] == "onnx" and a["scheme"] == "fp32"
                and a["graph"] == "step")


def tamper_artifact(ws: Path) -> None:
    path = ws / "bundle" / onnx_fp32(ws)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return setup


def row_edit(**changes) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        row = json.loads((ws / "results.jsonl").read_text())
        for k, v in changes.items():
            if v is DELETE:
                row.pop(k, None)
            else:
                row[k] = v
        (ws / "results.jsonl").write_text(json.dumps(row) + "\n")
    return setup


DELETE = object()


def profile(text: str) -> Callable[[Path], None]:
    return write("targets/bad.toml", 'name = "bad"\narch = "native"\nruntimes = ["onnxruntime"]\n'
                 'schemes = ["fp32"]\n' + text)


SSH_PROFILE = '[connection]\nkind = "ssh"\nhost = "127.0.0.1"\n'

# -- the cases ---------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    args: list | Callable[[Path], list]       # CLI argv, or a callable(ws) -> argv
    expect: str                                # substring of the error line (case-insensitive)
    setup: Callable[[Path], None] | None = None
    code: int | None = None                    # exact exit code when it matters (usage: 2)


def quick_bench(*extra):
    return ["--no-memory", "--no-accuracy", "--min-runs", "1", "--min-seconds", "0", "--warmup", "0",
            *extra]


TRAIN = ["train", "--model", "gru", "--dataset", "basicmotions", "--epochs", "1"]

CLI_CASES = [
    # usage errors: usage text + one error line, exit 2
    Case("usage-missing-option", ["train", "--model", "cfc", "--out", "x.pt"], "missing option", code=2),
    Case("usage-bad-int", [*TRAIN, "--units", "abc", "--out", "x.pt"], "--units", code=2),
    Case("usage-unknown-option", [*TRAIN, "--bogus", "--out", "x.pt"], "no such option", code=2),
    Case("usage-unknown-command", ["nosuch"], "no such command", code=2),
    Case("usage-bench-no-bundle", ["bench"], "missing argument", code=2),
    Case("usage-export-no-checkpoint", ["export"], "missing argument", code=2),
    Case("usage-targets-unknown", ["targets", "nosuch"], "no such command", code=2),
    Case("usage-units-0", [*TRAIN, "--units", "0", "--out", "x.pt"], "--units", code=2),
    Case("usage-epochs-0", ["train", "-m", "gru", "-d", "basicmotions", "--epochs", "0", "--out", "x.pt"], "--epochs", code=2),
    Case("usage-batch-0", [*TRAIN, "--batch-size", "0", "--out", "x.pt"], "--batch-size", code=2),
    Case("usage-batch-negative", [*TRAIN, "--batch-size", "-3", "--out", "x.pt"], "--batch-size", code=2),
    Case("usage-seed-negative", [*TRAIN, "--seed", "-1", "--out", "x.pt"], "--seed", code=2),
    Case("usage-threads-0", [*TRAIN, "--threads", "0", "--out", "x.pt"], "--threads", code=2),
    Case("usage-patience-0", [*TRAIN, "--patience", "0", "--out", "x.pt"], "--patience", code=2),
    Case("usage-units-float", [*TRAIN, "--units", "2.7", "--out", "x.pt"], "--units", code=2),
    Case("usage-bench-min-runs-0", ["bench", "bundle", "--min-runs", "0"], "--min-runs", code=2),
    Case("usage-bench-warmup-negative", ["bench", "bundle", "--warmup", "-1"], "--warmup", code=2),
    Case("usage-bench-seq-chunk-0", ["bench", "bundle", "--seq-chunk", "0"], "--seq-chunk", code=2),
    Case("usage-bench-eval-limit-0", ["bench", "bundle", "--eval-limit", "0"], "--eval-limit", code=2),
    Case("usage-predict-dt-text", ["predict", "model.pt", "-i", "data.csv", "--dt", "abc"], "--dt", code=2),
    Case("usage-report-budget-text", ["report", "results.jsonl", "--budget", "x"], "--budget", code=2),
    Case("usage-export-extra-argument", ["export", "model.pt", "extra"], "unexpected extra argument", code=2),
    # train
    Case("train-unknown-model", ["train", "-m", "transformer", "-d", "basicmotions", "--out", "x.pt"], "unknown model"),
    Case("train-unknown-dataset", ["train", "-m", "gru", "-d", "mnist", "--out", "x.pt"], "unknown dataset"),
    Case("train-unknown-option", [*TRAIN, "--option", "colour=red", "--out", "x.pt"], "unknown option"),
    Case("train-option-no-value", [*TRAIN, "--option", "mode", "--out", "x.pt"], "key=value"),
    Case("train-option-bad-mode", ["train", "-m", "cfc", "-d", "basicmotions", "--option", "mode=fast", "--out", "x.pt"], "mode"),
    Case("train-option-bad-wiring", ["train", "-m", "ltc", "-d", "basicmotions", "--option", "wiring=star", "--out", "x.pt"], "wiring"),
    Case("train-option-bad-sparsity", ["train", "-m", "cfc-ncp", "-d", "basicmotions", "--option", "sparsity=1.5", "--out", "x.pt"], "sparsity"),
    Case("train-option-bad-unfolds", ["train", "-m", "ltc", "-d", "basicmotions", "--option", "ode_unfolds=0", "--out", "x.pt"], "ode_unfolds"),
    Case("train-lr-0", [*TRAIN, "--lr", "0", "--out", "x.pt"], "lr"),
    Case("train-lr-nan", [*TRAIN, "--lr", "nan", "--out", "x.pt"], "lr"),
    Case("train-lr-negative", [*TRAIN, "--lr", "-1", "--out", "x.pt"], "lr"),
    Case("train-lr-inf", [*TRAIN, "--lr", "inf", "--out", "x.pt"], "lr"),
    Case("train-out-folder", [*TRAIN, "--out", "bundle"], "is a folder"),
    Case("train-out-user-file", [*TRAIN, "--out", "notes.txt"], "not an edgelnn checkpoint"),
    Case("train-out-results-file", [*TRAIN, "--out", "results.jsonl"], "not an edgelnn checkpoint"),
    Case("train-out-under-a-file", [*TRAIN, "--out", "notes.txt/m.pt"], "not a folder"),
    # info
    Case("info-missing", ["info", "nope.pt"], "not found"),
    Case("info-text-file", ["info", "notes.txt"], "not a readable checkpoint"),
    Case("info-folder", ["info", "bundle"], "not found"),
    Case("info-flipped-bytes", ["info", "flipped.pt"], "changed or damaged"),
    Case("info-npz", ["info", "bundle/golden.npz"], "checkpoint"),
    Case("info-json", ["info", "results.jsonl"], "not a readable checkpoint"),
    Case("info-empty", ["info", "empty.pt"], "not a readable checkpoint", setup=write("empty.pt", b"")),
    # predict
    Case("predict-dt-nan", ["predict", "model.pt", "-i", "data.csv", "--dt", "nan"], "--dt"),
    Case("predict-dt-0", ["predict", "model.pt", "-i", "data.csv", "--dt", "0"], "--dt"),
    Case("predict-dt-negative", ["predict", "model.pt", "-i", "data.csv", "--dt", "-1"], "--dt"),
    Case("predict-dt-inf", ["predict", "model.pt", "-i", "data.csv", "--dt", "inf"], "--dt"),
    Case("predict-input-missing", ["predict", "model.pt", "-i", "nope.csv"], "not found"),
    Case("predict-input-nan", ["predict", "model.pt", "-i", "nan.csv"], "nan",
         setup=write("nan.csv", "1,2,3,4,5,nan\n1,2,3,4,5,6\n")),
    Case("predict-8-channels", ["predict", "model.pt", "-i", "wide.csv"], "8 channels",
         setup=write("wide.csv", "1,2,3,4,5,6,7,8\n")),
    Case("predict-input-extension", ["predict", "model.pt", "-i", "notes.txt"], "unknown input format"),
    Case("predict-input-text-csv", ["predict", "model.pt", "-i", "words.csv"], "not a table of numbers",
         setup=write("words.csv", "a,b,c\n")),
    Case("predict-input-empty-csv", ["predict", "model.pt", "-i", "blank.csv"], "blank.csv",
         setup=write("blank.csv", "")),
    Case("predict-input-3d-npy", ["predict", "model.pt", "-i", "cube.npy"], "(time, channels)",
         setup=lambda ws: np.save(ws / "cube.npy", np.zeros((2, 3, 6)))),
    Case("predict-input-json-strings", ["predict", "model.pt", "-i", "x.json"], "not a table of numbers",
         setup=write("x.json", '[["a"]]')),
    Case("predict-nan-weights", ["predict", "nan.pt", "-i", "data.csv"], "nan or infinite"),
    Case("predict-flipped-checkpoint", ["predict", "flipped.pt", "-i", "data.csv"], "changed or damaged"),
    Case("predict-checkpoint-missing", ["predict", "nope.pt", "-i", "data.csv"], "not found"),
    # export
    Case("export-checkpoint-missing", ["export", "nope.pt", "--out", "out"], "not found"),
    Case("export-unknown-format", ["export", "model.pt", "--format", "coreml", "--out", "out"], "coreml"),
    Case("export-unknown-scheme", ["export", "model.pt", "--quant", "int3", "--out", "out"], "int3"),
    Case("export-unknown-graph", ["export", "model.pt", "--graph", "loop", "--out", "out"], "loop"),
    Case("export-unknown-target", ["export", "model.pt", "--target", "vax", "--out", "out"], "vax"),
    Case("export-tolerance-syntax", ["export", "model.pt", "--tolerance", "int8", "--out", "out"], "tolerance"),
    Case("export-tolerance-scheme", ["export", "model.pt", "--tolerance", "int3=0.1", "--out", "out"], "int3"),
    Case("export-tolerance-number", ["export", "model.pt", "--tolerance", "fp32=abc", "--out", "out"], "number"),
    Case("export-tolerance-nan", ["export", "model.pt", "--tolerance", "fp32=nan", "--out", "out"], ">= 0"),
    Case("export-name-escapes", ["export", "model.pt", "--name", "../../x", "--out", "out"], "plain file name"),
    Case("export-name-folder", ["export", "model.pt", "--name", "a/b", "--out", "out"], "plain file name"),
    Case("export-name-dotdot", ["export", "model.pt", "--name", "..", "--out", "out"], "plain file name"),
    Case("export-out-user-file", ["export", "model.pt", "--out", "notes.txt"], "is a file"),
    Case("export-out-user-folder", ["export", "model.pt", "--out", "targets"], "not an export bundle",
         setup=write("targets/mine.txt", "mine")),
    Case("export-out-under-a-file", ["export", "model.pt", "--out", "notes.txt/b"], "cannot write"),
    Case("export-report-json-folder", ["export", "model.pt", "--report-json", "bundle", "--out", "out"], "is a folder"),
    Case("export-report-json-user-file", ["export", "model.pt", "--report-json", "notes.txt", "--out", "out"], "not a json file"),
    Case("export-flipped-checkpoint", ["export", "flipped.pt", "--out", "out"], "changed or damaged"),
    Case("export-scheme-not-of-format", ["export", "model.pt", "-f", "onnx", "-q", "int8-weight", "--out", "out"], "int8-weight"),
    Case("export-text-checkpoint", ["export", "notes.txt", "--out", "out"], "not a readable checkpoint"),
    # inspect
    Case("inspect-not-a-folder", ["inspect", "notes.txt"], "not a folder"),
    Case("inspect-no-manifest", ["inspect", "targets"], "no manifest.json"),
    Case("inspect-manifest-not-json", ["inspect", "bundle"], "not valid json", setup=write("bundle/manifest.json", "{oops")),
    Case("inspect-wrong-schema", ["inspect", "bundle"], "not an edgelnn bundle", setup=manifest_edit(lambda m: m.update(schema="x"))),
    Case("inspect-schema-version", ["inspect", "bundle"], "schema_version", setup=manifest_edit(lambda m: m.update(schema_version=2))),
    Case("inspect-artifact-dotdot", ["inspect", "bundle"], "plain file name",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(file="../notes.txt"))),
    Case("inspect-artifact-absolute", ["inspect", "bundle"], "plain file name",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(file="/etc/passwd"))),
    Case("inspect-golden-dotdot", ["inspect", "bundle"], "golden",
         setup=manifest_edit(lambda m: m.update(golden_file="../results.jsonl"))),
    Case("inspect-eval-absolute", ["inspect", "bundle"], "eval",
         setup=manifest_edit(lambda m: m["evaluation"].update(file="/tmp/x.npz"))),
    Case("inspect-calibration-dotdot", ["inspect", "bundle"], "calibration",
         setup=manifest_edit(lambda m: m["calibration"].update(file="../../c.npz"))),
    Case("inspect-rejected-dotdot", ["inspect", "bundle"], "rejected",
         setup=manifest_edit(lambda m: m["rejected"][0].update(file="../notes.txt"))),
    Case("inspect-sha256-missing", ["inspect", "bundle"], "missing sha256",
         setup=manifest_edit(lambda m: m["artifacts"][0].pop("sha256"))),
    Case("inspect-sha256-malformed", ["inspect", "bundle"], "malformed",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(sha256="abc"))),
    Case("inspect-artifact-missing-on-disk", ["inspect", "bundle"], "missing or do not match",
         setup=lambda ws: (ws / "bundle" / first_artifact(ws)).unlink()),
    Case("inspect-artifact-tampered", ["inspect", "bundle"], "do not match", setup=tamper_artifact),
    Case("inspect-incomplete", ["inspect", "bundle"], "incomplete", setup=manifest_edit(lambda m: m.pop("tensors"))),
    Case("inspect-artifacts-not-list", ["inspect", "bundle"], "artifacts",
         setup=manifest_edit(lambda m: m.update(artifacts={"a": 1}))),
    Case("inspect-manifest-list", ["inspect", "bundle"], "not an edgelnn bundle", setup=write("bundle/manifest.json", "[]")),
    # bench
    Case("bench-not-a-folder", ["bench", "notes.txt"], "not a folder"),
    Case("bench-artifact-dotdot", ["bench", "bundle", *quick_bench()], "plain file name",
         setup=manifest_edit(lambda m: m["artifacts"][0].update(file="../notes.txt"))),
    Case("bench-sha256-missing", ["bench", "bundle", *quick_bench()], "sha256",
         setup=manifest_edit(lambda m: [a.pop("sha256") for a in m["artifacts"]])),
    Case("bench-tampered-artifact", lambda ws: ["bench", "bundle", "-a", onnx_fp32(ws), *quick_bench()], "modified",
         setup=tamper_artifact),
    Case("bench-unknown-artifact", ["bench", "bundle", "-a", "nope.onnx", *quick_bench()], "no artifact"),
    Case("bench-unknown-runtime", ["bench", "bundle", "-r", "tensorrt", *quick_bench()], "unknown runtime"),
    Case("bench-unknown-target", ["bench", "bundle", "-t", "vax", *quick_bench()], "unknown target"),
    Case("bench-bad-host", ["bench", "bundle", "-t", "rpi5", "--host", "bad host!", *quick_bench()], "--host"),
    Case("bench-hosts-without-names", ["bench", "bundle", "-t", "rpi5", "-t", "rpi4", "--host", "pi@x", *quick_bench()], "NAME="),
    Case("bench-out-user-file", ["bench", "bundle", "--out", "notes.txt", *quick_bench()], "not json"),
    Case("bench-out-checkpoint", ["bench", "bundle", "--out", "model.pt", *quick_bench()], "--out"),
    Case("bench-out-folder", ["bench", "bundle", "--out", "targets", *quick_bench()], "is a folder"),
    Case("bench-out-foreign-jsonl", ["bench", "bundle", "--out", "other.jsonl", *quick_bench()], "not an edgelnn result row",
         setup=write("other.jsonl", '{"a": 1}\n')),
    Case("bench-out-cut-line", ["bench", "bundle", "--out", "cut.jsonl", *quick_bench()], "incomplete line",
         setup=lambda ws: (ws / "cut.jsonl").write_text((ws / "results.jsonl").read_text() + '{"schema": "edg')),
    Case("bench-min-seconds-nan", ["bench", "bundle", "--min-seconds", "nan"], "min_seconds"),
    Case("bench-min-seconds-negative", ["bench", "bundle", "--min-seconds", "-1"], "min_seconds"),
    Case("bench-cpus-text", ["bench", "bundle", "--cpus", "a,b"], "--cpus"),
    Case("bench-cpus-negative", ["bench", "bundle", "--cpus=-1"], "cpu_affinity"),
    Case("bench-golden-corrupt", lambda ws: ["bench", "bundle", "-a", onnx_fp32(ws), *quick_bench()], "golden.npz",
         setup=write("bundle/golden.npz", b"PK\x03\x04garbage")),
    Case("bench-eval-labels-out-of-range", lambda ws: ["bench", "bundle", "-a", onnx_fp32(ws), "--no-memory",
                                                       "--min-runs", "1", "--min-seconds", "0", "--warmup", "0"],
         "labels outside", setup=lambda ws: _bad_labels(ws)),
    Case("bench-profile-file-missing", ["bench", "bundle", "-t", "/nonexistent/p.toml", *quick_bench()], "cannot read"),
    # report
    Case("report-missing", ["report", "nope.jsonl", "--out", "rep"], "no such results file"),
    Case("report-empty", ["report", "empty.jsonl", "--out", "rep"], "empty", setup=write("empty.jsonl", "")),
    Case("report-not-json", ["report", "notes.txt", "--out", "rep"], "not json"),
    Case("report-binary", ["report", "model.pt", "--out", "rep"], "not a results file"),
    Case("report-wrong-schema", ["report", "results.jsonl", "--out", "rep"], "not supported", setup=row_edit(schema="x")),
    Case("report-unknown-status", ["report", "results.jsonl", "--out", "rep"], "unknown status", setup=row_edit(status="great")),
    Case("report-bundle-dotdot", ["report", "results.jsonl", "--out", "rep"], "plain file name", setup=row_edit(bundle="../x")),
    Case("report-artifact-absolute", ["report", "results.jsonl", "--out", "rep"], "plain file name",
         setup=row_edit(artifact="/etc/passwd")),
    Case("report-missing-field", ["report", "results.jsonl", "--out", "rep"], "missing field", setup=row_edit(status=DELETE)),
    Case("report-budget-negative", ["report", "results.jsonl", "--budget", "-1", "--out", "rep"], "--budget"),
    Case("report-budget-nan", ["report", "results.jsonl", "--budget", "nan", "--out", "rep"], "--budget"),
    Case("report-out-user-file", ["report", "results.jsonl", "--out", "notes.txt"], "is a file"),
    Case("report-out-user-folder", ["report", "results.jsonl", "--out", "bundle"], "not a report folder"),
    Case("report-latency-list", ["report", "results.jsonl", "--out", "rep"], "malformed row", setup=row_edit(latency_us=[1, 2])),
    Case("report-shift-level-text", ["report", "results.jsonl", "--out", "rep"], "malformed row",
         setup=row_edit(shifts=[{"shift": "noise", "level": "loud"}])),
    Case("report-row-not-object", ["report", "list.jsonl", "--out", "rep"], "expected a json object", setup=write("list.jsonl", "[1, 2]\n")),
    # targets
    Case("targets-show-unknown", ["targets", "show", "vax"], "unknown target"),
    Case("targets-show-bad-toml", ["targets", "show", "targets/broken.toml"], "not valid toml", setup=write("targets/broken.toml", "x = [")),
    Case("targets-known-hosts-command", ["targets", "show", "targets/bad.toml"], "KnownHostsCommand",
         setup=profile(SSH_PROFILE + 'ssh_options = ["KnownHostsCommand=/bin/touch /tmp/pwned"]\n')),
    Case("targets-user-known-hosts-devnull", ["targets", "show", "targets/bad.toml"], "UserKnownHostsFile",
         setup=profile(SSH_PROFILE + 'ssh_options = ["UserKnownHostsFile=/dev/null"]\n')),
    Case("targets-proxy-command", ["targets", "show", "targets/bad.toml"], "ProxyCommand",
         setup=profile(SSH_PROFILE + 'ssh_options = ["ProxyCommand=nc"]\n')),
    Case("targets-local-command", ["targets", "show", "targets/bad.toml"], "LocalCommand",
         setup=profile(SSH_PROFILE + 'ssh_options = ["LocalCommand=touch"]\n')),
    Case("targets-option-value-dash", ["targets", "show", "targets/bad.toml"], "bad value",
         setup=profile(SSH_PROFILE + 'ssh_options = ["ProxyJump=-oProxyCommand=x"]\n')),
    Case("targets-known-hosts-devnull", ["targets", "show", "targets/bad.toml"], "host key checking off",
         setup=profile(SSH_PROFILE + 'known_hosts = "/dev/null"\n')),
    Case("targets-pip-option", ["targets", "show", "targets/bad.toml"], "pip requirement",
         setup=profile('[pip]\nonnxruntime = "--index-url=http://example.invalid/simple"\n')),
    Case("targets-pip-editable", ["targets", "show", "targets/bad.toml"], "pip requirement",
         setup=profile('[pip]\nnumpy = "-e ."\n')),
    Case("targets-pip-url", ["targets", "show", "targets/bad.toml"], "pip requirement",
         setup=profile('[pip]\nonnxruntime = "git+https://example.invalid/ort.git"\n')),
    Case("targets-unknown-key", ["targets", "show", "targets/bad.toml"], "unknown key", setup=profile("colour = 1\n")),
    Case("targets-check-unknown", ["targets", "check", "vax"], "unknown target"),
    Case("targets-check-bad-host", ["targets", "check", "rpi5", "--host", "-oProxyCommand=x"], "--host"),
    Case("targets-setup-local", ["targets", "setup", "host"], "is local"),
    Case("targets-show-bad-name", ["targets", "show", "Bad Name"], "unknown target"),
    # study (the study branch keeps these passing)
    Case("study-unknown-model", ["study", "--models", "transformer", "--out", "st"], "unknown model"),
    Case("study-seeds-0", ["study", "--seeds", "0", "--out", "st"], "--seeds"),
    Case("study-unknown-dataset", ["study", "--datasets", "mnist", "--out", "st"], "unknown dataset"),
    Case("study-tiny-budget", ["study", "--budgets", "5,250", "--out", "st"], "budget"),
    Case("study-workers-with-scheduler", ["study", "--scheduler", "tcp://127.0.0.1:9", "--workers", "2",
                                          "--out", "st"], "--workers"),
]


def _bad_labels(ws: Path) -> None:
    path = ws / "bundle" / "eval.npz"
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    data["test_y"] = data["test_y"] + 100
    np.savez_compressed(path, **data)


@contextlib.contextmanager
def _in(ws: Path, env: dict):
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    os.chdir(ws)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def run_cli(args: list[str], ws: Path) -> tuple[int, str, str]:
    """The real entry point in this process: (exit code, stdout, stderr)."""
    from edgelnn import interrupt
    from edgelnn.cli.app import run_app

    out, err = io.StringIO(), io.StringIO()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    code = None
    try:
        with _in(ws, {"EDGELNN_TARGETS_DIR": str(ws / "targets"), "COLUMNS": "100"}), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run_app([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        interrupt.reset()
    return code, out.getvalue(), err.getvalue()


def check_one_error(code, out: str, err: str, case: Case) -> None:
    assert code not in (0, None), f"exit {code}\n{out}\n{err}"
    if case.code is not None:
        assert code == case.code, err
    assert "Traceback" not in out + err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert "error:" not in out
    assert case.expect.lower() in lines[0].lower(), lines[0]
    assert "internal error" not in lines[0], lines[0]


def run_case(case: Case, ws) -> str:
    """Set up ``case`` in ``ws``, run its command, check the one error line and that no file the
    user had changed; returns stderr for further checks."""
    if case.setup is not None:
        case.setup(ws)
    args = case.args(ws) if callable(case.args) else case.args
    before = snapshot(ws)
    code, out, err = run_cli(args, ws)
    check_one_error(code, out, err, case)
    assert snapshot(ws) == before, "a file the user had was changed, or one was added"
    return err


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli_bad_input(case: Case, ws):
    run_case(case, ws)


SUBPROCESS_IDS = ["usage-missing-option", "usage-unknown-command", "train-unknown-model",
                  "predict-8-channels", "inspect-artifact-dotdot", "bench-out-user-file",
                  "report-bundle-dotdot", "targets-known-hosts-command"]


@pytest.mark.parametrize("case", [c for c in CLI_CASES if c.id in SUBPROCESS_IDS], ids=SUBPROCESS_IDS)
def test_sample_in_a_real_process(case: Case, ws):
    if case.setup is not None:
        case.setup(ws)
    args = case.args(ws) if callable(case.args) else case.args
    before = snapshot(ws)
    proc = subprocess.run([sys.executable, "-m", "edgelnn", *map(str, args)], cwd=ws, capture_output=True,
                          text=True, env={**os.environ, "EDGELNN_TARGETS_DIR": str(ws / "targets")},
                          timeout=300)
    check_one_error(proc.returncode, proc.stdout, proc.stderr, case)
    assert snapshot(ws) == before


# -- the Python API ----------------------------------------------------------------------------
def _model():
    from edgelnn import models
    return models.create("gru", 6, 4, units=4)


def _step(x, dt):
    import torch
    m = _model()
    return m.step(torch.as_tensor(x, dtype=torch.float32), dt, m.initial_state(1))


def _forward(x, dt):
    import torch
    m = _model()
    return m(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(dt, dtype=torch.float32))


def _runner(ws):
    from edgelnn.runtime import load_bundle
    b = load_bundle(ws / "bundle")
    return b.open(onnx_fp32(ws))


def _create(**kw):
    from edgelnn import models
    args = {"kind": "gru", "input_size": 6, "output_size": 4, "units": 4, **kw}
    return models.create(args.pop("kind"), args.pop("input_size"), args.pop("output_size"), **args)


def _train_config(**kw):
    from edgelnn.train import TrainConfig
    return TrainConfig(**{"model": "gru", "dataset": "basicmotions", **kw})


ONE = np.zeros((1, 6), np.float32)
SEQ = np.zeros((1, 5, 6), np.float32)

API_CASES = [
    ("create-units-0", lambda ws: _create(units=0), "units"),
    ("create-units-float", lambda ws: _create(units=2.7), "units"),
    ("create-units-bool", lambda ws: _create(units=True), "units"),
    ("create-units-negative", lambda ws: _create(units=-4), "units"),
    ("create-input-size-0", lambda ws: _create(input_size=0), "input_size"),
    ("create-output-size-text", lambda ws: _create(output_size="4"), "output_size"),
    ("create-unknown-kind", lambda ws: _create(kind="transformer"), "unknown model"),
    ("create-unknown-option", lambda ws: _create(colour="red"), "unknown option"),
    ("create-bad-task", lambda ws: _create(task="ranking"), "task"),
    ("create-norm-std-0", lambda ws: _create(norm_std=[0.0] * 6), "norm_std"),
    ("create-norm-length", lambda ws: _create(norm_mean=[0.0] * 3), "norm_mean"),
    ("create-cfc-mode", lambda ws: _create(kind="cfc", mode="fast"), "mode"),
    ("step-dt-nan", lambda ws: _step(ONE, float("nan")), "dt"),
    ("step-dt-0", lambda ws: _step(ONE, 0.0), "dt"),
    ("step-dt-negative", lambda ws: _step(ONE, -1.0), "dt"),
    ("step-dt-inf", lambda ws: _step(ONE, math.inf), "dt"),
    ("step-x-nan", lambda ws: _step(np.full((1, 6), np.nan, np.float32), 1.0), "nan"),
    ("step-8-channels", lambda ws: _step(np.zeros((1, 8), np.float32), 1.0), "6 input channels"),
    ("step-x-numpy", lambda ws: _model().step(ONE, 1.0, _model().initial_state(1)), "torch tensor"),
    ("forward-dt-negative", lambda ws: _forward(SEQ, -np.ones((1, 5))), "dt"),
    ("forward-x-nan", lambda ws: _forward(np.full((1, 5, 6), np.nan), np.ones((1, 5))), "nan"),
    ("forward-8-channels", lambda ws: _forward(np.zeros((1, 5, 8)), np.ones((1, 5))), "6 input channels"),
    ("forward-dt-shape", lambda ws: _forward(SEQ, np.ones((1, 4))), "dt of shape"),
    ("trainconfig-units-0", lambda ws: _train_config(units=0), "units"),
    ("trainconfig-lr-nan", lambda ws: _train_config(lr=float("nan")), "lr"),
    ("trainconfig-batch-float", lambda ws: _train_config(batch_size=2.5), "batch_size"),
    ("trainconfig-val-fraction-1", lambda ws: _train_config(val_fraction=1.0), "val_fraction"),
    ("load-flipped-checkpoint", lambda ws: __import__("edgelnn.models", fromlist=["load"]).load(ws / "flipped.pt"),
     "changed or damaged"),
    ("runner-step-dt-nan", lambda ws: _runner(ws).step(np.zeros(12, np.float32), float("nan")), "dt"),
    ("runner-run-wrong-shape", lambda ws: _runner(ws).run(np.zeros((3, 5), np.float32), np.ones(3)), "shape"),
    ("load-bundle-dotdot", lambda ws: (manifest_edit(lambda m: m["artifacts"][0].update(file="../x"))(ws),
                                       __import__("edgelnn.runtime", fromlist=["x"]).load_bundle(ws / "bundle")),
     "plain file name"),
    ("bench-settings-min-runs-0", lambda ws: __import__("edgelnn.bench", fromlist=["x"]).BenchSettings(min_runs=0),
     "min_runs"),
    ("data-unknown", lambda ws: __import__("edgelnn.data", fromlist=["x"]).load("mnist"), "unknown dataset"),
    ("shift-unknown", lambda ws: __import__("edgelnn.data", fromlist=["x"]).apply_shift(None, "blur", 1.0), "unknown shift"),
]


@pytest.mark.parametrize("name, call, expect", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input(name, call, expect, ws):
    before = snapshot(ws)
    with pytest.raises(EdgeLNNError) as info:
        call(ws)
    assert expect.lower() in str(info.value).lower()
    assert len(str(info.value).strip().splitlines()) == 1
    if name != "load-bundle-dotdot":           # that case edits the manifest to set itself up
        assert snapshot(ws) == before


def test_the_suite_is_large_enough():
    assert len(CLI_CASES) + len(API_CASES) >= 120
    assert len({c.id for c in CLI_CASES}) == len(CLI_CASES)
