"""The first check of an import: the user's own module, through its own forward, on the user's
data and timestamps, against the imported model's step loop (max error relative to the output's
largest magnitude; ``TOLERANCE``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import EdgeLNNError

TOLERANCE = 1e-5
CHECK_SEQUENCES = 32


class ImportMismatchError(EdgeLNNError):
    """The imported model does not reproduce the user's module."""


@dataclass
class Agreement:
    max_abs: float
    rel: float
    sequences: int
    steps: int
    how: str                 # how the user's module was run


def user_outputs(rnn, head, structure: dict, x: np.ndarray, dt: np.ndarray, lengths: np.ndarray):
    """Per-sequence outputs of the user's module, as the user runs it: ncps sequence modules and
    torch.nn RNNs through their forward one sequence at a time (ncps 1.0.1's forward breaks with
    timespans for batch > 1), ncps cells looped over the batch with dt of shape (B, 1).
    Returns (list of (L_i, O) arrays, or (1, O) where only the last step is returned; how)."""
    kind = structure["type"]
    dtype = next(rnn.parameters()).dtype
    head = head if head is not None else torch.nn.Identity()
    outs = []
    with torch.no_grad():
        if kind in ("ncps.CfCCell", "ncps.WiredCfCCell", "ncps.LTCCell"):
            size = rnn.state_size if hasattr(rnn, "state_size") else rnn.hidden_size
            xb, dtb = torch.from_numpy(x).to(dtype), torch.from_numpy(dt).to(dtype)
            h = torch.zeros(x.shape[0], size, dtype=dtype)
            steps = []
            for t in range(x.shape[1]):
                out, h = rnn(xb[:, t], h, dtb[:, t:t + 1])
                steps.append(head(out))
            y = torch.stack(steps, 1).float().numpy()
            return [y[i, :L] for i, L in enumerate(lengths)], "cell looped over the batch, dt (B, 1)"
        batch_first = structure.get("batch_first", True)
        for i, L in enumerate(lengths):
            xi = torch.from_numpy(x[i, :L]).to(dtype)
            xi = xi[None] if batch_first else xi[:, None]
            if kind.startswith("ncps."):
                ti = torch.from_numpy(dt[i, :L]).to(dtype)
                ti = ti[None] if batch_first else ti[:, None]
                out, _ = rnn(xi, timespans=ti)
            else:
                out, _ = rnn(xi)
            if out.dim() == 3:
                out = out[0] if batch_first else out[:, 0]
            outs.append(head(out).float().numpy())   # (L, O), or (1, O): the last step only
        how = "forward per sequence" + (" with timespans" if kind.startswith("ncps.") else " (no time input)")
    return outs, how


def check(model, rnn, head, structure: dict, split) -> Agreement:
    """Raise ImportMismatchError unless ``model`` reproduces the user's module within TOLERANCE."""
    n = min(CHECK_SEQUENCES, len(split))
    x, dt, lengths = split.x[:n], split.dt[:n], split.lengths[:n]
    theirs, how = user_outputs(rnn, head, structure, x, dt, lengths)
    with torch.no_grad():
        ours = model(torch.from_numpy(x), torch.from_numpy(dt)).numpy()
    max_abs, scale, steps = 0.0, 0.0, 0
    for i, (ref, L) in enumerate(zip(theirs, lengths)):
        mine = ours[i, :L] if len(ref) == L else ours[i, L - 1:L]
        if mine.shape != ref.shape:
            raise ImportMismatchError(f"the imported model gives outputs of shape {mine.shape} for sequence {i}, "
                                      f"the module {ref.shape}; this is a bug in edgelnn import, please report it")
        max_abs = max(max_abs, float(np.abs(mine - ref).max()))
        scale = max(scale, float(np.abs(ref).max()))
        steps += len(ref)
    rel = max_abs / max(scale, 1e-12)
    if not np.isfinite(rel) or rel > TOLERANCE:
        raise ImportMismatchError(
            f"the imported model differs from your module by {max_abs:.3g} ({rel:.3g} of the output's largest "
            f"magnitude, tolerance {TOLERANCE:g}) over {n} sequences ({how}); nothing was written")
    return Agreement(max_abs, rel, n, steps, how)
