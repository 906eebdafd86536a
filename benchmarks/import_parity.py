"""Each supported module family, imported and exported: max error of every fp32 artifact against
the user's own module (issue 18's "Done when" table).

For each family: the module is built (seeded), trained a few Adam steps in plain PyTorch on a
CSV of irregular sensor sequences, imported with ``edgelnn.import_model`` (which checks it against
the module first), exported with ``edgelnn.export.export_bundle`` to ONNX, TFLite and C (fp32 step
graphs), and every artifact is rolled out on its own over 8 new sequences of 60 steps with dt
drawn from 0.05..3.0 s. Each cell: max |artifact - module| over all steps (the module through its
own forward: ncps sequence modules with ``timespans``, cells looped by hand, torch.nn without
time); where the module returns the last step only, the last step. A format that cannot hold an op
shows the exporter's one-line reason.

Run: python benchmarks/import_parity.py [--json out.json]  (a few minutes on 2 cores)
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

FORMATS = ("onnx", "tflite", "c")


class ResidualMLP(nn.Module):
    """A head of the user's own class (residual MLP, ReLU and tanh)."""

    def __init__(self, units, classes):
        super().__init__()
        self.hidden = nn.Linear(units, units)
        self.out = nn.Linear(units, classes)

    def forward(self, x):
        return self.out(torch.tanh(torch.relu(self.hidden(x)) + x))


class GeluHead(nn.Module):
    """A head of the user's own class with exact GELU (no Gelu op in the C generator)."""

    def __init__(self, units, classes):
        super().__init__()
        self.fc = nn.Linear(units, units)
        self.out = nn.Linear(units, classes)

    def forward(self, x):
        return self.out(nn.functional.gelu(self.fc(x)) + x)


class TimesTwoPlusOne(nn.Module):
    def forward(self, x):
        return x * 2 + 1


def families():
    """name -> (build() -> (module, head or None), how the user runs it)."""
    from ncps.torch import LTC, CfC, CfCCell, LTCCell, WiredCfCCell
    from ncps.wirings import NCP, AutoNCP, FullyConnected, Random

    return {
        "ncps CfC, AutoNCP wiring": (lambda: (CfC(2, AutoNCP(12, 3)), None), "seq"),
        "ncps CfC, AutoNCP, head class x*2+1": (lambda: (CfC(2, AutoNCP(12, 3)), TimesTwoPlusOne()), "seq"),
        "ncps CfC, NCP wiring, time-first": (lambda: (CfC(2, NCP(4, 3, 3, 2, 2, 2, 2), batch_first=False), None),
                                             "seq"),
        "ncps CfC, Random wiring, pure": (lambda: (CfC(2, Random(8, 3, sparsity_level=0.5), mode="pure"),
                                                   nn.Linear(8, 3)), "seq"),
        "ncps CfC, FullyConnected wiring": (lambda: (CfC(2, FullyConnected(8, 3)), None), "seq"),
        "ncps CfC, mixed_memory, MLP head": (lambda: (CfC(2, 8, mixed_memory=True, backbone_units=16),
                                                      nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))),
                                             "seq"),
        "ncps CfC, pure, proj_size": (lambda: (CfC(2, 8, mode="pure", proj_size=3), None), "seq"),
        "ncps CfC, no_gate, 2 relu backbone layers": (lambda: (CfC(2, 8, mode="no_gate", backbone_layers=2,
                                                                   backbone_units=12, activation="relu",
                                                                   backbone_dropout=0.1), nn.Linear(8, 3)), "seq"),
        "ncps CfC, no backbone, return_sequences=False": (lambda: (CfC(2, 8, backbone_layers=0,
                                                                       return_sequences=False), nn.Linear(8, 3)),
                                                          "seq"),
        "ncps LTC, FullyConnected": (lambda: (LTC(2, FullyConnected(6, 3)), None), "seq"),
        "ncps LTC, AutoNCP, mixed_memory": (lambda: (LTC(2, AutoNCP(10, 3), mixed_memory=True), None), "seq"),
        "ncps CfCCell, looped by hand": (lambda: (CfCCell(2, 8), nn.Linear(8, 3)), "cell"),
        "ncps WiredCfCCell (AutoNCP), looped": (lambda: (WiredCfCCell(2, AutoNCP(10, 3)), None), "cell"),
        "ncps LTCCell (AutoNCP), looped": (lambda: (LTCCell(AutoNCP(8, 3), 2), None), "cell"),
        "nn.LSTM 2 layers, proj_size, Linear head": (lambda: (nn.LSTM(2, 8, num_layers=2, proj_size=4,
                                                                      batch_first=True), nn.Linear(4, 3)), "torch"),
        "nn.LSTM 3 layers, no bias, time-first": (lambda: (nn.LSTM(2, 6, bias=False, num_layers=3),
                                                           nn.Linear(6, 3)), "torch"),
        "nn.GRU time-first, head class (residual MLP)": (lambda: (nn.GRU(2, 6), ResidualMLP(6, 3)), "torch"),
        "nn.GRU 2 layers, no bias": (lambda: (nn.GRU(2, 6, num_layers=2, bias=False, batch_first=True),
                                              nn.Linear(6, 3)), "torch"),
        "nn.GRU, head class with exact GELU": (lambda: (nn.GRU(2, 6, batch_first=True), GeluHead(6, 3)), "torch"),
        "nn.RNN tanh, no bias": (lambda: (nn.RNN(2, 6, bias=False, batch_first=True), nn.Linear(6, 3)), "torch"),
        "nn.RNN relu, 2 layers": (lambda: (nn.RNN(2, 6, nonlinearity="relu", num_layers=2), nn.Linear(6, 3)),
                                  "torch"),
        "edgelnn zoo gru": (lambda: (_zoo(), None), "zoo"),
    }


def _zoo():
    from edgelnn import models

    return models.create("gru", 2, 3, units=6, seed=0)


def user_run(rnn, head, how, x, dt):
    """The module on one sequence (T, C), as its user runs it; (T, O) or (1, O) (last step only)."""
    xt, dtt = torch.from_numpy(x)[None], torch.from_numpy(dt)[None]
    if how == "zoo":
        return rnn(xt, dtt)[0]
    if how == "cell":
        size = rnn.state_size if hasattr(rnn, "state_size") else rnn.hidden_size
        h, steps = torch.zeros(1, size), []
        for t in range(x.shape[0]):
            o, h = rnn(xt[:, t], h, dtt[:, t:t + 1])
            steps.append(o[0])
        out = torch.stack(steps)
    elif how == "seq":
        tf = not rnn.batch_first
        out, _ = rnn(xt.transpose(0, 1) if tf else xt, timespans=dtt.transpose(0, 1) if tf else dtt)
        out = out[:, 0] if tf and out.dim() == 3 else out[0] if out.dim() == 3 else out
    else:
        out, _ = rnn(xt if rnn.batch_first else xt.transpose(0, 1))
        out = out[0] if rnn.batch_first else out[:, 0]
    return head(out) if head is not None else out


def make_csv(path: Path) -> list:
    """60 sequences of 8..20 irregular samples, 3 named classes; returns them as (x, dt, label)."""
    rng = np.random.default_rng(0)
    rows, seqs = [], []
    for s in range(60):
        n = int(rng.integers(8, 21))
        t = np.cumsum(rng.uniform(0.1, 2.5, n))
        c = s % 3
        x = np.stack([np.sin(t * (c + 1)), rng.normal(size=n)], 1).astype(np.float32)
        rows += [f"u{s},{t[j]:.5f},{x[j, 0]:.5f},{x[j, 1]:.5f},{['idle', 'run', 'walk'][c]}" for j in range(n)]
        dt = np.diff(t, prepend=t[0] - 1.0).astype(np.float32)
        seqs.append((x, dt, c))
    path.write_text("seq_id,t,ax,ay,activity\n" + "\n".join(rng.permutation(rows)) + "\n")
    return seqs


def train_a_little(rnn, head, how, seqs, steps=8):
    params = list(rnn.parameters()) + (list(head.parameters()) if head is not None else [])
    opt = torch.optim.Adam(params, lr=0.01)
    for x, dt, y in seqs[:steps]:
        out = user_run(rnn, head, how, x, dt)
        loss = nn.functional.cross_entropy(out[-1:], torch.tensor([y]))
        opt.zero_grad()
        loss.backward()
        opt.step()


def measure(name, build, how, data: Path, seqs, tmp: Path) -> dict:
    import edgelnn
    from edgelnn.export import export_bundle
    from edgelnn.runtime import open_runner

    torch.manual_seed(0)
    rnn, head = build()
    if how != "zoo":
        train_a_little(rnn, head, how, seqs)
    rnn.eval()
    if head is not None:
        head.eval()
    ckpt, bundle = tmp / "m.pt", tmp / "bundle"
    _, result = edgelnn.import_model((rnn, head) if head is not None else rnn, data=data, label="activity",
                                     out=ckpt)
    export_bundle(ckpt, bundle, formats=list(FORMATS), schemes=["fp32"], graphs=["step"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    rng = np.random.default_rng(7)
    tests = [(rng.standard_normal((60, 2)).astype(np.float32), rng.uniform(0.05, 3.0, 60).astype(np.float32))
             for _ in range(8)]
    with torch.no_grad():
        refs = [user_run(rnn, head, how, x, dt).numpy() for x, dt in tests]
    scale = max(float(np.abs(r).max()) for r in refs)
    row = {"family": name, "module": result.module, "import_rel": result.rel, "scale": scale}
    sizes = [s["size"] for s in manifest["tensors"]["step"]["state"]]
    for entry in manifest["artifacts"]:
        runner = open_runner(bundle / entry["file"], entry, sizes)
        err = 0.0
        for (x, dt), ref in zip(tests, refs):
            runner.reset()
            y = np.stack([runner.step(x[t], float(dt[t])) for t in range(len(x))])
            y = y[-1:] if len(ref) == 1 else y
            err = max(err, float(np.abs(y - ref).max()))
        runner.close()
        row[entry["format"]] = err
    for entry in manifest.get("unsupported", []) + manifest.get("rejected", []):
        row.setdefault(entry["format"], entry.get("reason") or entry.get("status") or "rejected")
    return row


def table(rows, header: str) -> str:
    """The markdown table; a format that produced nothing shows a note number, its reason below."""
    lines = [header, "", "| family | import check (rel) | output scale | " + " | ".join(FORMATS) + " |",
             "|---|---|---|" + "---|" * len(FORMATS)]
    notes = []
    for r in rows:
        cells = []
        for f in FORMATS:
            if isinstance(r.get(f), float):
                cells.append(f"{r[f]:.1e}")
            else:
                notes.append(f"[{len(notes) + 1}] {r['family']}, {f}: {r.get(f, 'not exported')}")
                cells.append(f"not produced [{len(notes)}]")
        lines.append(f"| {r['family']} | {r['import_rel']:.1e} | {r['scale']:.2g} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--only", help="families whose name contains this")
    ap.add_argument("--rows", help="print the table of rows saved by --json (no measuring)")
    args = ap.parse_args(argv)
    if args.rows:
        saved = json.loads(Path(args.rows).read_text())
        print(table(saved["rows"], saved["header"]))
        return 0
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seqs = make_csv(tmp / "sensors.csv")
        for i, (name, (build, how)) in enumerate(families().items()):
            if args.only and args.only not in name:
                continue
            work = tmp / f"f{i}"
            work.mkdir()
            start = time.perf_counter()
            rows.append(measure(name, build, how, tmp / "sensors.csv", seqs, work))
            print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    import onnxruntime
    header = (f"Max |artifact - your module| over 8 sequences x 60 steps, dt 0.05..3.0 s (fp32 step graphs; "
              f"{platform.machine()}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}). "
              "Import check: the imported model vs the module on the data, relative to the output's largest "
              "magnitude (bound 1e-5).")
    print(table(rows, header))
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
