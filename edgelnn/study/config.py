"""What a study runs: dataset, models, seeds, training, export and bench settings."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from ..errors import InputError  # a ValueError that the CLI shows as one line

# Short bench settings: enough runs for a stable p50 on a shared 2-core machine, seconds per
# artifact instead of minutes. BenchSettings defaults (500 runs, 1 s) are for real benchmarks.
QUICK_BENCH = {"warmup": 10, "min_runs": 100, "min_seconds": 0.1}
# The default study also caps the scored test sequences (accuracy through a step graph is one
# runtime call per sample, for the clean split and 9 shifted ones): 500 keeps it in budget.
DEFAULT_BENCH = {**QUICK_BENCH, "max_eval_sequences": 500}


@dataclass(frozen=True)
class StudyConfig:
    dataset: str = "italypowerdemand"
    models: tuple[str, ...] = ("cfc", "cfc-ncp", "ltc", "lstm", "gru")
    seeds: int = 3
    epochs: int = 30
    units: int = 16
    param_budget: int | None = None
    batch_size: int = 16
    lr: float = 0.01
    patience: int = 10
    formats: tuple[str, ...] = ("onnx", "tflite")  # LiteRT is the fastest runtime here; 7.7 min in all
    graphs: tuple[str, ...] = ("step", "seq")
    schemes: tuple[str, ...] = ("fp32", "int8-dynamic", "int8-static")
    target: str = "host"
    budget: float = 1.0
    torch_threads: int = 1  # tiny recurrent models: more threads only add contention (30x slower seen)
    bench: dict = field(default_factory=lambda: dict(DEFAULT_BENCH))
    out: str = "export/study"

    def __post_init__(self):
        for name in ("models", "formats", "graphs", "schemes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.models:
            raise InputError("a study needs at least one model (--models)")
        if self.seeds < 1 or self.epochs < 1:
            raise InputError("--seeds and --epochs must be >= 1")
        if self.param_budget is not None and self.param_budget < 10:
            raise InputError(f"--param-budget must be a parameter count >= 10, got {self.param_budget}")

    def replace(self, **changes) -> "StudyConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_config() -> StudyConfig:
    """The default study: finishes in <= 10 minutes on a 2-core machine (see README)."""
    return StudyConfig()


def fingerprint(*parts) -> str:
    """Stable short hash of JSON-able parts: a step is redone when its inputs change."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
