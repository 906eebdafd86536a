"""How a bench run measures: the settings printed beside every number they shaped."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.warmup < 0 or self.min_runs < 1 or self.min_seconds < 0:
            raise ValueError("bench settings need warmup >= 0, min_runs >= 1, min_seconds >= 0")

    def to_dict(self) -> dict:
        return asdict(self)
