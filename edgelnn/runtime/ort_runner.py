"""onnxruntime backend: threads and execution providers come from the target profile."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BundleError
from .base import Runner, finite_dim


def _resolve(wanted: list[str], present: list[str], what: str, name: str) -> list[str]:
    """Bind by the manifest's names; fall back to the file's order when names differ."""
    if wanted and all(w in present for w in wanted) and len(wanted) == len(present):
        return list(wanted)
    if wanted and len(wanted) != len(present):
        raise BundleError(f"artifact {name}: manifest lists {len(wanted)} {what} "
                          f"but the file has {len(present)} ({', '.join(present)})")
    return list(present)


# Streams per session call at most: element-wise intermediates of a batch past this many bytes
# leave the cache (LTC-64 writes 0.8 MB of them per stream-step: 84 us per stream-step at 16
# streams a call, 180 at 256; CfC-64 writes 3 kB and gains up to 256 and beyond).
CHUNK_BYTES = 8 << 20


def batch_chunk(artifact: dict) -> int | None:
    """Most streams per call from the artifact's ``footprint.elementwise_per_step`` (None: no limit)."""
    ew = (artifact.get("footprint") or {}).get("elementwise_per_step")
    return max(1, CHUNK_BYTES // (4 * int(ew))) if ew else None


class OrtRunner(Runner):
    format = "onnx"
    runtime = "onnxruntime"

    def __init__(self, path, artifact: dict, state_sizes: list[int], *, ort, threads: int | None = 1,
                 providers=None, accel: dict | None = None):
        from .accel import ort_providers, ort_readback, trt_calibration_table

        self.runtime_version = ort.__version__
        asked = (accel or {}).get("onnxruntime") or {}
        # TensorRT int8 on a float graph needs a calibration table (int8 QDQ graphs carry their
        # scales); made from the bundle's calibration data, only where TensorRT is present
        table_notes: list[str] = []

        def table(folder):
            try:
                return trt_calibration_table(Path(path), Path(path).parent / "calibration.npz", folder)
            except Exception as exc:  # noqa: BLE001 - e.g. the onnx package missing on the device
                table_notes.append(f"TensorrtExecutionProvider.int8: no calibration table ({type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''})")
                return None

        trt_here = "TensorrtExecutionProvider" in ort.get_available_providers()
        qdq = b"QuantizeLinear" in Path(path).read_bytes()
        providers, cpu_threads = ort_providers(providers, asked,
                                               calibration_table=table if trt_here and not qdq else None)
        threads = cpu_threads or threads
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or 0)     # 0 = onnxruntime's default
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Without listed extra files the model is loaded from its bytes: a file next to it that the
        # graph names as external data (not in the manifest, so never checked) cannot be read.
        source = str(path) if artifact.get("extra_files") else Path(path).read_bytes()
        try:
            self._session = ort.InferenceSession(source, options,
                                                 providers=list(providers or ["CPUExecutionProvider"]))
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if isinstance(source, bytes) and "external" in str(exc).lower() + text.lower():
                text = ("the graph reads external data files the manifest does not list with a sha256 "
                        f"(extra_files); refused ({text[:160]})")
            raise BundleError(f"onnxruntime cannot load {Path(path).name}: {text}") from None
        io = artifact.get("io") or {}
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        name = Path(path).name
        self._in_names = _resolve(io.get("inputs", []), [i.name for i in inputs], "inputs", name)
        self._out_names = _resolve(io.get("outputs", []), [o.name for o in outputs], "outputs", name)
        by_name = {i.name: i for i in inputs}
        out_by_name = {o.name: o for o in outputs}
        for t in [by_name[n] for n in self._in_names] + [out_by_name[n] for n in self._out_names]:
            if t.type != "tensor(float)":
                raise BundleError(f"artifact {name}: tensor {t.name} is {t.type}; "
                                  "edgelnn artifacts take and return float32")
        x_shape = by_name[self._in_names[0]].shape
        y_shape = out_by_name[self._out_names[0]].shape
        if len(self._in_names) != 2 + len(state_sizes):
            raise BundleError(f"artifact {name}: expected {2 + len(state_sizes)} inputs "
                              f"(x, dt, {len(state_sizes)} states), found {len(self._in_names)}")
        for n, size in zip(self._in_names[2:], state_sizes):
            found = finite_dim(by_name[n].shape[-1])
            if found is not None and found != int(size):
                raise BundleError(f"artifact {name}: state input {n} has size {found}, "
                                  f"manifest says {size}")
        fixed_time = finite_dim(x_shape[1]) if len(x_shape) == 3 else None
        super().__init__(path, artifact, state_sizes, threads=threads,
                         input_size=finite_dim(x_shape[-1]) or 0,
                         output_size=finite_dim(y_shape[-1]) or 0, fixed_time=fixed_time)
        self.providers_used = list(self._session.get_providers())
        self.accel = ort_readback(self._session, asked, cpu_threads) if asked else None
        if self.accel is not None:
            self.accel["fallback"] += table_notes
        self.batch_chunk = None
        if self.graph == "step":
            self.batch_mode, self.batch_note = _batch_mode(Path(path), x_shape)
            if self.batch_mode == "batched":
                self.batch_chunk = batch_chunk(artifact)
                if self.batch_chunk is not None and self.batch_chunk < 4096:
                    self.batch_note = (f"at most {self.batch_chunk} streams per call (element-wise "
                                       "intermediates kept within the cache)")
        # the session's C-level run: the Python wrapper re-validates names on every call, which
        # the runner already did once here (names, count, dtypes)
        inner = getattr(self._session, "_sess", None)
        self._run = inner.run if inner is not None and hasattr(inner, "run") else None

    def invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        if self._run is not None:
            return self._run(self._out_names, dict(zip(self._in_names, feeds)), None)
        return self._session.run(self._out_names, dict(zip(self._in_names, feeds)))

    def invoke_batch(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        if self.batch_mode != "batched":
            return super().invoke_batch(feeds)
        n, c = len(feeds[0]), self.batch_chunk
        if c is None or n <= c:
            return self.invoke(feeds)
        parts = [self.invoke([f[i:i + c] for f in feeds]) for i in range(0, n, c)]
        return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]

    def close(self) -> None:
        self._session = None
        self._run = None


def _batch_mode(path: Path, x_shape) -> tuple[str, str]:
    """("batched", "") when the step graph's batch axis is dynamic and its rows never meet; else
    one call per stream, with the reason. DynamicQuantizeLinear takes one input scale over the
    whole tensor, so in a batch each stream's result would depend on the others' values (the op
    name is stored as plain text in the protobuf: no onnx package needed to find it)."""
    if finite_dim(x_shape[0]) is not None:
        return "one stream per call", "the step graph has a fixed batch of 1"
    if b"DynamicQuantizeLinear" in path.read_bytes():
        return "one stream per call", ("dynamic int8 quantizes the whole batch with one input scale, "
                                       "so streams would change each other's results")
    return "batched", ""
