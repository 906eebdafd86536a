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


class ResidualMLP(nn.Module):
    # a head of the user's own class: a residual MLP with ReLU and tanh

    def __init__(self, units, classes):
        super().__init__()
        self.hidden = nn.Linear(units, units)
        self.out = nn.Linear(units, classes)

    def forward(self, x):
        h = torch.relu(self.hidden(x)) + x
        return self.out(torch.tanh(h))


class TimesTwoPlusOne(nn.Module):
    def forward(self, x):
        return x * 2 + 1


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
    "cfc-autoncp": ("    torch.manual_seed(0)\n    rnn = CfC(2, AutoNCP(10, 3), batch_first=True)\n"
                    "    head = TimesTwoPlusOne()", "seq"),
    "cfc-mixed": ("    torch.manual_seed(0)\n    rnn = CfC(2, 8, mixed_memory=True, backbone_units=16)\n"
                  "    head = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))", "seq"),
    "ltc-fc": ("    torch.manual_seed(0)\n    rnn = LTC(2, FullyConnected(6, 3), batch_first=True)\n    head = None",
               "seq"),
    "ltccell-loop": ("    torch.manual_seed(0)\n    rnn = LTCCell(AutoNCP(8, 3), 2)\n    head = None", "cell"),
    "lstm-2-proj": ("    torch.manual_seed(0)\n    rnn = nn.LSTM(2, 8, num_layers=2, proj_size=4, batch_first=True)\n"
                    "    head = nn.Linear(4, 3)", "torch"),
    "gru-time-first": ("    torch.manual_seed(0)\n    rnn = nn.GRU(2, 6, batch_first=False)\n"
                       "    head = ResidualMLP(6, 3)", "torch"),
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
    if family in ("cfc-autoncp", "gru-time-first"):      # heads of the user's own class: traced, rebuilt
        from edgelnn import models

        assert models.load(ckpt).config["options"]["structure"]["head"]["type"] == "Graph"
    manifest = _export_and_compare(monkeypatch, capsys, ckpt, tmp_path / "bundle", rnn, head, how, family)
    assert manifest["model"]["dt_input"] == result["dt_input"]
    assert manifest["dataset"]["label_names"] == ["idle", "run", "walk"]


def _export_and_compare(monkeypatch, capsys, ckpt, bundle, rnn, head, how, name, unsupported=()):
    """Export fp32 step graphs to every format; each artifact, rolled out alone over a new irregular
    sequence (longer than the data's), against the user's module through its own forward."""
    rc, out, err = run_cli(monkeypatch, capsys, "export", ckpt, "--out", bundle, "--format",
                           ",".join(FORMATS_WANTED), "--quant", "fp32", "--graph", "step", "--json")
    assert rc == 0, err
    manifest = json.loads((bundle / "manifest.json").read_text())
    wanted = [f for f in FORMATS_WANTED if f not in unsupported]
    assert sorted(a["format"] for a in manifest["artifacts"]) == sorted(wanted), manifest["rejected"]
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
        print(f"{name} {entry['format']}: max abs {err:.2e} vs the user's module")
        assert err <= 1e-4, f"{name} {entry['format']}: max abs {err:.2e} over 40 irregular steps"
    return manifest


class _Scale(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.w = nn.Parameter(torch.linspace(0.5, 1.5, n))

    def forward(self, x):
        return x * self.w


class _Everything(nn.Module):
    """A parameter, a buffer, a plain tensor constant, a layer it never calls, view, shape, slicing."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 8)
        self.bias2 = nn.Parameter(torch.randn(4))
        self.register_buffer("offset", torch.randn(4))
        self.table = torch.tensor([1.0, -1.0, 0.5, 2.0])
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        h = self.proj(x).view(-1, 2, 4).sum(1)
        h = nn.functional.silu(h + self.bias2) * self.table - self.offset
        return h[..., :3] / x.shape[-1] + x[:, :3].abs()


class _GeluHead(nn.Module):
    """Exact GELU: ONNX and TFLite have it, the C generator has no Gelu op."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        return self.out(nn.functional.gelu(self.fc(x)) + x)


# variants also exported to every format (those whose step graph differs: modes, backbones,
# projection, mixed memory, multi-layer torch RNNs, a head C cannot hold, a wiring of one layer);
# the others differ only in how the user's forward is called (batch_first, return_sequences) or in
# a wiring's mask
EXPORTED = {"cfc pure + proj_size": (), "cfc no_gate, 2 relu backbone layers, dropout": (),
            "cfc no backbone": (), "ltc AutoNCP mixed_memory, 2 ode unfolds": (), "lstm 3 layers no bias": (),
            "rnn relu 2 layers": (), "gru + GELU head class": ("c",), "cfc FullyConnected": ()}


def _variants():
    from ncps.torch import LTC, CfC, CfCCell, WiredCfCCell
    from ncps.wirings import NCP, AutoNCP, FullyConnected, Random

    return {
        "gru + GELU head class": lambda: (nn.GRU(2, 6, batch_first=True), _GeluHead()),
        "gru + Sequential holding a user module, LayerNorm, Softmax": lambda: (
            nn.GRU(2, 6, batch_first=True), nn.Sequential(nn.Linear(6, 6), _Scale(6), nn.LayerNorm(6),
                                                          nn.Linear(6, 3), nn.Softmax(dim=-1))),
        "lstm + head with parameter, buffer, constant, view, shape, slicing": lambda: (
            nn.LSTM(2, 6, batch_first=True), _Everything()),
        "cfc pure + proj_size": lambda: CfC(2, 8, mode="pure", proj_size=3),
        "cfc no_gate, 2 relu backbone layers, dropout": lambda: (CfC(2, 8, mode="no_gate", backbone_layers=2,
                                                                     backbone_units=12, activation="relu",
                                                                     backbone_dropout=0.1), nn.Linear(8, 3)),
        "cfc no backbone": lambda: (CfC(2, 8, backbone_layers=0), nn.Linear(8, 3)),
        "cfc return_sequences=False": lambda: (CfC(2, 8, return_sequences=False), nn.Linear(8, 3)),
        "cfc NCP time-first": lambda: CfC(2, NCP(4, 3, 3, 2, 2, 2, 2), batch_first=False),
        "cfc Random wiring pure": lambda: (CfC(2, Random(8, 3, sparsity_level=0.5), mode="pure"), nn.Linear(8, 3)),
        "cfc FullyConnected": lambda: CfC(2, FullyConnected(8, 3)),
        "ltc AutoNCP mixed_memory, 2 ode unfolds": lambda: LTC(2, AutoNCP(10, 3), mixed_memory=True,
                                                               ode_unfolds=2),
        "ltc units return_sequences=False": lambda: (LTC(2, 6, return_sequences=False), nn.Linear(6, 3)),
        "CfCCell": lambda: (CfCCell(2, 8), nn.Linear(8, 3)),
        "WiredCfCCell": lambda: WiredCfCCell(2, AutoNCP(10, 3)),
        "lstm 3 layers no bias": lambda: (nn.LSTM(2, 6, bias=False, num_layers=3), nn.Linear(6, 3)),
        "rnn relu 2 layers": lambda: (nn.RNN(2, 6, nonlinearity="relu", num_layers=2), nn.Linear(6, 3)),
        "gru 2 layers no bias": lambda: (nn.GRU(2, 6, num_layers=2, bias=False), nn.Linear(6, 3)),
    }


@pytest.mark.parametrize("variant", list(_variants()))
def test_module_options_import_and_match_their_module(variant, sensor_csv, tmp_path, monkeypatch, capsys):
    """Every mode, wiring, backbone, layout and head option imports and reproduces its module on
    the data (the import's own check); those with a step graph of their own are also exported and
    every artifact is compared with the module (a format that cannot hold an op says so)."""
    import edgelnn
    from ncps.torch import LTC, CfC

    torch.manual_seed(0)
    built = _variants()[variant]()
    ckpt = tmp_path / "mine.pt" if variant in EXPORTED else None
    model, result = edgelnn.import_model(built, data=sensor_csv, label="activity", out=ckpt)
    assert result.rel <= 1e-5 and result.sequences > 0 and model.config["kind"] == "imported"
    if ckpt is None:
        return
    rnn, head = built if isinstance(built, tuple) else (built, None)
    how = "seq" if isinstance(rnn, (CfC, LTC)) else "torch" if isinstance(rnn, nn.RNNBase) else "cell"
    manifest = _export_and_compare(monkeypatch, capsys, ckpt, tmp_path / "bundle", rnn, head, how, variant,
                                   unsupported=EXPORTED[variant])
    for fmt in EXPORTED[variant]:
        if fmt in FORMATS_WANTED:
            [entry] = [r for r in manifest["unsupported"] if r["format"] == fmt]
            assert entry["reason"].startswith("op Gelu (node "), entry
            assert "\n" not in entry["reason"]


def test_a_head_that_cannot_be_represented_is_one_line_naming_the_op(sensor_csv, tmp_path, monkeypatch, capsys):
    (tmp_path / "def.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass Head(nn.Module):\n    def forward(self, x):\n"
        "        return torch.cumsum(x, -1)\n\n\nclass Branchy(nn.Module):\n    def forward(self, x):\n"
        "        return x if x.sum() > 0 else -x\n\n\ndef build():\n    return nn.GRU(2, 3), Head()\n\n\n"
        "def build_branchy():\n    return nn.GRU(2, 3), Branchy()\n")
    for fn, says in (("build", "the head Head calls torch.cumsum, which cannot be represented; supported in a "
                               "head's forward: torch layers Linear"),
                     ("build_branchy", "the head Branchy cannot be traced by torch.fx (TraceError")):
        rc, out, err = run_cli(monkeypatch, capsys, "import", f"{tmp_path / 'def.py'}:{fn}", "--data", sensor_csv,
                               "--label", "activity", "--out", tmp_path / "m.pt")
        assert rc == 1 and not out and len(err.strip().splitlines()) == 1, err
        assert err.startswith("error: ") and says in err, err
        assert not (tmp_path / "m.pt").exists()


def test_tflite_static_schemes_keep_a_float_output_that_also_builds_the_state(sensor_csv, tmp_path, monkeypatch,
                                                                              capsys):
    """An NCP-wired CfC without a head: its output y (the motor neurons) also goes into the new
    state (a CONCATENATION that requantizes). ai-edge-quantizer 0.10 then pointed the graph output at
    that int8 requantization; the export repairs the wiring and the artifact meets its gate's figures."""
    import edgelnn
    from ncps.torch import CfC
    from ncps.wirings import AutoNCP

    if "tflite" not in FORMATS_WANTED:
        pytest.skip("no TFLite converter here")
    torch.manual_seed(0)
    edgelnn.import_model(CfC(2, AutoNCP(8, 3), batch_first=True), data=sensor_csv, label="activity",
                         out=tmp_path / "m.pt")
    rc, out, err = run_cli(monkeypatch, capsys, "export", tmp_path / "m.pt", "--out", tmp_path / "b", "--format",
                           "tflite", "--quant", "int8-static,int16x8-static", "--graph", "step", "--json")
    assert rc == 0, err
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    entries = [e for e in manifest["artifacts"] + manifest["rejected"] if e["scheme"] != "fp32"]
    assert sorted(e["scheme"] for e in entries) == ["int16x8-static", "int8-static"]
    for e in entries:
        assert e.get("status") != "failed", e            # exported and measured, not an exporter error
        assert e["parity"]["max_abs"] >= 0 and e["quantized"], e


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
