"""Loading a user CSV: time and peak memory of edgelnn.data.userdata.read_file on a ~100 MB long
CSV of 10^6 rows (10^4 sequences of 50..150 rows, 8 features, irregular timestamps, rows shuffled).

Targets (issue 18): <= 10 s and peak memory <= 3x the size of the arrays it returns.
Peak memory: VmHWM of a fresh process after reading, minus its VmRSS just before (numpy and the
loader imported). Run: python benchmarks/userdata_load.py [--rows N] [--keep FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
from edgelnn.data.userdata import read_file

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
before = status("VmRSS:")
t0, c0 = time.perf_counter(), time.process_time()
s = read_file(sys.argv[1], label="label")
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
arrays = sum(a.nbytes for a in (s.x, s.dt, s.y, s.lengths))
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_above_start": status("VmHWM:") - before, "array_bytes": arrays,
                  "shape": list(s.x.shape)}))
"""


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lengths = []
    while sum(lengths) < rows:
        lengths.append(int(rng.integers(50, 151)))
    lengths[-1] -= sum(lengths) - rows
    seq = np.repeat(np.arange(len(lengths)), lengths)
    t = np.concatenate([np.cumsum(rng.uniform(0.01, 0.2, n)) for n in lengths])
    x = rng.standard_normal((rows, 8))
    label = np.array(["walk", "run", "sit", "stand"])[seq % 4]
    order = rng.permutation(rows)
    with open(path, "w") as fh:
        fh.write("seq_id,t,f0,f1,f2,f3,f4,f5,f6,f7,label\n")
        for start in range(0, rows, 100_000):
            idx = order[start:start + 100_000]
            block = np.column_stack([seq[idx].astype(str), np.char.mod("%.4f", t[idx])] +
                                    [np.char.mod("%.6f", x[idx, j]) for j in range(8)] + [label[idx]])
            fh.write("\n".join(",".join(r) for r in block) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="reuse / keep the CSV at this path")
    args = ap.parse_args()
    path = args.keep or Path(tempfile.mkdtemp()) / "big.csv"
    if not path.is_file():
        make_csv(path, args.rows)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(out.stderr)
    r = json.loads(out.stdout)
    r.update(rows=args.rows, file_mb=path.stat().st_size / 1e6, peak_ratio=r["peak_above_start"] / r["array_bytes"],
             process_seconds=time.perf_counter() - t0, machine=f"{platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(json.dumps(r, indent=1))
    if args.keep is None:
        path.unlink()


if __name__ == "__main__":
    main()
