"""Your data: the .npz / long .csv loader, its seeded split, every bad input as one line, and
checkpoints that carry their data (export in a fresh process, no registry entry)."""
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
from edgelnn.data import DATASETS
from edgelnn.data.userdata import DataFileError, load_dataset, read_file

ROOT = Path(__file__).resolve().parents[1]


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _long_csv(path: Path, seed: int = 0, n: int = 12, target: bool = False) -> tuple[Path, dict]:
    """Unequal lengths, irregular timestamps, rows shuffled; returns the truth per sequence."""
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for s in range(n):
        L = int(rng.integers(3, 9))
        t = np.round(np.cumsum(rng.uniform(0.1, 3.0, L)), 4)
        x = np.round(rng.standard_normal((L, 2)), 4)
        y = float(np.round(rng.normal(), 4)) if target else ["a", "b"][s % 2]
        truth[f"s{s:02d}"] = (t, x, y)
        rows += [f"s{s:02d},{t[j]},{x[j, 0]},{x[j, 1]},{y}" for j in range(L)]
    head = "seq_id,t,f1,f2," + ("speed" if target else "label")
    path.write_text(head + "\n" + "\n".join(rng.permutation(rows)) + "\n")
    return path, truth


def test_csv_unsorted_rows_unequal_lengths_irregular_time(tmp_path):
    path, truth = _long_csv(tmp_path / "d.csv")
    s = read_file(path)
    assert s.task == "classification" and s.label_names == ["a", "b"] and not s.per_step
    assert s.ids == sorted(truth)
    intervals = np.concatenate([np.diff(t) for t, _, _ in truth.values()])
    assert s.nominal_dt == pytest.approx(float(np.median(intervals)), rel=1e-6)
    for i, key in enumerate(s.ids):
        t, x, y = truth[key]
        L = len(t)
        assert s.lengths[i] == L
        np.testing.assert_allclose(s.x[i, :L], x, atol=1e-6)
        assert not s.x[i, L:].any()                                    # padding is 0
        np.testing.assert_allclose(s.dt[i, 1:L], np.diff(t), rtol=1e-5)
        assert s.dt[i, 0] == pytest.approx(s.nominal_dt)              # first step: nominal dt
        assert s.label_names[s.y[i]] == y


def test_csv_regression_and_per_step_targets(tmp_path):
    path, truth = _long_csv(tmp_path / "r.csv", target=True)
    s = read_file(path, target="speed")
    assert s.task == "regression" and s.y.shape == (len(truth), 1)
    assert s.y[:, 0] == pytest.approx([truth[k][2] for k in s.ids])
    step = _csv(tmp_path / "p.csv", "seq_id,t,f,y\n1,0,1,0\n1,1,2,1\n2,0,3,1\n1,2.5,4,2\n")
    p = read_file(step, label="y")
    assert p.per_step and p.y.shape == (2, 3) and p.y[0].tolist() == [0, 1, 2] and p.y[1, 0] == 1


def test_npz_formats(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5, 3)).astype(np.float32)
    t = np.cumsum(rng.uniform(0.2, 2.0, (6, 5)), axis=1)
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(6) % 3, t=t, lengths=np.array([5, 4, 3, 5, 2, 1]))
    s = read_file(tmp_path / "c.npz")
    assert s.task == "classification" and s.lengths.tolist() == [5, 4, 3, 5, 2, 1]
    np.testing.assert_allclose(s.dt[0, 1:], np.diff(t[0]), rtol=1e-5)
    assert (s.x[5, 1:] == 0).all() and s.dt[5, 1] == pytest.approx(s.nominal_dt)
    np.savez(tmp_path / "r.npz", x=x, y=rng.standard_normal((6, 5, 2)), dt=np.full((6, 5), 0.5))
    r = read_file(tmp_path / "r.npz")
    assert r.task == "regression" and r.per_step and r.y.shape == (6, 5, 2) and (r.dt == 0.5).all()


def test_split_is_seeded_and_normalisation_comes_from_train(tmp_path):
    path, _ = _long_csv(tmp_path / "d.csv", n=20)
    a, rec_a = load_dataset(path, seed=3)
    b, rec_b = load_dataset(path, seed=3)
    c, _ = load_dataset(path, seed=4)
    assert rec_a["split_ids"] == rec_b["split_ids"] != load_dataset(path, seed=4)[1]["split_ids"]
    assert len(a.train) + len(a.val) + len(a.test) == 20 and len(c.test) == len(a.test)
    seqs = read_file(path)
    train_ids = [i for i in seqs.ids if i not in rec_a["split_ids"]["val"] + rec_a["split_ids"]["test"]]
    rows = np.concatenate([seqs.x[seqs.ids.index(i), :seqs.lengths[seqs.ids.index(i)]] for i in train_ids])
    np.testing.assert_allclose(a.norm_mean, rows.mean(axis=0), rtol=1e-5)
    raw, _ = load_dataset(path, seed=3, normalise_inputs=False)
    assert raw.norm_mean == [0.0, 0.0] and raw.norm_std == [1.0, 1.0]


BAD = {
    "missing column": ("seq_id,t,f\n1,0,1\n", {"label": "activity"}, ["no column 'activity'", "--label"]),
    "NaN": ("seq_id,t,f,label\n1,0,1,a\n1,1,nan,a\n", {}, ["row 3", "'f'", "NaN", "impute"]),
    "empty field": ("seq_id,t,f,label\n1,0,1,a\n1,1,,a\n", {}, ["row 3", "where a number belongs"]),
    "timestamps repeat": ("seq_id,t,f,label\n1,0,1,a\n1,1,2,a\n1,1,3,a\n", {},
                          ["sequence '1'", "row 4", "strictly increase"]),
    "non-integer label": ("seq_id,t,f,label\n1,0,1,1.5\n2,0,1,0\n", {}, ["row 2", "'1.5'", "not a class index"]),
    "no label column": ("seq_id,t,f,g\n1,0,1,2\n", {}, ["--label COL", "--target COL"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_csv_is_one_line_naming_place_and_fix(case, tmp_path):
    text, options, words = BAD[case]
    path = _csv(tmp_path / "bad.csv", text)
    with pytest.raises(DataFileError) as info:
        read_file(path, **options)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and all(w in msg for w in words), msg


def test_bad_npz_cases(tmp_path):
    x = np.zeros((2, 3, 1), np.float32)
    cases = {"empty sequence": (dict(x=x, y=[0, 1], lengths=[3, 0]), "sequence 1 has length 0"),
             "time goes back": (dict(x=x, y=[0, 1], t=[[0, 1, 0.5], [0, 1, 2]]), "sequence 0, step 2"),
             "NaN": (dict(x=np.where(np.arange(3)[None, :, None] == 1, np.nan, x), y=[0, 1]), "x[0, 1, 0]"),
             "labels": (dict(x=x, y=[0.5, 1.0]), "not an integer class")}
    for name, (arrays, words) in cases.items():
        np.savez(tmp_path / "b.npz", **arrays)
        with pytest.raises(DataFileError) as info:
            read_file(tmp_path / "b.npz", task="classification" if name == "labels" else None)
        assert words in str(info.value) and "\n" not in str(info.value), (name, info.value)


def test_feature_count_mismatch_and_bad_input_through_the_cli(tmp_path, monkeypatch, capsys):
    path = _csv(tmp_path / "three.csv", "seq_id,t,a,b,c,label\n" + "\n".join(
        f"{s},{j},{s},{j},1,{s % 2}" for s in range(10) for j in range(3)) + "\n")
    (tmp_path / "f.py").write_text("import torch\n\ndef build():\n    return torch.nn.GRU(2, 4), torch.nn.Linear(4, 2)\n")
    rc, out, err = run_cli(monkeypatch, capsys, "import", f"{tmp_path / 'f.py'}:build", "--data", path,
                           "--out", tmp_path / "m.pt")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 1 and len(lines) == 1 and lines[0].startswith("error:"), err
    assert "3 feature column(s) (a, b, c)" in err and "takes 2" in err and "--features" in err
    assert not (tmp_path / "m.pt").exists()
    rc, _, err = run_cli(monkeypatch, capsys, "import", f"{tmp_path / 'f.py'}:build", "--data", path,
                         "--features", "a,b", "--out", tmp_path / "m.pt")
    assert rc == 0, err


def test_unsupported_module_and_head_name_the_type_and_the_list(tmp_path):
    import edgelnn
    from edgelnn.importer import UnsupportedModuleError

    path, _ = _long_csv(tmp_path / "d.csv")
    with pytest.raises(UnsupportedModuleError, match=r"torch\.nn\.modules\.conv\.Conv1d.*supported: ncps"):
        edgelnn.import_model(torch.nn.Conv1d(2, 2, 3), data=path)
    with pytest.raises(UnsupportedModuleError, match=r"bidirectional"):
        edgelnn.import_model(torch.nn.GRU(2, 3, bidirectional=True), data=path)

    class Custom(torch.nn.Module):     # a head of one's own class is traced; an op it cannot hold is named
        def forward(self, h):
            return torch.cumsum(h, -1) * 2

    with pytest.raises(UnsupportedModuleError, match=r"head .*Custom calls torch\.cumsum, which cannot be "
                                                     r"represented; supported in a head's forward: torch layers Linear"):
        edgelnn.import_model((torch.nn.GRU(2, 3), Custom()), data=path)


def test_a_module_that_computes_something_else_fails_with_the_figure(tmp_path):
    """A subclass with its own forward passes the type check; the rollout comparison catches it."""
    from ncps.torch import CfC

    import edgelnn
    from edgelnn.importer import ImportMismatchError

    class Scaled(CfC):
        def forward(self, x, hx=None, timespans=None):
            out, h = super().forward(x, hx, timespans)
            return out * 1.001, h

    path, _ = _long_csv(tmp_path / "d.csv")
    torch.manual_seed(0)
    with pytest.raises(ImportMismatchError, match=r"differs from your module by .* tolerance 1e-05"):
        edgelnn.import_model(Scaled(2, 4, backbone_units=8), data=path, out=tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_state_dict_pickle_and_single_file_say_what_to_do(tmp_path, monkeypatch, capsys):
    torch.save(torch.nn.LSTM(2, 3).state_dict(), tmp_path / "sd.pt")
    torch.save(torch.nn.LSTM(2, 3), tmp_path / "whole.pt")
    (tmp_path / "my.onnx").write_bytes(b"\x08\x07")
    for args, words in ((("export", tmp_path / "sd.pt"), "state_dict"),
                        (("export", tmp_path / "whole.pt"), "pickled"),
                        (("bench", tmp_path / "my.onnx"), "single model file")):
        rc, _, err = run_cli(monkeypatch, capsys, *args)
        assert rc == 1 and words in err and "edgelnn import" in err and err.count("error:") == 1, err


def test_train_data_checkpoint_exports_in_a_fresh_process_without_the_file(tmp_path, monkeypatch, capsys):
    path, _ = _long_csv(tmp_path / "sensors.csv", n=24)
    assert "sensors.csv" not in DATASETS
    ckpt = tmp_path / "cfc.pt"
    rc, out, err = run_cli(monkeypatch, capsys, "train", "-m", "gru", "--data", path, "--units", "4",
                           "--epochs", "1", "--out", ckpt, "--json")
    assert rc == 0, err
    from edgelnn.models import load

    model = load(ckpt)
    assert model.config["dataset"] == "sensors.csv" and model.config["data"]["provenance"]["normalised"]
    path.unlink()                                          # "another machine": the file is gone
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "edgelnn", "export", str(ckpt), "--out", str(tmp_path / "b"),
                           "--format", "onnx,c", "--quant", "fp32", "--graph", "step,seq", "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["artifacts"] and manifest["dataset"]["name"] == "sensors.csv"
    assert manifest["normalisation"]["mean"] == model.config["norm_mean"] != [0.0, 0.0]
    assert manifest["dataset"]["label_names"] == ["a", "b"]
    # bench --eval-data: accuracy through the artifact on other data, normalised as the bundle says
    other, _ = _long_csv(tmp_path / "other.csv", seed=5, n=10)
    rc, out, err = run_cli(monkeypatch, capsys, "bench", tmp_path / "b", "--eval-data", other, "--no-memory",
                           "--warmup", "1", "--min-runs", "3", "--min-seconds", "0", "--json")
    assert rc == 0, err
    from edgelnn.data.userdata import for_model
    from edgelnn.train.loop import predict_steps

    split, _ = for_model(other, norm_mean=model.config["norm_mean"], norm_std=model.config["norm_std"],
                         task="classification", label_names=["a", "b"], nominal_dt=model.config["data"]["nominal_dt"])
    last = predict_steps(model, split)[np.arange(len(split)), split.lengths - 1]
    expected = float(np.mean(last.argmax(1) == split.y))
    rows = json.loads(out)
    assert rows and all(r["accuracy"] == pytest.approx(expected) for r in rows if r["status"] == "passed"), rows
    assert {r["format"] for r in rows if r["status"] == "passed"} == {"onnx", "c"}
    assert any(r["format"] == "c" and r["status"] == "unsupported" for r in rows)     # C has no seq graph
    # a flipped byte in the stored data is refused, not exported
    raw = torch.load(ckpt, weights_only=True)
    raw["data"]["test_x"][0, 0, 0] += 1.0
    torch.save(raw, tmp_path / "changed.pt")
    rc, _, err = run_cli(monkeypatch, capsys, "export", tmp_path / "changed.pt", "--out", tmp_path / "c")
    assert rc == 1 and "does not match its sha256" in err


def test_predict_takes_the_csv_header_and_its_timestamps(tmp_path, monkeypatch, capsys):
    path, _ = _long_csv(tmp_path / "d.csv", n=10)
    ckpt = tmp_path / "m.pt"
    rc, _, err = run_cli(monkeypatch, capsys, "train", "-m", "cfc", "--data", path, "--units", "4", "--epochs", "1",
                         "--out", ckpt)
    assert rc == 0, err
    one = _csv(tmp_path / "one.csv", "t,f1,f2\n0,0.1,0.2\n0.2,0.3,0.1\n3.0,0.0,1.0\n")
    rc, out, err = run_cli(monkeypatch, capsys, "predict", ckpt, "-i", one, "--json")
    assert rc == 0, err
    got = json.loads(out)
    from edgelnn.models import load

    model = load(ckpt)
    x = (np.array([[0.1, 0.2], [0.3, 0.1], [0.0, 1.0]], np.float32) - model.config["norm_mean"]) / \
        model.config["norm_std"]
    nominal = model.config["data"]["nominal_dt"]
    with torch.no_grad():
        y = model(torch.from_numpy(x.astype(np.float32))[None], torch.tensor([[nominal, 0.2, 2.8]]))[0, -1]
    np.testing.assert_allclose(got["outputs"], y.numpy(), atol=1e-5)
    rc, out, _ = run_cli(monkeypatch, capsys, "predict", ckpt, "-i", path, "--json")
    assert rc == 0 and len(json.loads(out)) == 10


def test_regression_and_per_step_targets_import_and_export(tmp_path):
    """Regression (a per-sequence target) and per-step labels go through import and export; the
    metric reads every valid step of per-step targets (edgelnn.metrics.scored)."""
    import edgelnn
    from edgelnn.export import export_bundle

    path, truth = _long_csv(tmp_path / "r.csv", target=True, n=16)
    torch.manual_seed(0)
    model, result = edgelnn.import_model((torch.nn.GRU(2, 4, batch_first=True), torch.nn.Linear(4, 1)),
                                         data=path, target="speed", out=tmp_path / "r.pt")
    assert model.config["task"] == "regression" and result.rel <= 1e-5 and result.test_metric > 0
    rows = "\n".join(f"{s},{j * 0.5 + s * 0.01},{np.sin(j + s)},{(j + s) % 2}" for s in range(12) for j in range(6))
    step = _csv(tmp_path / "p.csv", "seq_id,t,f,state\n" + rows + "\n")
    _, result = edgelnn.import_model((torch.nn.RNN(1, 3), torch.nn.Linear(3, 2)), data=step, label="state",
                                     out=tmp_path / "p.pt")
    report = export_bundle(tmp_path / "p.pt", tmp_path / "b", formats=["onnx"], schemes=["fp32"], graphs=["step"])
    assert report.passed and report.reference == pytest.approx(result.test_metric)
