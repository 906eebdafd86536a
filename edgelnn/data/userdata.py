"""Your data: one reader for ``.npz`` and long ``.csv`` files, and the seeded split into a Dataset.

``read_file`` gives the sequences as they are in the file (``Sequences``: padded x, dt, y,
lengths, in original units); ``to_dataset`` splits them (seeded, stratified for classification),
takes the normalisation statistics from the training split only (or none: ``normalise=False``)
and returns a :class:`Dataset` like the bundled ones. Every bad input is one ``InputError`` that
names the file, the row or the sequence, and the fix.

dt convention: dt[i] = t[i] - t[i-1]; a sequence's first step (no previous sample) and the padded
steps hold the data's nominal dt (the median interval over all sequences). A file with ``dt``
given directly keeps it as given.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, ShapeError
from .prepare import channel_stats, normalise
from .types import Dataset, Split

TASKS = ("classification", "regression")
_NO_TARGET = "\0no-target"
SEQ_COL, TIME_COL = "seq_id", "t"
# Classification labels that look like these column names name the target by default.
LABEL_COLS, TARGET_COLS = ("label", "y", "class"), ("target",)


class DataFileError(InputError):
    """A data file that cannot be read as sequences (the message names the place and the fix)."""


@dataclass
class Sequences:
    """Sequences of one file, padded: x (N, T, C) float32, dt (N, T) float32 > 0, lengths (N,).

    y: (N,) int64 labels; (N, K) float32 per-sequence targets; (N, T) int64 per-step labels or
    (N, T, K) float32 per-step targets (``per_step``)."""

    x: np.ndarray
    dt: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    task: str
    label_names: list[str]
    features: list[str]
    ids: list[str]
    nominal_dt: float
    per_step: bool = False
    first_dt_nominal: bool = True      # first steps hold the nominal dt (timestamps), not a given dt
    source: str = ""
    sha256: str = ""
    columns: dict = field(default_factory=dict)   # which column was what (csv)

    def split(self) -> Split:
        return Split(self.x, self.dt, self.y, self.lengths)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_file(path, *, task: str | None = None, label: str | None = None, target: str | None = None,
              features: list[str] | str | None = None, time: str = TIME_COL, seq_id: str = SEQ_COL,
              need_targets: bool = True) -> Sequences:
    """Read ``path`` (.npz or .csv) into Sequences; ``task`` None = classification when the file
    has labels (``y`` integer in .npz, a label column in .csv), else regression.
    ``need_targets`` False (prediction): a file without labels/targets reads with y = 0."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"data file not found: {path}; give a .npz or .csv file (see README 'Your own model')")
    if task is not None and task not in TASKS:
        raise InputError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if label is not None and target is not None:
        raise InputError("give either --label (classification) or --target (regression), not both")
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    suffix = path.suffix.lower()
    if suffix == ".npz":
        seqs = _read_npz(path, task, need_targets)
    elif suffix == ".csv":
        seqs = _read_csv(path, task, label, target, features, time, seq_id, need_targets)
    else:
        raise DataFileError(f"{path}: unknown data format {path.suffix!r}; use .npz (x, y, t or dt, lengths) "
                            "or a long .csv with a header (seq_id, t, features, label or target)")
    seqs.source, seqs.sha256 = path.name, file_sha256(path)
    return seqs


# -- npz ---------------------------------------------------------------------------------------
def _read_npz(path: Path, task: str | None, need_targets: bool = True) -> Sequences:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        raise DataFileError(f"{path}: holds Python objects ({str(exc).splitlines()[0][:80]}); save plain "
                            "numeric arrays (np.savez(path, x=..., y=...))") from None
    except Exception as exc:  # noqa: BLE001 - zipfile/numpy raise many types for a broken file
        raise DataFileError(f"{path} is not a readable .npz ({type(exc).__name__}); write it with np.savez") from None
    if not need_targets and "y" not in arrays:
        arrays["y"] = np.zeros(len(arrays.get("x", [])), np.int64)
    for key in ("x", "y"):
        if key not in arrays:
            raise DataFileError(f"{path}: no array {key!r} (has {', '.join(sorted(arrays)) or 'none'}); "
                                "save x (N, T, C) and y (N,) labels, or (N,) / (N, T, K) targets")
    x = arrays["x"]
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise DataFileError(f"{path}: x has shape {x.shape}; expected (sequences, time, channels)")
    if x.dtype.kind not in "fiu":
        raise DataFileError(f"{path}: x has dtype {x.dtype}; expected numbers")
    n, T, _ = x.shape
    lengths = np.full(n, T, dtype=np.int64)
    if "lengths" in arrays:
        lengths = np.asarray(arrays["lengths"])
        if lengths.shape != (n,) or lengths.dtype.kind not in "iu":
            raise DataFileError(f"{path}: lengths has shape {lengths.shape} / dtype {lengths.dtype}; "
                                f"expected ({n},) integers")
        lengths = lengths.astype(np.int64)
        bad = np.flatnonzero((lengths < 1) | (lengths > T))
        if len(bad):
            i = int(bad[0])
            what = "0 (an empty sequence)" if lengths[i] < 1 else f"{lengths[i]} > T = {T}"
            raise DataFileError(f"{path}: sequence {i} has length {what}; drop empty sequences and keep "
                                f"lengths in 1..{T}")
    valid = np.arange(T)[None, :] < lengths[:, None]
    x = x.astype(np.float32)
    _finite(x, valid, path, "x")
    x = np.where(valid[..., None], x, 0.0).astype(np.float32)     # padding is 0, whatever the file held
    if "t" in arrays and "dt" in arrays:
        raise DataFileError(f"{path}: has both t and dt; keep one (t: timestamps, dt: intervals)")
    dt = None
    if "t" in arrays:
        t = np.asarray(arrays["t"], dtype=np.float64)
        _shape(t, (n, T), path, "t")
        _finite(t, valid, path, "t")
        dt = _dt_from_t(t, lengths, lambda i, j: f"{path}: sequence {i}, step {j}")
    elif "dt" in arrays:
        dt = np.asarray(arrays["dt"], dtype=np.float64)
        _shape(dt, (n, T), path, "dt")
        _finite(dt, valid, path, "dt")
        bad = np.argwhere(valid & (dt <= 0))
        if len(bad):
            i, j = bad[0]
            raise DataFileError(f"{path}: dt[{i}, {j}] = {dt[i, j]:g}; dt is the time since the previous sample "
                                "and must be > 0 (timestamps must increase within a sequence)")
    dt, nominal = _fill_dt(dt, lengths, T)
    y = np.asarray(arrays["y"])
    if y.shape[:1] != (n,):
        raise DataFileError(f"{path}: y has shape {y.shape}; expected ({n},) labels, ({n},) / ({n}, K) targets "
                            f"or ({n}, {T}, K) per-step targets")
    per_step = y.ndim >= 2 and y.shape[1] == T and (y.ndim == 3 or (y.ndim == 2 and y.dtype.kind in "iu"))
    if task is None:
        task = "classification" if y.dtype.kind in "iub" else "regression"
    ymask = valid if per_step else np.ones(n, bool)
    y, names = _targets(y, task, ymask, per_step, lambda i: f"{path}: y of sequence {i}", None)
    if "label_names" in arrays:
        names = [str(v) for v in arrays["label_names"]]
    return Sequences(x, dt, y, lengths, task, names, [f"x{c}" for c in range(x.shape[2])],
                     [str(i) for i in range(n)], nominal, per_step, first_dt_nominal="dt" not in arrays)


def _shape(a, shape, path, name):
    if a.shape != shape:
        raise DataFileError(f"{path}: {name} has shape {a.shape}; expected {shape} like x's first two axes")


def _finite(a, valid, path, name):
    bad = np.argwhere(~np.isfinite(a) & (valid if a.ndim == 2 else valid[..., None]))
    if len(bad):
        where = ", ".join(str(int(v)) for v in bad[0])
        raise DataFileError(f"{path}: {name}[{where}] is NaN or infinite; drop or impute missing values first")


def _dt_from_t(t, lengths, where) -> np.ndarray:
    dt = np.zeros_like(t)
    dt[:, 1:] = np.diff(t, axis=1)
    valid = np.arange(t.shape[1])[None, :] < lengths[:, None]
    valid[:, 0] = False
    bad = np.argwhere(valid & (dt <= 0))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        raise DataFileError(f"{where(i, j)}: timestamp {t[i, j]:g} does not come after {t[i, j - 1]:g}; "
                            "timestamps must strictly increase within a sequence (sort them, drop duplicates)")
    dt[:, 0] = np.nan
    return dt


def _fill_dt(dt, lengths, T) -> tuple[np.ndarray, float]:
    """dt (N, T) with NaN first steps (or None) -> float32 dt with nominal dt on first/padded steps."""
    n = len(lengths)
    valid = np.arange(T)[None, :] < lengths[:, None]
    if dt is None:
        return np.ones((n, T), np.float32), 1.0
    inner = valid.copy()
    inner[:, 0] = False
    vals = dt[inner & np.isfinite(dt)]
    nominal = float(np.median(vals)) if len(vals) else 1.0
    out = np.where(valid & np.isfinite(dt), dt, nominal)
    return out.astype(np.float32), nominal


def _targets(y, task, mask, per_step, where, names_given):
    """Checked labels (int64, names) or targets (float32)."""
    if task == "classification":
        if y.dtype.kind in "fc":
            vals = y[mask] if per_step else y
            bad = np.flatnonzero((~np.isfinite(vals)) | (vals != np.round(vals)))
            if len(bad):
                i = int(np.argwhere(mask)[bad[0]][0]) if per_step else int(bad[0])
                raise DataFileError(f"{where(i)} is {vals.reshape(-1)[bad[0]]!r}, not an integer class; for "
                                    "classification give integer labels or class names (or use --target for "
                                    "regression)")
            y = np.round(np.where(mask, y, 0) if per_step else y).astype(np.int64)
        elif y.dtype.kind not in "iub":
            raise DataFileError(f"{where(0)}: labels of dtype {y.dtype}; give integer class indices")
        y = y.astype(np.int64)
        vals = y[mask] if per_step else y
        if vals.min() < 0:
            i = int(np.argmin(vals))
            raise DataFileError(f"{where(i)} is {vals.min()}; class indices are 0..K-1")
        k = int(vals.max()) + 1
        return (np.where(mask, y, 0) if per_step else y), (names_given or [str(c) for c in range(k)])
    if y.dtype.kind not in "fiub":
        raise DataFileError(f"{where(0)}: targets of dtype {y.dtype}; give numbers")
    y = y.astype(np.float32)
    if not per_step and y.ndim == 1:
        y = y[:, None]
    if per_step and y.ndim == 2:
        y = y[..., None]
    vals = y[mask] if per_step else y
    bad = np.argwhere(~np.isfinite(vals))
    if len(bad):
        i = int(np.argwhere(mask)[bad[0][0]][0]) if per_step else int(bad[0][0])
        raise DataFileError(f"{where(i)} is NaN or infinite; drop or impute missing targets first")
    if per_step:
        y = np.where(mask[..., None], y, 0.0).astype(np.float32)
    return y, []


# -- csv ---------------------------------------------------------------------------------------
def _header(path: Path) -> list[str]:
    with open(path, "r", encoding="utf-8", newline="") as fh:
        line = fh.readline()
    cols = [c.strip().strip('"') for c in line.rstrip("\r\n").split(",")]
    if not line.strip() or not any(cols):
        raise DataFileError(f"{path}: empty file or no header row; the first row names the columns "
                            f"({SEQ_COL}, {TIME_COL}, features..., label or target)")
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise DataFileError(f"{path}: column(s) {', '.join(dup)} appear twice in the header; rename them")
    return cols


def _column(path: Path, index: int, name: str, dtype):
    try:
        return np.loadtxt(path, delimiter=",", skiprows=1, usecols=[index], dtype=dtype, ndmin=1,
                          encoding="utf-8", quotechar='"')
    except ValueError as exc:
        raise DataFileError(f"{path}: column {name!r}: {_loadtxt_why(exc)}") from None


def _loadtxt_why(exc: ValueError) -> str:
    msg = str(exc).splitlines()[0]
    import re

    m = re.search(r"could not convert string '(.*)' to \w+ at row (\d+)", msg)
    if m:
        return (f"row {int(m.group(2)) + 2} holds {m.group(1)!r}, not a number; fix or drop that row "
                "(missing values must be imputed)")
    m = re.search(r"at row (\d+)", msg)
    if m:
        return f"row {int(m.group(1)) + 2}: {msg}; every row needs the header's number of fields"
    return msg[:200]


def _read_csv(path, task, label, target, features, time, seq_id, need_targets=True) -> Sequences:
    cols = _header(path)
    if not need_targets and label is None and target is None and not any(c in LABEL_COLS + TARGET_COLS
                                                                             for c in cols):
        cols, label = cols + [_NO_TARGET], _NO_TARGET
    fix = f"(the header has: {', '.join(cols)})"
    for need, opt in ((seq_id, "--seq-id"), (time, "--time")):
        if need is not None and need not in cols:
            raise DataFileError(f"{path}: no column {need!r} {fix}; name the sequence id and time columns "
                                f"{SEQ_COL!r} and {TIME_COL!r}, or pass {opt} COL")
    if label is None and target is None:
        found = [c for c in cols if c in LABEL_COLS + TARGET_COLS]
        if len(found) != 1:
            raise DataFileError(f"{path}: which column is the label or target? pass --label COL "
                                f"(classification) or --target COL (regression) {fix}")
        label, target = (found[0], None) if found[0] in LABEL_COLS else (None, found[0])
    ycol = label or target
    if ycol not in cols:
        raise DataFileError(f"{path}: no column {ycol!r} {fix}; pass --{'label' if label else 'target'} "
                            "with a column of the header")
    if task is None:
        task = "classification" if label else "regression"
    if features is None:
        features = [c for c in cols if c not in (seq_id, time, ycol) and c != _NO_TARGET]
    for f in features:
        if f not in cols:
            raise DataFileError(f"{path}: no feature column {f!r} {fix}; fix --features")
    if not features:
        raise DataFileError(f"{path}: no feature columns besides {seq_id}, {time} and {ycol}; add them "
                            "or pass --features")
    idx = {c: i for i, c in enumerate(cols)}
    t = _column(path, idx[time], time, np.float64) if time is not None else None   # None: one sample per step
    if t is None:
        t = np.arange(len(_column(path, 0, cols[0], str)), dtype=np.float64)
    ids_raw = _column(path, idx[seq_id], seq_id, str) if seq_id is not None else np.zeros(len(t), "U1")
    if len(ids_raw) == 0:
        raise DataFileError(f"{path}: no data rows after the header")
    try:
        x = np.loadtxt(path, delimiter=",", skiprows=1, usecols=[idx[f] for f in features], dtype=np.float32,
                       ndmin=2, encoding="utf-8", quotechar='"')
    except ValueError as exc:
        raise DataFileError(f"{path}: feature columns: {_loadtxt_why(exc)}") from None
    if ycol == _NO_TARGET:
        y_raw = np.full(len(t), "0")
    elif task == "classification":
        y_raw = _column(path, idx[ycol], ycol, str)
    else:
        y_raw = _column(path, idx[ycol], ycol, np.float64)
    rows = np.arange(len(t)) + 2                      # file line numbers (header = 1)
    for name, arr in ((time, t), *((f, x[:, j]) for j, f in enumerate(features))):
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            raise DataFileError(f"{path}: row {rows[bad[0]]}, column {name!r} is NaN or infinite; drop or "
                                "impute missing values first")
    # group rows by sequence (any order), then by time within a sequence
    uniq, inverse = np.unique(ids_raw, return_inverse=True)
    order = np.lexsort((t, inverse))
    inv_sorted, t_sorted = inverse[order], t[order]
    starts = np.flatnonzero(np.r_[True, inv_sorted[1:] != inv_sorted[:-1]])
    lengths = np.diff(np.r_[starts, len(order)]).astype(np.int64)
    same_seq = inv_sorted[1:] == inv_sorted[:-1]
    dup = np.flatnonzero(same_seq & (np.diff(t_sorted) <= 0))
    if len(dup):
        r = order[dup[0] + 1]
        raise DataFileError(f"{path}: sequence {str(ids_raw[r])!r} has two rows at {time} = {t[r]:g} (row "
                            f"{rows[r]}); timestamps must strictly increase within a sequence: drop or merge "
                            "the duplicates")
    n, T = len(uniq), int(lengths.max())
    step = np.arange(len(order)) - np.repeat(starts, lengths)
    seq = inv_sorted
    xs = np.zeros((n, T, x.shape[1]), np.float32)
    xs[seq, step] = x[order]
    del x
    ts = np.full((n, T), np.nan)
    ts[seq, step] = t_sorted
    dt = np.full((n, T), np.nan)
    dt[:, 1:] = np.diff(ts, axis=1)
    dt, nominal = _fill_dt(dt, lengths, T)
    del ts
    # targets: per step when they vary within a sequence, else per sequence
    y_sorted = y_raw[order]
    firsts = y_sorted[starts]
    per_step = bool(np.any(y_sorted != np.repeat(firsts, lengths)))
    names: list[str] = []
    if task == "classification":
        y_sorted, names = _class_indices(y_sorted, path, ycol, rows[order])
    yv = y_sorted if per_step else y_sorted[starts]
    if per_step:
        ys = np.zeros((n, T), yv.dtype)
        ys[seq, step] = yv
        yv = ys
    where = (lambda i: f"{path}: sequence {str(uniq[i])!r}, column {ycol!r}")
    mask = (np.arange(T)[None, :] < lengths[:, None]) if per_step else np.ones(n, bool)
    if task == "regression":
        bad = np.flatnonzero(~np.isfinite(y_raw))
        if len(bad):
            raise DataFileError(f"{path}: row {rows[bad[0]]}, column {ycol!r} is NaN or infinite; drop or "
                                "impute missing targets first")
    y, names = _targets(yv, task, mask, per_step, where, names)
    return Sequences(xs, dt, y, lengths, task, names, list(features), [str(u) for u in uniq], nominal,
                     per_step, columns={"seq_id": seq_id, "time": time, "label" if task == "classification"
                                        else "target": ycol, "features": list(features)})


def _class_indices(values: np.ndarray, path, col, rows) -> tuple[np.ndarray, list[str]]:
    """Labels as text -> int64 indices: integers keep their value; names are indexed in sorted order."""
    values = np.char.strip(values.astype(str))
    empty = np.flatnonzero(values == "")
    if len(empty):
        raise DataFileError(f"{path}: row {rows[empty[0]]}, column {col!r} is empty; every row needs a label")
    try:
        num = values.astype(np.float64)
    except ValueError:
        names, idx = np.unique(values, return_inverse=True)
        if len(names) > 0 and any(_is_number(v) for v in names):
            bad = next(v for v in names if not _is_number(v))
            raise DataFileError(f"{path}: column {col!r} mixes numbers and names (e.g. {bad!r}); use one kind")
        return idx.astype(np.int64), [str(v) for v in names]
    bad = np.flatnonzero(~np.isfinite(num) | (num != np.round(num)) | (num < 0))
    if len(bad):
        raise DataFileError(f"{path}: row {rows[bad[0]]}, column {col!r} is {values[bad[0]]!r}, not a class "
                            "index (0, 1, 2, ...); for classification give integer labels or class names "
                            "(or --target for regression)")
    return num.astype(np.int64), []


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


# -- split -------------------------------------------------------------------------------------
def split_indices(seqs: Sequences, seed: int, val_fraction: float, test_fraction: float):
    """(train, val, test) index arrays: seeded, stratified by class for per-sequence labels."""
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise InputError(f"{name} must be in [0, 1), got {f}")
    if val_fraction + test_fraction >= 1.0:
        raise InputError("val_fraction + test_fraction must leave some sequences for training")
    n = len(seqs.lengths)
    rng = np.random.default_rng(seed)
    strat = seqs.task == "classification" and not seqs.per_step
    groups = [np.flatnonzero(seqs.y == c) for c in np.unique(seqs.y)] if strat else [np.arange(n)]
    val, test = [], []
    for g in groups:
        g = rng.permutation(g)
        k_test, k_val = int(round(test_fraction * len(g))), int(round(val_fraction * len(g)))
        test.append(g[:k_test])
        val.append(g[k_test:k_test + k_val])
    val, test = np.sort(np.concatenate(val)), np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(n), np.concatenate([val, test]))
    if len(train) == 0 or (val_fraction > 0 and len(val) == 0) or (test_fraction > 0 and len(test) == 0):
        raise InputError(f"{seqs.source}: {n} sequence(s) are too few for a train/val/test split "
                         f"({1 - val_fraction - test_fraction:.2f}/{val_fraction}/{test_fraction}); add sequences")
    return train.astype(np.int64), val.astype(np.int64), test.astype(np.int64)


def to_dataset(seqs: Sequences, *, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2,
               normalise_inputs: bool = True, input_size: int | None = None) -> tuple[Dataset, dict]:
    """Split ``seqs`` (seeded) and normalise with the training split's statistics (or not).

    Returns the Dataset and the record of what was done (split indices by sequence id, statistics)."""
    if input_size is not None and seqs.x.shape[2] != input_size:
        raise ShapeError(f"{seqs.source} has {seqs.x.shape[2]} feature column(s) ({', '.join(seqs.features)}); "
                         f"the model takes {input_size}: pick them with --features")
    tr, va, te = split_indices(seqs, seed, val_fraction, test_fraction)
    full = seqs.split()
    train, val, test = full.subset(tr), full.subset(va), full.subset(te)
    C = seqs.x.shape[2]
    if normalise_inputs:
        mean, std = channel_stats(train)
    else:
        mean, std = np.zeros(C), np.ones(C)
    reg = seqs.task == "regression"
    t_mean, t_std = 0.0, 1.0
    if reg and normalise_inputs:
        vals = _valid_targets(train, seqs.per_step)
        t_mean, t_std = float(vals.mean()), float(max(vals.std(), 1e-6))
    splits = [_norm(s, mean, std, t_mean, t_std, seqs.per_step) for s in (train, val, test)]
    out = (seqs.y.shape[-1] if reg else len(seqs.label_names))
    ds = Dataset(name=seqs.source, task=seqs.task, input_size=C, output_size=int(out),
                 label_names=list(seqs.label_names) if not reg else [], train=splits[0], val=splits[1],
                 test=splits[2], norm_mean=[float(v) for v in mean], norm_std=[float(v) for v in std],
                 target_mean=t_mean, target_std=t_std, nominal_dt=seqs.nominal_dt,
                 description=f"user data {seqs.source}", source=f"file {seqs.source} sha256 {seqs.sha256}")
    record = {"source": seqs.source, "file_sha256": seqs.sha256, "task": seqs.task, "per_step": seqs.per_step,
              "features": list(seqs.features), "columns": dict(seqs.columns), "seed": int(seed),
              "val_fraction": float(val_fraction), "test_fraction": float(test_fraction),
              "normalised": bool(normalise_inputs), "nominal_dt": float(seqs.nominal_dt),
              "sequences": {"train": len(tr), "val": len(va), "test": len(te)},
              "split_ids": {"val": [seqs.ids[i] for i in va[:2000]], "test": [seqs.ids[i] for i in te[:2000]]}}
    return ds, record


def _valid_targets(split: Split, per_step: bool) -> np.ndarray:
    if per_step:
        m = np.arange(split.x.shape[1])[None, :] < split.lengths[:, None]
        return split.y[m].astype(np.float64)
    return split.y.astype(np.float64)


def _norm(split: Split, mean, std, t_mean, t_std, per_step) -> Split:
    s = normalise(split, np.asarray(mean), np.asarray(std), target=False)
    if split.y.dtype.kind == "f":
        y = ((split.y - t_mean) / t_std).astype(np.float32)
        if per_step:
            m = np.arange(split.x.shape[1])[None, :] < split.lengths[:, None]
            y = np.where(m[..., None], y, 0.0).astype(np.float32)
        s = Split(s.x, s.dt, y, s.lengths)
    return s


def load_dataset(path, *, task=None, label=None, target=None, features=None, time=TIME_COL, seq_id=SEQ_COL,
                 seed=0, val_fraction=0.2, test_fraction=0.2, normalise_inputs=True,
                 input_size=None) -> tuple[Dataset, dict]:
    """read_file + to_dataset: the one call behind every ``--data`` option."""
    seqs = read_file(path, task=task, label=label, target=target, features=features, time=time, seq_id=seq_id)
    return to_dataset(seqs, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
                      normalise_inputs=normalise_inputs, input_size=input_size)


def for_model(path, *, norm_mean, norm_std, task: str, label_names: list[str], target_mean: float = 0.0,
              target_std: float = 1.0, nominal_dt: float | None = None, need_targets: bool = True,
              **options) -> tuple[Split, Sequences]:
    """All sequences of ``path`` prepared for an existing model: its normalisation, its classes
    (labels matched by name), its target scaling, its nominal dt on first and padded steps (where
    the file has timestamps). Returns (Split, the Sequences as read)."""
    C = len(norm_mean)
    seqs = read_file(path, task=task, need_targets=need_targets, **options)
    if nominal_dt is not None and seqs.first_dt_nominal:
        valid = np.arange(seqs.x.shape[1])[None, :] < seqs.lengths[:, None]
        valid[:, 0] = False
        seqs.dt = np.where(valid, seqs.dt, np.float32(nominal_dt)).astype(np.float32)
    if seqs.x.shape[2] != C:
        raise ShapeError(f"{seqs.source} has {seqs.x.shape[2]} feature column(s) ({', '.join(seqs.features)}); "
                         f"the model takes {C}: pick them with --features")
    split = normalise(seqs.split(), np.asarray(norm_mean), np.asarray(norm_std), target=False)
    y = seqs.y
    if need_targets and task == "classification" and seqs.label_names and label_names:
        named = not all(n.isdigit() for n in seqs.label_names)
        if named:
            unknown = [n for n in seqs.label_names if n not in label_names]
            if unknown:
                raise DataFileError(f"{seqs.source}: class(es) {', '.join(unknown[:5])} are not among the model's "
                                    f"({', '.join(label_names)}); fix the labels or drop those sequences")
            lut = np.array([label_names.index(n) for n in seqs.label_names], dtype=np.int64)
            y = lut[y]
        if int(y.max()) >= len(label_names):
            raise DataFileError(f"{seqs.source}: class index {int(y.max())} is beyond the model's "
                                f"{len(label_names)} classes")
    elif need_targets and task == "regression":
        y = ((y - target_mean) / target_std).astype(np.float32)
    return Split(split.x, split.dt, y, split.lengths), seqs
