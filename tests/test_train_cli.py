"""Training and the CLI, end to end, as a user runs them."""
import json
import os
import subprocess
import sys

import pytest
import torch

from edgelnn.models import load
from edgelnn.train import TrainConfig, train


def edgelnn(*args, cwd=None):
    """Run the real console entry point in a subprocess."""
    return subprocess.run([sys.executable, "-m", "edgelnn", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "COLUMNS": "200"})


def test_train_on_a_real_dataset_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "runs" / "gru.pt"
    proc = edgelnn("train", "--model", "gru", "--dataset", "italypowerdemand", "--units", "8",
                   "--epochs", "2", "--seed", "0", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and "params" in proc.stdout
    model = load(out)
    assert model.config["dataset"] == "italypowerdemand"
    assert model.config["label_names"] == ["1", "2"]
    assert len(model.config["norm_mean"]) == 1
    assert 0.0 <= model.metrics["test"] <= 1.0


def test_training_is_deterministic_for_a_seed():
    cfg = TrainConfig("cfc", "italypowerdemand", units=8, epochs=2, seed=1)
    m1, r1 = train(cfg)
    m2, r2 = train(cfg)
    assert r1.history == r2.history
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


def test_regression_reports_rmse_in_original_units():
    _, result = train(TrainConfig("gru", "co2", units=8, epochs=2))
    assert result.metric == "rmse"
    assert 0.0 < result.test_metric < 50.0  # ppm


def test_listing_commands():
    models = edgelnn("models")
    assert models.returncode == 0
    for kind in ("cfc", "cfc-ncp", "ltc", "lstm", "gru", "rnn"):
        assert kind in models.stdout
    datasets = edgelnn("datasets")
    assert datasets.returncode == 0
    for name in ("basicmotions", "japanesevowels", "italypowerdemand", "co2", "irregular-sine"):
        assert name in datasets.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "transformer", "--dataset", "basicmotions", "--out", "x.pt"], "unknown model 'transformer'"),
    (["train", "--model", "cfc", "--dataset", "mnist", "--out", "x.pt"], "mnist"),
    (["train", "--model", "cfc", "--dataset", "basicmotions", "--option", "colour=red", "--out", "x.pt"], "unknown option"),
])
def test_bad_names_give_one_clear_line(args, message, tmp_path):
    proc = edgelnn(*args, cwd=tmp_path)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()


def test_unwritable_out_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = edgelnn("train", "--model", "gru", "--dataset", "basicmotions", "--epochs", "1",
                   "--out", blocker / "m.pt")
    assert proc.returncode == 1
    assert "cannot write" in proc.stderr and proc.stderr.count("error:") == 1
    assert "epoch" not in proc.stdout  # refused before any training
    assert "Traceback" not in proc.stderr


def test_corrupt_checkpoint_gives_one_clear_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("garbage")
    proc = subprocess.run([sys.executable, "-c",
                           "import sys; from edgelnn.cli import main; sys.argv=['edgelnn','info',sys.argv[1]]; main()",
                           str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "not a readable checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_wrong_shaped_input_to_step_gives_one_clear_line(tmp_path):
    from edgelnn.models import create
    create("cfc", 3, 2, units=8).save(tmp_path / "m.pt")
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps([[0.1, 0.2]]))
    proc = edgelnn("predict", tmp_path / "m.pt", "--input", bad)
    assert proc.returncode != 0
    assert "has 2 channels" in proc.stderr and "expects 3" in proc.stderr   # names both
    assert "Traceback" not in proc.stderr
