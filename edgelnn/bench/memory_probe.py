"""Child process of :func:`edgelnn.bench.memory.measure_memory`; prints one JSON line."""
from __future__ import annotations

import argparse
import importlib
import json


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bundle", required=True)
    p.add_argument("--artifact", required=True)
    p.add_argument("--runtime", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--providers", default=None)
    p.add_argument("--accel", default=None)
    a = p.parse_args(argv)

    from edgelnn.bench.memory import peak_rss_mb
    from edgelnn.runtime import RUNTIMES, load_bundle

    importlib.import_module(RUNTIMES[a.runtime].module)        # the runtime, no model
    bundle = load_bundle(a.bundle)
    golden = bundle.golden()
    baseline, source = peak_rss_mb()
    providers = json.loads(a.providers) if a.providers else None
    runner = bundle.open(a.artifact, runtime=a.runtime, threads=a.threads or None,
                         providers=providers, accel=json.loads(a.accel) if a.accel else None)
    runner.run_each(golden.x, golden.dt, golden.lengths)       # the workload: golden replay
    peak, _ = peak_rss_mb()
    print(json.dumps({"baseline_rss_mb": round(baseline, 3), "peak_rss_mb": round(peak, 3),
                      "model_rss_mb": round(peak - baseline, 3), "source": source}))


if __name__ == "__main__":
    main()
