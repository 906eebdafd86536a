"""Report figures as PNG bytes (matplotlib, Agg backend, deterministic output)."""
from __future__ import annotations

import io

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .rows import HIGHER_IS_BETTER, Row  # noqa: E402

MARKERS = {"onnx": "o", "tflite": "s", "c": "D"}
MARKER_KEY = "o onnx, s tflite, D c, ^ other"
SHIFT_AXES = {  # shift -> (x label, clean level, log x)
    "noise": ("noise: SNR (dB), lower = more noise", None, False),
    "offset-drift": ("non-stationarity: offset drift at the last sample (train std)", 0.0, False),
    "drop": ("irregular sampling: fraction of samples dropped", 0.0, False),
    "sampling-rate": ("sampling-rate factor (same span, resampled)", 1.0, False),
    "horizon": ("horizon: length factor beyond training", 1.0, False),
}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _colors(models: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(sorted(set(models)))}


def pareto(points: list[tuple[float, float]], higher_is_better: bool = True) -> list[int]:
    """Indices of points (cost, quality) not dominated: no other point is cheaper *and* better."""
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -sign * points[i][1]))
    front, best = [], -float("inf")
    for i in order:
        q = sign * points[i][1]
        if q > best:
            front.append(i)
            best = q
    return front


def scatter(rows: list[Row], x_of, x_label: str, title: str) -> bytes | None:
    """Accuracy vs a cost (latency or size) of passed rows; Pareto front drawn and ringed."""
    pts = [(r, x_of(r)) for r in rows if r.status == "passed" and r.accuracy is not None]
    pts = [(r, x) for r, x in pts if x is not None and x > 0]
    if not pts:
        return None
    metric = pts[0][0].metric
    higher = HIGHER_IS_BETTER.get(metric, True)
    colors = _colors([r.model for r, _ in pts])
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    seen = set()
    for r, x in pts:
        label = r.model if r.model not in seen else None
        seen.add(r.model)
        ax.scatter(x, r.accuracy, color=colors[r.model], marker=MARKERS.get(r.format, "^"),
                   s=36, alpha=0.85, label=label)
    front = pareto([(x, r.accuracy) for r, x in pts], higher)
    fx = [pts[i][1] for i in front]
    fy = [pts[i][0].accuracy for i in front]
    ax.step(fx, fy, where="post", color="black", lw=1, ls="--", label="Pareto front")
    ax.scatter(fx, fy, s=120, facecolors="none", edgecolors="black", lw=1)
    for i in front:
        r = pts[i][0]
        ax.annotate(f"{r.model} {r.format} {r.scheme}", (pts[i][1], r.accuracy), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(x_label)
    ax.set_ylabel(metric + ("" if higher else " (lower is better)"))
    ax.set_title(f"{title}  (markers: {MARKER_KEY})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def accuracy_latency(rows: list[Row]) -> bytes | None:
    return scatter(rows, lambda r: r.step_p50_us, "p50 latency per step (us, log)",
                   "accuracy vs latency")


def accuracy_size(rows: list[Row]) -> bytes | None:
    """Host sizes only: a microcontroller row's size is flash, another quantity (its own table)."""
    return scatter([r for r in rows if r.flash_bytes is None],
                   lambda r: r.size_bytes / 1024 if r.size_bytes else None,
                   "size on the host (KiB, log; C: compiled object text + rodata)", "accuracy vs size")


def robustness(curves: dict, clean: dict, metric: str = "accuracy") -> bytes | None:
    """curves[model][shift] = [(level, mean, std)], clean[model] = (mean, std).

    One panel per shift; a line per model with a band of +-1 std over seeds; the clean
    accuracy is drawn at the shift's neutral level (noise: a dotted line).
    """
    shifts = [s for s in SHIFT_AXES if any(s in c for c in curves.values())]
    shifts += sorted({s for c in curves.values() for s in c} - set(shifts))
    if not shifts:
        return None
    colors = _colors(list(curves))
    fig, axes = plt.subplots(1, len(shifts), figsize=(4.6 * len(shifts), 3.8), squeeze=False)
    for ax, shift in zip(axes[0], shifts):
        xlabel, neutral, _ = SHIFT_AXES.get(shift, (shift, None, False))
        for model in sorted(curves):
            pts = sorted(curves[model].get(shift, []))
            base = clean.get(model)
            if base and base[0] is not None and neutral is not None:
                pts = sorted(pts + [(neutral, base[0], base[1])])
            if not pts:
                continue
            xs, ys, sd = zip(*pts)
            ax.plot(xs, ys, marker="o", ms=3, color=colors[model], label=model)
            ax.fill_between(xs, [y - s for y, s in zip(ys, sd)], [y + s for y, s in zip(ys, sd)],
                            color=colors[model], alpha=0.15, lw=0)
            if base and base[0] is not None and neutral is None:
                ax.axhline(base[0], color=colors[model], ls=":", lw=1)
        if shift == "noise":
            ax.invert_xaxis()
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel(metric)
        ax.set_title(shift)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("robustness (mean over seeds, band = +-1 std; dotted = clean)", fontsize=10)
    return _png(fig)
