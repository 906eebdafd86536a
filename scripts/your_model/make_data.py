"""Write an example long CSV like a logger's: seq_id,t,ax,ay,activity (irregular timestamps, rows of
all sequences interleaved). Usage: python make_data.py sensors.csv"""
import sys

import numpy as np

rng = np.random.default_rng(0)
rows = []
for s in range(150):
    activity = ["idle", "walk", "run"][s % 3]
    freq = {"idle": 0.3, "walk": 1.0, "run": 2.2}[activity]
    n = int(rng.integers(20, 41))
    t = np.cumsum(rng.uniform(0.05, 0.6, n))             # irregular sampling, seconds
    ax = np.sin(2 * np.pi * freq * t / 4 + rng.uniform(0, 6.3)) + 0.2 * rng.standard_normal(n)
    ay = np.cos(2 * np.pi * freq * t / 4) * (0.5 + 0.1 * s % 3) + 0.2 * rng.standard_normal(n)
    rows += [f"rec{s:03d},{t[j]:.3f},{ax[j]:.4f},{ay[j]:.4f},{activity}" for j in range(n)]
with open(sys.argv[1], "w") as fh:
    fh.write("seq_id,t,ax,ay,activity\n" + "\n".join(rng.permutation(rows)) + "\n")
print(f"wrote {len(rows)} rows of 150 sequences to {sys.argv[1]}")
