"""Read facts back from a written .tflite file: signature I/O and what its tensors hold.

What a file *is* (float, fp16 weights, int8 weights, int8/int16 activations) is decided
here from the file itself, never from the scheme that was asked for.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SIGNATURE = "serving_default"


class TFLiteExportError(RuntimeError):
    """A tool could not convert or quantize a graph, or the file it wrote is not what was asked."""

_TYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool",
               7: "int16", 9: "int8", 10: "float64", 17: "int4", 18: "bfloat16"}
_BITS = {"float32": 32, "float16": 16, "int32": 32, "uint8": 8, "int64": 64, "bool": 8,
         "int16": 16, "int8": 8, "float64": 64, "int4": 4, "bfloat16": 16}


def read_io(path) -> dict:
    """{"inputs": {name: (shape, dtype)}, "outputs": {...}} of the serving signature."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner(SIGNATURE)
    return {kind: {name: (tuple(int(d) for d in det["shape"]), np.dtype(det["dtype"]).name)
                   for name, det in details.items()}
            for kind, details in (("inputs", runner.get_input_details()),
                                  ("outputs", runner.get_output_details()))}


@dataclass
class Census:
    """Element counts of constant (weight) tensors and of computed tensors, by dtype."""

    weights: Counter = field(default_factory=Counter)      # dtype -> elements
    activations: Counter = field(default_factory=Counter)  # dtype -> tensors
    ops: Counter = field(default_factory=Counter)          # builtin op name -> count

    def weight_fraction(self, *dtypes: str) -> float:
        """Share of float-or-quantized weight elements stored as one of ``dtypes``.

        int32 constants (biases of quantized ops, shapes, indices) are left out of both
        sides, so a fully int8 model scores 1.0 and an untouched float model 0.0.
        """
        candidates = {"float32", "float16", "bfloat16", "int8", "int4", "int16", "uint8"}
        total = sum(n for t, n in self.weights.items() if t in candidates)
        return sum(self.weights[t] for t in dtypes) / total if total else 0.0

    def summary(self) -> str:
        w = ", ".join(f"{t} {n}" for t, n in self.weights.most_common())
        a = ", ".join(f"{t} {n}" for t, n in self.activations.most_common())
        return f"weights (elements): {w or 'none'}; activations (tensors): {a or 'none'}"


def census(path) -> Census:
    """Count what the file stores, from its flatbuffer (constants have buffer data)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(Path(path)))
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    result = Census()
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            dtype = _TYPE_NAMES.get(tensor.type, f"type{tensor.type}")
            buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
            has_data = buffer is not None and (
                (buffer.data is not None and len(buffer.data) > 0) or (buffer.size or 0) > 0)
            if has_data:
                shape = tensor.shape if tensor.shape is not None else []
                result.weights[dtype] += int(np.prod(shape)) if len(shape) else 1
            else:
                result.activations[dtype] += 1
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            result.ops[op_names.get(builtin, str(builtin))] += 1
    return result
