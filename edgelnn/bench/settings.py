"""How a bench run measures: the settings printed beside every number they shaped."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..errors import InputError


# Upper bounds of what one bench run may be asked to do (shown in `edgelnn bench --help`): beyond
# them a run would not end in any useful time, so the request is refused before any work.
MAX_WARMUP = 1_000_000
MAX_RUNS = 10_000_000
MAX_SECONDS = 3600.0
MAX_CHUNK = 1_000_000
MAX_EVAL = 10_000_000


@dataclass
class BenchSettings:
    """Defaults follow onnxruntime_perf_test / MLPerf: warm-up, then a minimum count *and*
    a minimum duration. ``seq_chunk`` is the window timed for dynamic-length sequence graphs
    (None: the golden sequence length); fixed-chunk graphs always use their chunk."""
    warmup: int = 50
    min_runs: int = 500
    min_seconds: float = 1.0
    seq_chunk: int | None = None
    run_chunk: int = 32                      # samples per timed native run call (c artifacts)
    cpu_affinity: list[int] | None = None    # optional core pinning during timing
    latency: bool = True
    memory: bool = True
    accuracy: bool = True
    shifts: bool = True
    max_eval_sequences: int | None = None   # cap per eval split (None: all)
    eval_file: str | None = None             # an eval.npz of the user's data (bench --eval-data) instead of the bundle's
    streams: tuple[int, ...] | None = None  # stream counts for throughput vs streams (bench --streams)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        checks = [("warmup", self.warmup, 0, MAX_WARMUP), ("min_runs", self.min_runs, 1, MAX_RUNS),
                  ("run_chunk", self.run_chunk, 1, MAX_CHUNK)]
        checks += [("seq_chunk", self.seq_chunk, 1, MAX_CHUNK)] if self.seq_chunk is not None else []
        checks += [("max_eval_sequences", self.max_eval_sequences, 1, MAX_EVAL)] \
            if self.max_eval_sequences is not None else []
        for name, value, least, most in checks:
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
                raise InputError(f"bench setting {name} must be an integer in {least}..{most}, got {value!r}")
        if not (isinstance(self.min_seconds, (int, float)) and not isinstance(self.min_seconds, bool)
                and math.isfinite(self.min_seconds) and 0 <= self.min_seconds <= MAX_SECONDS):
            raise InputError(f"bench setting min_seconds must be a finite number in 0..{MAX_SECONDS:g}, "
                             f"got {self.min_seconds!r}")
        for cpu in self.cpu_affinity or []:
            if isinstance(cpu, bool) or not isinstance(cpu, int) or cpu < 0:
                raise InputError(f"bench setting cpu_affinity lists {cpu!r}; cores are integers >= 0")

    def to_dict(self) -> dict:
        return asdict(self)
