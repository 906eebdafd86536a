"""ONNX format: conversion (torch.onnx), quantization (onnxruntime) and file inspection."""
from .convert import EXPORTERS, GRAPHS, convert
from .quantize import SCHEMES, available, quantize

__all__ = ["EXPORTERS", "GRAPHS", "SCHEMES", "available", "convert", "quantize"]
