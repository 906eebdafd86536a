"""Device facts: moved to :mod:`edgelnn.probe` (standard library only, shared with the bench's
environment fingerprint so that ``edgelnn.bench`` does not import ``edgelnn.targets``)."""
from ..probe import (ARM_PARTS, BEGIN, END, MIN_PYTHON, RUNTIMES, _read, cpu_model,  # noqa: F401
                     dist_version, emit, facts, free_mb, main, memory_mb, os_name, runtime_facts)
