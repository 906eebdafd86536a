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
                   "--epochs", "2", "--seed", "0", "--augment", "time", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and "params" in proc.stdout
    assert "train accuracy: " in proc.stdout        # its fit to its own training split, beside val and test
    assert f"{load(out).active_param_count()} active" in proc.stdout
    model = load(out)
    assert model.config["dataset"] == "italypowerdemand"
    assert model.config["label_names"] == ["1", "2"]
    assert len(model.config["norm_mean"]) == 1
    assert 0.0 <= model.metrics["test"] <= 1.0
    assert model.metrics["augment"] == "time"


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
    from edgelnn.models import create

    models = edgelnn("models")
    assert models.returncode == 0
    for kind in ("cfc", "cfc-ncp", "ltc", "lstm", "gru", "gru-d", "rnn"):
        assert kind in models.stdout
    ltc = create("ltc", 6, 4, units=32)
    line = next(l for l in models.stdout.splitlines() if "│ ltc " in l)
    cells = [c.strip() for c in line.split("│")]
    assert str(ltc.active_param_count()) in cells and str(ltc.param_count()) in cells
    datasets = edgelnn("datasets")
    assert datasets.returncode == 0
    for name in ("basicmotions", "japanesevowels", "italypowerdemand", "co2", "irregular-sine",
                 "double-pendulum", "digits-events"):
        assert name in datasets.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "transformer", "--dataset", "basicmotions", "--out", "x.pt"], "unknown model 'transformer'"),
    (["train", "--model", "cfc", "--dataset", "mnist", "--out", "x.pt"], "mnist"),
    (["train", "--model", "cfc", "--dataset", "basicmotions", "--option", "colour=red", "--out", "x.pt"], "unknown option"),
    (["train", "--model", "cfc", "--dataset", "basicmotions", "--augment", "mixup", "--out", "x.pt"], "unknown augment 'mixup'"),
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


def test_train_result_carries_both_counts_val_loss_and_peak_memory():
    model, result = train(TrainConfig("ltc-ncp", "italypowerdemand", units=12, epochs=2))
    assert result.params == model.param_count() > result.params_active == model.active_param_count() > 0
    assert result.val_loss == min(h["val_loss"] for h in result.history)
    assert result.seconds > 0
    assert result.peak_mb is None or result.peak_mb >= 0.0
    d = result.to_dict()
    assert {"params", "params_active", "val_loss", "peak_mb", "augment", "seconds", "train_metric"} <= set(d)


def test_the_result_scores_the_kept_model_on_its_own_training_split():
    """Under-fitting shows as a low train score beside validation: it is the kept (best-epoch)
    model's score on exactly the split it was trained on."""
    from edgelnn import data
    from edgelnn.train.loop import evaluate

    cfg = TrainConfig("gru", "italypowerdemand", units=6, epochs=3, seed=2)
    model, result = train(cfg)
    ds = data.load("italypowerdemand", seed=2, val_fraction=cfg.val_fraction)
    assert result.train_metric == evaluate(model, ds.train, ds)


def test_info_shows_active_and_total_parameters(tmp_path):
    from edgelnn.models import create
    model = create("cfc-ncp", 3, 2, units=12)
    model.save(tmp_path / "m.pt")
    proc = edgelnn("info", tmp_path / "m.pt")
    assert proc.returncode == 0, proc.stderr
    rows = {l.split("│")[1].strip(): l.split("│")[2].strip() for l in proc.stdout.splitlines() if l.count("│") >= 3}
    assert rows["params (active)"] == str(model.active_param_count())
    assert rows["params (total)"] == str(model.param_count())
    assert model.active_param_count() < model.param_count()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory is read from /proc")
def test_training_peak_memory_measures_the_run_not_the_process():
    """VmHWM reset per run: a bigger model (BPTT over 100 steps) shows more, and the same run
    gives about the same figure whether it is the process's first or a later one. Measured in a
    fresh process, as a study worker is: inside the full suite's process, after 600 other tests,
    the first run once read 2.9 MB above the third -- what other tests leave behind (threads,
    heap) is outside what memory.py can separate."""
    code = """if True:
        import json
        from edgelnn import data
        from edgelnn.train import TrainConfig, train
        ds = data.load("basicmotions")
        def peak(units):
            return train(TrainConfig("lstm", "basicmotions", units=units, epochs=1), dataset=ds)[1].peak_mb
        print(json.dumps([peak(8), peak(128), peak(8)]))
    """
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, big, again = json.loads(proc.stdout.strip().splitlines()[-1])
    assert None not in (first, big, again)
    assert big > 2 * again and big - again > 5.0
    assert abs(first - again) <= max(2.0, 0.5 * again)
