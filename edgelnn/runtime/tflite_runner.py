"""LiteRT backend (ai-edge-litert); tflite-runtime only as a checked fallback.

tflite-runtime 2.14 does not load under numpy 2 and miscomputes per-channel dynamic-int8
files, which is why every bench run gates an artifact on its golden check first.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BundleError
from .base import Runner, natural_key


def _ordered(sig: dict, details: list[dict], wanted: list[str], what: str, name: str) -> list[int]:
    """Tensor indices in canonical order: by manifest name (signature name or tensor name),
    else by signature order (args_0, args_1, ...), else by the interpreter's detail order."""
    if sig:
        if wanted and all(w in sig for w in wanted) and len(wanted) == len(sig):
            return [int(sig[w]["index"]) for w in wanted]
        by_tensor = {d["name"]: d for d in details}
        if wanted and len(wanted) == len(sig):
            found = [_tensor_named(by_tensor, w) for w in wanted]
            if all(f is not None for f in found):
                return [int(f["index"]) for f in found]
        if wanted and len(wanted) != len(sig):
            raise BundleError(f"artifact {name}: manifest lists {len(wanted)} {what} "
                              f"but the file has {len(sig)}")
        return [int(sig[k]["index"]) for k in sorted(sig, key=natural_key)]
    by_tensor = {d["name"]: d for d in details}
    found = [_tensor_named(by_tensor, w) for w in wanted]
    if wanted and len(wanted) == len(details) and all(f is not None for f in found):
        return [int(f["index"]) for f in found]
    return [int(d["index"]) for d in details]


def _tensor_named(by_tensor: dict, want: str):
    for key in (want, f"serving_default_{want}:0", f"serving_default_{want}"):
        if key in by_tensor:
            return by_tensor[key]
    return None


# A batched file whose largest tensor exceeds this is not used for chunks of streams (a smaller
# file is, several calls): LTC-64's per-synapse tensors are 16 KiB per stream, 4 MiB at batch 256,
# which ran 178 us per stream-step against 16.4 through the 16-stream file (this host, 2 MiB L2).
CHUNK_TENSOR_BYTES = 1 << 20


class TFLiteRunner(Runner):
    format = "tflite"

    def __init__(self, path, artifact: dict, state_sizes: list[int], *, interpreter_cls,
                 runtime: str, runtime_version: str, threads: int | None = 1, accel: dict | None = None,
                 resolvers=None):
        from .accel import litert_readback, litert_settings

        self.runtime = runtime
        self.runtime_version = runtime_version
        name = Path(path).name
        asked = (accel or {}).get("litert") or {}
        kwargs, fallback = litert_settings(asked, threads)
        threads = kwargs["num_threads"]
        extra = {}
        if "resolver" in kwargs:
            if resolvers is None:
                fallback.append(f"xnnpack: {runtime} cannot turn its default delegate off; it stayed on")
            else:
                extra["experimental_op_resolver_type"] = getattr(resolvers, kwargs["resolver"])
        try:
            it = interpreter_cls(model_path=str(path), num_threads=threads or None, **extra)
            it.allocate_tensors()
        except Exception as exc:  # noqa: BLE001 - interpreter raises ValueError/RuntimeError
            raise BundleError(f"{runtime} cannot load {name}: "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        self._it = it
        sig_in, sig_out = {}, {}
        signatures = it.get_signature_list() if hasattr(it, "get_signature_list") else {}
        if len(signatures) == 1:
            runner = it.get_signature_runner()
            sig_in, sig_out = runner.get_input_details(), runner.get_output_details()
        io = artifact.get("io") or {}
        self._in_idx = _ordered(sig_in, it.get_input_details(), io.get("inputs", []), "inputs", name)
        self._out_idx = _ordered(sig_out, it.get_output_details(), io.get("outputs", []),
                                 "outputs", name)
        if len(self._in_idx) != 2 + len(state_sizes):
            raise BundleError(f"artifact {name}: expected {2 + len(state_sizes)} inputs "
                              f"(x, dt, {len(state_sizes)} states), found {len(self._in_idx)}")
        details = {d["index"]: d for d in it.get_input_details() + it.get_output_details()}
        for idx in self._in_idx + self._out_idx:
            if np.dtype(details[idx]["dtype"]) != np.float32:
                raise BundleError(f"artifact {name}: tensor {details[idx]['name']} is "
                                  f"{np.dtype(details[idx]['dtype'])}; edgelnn artifacts take float32")
        x_shape = [int(v) for v in details[self._in_idx[0]]["shape"]]
        y_shape = [int(v) for v in details[self._out_idx[0]]["shape"]]
        for idx, size in zip(self._in_idx[2:], state_sizes):
            if int(details[idx]["shape"][-1]) != int(size):
                raise BundleError(f"artifact {name}: state input {details[idx]['name']} has size "
                                  f"{int(details[idx]['shape'][-1])}, manifest says {size}")
        fixed_time = x_shape[1] if len(x_shape) == 3 else None
        super().__init__(path, artifact, state_sizes, threads=threads, input_size=x_shape[-1],
                         output_size=y_shape[-1], fixed_time=fixed_time)
        self.providers_used = ["CPU"]
        self.accel = litert_readback(it, asked, threads, fallback) if asked else None
        # resizing a batch-1 LiteRT graph is not safe (measured: an LSTM step computes wrong rows,
        # an LTC step fails to prepare): batches go through the files exported per batch size
        self._open_args = dict(interpreter_cls=interpreter_cls, runtime=runtime, runtime_version=runtime_version,
                               threads=threads, accel=accel, resolvers=resolvers)
        self._batch_files = {int(f["batch"]): f for f in artifact.get("batch_files") or []}
        self._batched: dict[int, "TFLiteRunner"] = {}
        self._chunks: list[int] | None = None
        self.fixed_batch = x_shape[0] if self.graph == "step" else 1
        if self.fixed_batch > 1:
            self.batch_mode, self.batch_note = "batched", f"a file for {self.fixed_batch} streams"
        elif self._batch_files:
            self.batch_mode = "batched"
            self.batch_note = f"files for {', '.join(map(str, sorted(self._batch_files)))} streams (padded up)"
        else:
            self.batch_note = "no batched LiteRT files in the bundle (exported at batch 1 only)"
        self._direct = self._probe_direct()

    def _probe_direct(self) -> bool:
        """Use the interpreter's binding directly (SetTensor/Invoke/GetTensor), its methods bound
        once: the Python wrapper's per-call safety check guards ``tensor()`` views, which this
        runner never holds, and each pybind11 attribute lookup costs about a tenth of a small
        model's call. Holding the bound methods makes the wrapper's own ``invoke()`` refuse to
        run, so this runner's interpreter is for this runner only. A binding without that shape
        falls back to the public API."""
        ip = getattr(self._it, "_interpreter", None)
        if ip is None or not all(hasattr(ip, m) for m in ("SetTensor", "Invoke", "GetTensor")):
            return False
        try:
            ip.GetTensor(self._out_idx[0], 0)
        except TypeError:
            return False
        self._set, self._run, self._get = ip.SetTensor, ip.Invoke, ip.GetTensor
        self._x_idx, self._dt_idx, self._y_idx = self._in_idx[0], self._in_idx[1], self._out_idx[0]
        self._state_io = list(zip(self._in_idx[2:], self._out_idx[1:]))
        return True

    def _step_call(self, x: np.ndarray) -> np.ndarray:
        """Runner.step's call without the generic feed list: +21% -> +13% over the raw LiteRT call."""
        if not self._direct:
            return super()._step_call(x)
        set_, get = self._set, self._get
        set_(self._x_idx, x)
        set_(self._dt_idx, self._dt_buf)
        for (idx, _), s in zip(self._state_io, self._state):
            set_(idx, s)
        self._run()
        self._state = [get(idx, 0) for _, idx in self._state_io]
        return get(self._y_idx, 0)

    def invoke(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        if self._direct:
            set_, get = self._set, self._get
            for idx, value in zip(self._in_idx, feeds):
                set_(idx, value)
            self._run()
            return [get(idx, 0) for idx in self._out_idx]
        it = self._it
        for idx, value in zip(self._in_idx, feeds):
            it.set_tensor(idx, value)
        it.invoke()
        return [it.get_tensor(idx) for idx in self._out_idx]

    def chunk_sizes(self) -> list[int]:
        """The batch sizes used for chunks: the smallest file, and each larger one whose largest
        tensor stays within CHUNK_TENSOR_BYTES."""
        if self._chunks is None:
            sizes = sorted(self._batch_files)
            self._chunks = [b for b in sizes if b == sizes[0] or self._sized(b).largest_tensor_bytes()
                            <= CHUNK_TENSOR_BYTES]
        return self._chunks

    def largest_tensor_bytes(self) -> int:
        """Bytes of the interpreter's largest tensor (weights or activations)."""
        sizes = [int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
                 for t in self._it.get_tensor_details() if len(t["shape"])]
        return max(sizes, default=0)

    def _sized(self, b: int) -> "TFLiteRunner":
        """The runner of the bundle's file for b streams (its sha256 checked first)."""
        if b not in self._batched:
            from .integrity import verify_sha256

            f = self._batch_files[b]
            path = self.path.parent / Path(f["file"]).name
            if not path.is_file():
                raise BundleError(f"artifact {self.name}: batched file {path.name} is missing")
            if f.get("sha256"):
                verify_sha256(path, f["sha256"])
            self._batched[b] = TFLiteRunner(path, {**self.artifact, "file": path.name, "batch_files": []},
                                            self.state_sizes, **self._open_args)
        return self._batched[b]

    def invoke_batch(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """B streams through the batched files: chunks of the largest size, the rest padded up to
        the smallest size that holds it (pad rows: zeros, dt 1; their outputs dropped); one or two
        leftover streams go one call each."""
        n = len(feeds[0])
        if self.fixed_batch > 1 and n == self.fixed_batch:
            return self.invoke(feeds)
        if not self._batch_files or n <= 2:
            return super().invoke_batch(feeds)
        sizes = self.chunk_sizes()
        parts, i = [], 0
        while i < n:
            rem = n - i
            if rem <= 2:
                parts.append(super().invoke_batch([f[i:] for f in feeds]))
                break
            b = next((s for s in sizes if s >= rem), sizes[-1])
            k = min(rem, b)
            chunk = [f[i:i + k] for f in feeds]
            if k < b:
                chunk = [np.concatenate([c, np.full((b - k, c.shape[1]), 1.0 if j == 1 else 0.0, np.float32)])
                         for j, c in enumerate(chunk)]
            out = self._sized(b).invoke([np.ascontiguousarray(c, np.float32) for c in chunk])
            parts.append([np.asarray(o, np.float32)[:k] for o in out])
            i += k
        if len(parts) == 1:         # one call (n streams = a file's size): its outputs as they are
            return parts[0]
        return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]

    def close(self) -> None:
        for r in self._batched.values():
            r.close()
        self._batched = {}
        self._it = self._set = self._run = self._get = None
