"""Batched step files for formats whose step graph has a fixed batch (TFLite): one file per
stream count in ``BATCHES``, each checked against the artifact's own batch-1 file.

A LiteRT graph converted at batch 1 cannot be resized safely (measured: an LSTM step computes
wrong rows, an LTC step fails to prepare), so the step graph is converted again at each batch
size and quantized with the same scheme (static schemes: the same calibration steps, B per feed,
so the same ranges). A batched file enters the manifest entry (``batch_files`` and
``extra_files``) only when B streams of the parity reference stepped through it equal each stream
through the batch-1 artifact within ``BATCH_TOL``; otherwise the note says why and the runtime
steps streams one call each.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

BATCHES = (16, 256)
BATCH_TOL = 1e-6          # a stream's result in a batch vs alone (relative to max(1, |y|))


def batch_rollout(runner, ref, n: int, steps: int | None = None, *, direct: bool = False):
    """((n, T, O) outputs, lengths) of n streams (stream i replays reference sequence i % N)
    stepped together through ``runner.invoke_batch`` (``direct``: ``runner.invoke``, a file made
    for batch n); rows past a length are padded (dt 1) and not compared."""
    pick = np.arange(n) % len(ref.lengths)
    lengths = ref.lengths[pick]
    t_max = int(lengths.max()) if steps is None else min(int(lengths.max()), steps)
    x = ref.x[pick].astype(np.float32)
    dt = np.where(np.arange(x.shape[1])[None, :] < lengths[:, None], ref.dt[pick], 1.0).astype(np.float32)
    states = [np.zeros((n, s), np.float32) for s in runner.state_sizes]
    out = np.zeros((n, t_max, runner.output_size), np.float32)
    for t in range(t_max):
        res = (runner.invoke if direct else runner.invoke_batch)(
            [np.ascontiguousarray(x[:, t]), dt[:, t:t + 1].copy(), *states])
        out[:, t] = np.asarray(res[0], np.float32).reshape(n, -1)
        states = [np.asarray(s, np.float32).reshape(n, -1) for s in res[1:]]
    return out, lengths


def add_batch_files(run, module, fmt, scheme: str, path: Path, entry: dict, calib, ref, sources: dict) -> str:
    """Make and check the batched files of one passed step artifact; returns a note.
    ``sources``: {batch: fp32 file at that batch} shared by the schemes (made on first use)."""
    from ..runtime import open_runner
    from .manifest import sha256

    notes, kept = [], []
    steps = 24                          # enough recurrent steps for a row mix-up to show
    with open_runner(path, entry, run.sizes, threads=1) as single:
        alone, lengths = batch_rollout(single, ref, max(BATCHES), steps)
    for b in BATCHES:
        out = path.with_name(path.name[: -len(fmt.suffix)] + f".b{b}{fmt.suffix}")
        try:
            if b not in sources:
                src = run.tmp / f".step.fp32.b{b}.src{fmt.suffix}"
                module.convert(run.model, "step", src, batch=b)
                sources[b] = src
            if scheme == "fp32":
                out.write_bytes(sources[b].read_bytes())
            else:
                module.quantize(sources[b], scheme, calib, out)
            with open_runner(out, {**entry, "file": out.name}, run.sizes, threads=1) as batched:
                got, _ = batch_rollout(batched, ref, b, steps, direct=True)
        except Exception as exc:  # noqa: BLE001 - the batch-1 artifact stays; streams go one by one
            out.unlink(missing_ok=True)
            notes.append(f"batch {b}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:200])
            continue
        live = np.arange(got.shape[1])[None, :] < lengths[:b, None]
        ref_b = alone[:b]
        err = float((np.abs(got - ref_b) / np.maximum(1.0, np.abs(ref_b)))[live].max())
        if not err <= BATCH_TOL:
            out.unlink(missing_ok=True)
            notes.append(f"batch {b}: a stream differs from it alone by {err:.2g}")
            continue
        kept.append({"batch": b, "file": out.name, "sha256": sha256(out), "bytes": out.stat().st_size,
                     "max_rel_vs_alone": float(f"{err:.3g}")})
    if kept:
        entry["batch_files"] = kept
        entry["extra_files"] = list(entry.get("extra_files") or []) + [
            {"file": k["file"], "sha256": k["sha256"], "bytes": k["bytes"]} for k in kept]
    made = f"batched files for {', '.join(str(k['batch']) for k in kept)} streams" if kept else "no batched files"
    return made + (f" ({'; '.join(notes)})" if notes else "")
