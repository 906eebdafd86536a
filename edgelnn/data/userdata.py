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


def _read_csv(path, task, label, target, features, time, seq_id, need_targets=True) -> Sequences:
    cols = _header(path)
    if not need_targets and label is None and target is None and not any(c in LABEL_COLS + TARGET_COLS
                                                                             for c in cols):
        label = _NO_TARGET
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
    if ycol != _NO_TARGET and ycol not in cols:
        raise DataFileError(f"{path}: no column {ycol!r} {fix}; pass --{'label' if label else 'target'} "
                            "with a column of the header")
    if task is None:
        task = "classification" if label else "regression"
    if features is None:
        features = [c for c in cols if c not in (seq_id, time, ycol)]
    for f in features:
        if f not in cols:
            raise DataFileError(f"{path}: no feature column {f!r} {fix}; fix --features")
    if not features:
        raise DataFileError(f"{path}: no feature columns besides {seq_id}, {time} and {ycol}; add them "
                            "or pass --features")
    y_kind = None if ycol == _NO_TARGET else ("str" if task == "classification" else "float")
    rows = _parse_rows(path, cols, seq_id, time, features, ycol if y_kind else None, y_kind)
    return _assemble(path, rows, task, features, seq_id, time, ycol, label)


CHUNK_ROWS = 16384
MAX_TEXT = 63          # characters of a sequence id or class name (read as fixed-width text)


@dataclass
class _Rows:
    """The CSV's rows in file order: sequence codes (into ``ids``), t, x, and y codes or values."""

    seq: np.ndarray          # (n,) int32
    ids: list[str]
    t: np.ndarray            # (n,) float64
    x: np.ndarray            # (n, C) float32
    y: np.ndarray | None     # (n,) int32 codes into y_names, or float64 values
    y_names: list[str]


def _parse_rows(path, cols, seq_id, time, features, ycol, y_kind) -> _Rows:
    """One pass over the file in chunks (numpy's C parser; memory bounded by the chunk)."""
    import itertools

    idx = {c: i for i, c in enumerate(cols)}
    fields, usecols = [], []
    if seq_id is not None:
        fields.append(("id", f"U{MAX_TEXT + 1}"))
        usecols.append(idx[seq_id])
    if time is not None:
        fields.append(("t", "f8"))
        usecols.append(idx[time])
    fields.append(("x", "f4", (len(features),)))
    usecols += [idx[f] for f in features]
    if ycol is not None:
        fields.append(("y", f"U{MAX_TEXT + 1}" if y_kind == "str" else "f8"))
        usecols.append(idx[ycol])
    dtype = np.dtype(fields)
    total = _count_rows(path)
    if total == 0:
        raise DataFileError(f"{path}: no data rows after the header")
    seq = np.zeros(total, np.int32)                # filled chunk by chunk: no list of parts to join
    t = np.arange(total, dtype=np.float64)
    x = np.empty((total, len(features)), np.float32)
    y = (np.zeros(total, np.int32) if y_kind == "str" else np.zeros(total)) if ycol is not None else None
    id_map: dict[str, int] = {}
    y_map: dict[str, int] = {}
    done = 0
    with open(path, "r", encoding="utf-8", newline="") as fh:
        fh.readline()
        while True:
            lines = list(itertools.islice(fh, CHUNK_ROWS))
            if not lines:
                break
            try:
                a = np.loadtxt(lines, delimiter=",", usecols=usecols, dtype=dtype, ndmin=1, quotechar='"')
            except ValueError as exc:
                raise DataFileError(f"{path}: {_loadtxt_why(exc, done)}") from None
            n = len(a)
            if done + n > total:   # blank lines are skipped by the parser; more rows than lines cannot happen
                raise DataFileError(f"{path}: changed while it was read; read it again")
            part = slice(done, done + n)
            if seq_id is not None:
                seq[part] = _codes(a["id"], id_map, path, seq_id)
            if time is not None:
                t[part] = a["t"]
            x[part] = a["x"].reshape(n, len(features))
            if ycol is not None:
                y[part] = _codes(a["y"], y_map, path, ycol) if y_kind == "str" else a["y"]
            done += n
            del a, lines
    if done == 0:
        raise DataFileError(f"{path}: no data rows after the header")
    if done < total:                                # blank lines
        seq, t, x = seq[:done], t[:done], x[:done]
        y = y[:done] if y is not None else None
    if time is None:
        t = np.arange(done, dtype=np.float64)
    return _Rows(seq, list(id_map) if seq_id is not None else ["0"], t, x, y, list(y_map))


def _count_rows(path) -> int:
    """Data lines (after the header), counted in 1 MiB blocks."""
    count, last = 0, b"\n"
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return max(0, count + (last != b"\n") - 1)


def _codes(values: np.ndarray, table: dict, path, col) -> np.ndarray:
    """Text values -> int32 codes in order of first appearance (``table`` grows); a dict, not a
    sort: 5x faster than np.unique on fixed-width text."""
    codes = np.fromiter((table.setdefault(v, len(table)) for v in values.tolist()), np.int32, count=len(values))
    if max((len(k) for k in table), default=0) > MAX_TEXT:     # the fixed-width field may have cut it
        raise DataFileError(f"{path}: column {col!r} has values longer than {MAX_TEXT} characters; shorten them")
    return codes


def _loadtxt_why(exc: ValueError, offset: int = 0) -> str:
    msg = str(exc).splitlines()[0]
    import re

    m = re.search(r"could not convert string '(.*)' to \w+ at row (\d+)", msg)
    if m:
        return (f"row {int(m.group(2)) + 2 + offset} holds {m.group(1)!r} where a number belongs; fix or drop "
                "that row (missing values must be imputed)")
    m = re.search(r"at row (\d+)", msg)
    if m:
        return (f"row {int(m.group(1)) + 2 + offset}: {msg.split(' at row')[0]}; every row needs the header's "
                "number of fields")
    return msg[:200]


def _assemble(path, r: _Rows, task, features, seq_id, time, ycol, label) -> Sequences:
    """Rows (any order) -> padded sequences sorted by id, each by time; memory: ~2.5x the arrays."""
    n_rows = len(r.t)
    for name, arr in ((time, r.t), *((f, r.x[:, j]) for j, f in enumerate(features))):
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            raise DataFileError(f"{path}: row {bad[0] + 2}, column {name!r} is NaN or infinite; drop or "
                                "impute missing values first")
    rank = np.argsort(np.array(r.ids, dtype=object)).astype(np.int32)      # ids in sorted order
    ids = [r.ids[i] for i in rank]
    seq = np.empty(len(rank), np.int32)
    seq[rank] = np.arange(len(rank), dtype=np.int32)
    seq = seq[r.seq]
    order = np.lexsort((r.t, seq))
    seq_sorted = seq[order]
    t_sorted = r.t[order]
    starts = np.flatnonzero(np.r_[True, seq_sorted[1:] != seq_sorted[:-1]])
    lengths = np.diff(np.r_[starts, n_rows]).astype(np.int64)
    same = seq_sorted[1:] == seq_sorted[:-1]
    gaps = np.diff(t_sorted)
    dup = np.flatnonzero(same & (gaps <= 0))
    if len(dup):
        row = int(order[dup[0] + 1])
        raise DataFileError(f"{path}: sequence {ids[seq[row]]!r} has two rows at {time} = {r.t[row]:g} (row "
                            f"{row + 2}); timestamps must strictly increase within a sequence: drop or merge "
                            "the duplicates")
    n, T = len(ids), int(lengths.max())
    step_sorted = (np.arange(n_rows) - np.repeat(starts, lengths)).astype(np.int32)
    nominal = float(np.median(gaps[same])) if same.any() else 1.0
    if time is None:
        nominal = 1.0
    dt = np.full((n, T), nominal, np.float32)
    inner = np.flatnonzero(same) + 1
    dt[seq_sorted[inner], step_sorted[inner]] = gaps[inner - 1]
    del t_sorted, gaps, inner
    r.t = None
    step = np.empty(n_rows, np.int32)
    step[order] = step_sorted
    xs = np.zeros((n, T, r.x.shape[1]), np.float32)
    xs[seq, step] = r.x                                   # rows land in place: no sorted copy of x
    r.x = None
    # targets: per step when they vary within a sequence, else per sequence
    names: list[str] = []
    y_sorted = r.y[order] if r.y is not None else np.zeros(n_rows, np.int32)
    per_step = bool(np.any(y_sorted != np.repeat(y_sorted[starts], lengths)))
    if task == "classification" and r.y is not None:
        code_to_index, names = _class_indices(r.y_names, path, ycol, r.y, order)
        y_sorted = code_to_index[y_sorted]
    elif task == "regression":
        bad = np.flatnonzero(~np.isfinite(y_sorted))
        if len(bad):
            raise DataFileError(f"{path}: row {int(order[bad[0]]) + 2}, column {ycol!r} is NaN or infinite; drop "
                                "or impute missing targets first")
    if per_step:
        yv = np.zeros((n, T), y_sorted.dtype)
        yv[seq_sorted, step_sorted] = y_sorted
    else:
        yv = y_sorted[starts]
    where = (lambda i: f"{path}: sequence {ids[i]!r}, column {ycol!r}")
    mask = (np.arange(T)[None, :] < lengths[:, None]) if per_step else np.ones(n, bool)
    y, names = _targets(yv, task, mask, per_step, where, names)
    columns = {"seq_id": seq_id, "time": time, "features": list(features)}
    if ycol != _NO_TARGET:
        columns["label" if task == "classification" else "target"] = ycol
    return Sequences(xs, dt, y, lengths, task, names, list(features), ids, nominal, per_step, columns=columns)


def _class_indices(names: list[str], path, col, codes, order) -> tuple[np.ndarray, list[str]]:
    """Label texts -> (code -> class index, class names): integers keep their value (no names);
    names are indexed in sorted order."""
    def first_row(k: int) -> int:
        return int(np.flatnonzero(codes == k)[0]) + 2

    if "" in names:
        raise DataFileError(f"{path}: row {first_row(names.index(''))}, column {col!r} is empty; every row "
                            "needs a label")
    numeric = [_is_number(v) for v in names]
    if all(numeric):
        vals = np.array([float(v) for v in names])
        bad = np.flatnonzero(~np.isfinite(vals) | (vals != np.round(vals)) | (vals < 0))
        if len(bad):
            raise DataFileError(f"{path}: row {first_row(int(bad[0]))}, column {col!r} is {names[bad[0]]!r}, not a "
                                "class index (0, 1, 2, ...); for classification give integer labels or class "
                                "names (or --target for regression)")
        return vals.astype(np.int64), []
    if any(numeric):
        bad = next(v for v in names if not _is_number(v))
        raise DataFileError(f"{path}: column {col!r} mixes numbers and names (e.g. {bad!r}); use one kind")
    sorted_names = sorted(names)
    return np.array([sorted_names.index(v) for v in names], dtype=np.int64), sorted_names


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
