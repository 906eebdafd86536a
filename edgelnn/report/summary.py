"""Per-model figures over seeds (bundles): what the study tables, plots and claims are built on.

Per bundle two artifacts stand for the model on a target:
- the *reference*: the fp32 ONNX step artifact if it passed (else any passed fp32, else any
  passed artifact) -- its accuracy and shift accuracies are the model's accuracy and robustness;
- the *deployed* artifact: the one the recommendation rule picks for that bundle -- its size,
  latency and RAM are what the model costs on the target.
Replicates are bundles (one per seed); mean and std are taken over them.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from .recommend import recommend_one
from .rows import HIGHER_IS_BETTER, Row

# Mirrors the ``family`` of edgelnn.models.MODELS (kept here so reports need no torch).
FAMILY = {"cfc": "liquid", "cfc-ncp": "liquid", "ltc": "liquid", "ltc-ncp": "liquid",
          "lstm": "rnn", "gru": "rnn", "gru-d": "rnn", "rnn": "rnn"}


@dataclass
class Stat:
    mean: float | None
    std: float
    n: int

    @classmethod
    def of(cls, values) -> "Stat":
        vals = [float(v) for v in values if v is not None]
        if not vals:
            return cls(None, 0.0, 0)
        return cls(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals))

    def fmt(self, digits: int = 3, scale: float = 1.0) -> str:
        if self.mean is None:
            return "–"
        if self.n > 1:
            return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f}"
        return f"{self.mean * scale:.{digits}f}"


@dataclass
class ModelSummary:
    model: str
    family: str
    target: str
    metric: str
    bundles: list[str]
    params: Stat
    accuracy_torch: Stat       # PyTorch fp32 on the test split
    accuracy: Stat             # reference artifact (fp32, deployed runtime)
    accuracy_deployed: Stat    # recommended artifact
    size_bytes: Stat           # recommended artifact
    fp32_size_bytes: Stat      # reference artifact
    latency_us: Stat           # recommended artifact, p50 per step
    ram_mb: Stat               # recommended artifact, model RSS (peak - runtime baseline)
    eval_sequences: int | None = None  # test sequences behind each accuracy
    deployed: list[str] = field(default_factory=list)  # "format scheme" of each pick
    curves: dict[str, list[tuple[float, Stat]]] = field(default_factory=dict)
    drop_under: dict[str, Stat] = field(default_factory=dict)  # mean loss in points per shift
    under: dict[str, Stat] = field(default_factory=dict)  # mean accuracy over a shift's levels


def reference_row(rows: list[Row]) -> Row | None:
    passed = [r for r in rows if r.status == "passed" and r.accuracy is not None]
    for cond in (lambda r: r.format == "onnx" and r.graph == "step" and r.scheme == "fp32",
                 lambda r: r.scheme == "fp32", lambda r: True):
        hits = [r for r in passed if cond(r)]
        if hits:
            return hits[0]
    return None


def loss_points(clean: float, shifted: float, metric: str) -> float:
    """How much worse ``shifted`` is than ``clean``: accuracy points, or % of the clean RMSE."""
    if HIGHER_IS_BETTER.get(metric, True):
        return (clean - shifted) * 100.0
    return (shifted - clean) / max(abs(clean), 1e-12) * 100.0


def _shift_acc(s) -> float | None:
    return s.accuracy if s.accuracy is not None else s.accuracy_fp32


def summarize(rows: list[Row], budget: float = 1.0) -> list[ModelSummary]:
    """One ModelSummary per (target, model), in target then model order."""
    out = []
    for target in sorted({r.target for r in rows}):
        trows = [r for r in rows if r.target == target]
        for model in sorted({r.model for r in trows}):
            mrows = [r for r in trows if r.model == model]
            bundles = sorted({r.bundle for r in mrows})
            refs, picks, curves, drops, unders = [], [], {}, {}, {}
            for b in bundles:
                brows = [r for r in mrows if r.bundle == b]
                ref = reference_row(brows)
                pick = recommend_one(brows, budget, target, model).row
                refs.append((b, ref, brows))
                picks.append(pick)
                if ref is None:
                    continue
                per_shift: dict[str, list[float]] = {}
                accs: dict[str, list[float]] = {}
                for s in ref.shifts:
                    acc = _shift_acc(s)
                    if acc is None:
                        continue
                    curves.setdefault(s.shift, {}).setdefault(s.level, []).append(acc)
                    per_shift.setdefault(s.shift, []).append(loss_points(ref.accuracy, acc, ref.metric))
                    accs.setdefault(s.shift, []).append(acc)
                for shift, losses in per_shift.items():
                    drops.setdefault(shift, []).append(statistics.fmean(losses))
                    unders.setdefault(shift, []).append(statistics.fmean(accs[shift]))
            metric = mrows[0].metric
            out.append(ModelSummary(
                model=model, family=FAMILY.get(model, "other"), target=target, metric=metric,
                bundles=bundles,
                params=Stat.of(_first(brows, "params") for _, _, brows in refs),
                accuracy_torch=Stat.of(_first(brows, "accuracy_fp32") for _, _, brows in refs),
                accuracy=Stat.of(ref.accuracy if ref else None for _, ref, _ in refs),
                accuracy_deployed=Stat.of(p.accuracy if p else None for p in picks),
                size_bytes=Stat.of(p.size_bytes if p else None for p in picks),
                fp32_size_bytes=Stat.of(ref.size_bytes if ref else None for _, ref, _ in refs),
                latency_us=Stat.of(p.step_p50_us if p else None for p in picks),
                ram_mb=Stat.of(p.model_rss_mb if p else None for p in picks),
                eval_sequences=max((r.eval_sequences for r in mrows if r.eval_sequences), default=None),
                deployed=[f"{p.format} {p.graph} {p.scheme}" if p else "none" for p in picks],
                curves={s: [(lvl, Stat.of(v)) for lvl, v in sorted(levels.items())]
                        for s, levels in curves.items()},
                drop_under={s: Stat.of(v) for s, v in drops.items()},
                under={s: Stat.of(v) for s, v in unders.items()}))
    return out


def _first(rows: list[Row], attr: str):
    for r in rows:
        value = getattr(r, attr)
        if value is not None:
            return value
    return None
