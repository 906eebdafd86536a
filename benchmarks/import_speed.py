"""Time of ``edgelnn.import_model`` for 64-unit models, beyond the time to import torch and ncps.

Each model is imported in a fresh process: first ``import torch, ncps`` is timed, then the whole
import (describe, rebuild, the check against the user's module on the data, the test metric, the
checkpoint with its data). Target (issue 18): <= 10 s beyond torch's import. Data: a CSV of 200
sequences of 20..60 irregular samples, 4 features, 3 classes. Run: python benchmarks/import_speed.py
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch, ncps  # noqa: F401
t_torch = time.perf_counter() - t0
from ncps.torch import CfC, LTC
from ncps.wirings import AutoNCP, FullyConnected
from edgelnn.importer import import_model
torch.manual_seed(0)
family = sys.argv[2]
module = {"cfc-autoncp": lambda: CfC(4, AutoNCP(64, 3)),
          "cfc": lambda: (CfC(4, 64), torch.nn.Linear(64, 3)),
          "ltc-fc": lambda: LTC(4, FullyConnected(64, 3)),
          "lstm": lambda: (torch.nn.LSTM(4, 64, batch_first=True), torch.nn.Linear(64, 3))}[family]()
t1 = time.perf_counter()
_, r = import_model(module, data=sys.argv[1], label="label", out=sys.argv[3])
print(json.dumps({"family": family, "torch_import_s": round(t_torch, 2),
                  "import_s": round(time.perf_counter() - t1, 2), "rel": r.rel}))
"""


def make_csv(path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = ["seq_id,t,a,b,c,d,label"]
    for s in range(200):
        n = int(rng.integers(20, 61))
        t = np.cumsum(rng.uniform(0.05, 1.0, n))
        x = rng.standard_normal((n, 4))
        rows += [f"{s},{t[j]:.4f},{x[j, 0]:.4f},{x[j, 1]:.4f},{x[j, 2]:.4f},{x[j, 3]:.4f},{s % 3}" for j in range(n)]
    path.write_text("\n".join(rows) + "\n")


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    make_csv(tmp / "d.csv")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = []
    for family in ("cfc-autoncp", "cfc", "ltc-fc", "lstm"):
        p = subprocess.run([sys.executable, "-c", CHILD, str(tmp / "d.csv"), family, str(tmp / f"{family}.pt")],
                           capture_output=True, text=True, env=env)
        if p.returncode:
            sys.exit(p.stderr)
        out.append(json.loads(p.stdout.strip().splitlines()[-1]))
    print(json.dumps({"results": out, "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                      f"load {os.getloadavg()[0]:.1f}"}, indent=1))


if __name__ == "__main__":
    main()
