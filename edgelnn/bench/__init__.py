"""Benchmark an export bundle: golden check, latency, peak RAM, accuracy -> result rows.

Torch-free (numpy, edgelnn.runtime, edgelnn.metrics, stdlib): it runs on devices too.
"""
from .accuracy import AccuracyResult, ShiftScore, evaluate
from .env import fingerprint
from .golden import GoldenResult, golden_check
from .harness import bench_artifact, bench_bundle
from .latency import LatencyStats, measure_latency, time_calls
from .memory import MemoryResult, measure_memory, peak_rss_mb
from .rows import (ROW_FIELDS, SCHEMA, SCHEMA_VERSION, STATUSES, ResultRow, append_rows, check_row,
                   read_rows)
from .settings import BenchSettings

__all__ = ["AccuracyResult", "BenchSettings", "GoldenResult", "LatencyStats", "MemoryResult",
           "ROW_FIELDS", "ResultRow", "SCHEMA", "SCHEMA_VERSION", "STATUSES", "ShiftScore",
           "append_rows", "bench_artifact", "bench_bundle", "check_row", "evaluate",
           "fingerprint", "golden_check", "measure_latency", "measure_memory", "peak_rss_mb",
           "read_rows", "time_calls"]
