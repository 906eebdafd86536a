"""A CfC with an NCP wiring trained in plain PyTorch + ncps on a long CSV (no edgelnn here), and
``build()``: the factory ``edgelnn import`` calls to get the trained module back.

Usage: python train_cfc.py sensors.csv      (writes cfc_ncp.weights.pt, a state_dict)
       edgelnn import train_cfc.py:build --data sensors.csv --label activity --out mine.pt
"""
import csv
import sys
from collections import defaultdict

import numpy as np
import torch
from ncps.torch import CfC
from ncps.wirings import AutoNCP

WEIGHTS = "cfc_ncp.weights.pt"
CLASSES = ["idle", "run", "walk"]


def build():
    """The trained module: the same architecture, the trained weights (edgelnn import calls this)."""
    torch.manual_seed(0)
    model = CfC(2, AutoNCP(16, 3), batch_first=True)
    model.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    return model


def read(path):
    """Sequences as (x (T, 2), dt (T,), label): rows grouped by seq_id, sorted by t; dt of the
    first sample = the median interval (edgelnn's convention for the first step)."""
    rows = defaultdict(list)
    with open(path) as fh:
        for r in csv.DictReader(fh):
            rows[r["seq_id"]].append((float(r["t"]), float(r["ax"]), float(r["ay"]), r["activity"]))
    seqs = []
    for key in sorted(rows):
        r = sorted(rows[key])
        t = np.array([v[0] for v in r])
        seqs.append((np.array([v[1:3] for v in r], np.float32), np.diff(t, prepend=np.nan), CLASSES.index(r[0][3])))
    median = float(np.median(np.concatenate([dt[1:] for _, dt, _ in seqs])))
    return [(x, np.nan_to_num(dt, nan=median).astype(np.float32), y) for x, dt, y in seqs]


def train(path):
    torch.manual_seed(0)
    seqs = read(path)
    model = CfC(2, AutoNCP(16, 3), batch_first=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    rng = np.random.default_rng(0)
    for epoch in range(12):
        for batch in np.array_split(rng.permutation(len(seqs)), len(seqs) // 16):
            # ncps 1.0.1's CfC.forward(x, timespans=ts) breaks for batch > 1 (ncps #81-#83):
            # loop the cell over the padded batch, as many users do
            T = max(len(seqs[i][0]) for i in batch)
            x = torch.zeros(len(batch), T, 2)
            dt = torch.ones(len(batch), T)
            for k, i in enumerate(batch):
                x[k, :len(seqs[i][0])] = torch.from_numpy(seqs[i][0])
                dt[k, :len(seqs[i][1])] = torch.from_numpy(seqs[i][1])
            h = torch.zeros(len(batch), model.state_size)
            last = torch.zeros(len(batch), 3)
            for t in range(T):
                out, h = model.rnn_cell(x[:, t], h, dt[:, t:t + 1])
                ends = torch.tensor([len(seqs[i][0]) - 1 == t for i in batch])
                last = torch.where(ends[:, None], out, last)
            loss = torch.nn.functional.cross_entropy(last, torch.tensor([seqs[i][2] for i in batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}")
    torch.save(model.state_dict(), WEIGHTS)
    print(f"wrote {WEIGHTS}")


if __name__ == "__main__":
    train(sys.argv[1])
