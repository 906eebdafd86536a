"""On-device entry point: ``python -m edgelnn.bench.device_main --bundle DIR --out rows.jsonl``.

What the remote runner calls over SSH. Torch-free; prints one JSON summary line on stdout
and exits 0 (rows written, whatever their status) or 1 (one ``error: ...`` line on stderr).
"""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import EdgeLNNError
from .harness import bench_bundle
from .rows import append_rows
from .settings import BenchSettings


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m edgelnn.bench.device_main", description=__doc__)
    p.add_argument("--bundle", required=True)
    p.add_argument("--out", required=True, help="JSON lines file; rows are appended")
    p.add_argument("--artifact", action="append", default=None)
    p.add_argument("--runtime", action="append", default=None)
    p.add_argument("--target", default="host")
    p.add_argument("--device", default=None, help="device description for measured_on")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--providers", default=None, help="JSON list of execution providers")
    p.add_argument("--warmup", type=int, default=BenchSettings.warmup)
    p.add_argument("--min-runs", type=int, default=BenchSettings.min_runs)
    p.add_argument("--min-seconds", type=float, default=BenchSettings.min_seconds)
    p.add_argument("--seq-chunk", type=int, default=None)
    p.add_argument("--cpus", default=None, help="pin timing to these cores, e.g. 2,3")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="score only the first N sequences per eval split")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-accuracy", action="store_true")
    p.add_argument("--not-on-target", action="store_true",
                   help="measured somewhere other than the target device")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse(argv)
    try:
        settings = BenchSettings(warmup=a.warmup, min_runs=a.min_runs, min_seconds=a.min_seconds,
                                 seq_chunk=a.seq_chunk, memory=not a.no_memory,
                                 accuracy=not a.no_accuracy, max_eval_sequences=a.eval_limit,
                                 cpu_affinity=[int(c) for c in a.cpus.split(",")] if a.cpus else None)
        rows = bench_bundle(a.bundle, artifacts=a.artifact, target=a.target,
                            threads=a.threads or None,
                            providers=json.loads(a.providers) if a.providers else None,
                            runtimes=a.runtime, settings=settings, on_target=not a.not_on_target,
                            device=a.device,
                            progress=lambda msg: print(msg, file=sys.stderr, flush=True))
        append_rows(a.out, rows)
    except (EdgeLNNError, ValueError, OSError) as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr)
        return 1
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    print(json.dumps({"rows": len(rows), "out": a.out, "status": counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
