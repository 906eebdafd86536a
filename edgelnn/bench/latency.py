"""Single-stream latency: warm-up, then >= min_runs *and* >= min_seconds; only invoke() timed.

Inputs are prepared outside the timer (as MLPerf LoadGen does); the recurrent state is
carried from call to call, also outside the timer.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from ..runtime import Golden, Runner
from .settings import BenchSettings


@dataclass
class LatencyStats:
    """Microseconds per call (per step for step graphs, per chunk for sequence graphs)."""
    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    min: float
    max: float
    n: int
    warmup: int
    min_runs: int
    min_seconds: float

    @classmethod
    def from_ns(cls, samples_ns, settings: BenchSettings) -> "LatencyStats":
        us = np.asarray(samples_ns, dtype=np.float64) / 1e3
        p50, p90, p99 = np.percentile(us, [50, 90, 99])
        return cls(float(p50), float(p90), float(p99), float(us.mean()), float(us.std()),
                   float(us.min()), float(us.max()), int(us.size), settings.warmup,
                   settings.min_runs, settings.min_seconds)

    def to_dict(self) -> dict:
        return asdict(self)


def pinned_cpus(cpus: list[int] | None) -> list[int] | None:
    """The cores timing is pinned to, or None when pinning is off or unsupported here."""
    return sorted(cpus) if cpus and hasattr(os, "sched_setaffinity") else None


@contextmanager
def pinned(cpus: list[int] | None):
    """Pin this process to ``cpus`` for the duration (Linux); no-op when None/unsupported."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus))
    try:
        yield sorted(cpus)
    finally:
        os.sched_setaffinity(0, before)


def time_calls(call, feeds: list[list[np.ndarray]], settings: BenchSettings,
               carry=None) -> list[int]:
    """perf_counter_ns around ``call(feeds[i])`` only; ``carry(feeds_next, out)`` runs untimed."""
    clock = time.perf_counter_ns
    n_feeds = len(feeds)
    for i in range(settings.warmup):
        out = call(feeds[i % n_feeds])
        if carry:
            carry(feeds[(i + 1) % n_feeds], out)
    samples: list[int] = []
    deadline = clock() + int(settings.min_seconds * 1e9)
    i = 0
    while len(samples) < settings.min_runs or clock() < deadline:
        f = feeds[i % n_feeds]
        t0 = clock()
        out = call(f)
        t1 = clock()
        samples.append(t1 - t0)
        if carry:
            carry(feeds[(i + 1) % n_feeds], out)
        i += 1
    return samples


def _carry_state(next_feeds: list[np.ndarray], out: list[np.ndarray]) -> None:
    # keep the very arrays a runtime returned when already (1, H) float32: a runtime that
    # keeps its state in place (c) then sees its own buffers and copies nothing
    next_feeds[2:] = [s if (s.__class__ is np.ndarray and s.dtype == np.float32 and s.ndim == 2
                            and s.shape[0] == 1) else np.asarray(s, dtype=np.float32).reshape(1, -1)
                      for s in out[1:]]


def step_feeds(runner: Runner, golden: Golden) -> list[list[np.ndarray]]:
    """One feed list per step of the golden sequence (x, dt, the zero state), for
    ``runner.invoke``; ``_carry_state`` hands the state on from call to call."""
    runner.reset()
    state = runner.state
    length = int(golden.lengths[0])
    x, dt = golden.x[0, :length], golden.dt[0, :length]
    return [[x[t:t + 1].copy(), dt[t:t + 1].reshape(1, 1).copy(), *[s.copy() for s in state]]
            for t in range(length)]


def run_inputs(runner: Runner, golden: Golden, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, dt, out) for ``runner.invoke_run`` over ``chunk`` samples: the golden sequence
    repeated, float32 and C-contiguous, and the output buffer."""
    length = int(golden.lengths[0])
    reps = -(-chunk // length)
    xs = np.ascontiguousarray(np.tile(golden.x[0, :length], (reps, 1))[:chunk], dtype=np.float32)
    dts = np.ascontiguousarray(np.tile(golden.dt[0, :length], reps)[:chunk], dtype=np.float32)
    return xs, dts, np.empty((chunk, runner.output_size), dtype=np.float32)


def measure_latency(runner: Runner, golden: Golden, settings: BenchSettings
                    ) -> tuple[LatencyStats, int | None]:
    """Latency of the artifact's natural call; returns (stats, chunk or None for step graphs)."""
    if runner.graph == "step":
        feeds = step_feeds(runner, golden)
        chunk = None
    else:
        runner.reset()
        state = runner.state
        length = int(golden.lengths[0])
        x, dt = golden.x[0, :length], golden.dt[0, :length]
        chunk = runner.chunk or settings.seq_chunk or length
        reps = -(-chunk // length)
        xs, dts = np.tile(x, (reps, 1))[:chunk], np.tile(dt, reps)[:chunk]
        feeds = [[xs[None].copy(), dts[None].copy(), *[s.copy() for s in state]]]
    with pinned(settings.cpu_affinity):
        samples = time_calls(runner.invoke, feeds, settings, carry=_carry_state)
    runner.reset()
    return LatencyStats.from_ns(samples, settings), chunk


def measure_run_latency(runner: Runner, golden: Golden, settings: BenchSettings
                        ) -> tuple[LatencyStats, int] | None:
    """A step artifact whose runtime runs a whole chunk in one call (``runner.invoke_run``,
    the c runtime's ``<prefix>_run``): time that call over ``settings.run_chunk`` samples
    (the golden sequence repeated), state carried. None when the runtime has no such call."""
    invoke_run = getattr(runner, "invoke_run", None)
    if invoke_run is None or runner.graph != "step":
        return None
    chunk = max(1, int(settings.run_chunk))
    xs, dts, out = run_inputs(runner, golden, chunk)
    runner.reset()
    with pinned(settings.cpu_affinity):
        samples = time_calls(lambda f: invoke_run(*f), [[xs, dts, out]], settings)
    runner.reset()
    return LatencyStats.from_ns(samples, settings), chunk
