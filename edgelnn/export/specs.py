"""What gets exported: tensor names, shapes (dynamic axes as names) and dtypes per graph.

The Optimum-style "config": conversion (``onnx/convert.py``, ``tflite``) follows it and every
exported file is checked against it (``onnx/inspect.py: check_io``).
"""
from __future__ import annotations

from .graphs import io_names

BATCH, TIME = "batch", "time"


def tensor_specs(model, graph: str, *, dynamic: bool = True, chunk: int | None = None) -> dict:
    """{"inputs": [{name, shape, dtype}], "outputs": [...], "state": [...]} for one graph.

    step: a batch of streams ("batch" dynamic, one row per stream, each with its own dt) when
    ``dynamic``, else batch 1. seq: ("batch", "time") dynamic when ``dynamic``, else (1, chunk).
    """
    ins, outs = io_names(model)
    c, o = model.input_size, model.output_size
    sizes = [size for _, size in model.state_spec]
    if graph == "step":
        b = BATCH if dynamic else 1
        in_shapes = [[b, c], [b, 1], *[[b, h] for h in sizes]]
        out_shapes = [[b, o], *[[b, h] for h in sizes]]
    elif graph == "seq":
        b, t = (BATCH, TIME) if dynamic else (1, int(chunk))
        in_shapes = [[b, t, c], [b, t], *[[b, h] for h in sizes]]
        out_shapes = [[b, t, o], *[[b, h] for h in sizes]]
    else:
        raise ValueError(f"unknown graph {graph!r}; use step or seq")
    spec = lambda names, shapes: [{"name": n, "shape": s, "dtype": "float32"}  # noqa: E731
                                  for n, s in zip(names, shapes)]
    state = [{"name": n, "size": h, "input": n, "output": f"{n}_out"}
             for (n, h) in model.state_spec]
    return {"inputs": spec(ins, in_shapes), "outputs": spec(outs, out_shapes), "state": state}
