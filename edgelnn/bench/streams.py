"""Many streams at once: throughput (stream-steps per second) and latency per batch of B streams.

At each stream count B the artifact is golden-checked first through the very call timed
(``Runner.invoke_batch``: B streams, each replaying a golden sequence from the zero state); only
then is the batched call timed, state carried from call to call outside the timer.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..runtime import Golden, Runner
from .latency import LatencyStats, pinned, time_calls
from .settings import BenchSettings

DEFAULT_STREAMS = (1, 16, 256, 4096)


@dataclass
class StreamsResult:
    streams: int
    batch_mode: str                 # "batched" (one runtime call) or "one stream per call"
    golden_ok: bool
    golden_max_abs: float
    latency_us: dict | None = None  # per batch call
    stream_steps_per_s: float | None = None
    per_stream_step_us: float | None = None
    state_bytes: int | None = None  # all B streams' state
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def parse_streams(text: str | None) -> tuple[int, ...] | None:
    from ..errors import InputError

    if text is None:
        return None
    try:
        counts = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise InputError(f"--streams takes stream counts like 1,16,256,4096, got {text!r}") from None
    if not counts or any(c < 1 or c > 1_000_000 for c in counts):
        raise InputError(f"--streams takes stream counts from 1 to 1000000, got {text!r}")
    return tuple(dict.fromkeys(counts))


def golden_streams(runner: Runner, golden: Golden, n: int) -> float:
    """Max abs error over n streams stepped together, stream i replaying golden sequence i % G."""
    g = len(golden.lengths)
    pick = np.arange(n) % g
    lengths = golden.lengths[pick]
    x = golden.x[pick].astype(np.float32)
    dt = np.where(np.arange(x.shape[1])[None, :] < lengths[:, None], golden.dt[pick], 1.0).astype(np.float32)
    states = [np.zeros((n, s), np.float32) for s in runner.state_sizes]
    worst = 0.0
    for t in range(int(lengths.max())):
        out = runner.invoke_batch([np.ascontiguousarray(x[:, t]), dt[:, t:t + 1].copy(), *states])
        states = [np.asarray(s, np.float32).reshape(n, -1) for s in out[1:]]
        live = t < lengths
        err = np.abs(np.asarray(out[0], np.float32).reshape(n, -1)[live] - golden.y[pick[live], t])
        worst = max(worst, float(err.max()) if err.size else 0.0)
    return worst


def measure_streams(runner: Runner, golden: Golden, n: int, tolerance: float,
                    settings: BenchSettings) -> StreamsResult:
    state_bytes = 4 * n * sum(runner.state_sizes)
    err = golden_streams(runner, golden, n)
    if not err <= tolerance:
        return StreamsResult(n, runner.batch_mode, False, err, state_bytes=state_bytes,
                             error=f"golden check at {n} streams: max abs {err:.3g} > {tolerance:.3g}")
    length = int(golden.lengths[0])
    steps = min(length, 16)
    feeds = [[np.ascontiguousarray(np.resize(golden.x[0, t], (n, runner.input_size)), dtype=np.float32),
              np.full((n, 1), float(golden.dt[0, t]), np.float32),
              *[np.zeros((n, s), np.float32) for s in runner.state_sizes]] for t in range(steps)]

    def carry(nxt, out):
        nxt[2:] = [np.asarray(s, np.float32).reshape(n, -1) for s in out[1:]]

    runs = BenchSettings(warmup=min(settings.warmup, max(2, settings.warmup // n)),
                         min_runs=max(10, settings.min_runs // n), min_seconds=settings.min_seconds,
                         cpu_affinity=settings.cpu_affinity)
    with pinned(settings.cpu_affinity):
        samples = time_calls(runner.invoke_batch, feeds, runs, carry=carry)
    stats = LatencyStats.from_ns(samples, runs)
    return StreamsResult(n, runner.batch_mode, True, err, stats.to_dict(),
                         n / (stats.p50 * 1e-6), stats.p50 / n, state_bytes)
