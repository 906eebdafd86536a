#!/usr/bin/env python3
"""Wall time of a study with 1 and with 2 local Dask workers, one after the other on the same
commit; writes benchmarks/results/study_workers.json and the section of benchmarks/RESULTS.md.

    python benchmarks/study_workers.py                  # the default study (about 2.5 h in all)
    python benchmarks/study_workers.py --quick          # the quick look (about 10 min in all)
    python benchmarks/study_workers.py -- --datasets italypowerdemand --models gru,cfc   # any design
    python benchmarks/study_workers.py --ceiling        # the best ratio this machine allows (2 min)

Target (issue 12): 2 workers <= 0.6 x the 1-worker wall time. Run it on a quiet machine: both
runs start from empty study folders (``--fresh``), so nothing is resumed; the load average before
and after each run is written down beside the times.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.6


def machine() -> dict:
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def run(workers: int, folder: Path, extra: list[str]) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    cmd = [sys.executable, "-m", "edgelnn", "study", "--workers", str(workers), "--fresh", "--out", str(folder), *extra]
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    state = json.loads((folder / "study.json").read_text())
    jobs = state["jobs"].values()
    return {"workers": workers, "seconds": round(seconds, 1), "jobs": len(jobs),
            "cpu_seconds": round(sum(float(j.get("cpu_seconds") or 0) for j in jobs), 1),
            "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()],
            "command": " ".join(cmd[1:])}


CEILING_JOB = """if True:
    import time
    from edgelnn.train import TrainConfig, train
    t0 = time.perf_counter()
    train(TrainConfig("cfc", "japanesevowels", units=32, epochs=8, patience=100))
    print(time.perf_counter() - t0)
"""


def ceiling(rounds: int = 3) -> dict:
    """What 2 workers can gain here at best: one study-like training job (CfC-32, 8 epochs, one
    torch thread) alone, then two copies at once, each in its own process. If each copy takes k
    times as long as the job alone, 2 workers finish a queue of such jobs in k/2 of 1 worker's
    time at best (a 2-vCPU machine whose vCPUs share a physical core, caches or memory bandwidth
    has k > 1)."""
    def job():
        return subprocess.Popen([sys.executable, "-c", CEILING_JOB], stdout=subprocess.PIPE, text=True)

    alone, pair = [], []
    for _ in range(rounds):
        p = job()
        alone.append(float(p.communicate()[0].split()[-1]))
        ps = [job(), job()]
        pair += [float(q.communicate()[0].split()[-1]) for q in ps]
    a, b = sorted(alone)[len(alone) // 2], sorted(pair)[len(pair) // 2]
    return {"alone_seconds": round(a, 2), "two_at_once_seconds": round(b, 2), "slowdown": round(b / a, 3),
            "best_ratio": round(b / a / 2, 3), "rounds": rounds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick look instead of the default study")
    ap.add_argument("--out", type=Path, default=Path("/tmp/edgelnn-study-workers"))
    ap.add_argument("--ceiling", action="store_true",
                    help="only measure the best ratio this machine allows (two trainings at once vs one)")
    ap.add_argument("extra", nargs="*", help="more `edgelnn study` options (after --)")
    args = ap.parse_args(argv)
    if args.ceiling:
        c = ceiling()
        c.update(date=dt.date.today().isoformat(), machine=machine(), load_before=[round(v, 2) for v in os.getloadavg()])
        path = ROOT / "benchmarks" / "results" / "study_workers_ceiling.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(c, indent=1))
        print(f"one training job alone {c['alone_seconds']} s; two at once {c['two_at_once_seconds']} s each "
              f"(x{c['slowdown']}): 2 workers can reach {c['best_ratio']} of 1 worker's time at best")
        return 0
    extra = (["--quick"] if args.quick else []) + args.extra
    results = [run(w, args.out / f"workers-{w}", extra) for w in (1, 2)]
    ratio = results[1]["seconds"] / results[0]["seconds"]
    out = {"date": dt.date.today().isoformat(), "machine": machine(), "study": extra or ["(default)"],
           "runs": results, "ratio_2_over_1": round(ratio, 3), "target": TARGET, "met": ratio <= TARGET}
    path = ROOT / "benchmarks" / "results" / "study_workers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    m = out["machine"]
    lines = [f"## Study wall time: 1 vs 2 local workers", "",
             f"Produced by `benchmarks/study_workers.py {' '.join(extra)}` on {out['date']}. Machine: {m['cpu']}, "
             f"{m['cores']} cores, {m['platform']}, Python {m['python']}.", "",
             "| workers | wall | jobs | CPU s (jobs) | load before / after |", "| ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        lines.append(f"| {r['workers']} | {r['seconds'] / 60:.1f} min | {r['jobs']} | {r['cpu_seconds']:.0f} | "
                     f"{r['load_before'][0]} / {r['load_after'][0]} |")
    lines += ["", f"2 workers / 1 worker: **{ratio:.2f}** (target <= {TARGET}: {'met' if out['met'] else 'NOT met'}).", ""]
    print("\n".join(lines))
    results_md = ROOT / "benchmarks" / "RESULTS.md"
    text = results_md.read_text() if results_md.exists() else "# Benchmark results\n"
    marker = "## Study wall time: 1 vs 2 local workers"
    if marker in text:
        head, _, rest = text.partition(marker)
        nxt = rest.find("\n## ")
        text = head + "\n".join(lines) + (rest[nxt:] if nxt >= 0 else "\n")
    else:
        text = text.rstrip() + "\n\n" + "\n".join(lines)
    results_md.write_text(text)
    return 0 if out["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
