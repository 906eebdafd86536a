"""The default training recipe and the training-failure rule (edgelnn.train.recipe)."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from edgelnn.train import TrainConfig, recipe, train


def edgelnn(*args):
    return subprocess.run([sys.executable, "-m", "edgelnn", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})


def test_default_batch_gives_ten_steps_an_epoch_within_its_range():
    assert recipe.default_batch_size(216) == 16       # japanesevowels: 14 steps
    assert recipe.default_batch_size(480) == 32       # irregular-sine: 15 steps
    assert recipe.default_batch_size(54) == 8         # the floor
    assert recipe.default_batch_size(100_000) == 64   # the ceiling
    for n in range(80, 700, 7):
        assert math.ceil(n / recipe.default_batch_size(n)) >= recipe.MIN_STEPS


def test_default_rate_per_kind_and_config_resolution():
    assert recipe.default_lr("cfc-ncp") < recipe.default_lr("gru")
    cfg = TrainConfig("cfc", "italypowerdemand").resolved(216)
    assert (cfg.batch_size, cfg.lr) == (16, recipe.DEFAULT_LR["cfc"])
    assert TrainConfig("gru", "x", batch_size=5, lr=0.2).resolved(216).batch_size == 5


def test_the_rule_flags_an_early_best_epoch_and_a_constant_output():
    assert recipe.diagnose(3, 30, False) == [recipe.EARLY_BEST_EPOCH]
    assert recipe.diagnose(4, 30, False) == []
    assert recipe.diagnose(2, 2, False) == []             # a two-epoch run is not judged on it
    one_class = np.tile([[0.1, 2.0, -1.0]], (6, 1)) + np.random.default_rng(0).normal(0, 0.01, (6, 3))
    assert recipe.constant_output(one_class, "classification")
    assert not recipe.constant_output(np.eye(3), "classification")
    assert recipe.constant_output(np.full((5, 1), 0.3), "regression")
    assert recipe.diagnose(20, 30, True) == [recipe.CONSTANT_OUTPUT]
    assert recipe.retry_lrs(0.1, 2) == [pytest.approx(0.0316, rel=1e-3), pytest.approx(0.01, rel=1e-3)]


def test_a_mis_tuned_run_is_flagged_and_retried_and_a_healthy_one_is_not(tmp_path):
    # lr 3 on a 4-unit GRU: every item gets one class (measured: best epoch 3, constant output),
    # and one half-decade lower still does: the run stays flagged, and train says so
    proc = edgelnn("train", "--model", "gru", "--dataset", "italypowerdemand", "--units", "4", "--epochs", "12",
                   "--patience", "4", "--lr", "3", "--retries", "1", "--out", tmp_path / "bad.pt")
    assert proc.returncode == 0, proc.stderr
    assert "run 1 of 2 at lr 3 flagged" in proc.stdout and "run 2 of 2 at lr 0.949 flagged" in proc.stdout
    assert "TRAINING FAILURE" in proc.stdout and "constant output" in proc.stdout
    _, good = train(TrainConfig("gru", "italypowerdemand", units=4, epochs=12, patience=4, retries=1))
    assert good.failure == [] and not good.failed
    assert [a["lr"] for a in good.attempts] == [recipe.DEFAULT_LR["gru"]]
