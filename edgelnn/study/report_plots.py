"""Figures of the study report as PNG bytes: accuracy-vs-active-parameter curves, robustness
curves, and the critical-difference diagram (Demsar 2006)."""
from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..report.plots import _png  # noqa: E402

LINE = {"liquid": "-", "rnn": "--"}
SHIFT_X = {
    "noise": "noise: SNR (dB), lower = more noise",
    "offset-drift": "offset drift at the last sample (train std)",
    "drop": "fraction of samples dropped (true dt kept)",
    "sampling-rate": "sampling-rate factor (same span)",
    "horizon": "length factor (longer than training)",
}


def _colors(models: list[str]) -> dict:
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(models)}


def _plain_log_axis(ax) -> None:
    ax.set_xscale("log")
    fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(fmt)
    ax.tick_params(axis="x", which="minor", labelsize=7)


def curves(dataset: str, curves_, models: list[str], best: dict | None, published: tuple | None) -> bytes | None:
    """Mean test metric vs mean active parameters per model (bars: +-1 std over seeds).

    Solid: liquid, dashed: RNN; hollow markers: time-aug arm; ring: the budget at which the
    model first comes within 1 point of the dataset's best (grey band)."""
    mine = [c for c in curves_ if c.dataset == dataset]
    if not mine:
        return None
    colors = _colors(models)
    metric = mine[0].metric
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for c in mine:
        xs = [p.params_active for p in c.points]
        ys = [p.mean for p in c.points]
        sd = [p.std for p in c.points]
        plain = c.arm == "plain"
        ax.errorbar(xs, ys, yerr=sd, color=colors.get(c.model), ls=LINE.get(c.family, "-") if plain else ":",
                    marker="o", ms=5 if plain else 6, mfc=None if plain else "none", capsize=3, lw=1.4,
                    label=c.model if plain else f"{c.model} (time-aug)")
        if plain and c.reach is not None:
            p = next(p for p in c.points if p.budget == c.reach)
            ax.scatter([p.params_active], [p.mean], s=160, facecolors="none", edgecolors=colors.get(c.model), lw=1.5)
    if best:
        within = best["value"] - 0.01 if metric == "accuracy" else best["value"] * 1.01
        lo, hi = sorted((best["value"], within))
        ax.axhspan(lo, hi, color="grey", alpha=0.15, lw=0,
                   label="within 1 point of the best" if metric == "accuracy" else "within 1 % of the best")
    if published:
        ax.axhline(published[0], color="black", ls="-.", lw=1, label=f"published: {published[1]} {published[0]:.3f}")
        ax.axhline(published[0] - 0.03, color="black", ls=":", lw=0.8, label="competence gate (-3 points)")
    _plain_log_axis(ax)
    ax.set_xlabel("active parameters (log; masked synapses excluded)")
    ax.set_ylabel(metric + ("" if metric == "accuracy" else " (lower is better)"))
    ax.set_title(f"{dataset}: {metric} vs active parameters (mean +- std over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best", ncol=2)
    return _png(fig)


def _level(v: str):
    try:
        return float(v)
    except ValueError:
        return v


def robustness(dataset: str, rows: list[dict], models: list[str], budget: int) -> bytes | None:
    """rows: {model, family, arm, shift, level, mean, std, clean}. One panel per shift."""
    mine = [r for r in rows if r["dataset"] == dataset]
    shifts = [s for s in SHIFT_X if any(r["shift"] == s for r in mine)]
    shifts += sorted({r["shift"] for r in mine} - set(shifts))
    if not shifts:
        return None
    colors = _colors(models)
    fig, axes = plt.subplots(1, len(shifts), figsize=(4.4 * len(shifts), 3.8), squeeze=False)
    for ax, shift in zip(axes[0], shifts):
        lines = {}
        for r in mine:
            if r["shift"] == shift:
                lines.setdefault((r["model"], r["family"], r["arm"]), []).append(r)
        numeric = all(isinstance(_level(r["level"]), float) for rs in lines.values() for r in rs)
        for (model, family, arm), rs in sorted(lines.items(), key=lambda kv: (models.index(kv[0][0])
                                                                              if kv[0][0] in models else 99, kv[0][2])):
            rs = sorted(rs, key=lambda r: _level(r["level"]) if numeric else r["level"])
            xs = [_level(r["level"]) if numeric else r["level"] for r in rs]
            ys = [r["mean"] for r in rs]
            sd = [r["std"] for r in rs]
            plain = arm == "plain"
            ax.plot(xs, ys, color=colors.get(model), ls=LINE.get(family, "-") if plain else ":", marker="o",
                    ms=3, mfc=None if plain else "none", label=model if plain else f"{model} (time-aug)")
            if plain:
                ax.fill_between(xs, [y - s for y, s in zip(ys, sd)], [y + s for y, s in zip(ys, sd)],
                                color=colors.get(model), alpha=0.12, lw=0)
        if shift == "noise":
            ax.invert_xaxis()
        ax.set_xlabel(SHIFT_X.get(shift, shift), fontsize=9)
        ax.set_title(shift)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(mine[0].get("metric", "accuracy"))
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{dataset}, budget {budget}: metric under each shift (mean, band = +-1 std over "
                 "seeds; dotted = time-aug arm)", fontsize=10)
    return _png(fig)


def cd_diagram(fried: dict) -> bytes | None:
    """Critical-difference diagram: average ranks (1 = best) on one axis; models whose ranks
    differ by less than the Nemenyi CD are joined by a thick bar."""
    if not fried:
        return None
    models, ranks, cd = fried["models"], fried["avg_ranks"], fried["nemenyi_cd"]
    k = len(models)
    order = sorted(range(k), key=lambda i: ranks[i])
    cliques = []  # maximal runs of models (by rank) whose extreme ranks differ by < CD
    for a in range(k):
        b = a
        while b + 1 < k and ranks[order[b + 1]] - ranks[order[a]] < cd:
            b += 1
        if b > a and not any(a >= s and b <= e for s, e in cliques):
            cliques.append((a, b))
    half = (k + 1) // 2
    y0 = -0.35 - 0.22 * len(cliques) - 0.25
    rows = max(half, k - half)
    bottom = y0 - 0.45 * (rows - 1) - 0.4
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.55 * (2.0 - bottom)))
    ax.set_xlim(0.3, k + 0.7)
    ax.set_ylim(bottom, 2.0)
    ax.hlines(0, 1, k, color="black", lw=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.18, color="black", lw=1)
        ax.text(r, 0.25, str(r), ha="center", va="bottom", fontsize=8)
    for j, i in enumerate(order):
        left = j < half
        y = y0 - 0.45 * (j if left else k - 1 - j)
        x_text = 0.9 if left else k + 0.1
        ax.plot([ranks[i], ranks[i], x_text], [0, y, y], color="black", lw=0.8)
        ax.text(x_text - 0.05 if left else x_text + 0.05, y, f"{models[i]} ({ranks[i]:.2f})",
                ha="right" if left else "left", va="center", fontsize=8)
    for n, (s_, e) in enumerate(cliques):
        y = -0.35 - 0.22 * n
        ax.hlines(y, ranks[order[s_]] - 0.04, ranks[order[e]] + 0.04, color="black", lw=3.5)
    title = (f"CD = {cd:.2f} (Nemenyi, alpha {fried['alpha']:g}, {fried['n_blocks']} datasets)" if cd < k - 1
             else f"CD = {cd:.2f} ranks spans the whole axis: no two models can differ "
                  f"({fried['n_blocks']} datasets)")
    if cd < k - 1:
        ax.hlines(1.2, 1, 1 + cd, color="firebrick", lw=2)
        ax.vlines([1, 1 + cd], 1.12, 1.28, color="firebrick", lw=1.5)
    ax.text((k + 1) / 2, 1.45, title, ha="center", va="bottom", fontsize=8.5, color="firebrick")
    ax.axis("off")
    return _png(fig)
