"""edgelnn import: a module trained in plain PyTorch (here, in the test) comes in through the CLI,
is exported to ONNX, TFLite and C, and every artifact, rolled out on its own over irregular dt,
reproduces the user's module (its own forward) within 1e-4."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cli_inprocess import run_cli
from edgelnn.export.formats import FORMATS
from edgelnn.runtime import open_runner

FORMATS_WANTED = [f for f in ("onnx", "tflite", "c") if FORMATS[f].available() is None]
FACTORY = """
import torch
from torch import nn
from ncps.torch import CfC, LTC, LTCCell
from ncps.wirings import AutoNCP, FullyConnected


def build():
{body}
    state = torch.load({weights!r}, weights_only=True)
    rnn.load_state_dict(state["rnn"])
    if head is None:
        return rnn
    head.load_state_dict(state["head"])
    return rnn, head
"""
# family -> (the factory's body: builds rnn and head; how the user runs it: "seq" forward with
# timespans, "cell" looped by hand, "torch" forward without time)
FAMILIES = {
    "cfc-autoncp": ("    torch.manual_seed(0)\n    rnn = CfC(2, AutoNCP(10, 3), batch_first=True)\n    head = None",
                    "seq"),
    "cfc-mixed": ("    torch.manual_seed(0)\n    rnn = CfC(2, 8, mixed_memory=True, backbone_units=16)\n"
                  "    head = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))", "seq"),
    "ltc-fc": ("    torch.manual_seed(0)\n    rnn = LTC(2, FullyConnected(6, 3), batch_first=True)\n    head = None",
               "seq"),
    "ltccell-loop": ("    torch.manual_seed(0)\n    rnn = LTCCell(AutoNCP(8, 3), 2)\n    head = None", "cell"),
    "lstm-2-proj": ("    torch.manual_seed(0)\n    rnn = nn.LSTM(2, 8, num_layers=2, proj_size=4, batch_first=True)\n"
                    "    head = nn.Linear(4, 3)", "torch"),
    "gru-time-first": ("    torch.manual_seed(0)\n    rnn = nn.GRU(2, 6, batch_first=False)\n    head = nn.Linear(6, 3)",
                       "torch"),
    "rnn": ("    torch.manual_seed(0)\n    rnn = nn.RNN(2, 6, batch_first=True, bias=False)\n    head = nn.Linear(6, 3)",
            "torch"),
}


@pytest.fixture(scope="module")
def sensor_csv(tmp_path_factory) -> Path:
    """A long CSV: 30 sequences of 5..12 rows, irregular timestamps, rows shuffled, 3 named classes."""
    rng = np.random.default_rng(0)
    rows = []
    for s in range(30):
        n = int(rng.integers(5, 13))
        t = np.cumsum(rng.uniform(0.1, 2.5, n))
        c = s % 3
        for j in range(n):
            rows.append(f"u{s},{t[j]:.5f},{np.sin(t[j] * (c + 1)):.5f},{rng.normal():.5f},{['idle', 'run', 'walk'][c]}")
    path = tmp_path_factory.mktemp("data") / "sensors.csv"
    path.write_text("seq_id,t,ax,ay,activity\n" + "\n".join(rng.permutation(rows)) + "\n")
    return path


def _user_run(rnn, head, how, x, dt):
    """The user's module on one raw sequence (T, C) with its dt (T,), as the user runs it."""
    with torch.no_grad():
        xt, dtt = torch.from_numpy(x)[None], torch.from_numpy(dt)[None]
        if how == "seq":
            out, _ = rnn(xt, timespans=dtt)
            out = out[0]
        elif how == "cell":
            h, steps = torch.zeros(1, rnn.state_size), []
            for t in range(x.shape[0]):
                o, h = rnn(xt[:, t], h, dtt[:, t:t + 1])
                steps.append(o[0])
            out = torch.stack(steps)
        else:
            out, _ = rnn(xt if rnn.batch_first else xt.transpose(0, 1))
            out = out[0] if rnn.batch_first else out[:, 0]
        return (head(out) if head is not None else out).numpy()


def _train_a_little(rnn, head, how, seqs):
    """A few Adam steps in plain PyTorch, one sequence at a time (ncps forward + timespans needs batch 1)."""
    params = list(rnn.parameters()) + (list(head.parameters()) if head is not None else [])
    opt = torch.optim.Adam(params, lr=0.01)
    for x, dt, y in seqs:
        xt, dtt = torch.from_numpy(x)[None], torch.from_numpy(dt)[None]
        if how == "seq":
            out = rnn(xt, timespans=dtt)[0][0]
        elif how == "cell":
            h, steps = torch.zeros(1, rnn.state_size), []
            for t in range(x.shape[0]):
                o, h = rnn(xt[:, t], h, dtt[:, t:t + 1])
                steps.append(o[0])
            out = torch.stack(steps)
        else:
            out = rnn(xt if rnn.batch_first else xt.transpose(0, 1))[0]
            out = out[0] if rnn.batch_first else out[:, 0]
        logits = (head(out) if head is not None else out)[-1:]
        loss = nn.functional.cross_entropy(logits, torch.tensor([y]))
        opt.zero_grad()
        loss.backward()
        opt.step()


def _factory(tmp: Path, family: str) -> tuple[str, nn.Module, nn.Module | None, str]:
    body, how = FAMILIES[family]
    weights = tmp / f"{family}.weights.pt"
    code = FACTORY.format(body=body, weights=str(weights))
    scope: dict = {}
    exec(code.replace("    state = torch.load", "    return rnn, head\n    state = torch.load"), scope)  # noqa: S102
    rnn, head = scope["build"]()
    return code, rnn, head, how


def _sequences(path: Path):
    from edgelnn.data.userdata import read_file

    s = read_file(path, label="activity")
    return [(s.x[i, :L], s.dt[i, :L], int(s.y[i])) for i, L in enumerate(s.lengths)]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_imported_module_exports_and_every_artifact_reproduces_it(family, sensor_csv, tmp_path, monkeypatch, capsys):
    code, rnn, head, how = _factory(tmp_path, family)
    seqs = _sequences(sensor_csv)
    _train_a_little(rnn, head, how, seqs[:4])
    torch.save({"rnn": rnn.state_dict(), "head": head.state_dict() if head is not None else {}},
               tmp_path / f"{family}.weights.pt")
    (tmp_path / "model_def.py").write_text(code)
    ckpt = tmp_path / "mine.pt"
    rc, out, err = run_cli(monkeypatch, capsys, "import", f"{tmp_path / 'model_def.py'}:build", "--data",
                           sensor_csv, "--label", "activity", "--out", ckpt, "--json")
    assert rc == 0, err
    result = json.loads(out)
    assert result["rel"] <= 1e-5 and result["dt_input"] == ("ignored" if how == "torch" else "used")
    bundle = tmp_path / "bundle"
    rc, out, err = run_cli(monkeypatch, capsys, "export", ckpt, "--out", bundle, "--format",
                           ",".join(FORMATS_WANTED), "--quant", "fp32", "--graph", "step", "--json")
    assert rc == 0, err
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert sorted(a["format"] for a in manifest["artifacts"]) == sorted(FORMATS_WANTED), manifest["rejected"]
    assert manifest["model"]["dt_input"] == result["dt_input"]
    assert manifest["dataset"]["label_names"] == ["idle", "run", "walk"]
    # an independent rollout: a new irregular sequence, longer than the data's
    rng = np.random.default_rng(7)
    x = rng.standard_normal((40, 2)).astype(np.float32)
    dt = rng.uniform(0.05, 3.0, 40).astype(np.float32)
    ref = _user_run(rnn.eval(), head.eval() if head is not None else None, how, x, dt)
    sizes = [s["size"] for s in manifest["tensors"]["step"]["state"]]
    for entry in manifest["artifacts"]:
        runner = open_runner(bundle / entry["file"], entry, sizes)
        y = np.stack([runner.step(x[t], float(dt[t])) for t in range(len(x))])
        runner.close()
        err = float(np.abs(y - ref).max())
        print(f"{family} {entry['format']}: max abs {err:.2e} vs the user's module")
        assert err <= 1e-4, f"{family} {entry['format']}: max abs {err:.2e} over 40 irregular steps"


def _variants():
    from ncps.torch import LTC, CfC, CfCCell, WiredCfCCell
    from ncps.wirings import NCP, AutoNCP, FullyConnected, Random

    return {
        "cfc pure + proj_size": lambda: CfC(2, 8, mode="pure", proj_size=3),
        "cfc no_gate, 2 relu backbone layers, dropout": lambda: (CfC(2, 8, mode="no_gate", backbone_layers=2,
                                                                     backbone_units=12, activation="relu",
                                                                     backbone_dropout=0.1), nn.Linear(8, 3)),
        "cfc no backbone": lambda: (CfC(2, 8, backbone_layers=0), nn.Linear(8, 3)),
        "cfc return_sequences=False": lambda: (CfC(2, 8, return_sequences=False), nn.Linear(8, 3)),
        "cfc NCP time-first": lambda: CfC(2, NCP(4, 3, 3, 2, 2, 2, 2), batch_first=False),
        "cfc Random wiring pure": lambda: (CfC(2, Random(8, 3, sparsity_level=0.5), mode="pure"), nn.Linear(8, 3)),
        "cfc FullyConnected": lambda: CfC(2, FullyConnected(8, 3)),
        "ltc AutoNCP mixed_memory": lambda: LTC(2, AutoNCP(10, 3), mixed_memory=True),
        "ltc units return_sequences=False": lambda: (LTC(2, 6, return_sequences=False), nn.Linear(6, 3)),
        "CfCCell": lambda: (CfCCell(2, 8), nn.Linear(8, 3)),
        "WiredCfCCell": lambda: WiredCfCCell(2, AutoNCP(10, 3)),
        "lstm 3 layers no bias": lambda: (nn.LSTM(2, 6, bias=False, num_layers=3), nn.Linear(6, 3)),
        "rnn relu 2 layers": lambda: (nn.RNN(2, 6, nonlinearity="relu", num_layers=2), nn.Linear(6, 3)),
    }


@pytest.mark.parametrize("variant", list(_variants()))
def test_module_options_import_and_match_their_module(variant, sensor_csv):
    """Every mode, wiring, backbone and layout option imports and reproduces its module on the
    data (the import's own check); the export path is the same step cell as above."""
    import edgelnn

    torch.manual_seed(0)
    model, result = edgelnn.import_model(_variants()[variant](), data=sensor_csv, label="activity")
    assert result.rel <= 1e-5 and result.sequences > 0 and model.config["kind"] == "imported"


def test_an_edgelnn_model_imports_with_new_data_through_the_cli(sensor_csv, tmp_path, monkeypatch, capsys):
    """The zoo's own model is one route among others: a factory returning a SequenceModel."""
    from edgelnn import models

    model = models.create("gru", 2, 3, units=4, seed=0)
    model.save(tmp_path / "zoo.pt")
    (tmp_path / "zoo_def.py").write_text(f"from edgelnn import models\n\ndef build():\n"
                                         f"    return models.load({str(tmp_path / 'zoo.pt')!r})\n")
    rc, out, err = run_cli(monkeypatch, capsys, "import", f"{tmp_path / 'zoo_def.py'}:build", "--data", sensor_csv,
                           "--label", "activity", "--out", tmp_path / "mine.pt", "--json")
    assert rc == 0, err
    assert json.loads(out)["module"] == "edgelnn.gru"
    loaded = models.load(tmp_path / "mine.pt")
    assert loaded.kind == "gru" and loaded.config["dataset"] == "sensors.csv" and loaded.stored_data
    assert loaded.config["label_names"] == ["idle", "run", "walk"]
    ref = models.load(tmp_path / "zoo.pt")
    for (k, a), b in zip(loaded.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), k
