"""``train --data`` on per-step targets: loss, early stopping and the task metric over every valid
step; export (fresh process) and bench score the same way."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _npz(path: Path, task: str, seed: int = 0, n: int = 80, T: int = 12) -> Path:
    """Unequal lengths, irregular dt; the target of each step depends on that step's input and the
    one before (an easy task): a label (x_t + x_{t-1} > 0) or a value (x_t + 0.5 x_{t-1})."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, T, 1)).astype(np.float32)
    lengths = rng.integers(5, T + 1, size=n)
    dt = rng.uniform(0.5, 1.5, size=(n, T)).astype(np.float32)
    prev = np.concatenate([np.zeros((n, 1, 1), np.float32), x[:, :-1]], axis=1)
    valid = np.arange(T)[None, :] < lengths[:, None]
    x[~valid] = 0.0
    if task == "classification":
        y = ((x + prev)[..., 0] > 0).astype(np.int64)
    else:
        y = (x + 0.5 * prev).astype(np.float32)
    np.savez(path, x=x, y=y, dt=dt, lengths=lengths)
    return path


def _stored_test(ckpt: Path):
    raw = torch.load(ckpt, weights_only=True)["data"]
    return tuple(np.asarray(raw[f"test_{k}"]) for k in ("x", "dt", "y", "lengths"))


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_train_on_per_step_targets_scores_every_valid_step(task, tmp_path, monkeypatch, capsys):
    path = _npz(tmp_path / f"{task}.npz", task)
    ckpt = tmp_path / "m.pt"
    rc, out, err = run_cli(monkeypatch, capsys, "train", "-m", "gru", "--data", path, "--units", "8",
                           "--epochs", "12", "--lr", "0.02", "--out", ckpt, "--json")
    assert rc == 0, err
    result = json.loads(out)
    assert result["per_step"] is True
    from edgelnn.models import load

    model = load(ckpt)
    assert model.metrics["scored_at"] == "every valid step"
    x, dt, y, lengths = _stored_test(ckpt)
    assert y.shape[:2] == x.shape[:2]                       # the stored targets stay per step
    with torch.no_grad():
        outputs = model(torch.from_numpy(x), torch.from_numpy(dt)).numpy()
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
    std = model.config["data"]["target_std"]
    if task == "classification":
        expected = float(np.mean(outputs.argmax(-1)[valid] == y[valid]))
        assert expected > 0.75                              # chance is ~0.5
    else:
        err_ = (outputs[valid] - y[valid]).astype(np.float64)
        expected = float(np.sqrt(np.mean((err_ * std) ** 2)))
        rel = float(np.mean(err_ ** 2) / np.mean((y[valid] - y[valid].mean(0)) ** 2))
        assert rel < 0.5                                    # 1 = predicting the mean
    assert result["test_metric"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    # a last-step-only metric would differ: the recorded one is not it
    last = outputs[np.arange(len(lengths)), lengths - 1]
    if task == "classification":
        assert float(np.mean(last.argmax(-1) == y[np.arange(len(lengths)), lengths - 1])) != pytest.approx(expected)

    # export in a fresh process: its reference metric is the same per-step figure, and the bench
    # of the artifact on the bundle's eval.npz equals it (fp32)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "edgelnn", "export", str(ckpt), "--out", str(tmp_path / "b"),
                           "--format", "onnx", "--quant", "fp32", "--graph", "step", "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["artifacts"]
    assert manifest["evaluation"]["reference"] == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert manifest["evaluation"]["shifts"] == []            # shifts move steps: per-step targets would not follow
    assert any("per-step targets" in n for n in manifest["notes"])
    rc, out, err = run_cli(monkeypatch, capsys, "bench", tmp_path / "b", "--no-memory", "--warmup", "1",
                           "--min-runs", "3", "--min-seconds", "0", "--json")
    assert rc == 0, err
    rows = [r for r in json.loads(out) if r["status"] == "passed"]
    assert rows and all(r["accuracy"] == pytest.approx(expected, rel=1e-4, abs=1e-6) for r in rows), rows

    # bench --eval-data on the whole file: the artifact's metric over every valid step, equal to
    # numpy's on the saved model's outputs (inputs normalised as the checkpoint records)
    raw = np.load(path)
    xs, ys, ls = raw["x"], raw["y"], raw["lengths"]
    xn = ((xs - np.asarray(model.config["norm_mean"])) / np.asarray(model.config["norm_std"])).astype(np.float32)
    with torch.no_grad():
        outs = model(torch.from_numpy(xn), torch.from_numpy(raw["dt"])).numpy()
    ok = np.arange(xs.shape[1])[None, :] < ls[:, None]
    if task == "classification":
        whole = float(np.mean(outs.argmax(-1)[ok] == ys[ok]))
    else:
        tm = model.config["data"]["target_mean"]
        whole = float(np.sqrt(np.mean((outs[ok].astype(np.float64) * std + tm - ys[ok]) ** 2)))
    rc, out, err = run_cli(monkeypatch, capsys, "bench", tmp_path / "b", "--eval-data", path, "--no-memory",
                           "--warmup", "1", "--min-runs", "3", "--min-seconds", "0", "--json")
    assert rc == 0, err
    rows = [r for r in json.loads(out) if r["status"] == "passed"]
    assert rows and all(r["accuracy"] == pytest.approx(whole, rel=1e-4, abs=1e-6) for r in rows), rows


def test_per_step_targets_refuse_time_augmentation(tmp_path, monkeypatch, capsys):
    path = _npz(tmp_path / "c.npz", "classification", n=20)
    rc, _, err = run_cli(monkeypatch, capsys, "train", "-m", "gru", "--data", path, "--units", "2",
                         "--epochs", "1", "--augment", "time", "--out", tmp_path / "m.pt")
    assert rc == 1 and "per-step targets" in err and len(err.strip().splitlines()) == 1
