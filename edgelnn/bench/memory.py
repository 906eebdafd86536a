"""Peak RSS of a fresh process: runtime imported (baseline), then model loaded + workload run.

VmHWM only grows, so one fresh process gives both figures: read after the imports, then
after loading the artifact and replaying the golden workload.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import EdgeLNNError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]     # folder that holds edgelnn/


@dataclass
class MemoryResult:
    baseline_rss_mb: float     # runtime imported, bundle metadata read, no model
    peak_rss_mb: float         # + model loaded and workload run
    model_rss_mb: float        # the difference
    source: str                # "VmHWM" or "ru_maxrss"


def peak_rss_mb() -> tuple[float, str]:
    """This process's peak resident set size in MiB (VmHWM; ru_maxrss where /proc is absent)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0, "VmHWM"
    except OSError:
        pass
    import resource     # Unix only, and only needed where /proc is absent

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (rss / 1024.0 / 1024.0 if sys.platform == "darwin" else rss / 1024.0), "ru_maxrss"


def measure_memory(bundle_path: str | Path, artifact: str, runtime: str, *, threads: int | None = 1,
                   providers: list | None = None, timeout: float = 600.0, accel: dict | None = None) -> MemoryResult:
    """Run :mod:`edgelnn.bench.memory_probe` in a fresh interpreter and parse its JSON line."""
    cmd = [sys.executable, "-m", "edgelnn.bench.memory_probe", "--bundle", str(bundle_path),
           "--artifact", artifact, "--runtime", runtime, "--threads", str(threads or 0)]
    if providers:
        cmd += ["--providers", json.dumps(providers)]
    if accel:
        cmd += ["--accel", json.dumps(accel)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgeLNNError(f"memory probe for {artifact} failed: {tail}")
    data = json.loads(lines[-1])
    return MemoryResult(**data)


def to_dict(result: MemoryResult) -> dict:
    return asdict(result)
