"""Torch-free inference for export bundles: what runs on a Raspberry Pi or a Jetson.

Only numpy and a runtime (onnxruntime, ai-edge-litert; tflite-runtime as a fallback).
"""
from .base import Runner
from .bundle import Bundle, EvalSplit, Evaluation, Golden, load_bundle
from .integrity import sha256_file, verify_sha256
from .runners import (DEFAULT_RUNTIMES, RUNTIMES, RuntimeSpec, available_runtimes, open_runner,
                      resolve_runtime, runtimes_for)
from .streams import StreamOutputs, Streams

__all__ = ["Bundle", "DEFAULT_RUNTIMES", "EvalSplit", "Evaluation", "Golden", "RUNTIMES", "Runner",
           "RuntimeSpec", "StreamOutputs", "Streams", "available_runtimes", "load_bundle", "open_runner", "resolve_runtime",
           "runtimes_for", "sha256_file", "verify_sha256"]
