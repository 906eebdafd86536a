"""The review's claims (Zong et al., arXiv 2510.07578) checked against the measured numbers.

Every verdict comes from an explicit rule over :class:`ModelSummary` figures (printed next to
it); a claim without figures on both sides is "no data", never a guess.

- Accuracy margin: ``max(min_points, std of either side)`` in accuracy points (RMSE: percent).
- *Champion* of a family: its model with the best mean accuracy (reference artifact).
- *Competitive* models: mean accuracy within the margin of the best model of the study.
- Cost claims (params, size, latency, RAM) compare each family's lowest value among its
  competitive models; a ratio below ``1 - rel`` supports, above ``1 / (1 - rel)`` contradicts,
  in between is inconclusive. A family with no competitive model cannot win a cost claim.
- Robustness claims compare the champions' mean loss under the shift (averaged over levels).
"""
from __future__ import annotations

from dataclasses import dataclass

from .rows import HIGHER_IS_BETTER
from .summary import ModelSummary, Stat

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NO_DATA = "supported", "not supported", "inconclusive", "no data"
SHIFT_CLAIMS = {
    "noise": "LNNs are more robust to input noise",
    "drop": "LNNs are more robust to irregular sampling (dropped samples)",
    "length": "LNNs generalize better to other sequence lengths (distribution shift)",
}
COST_CLAIMS = [  # (attribute, claim, unit, scale)
    ("params", "LNNs are more parameter-efficient (competitive accuracy with fewer parameters)", "", 1.0),
    ("size_bytes", "LNNs are smaller to deploy (artifact size)", " KiB", 1 / 1024),
    ("ram_mb", "LNNs need less memory at run time (model RAM)", " MB", 1.0),
    ("latency_us", "LNNs are faster (latency per step)", " us", 1.0),
]


@dataclass
class Claim:
    claim: str
    liquid: str
    rnn: str
    verdict: str
    rule: str


def _points(stat: Stat, metric: str) -> float:
    """A Stat's spread in points (accuracy points, or % of the mean RMSE)."""
    if HIGHER_IS_BETTER.get(metric, True):
        return stat.std * 100
    return stat.std / max(abs(stat.mean or 0.0), 1e-12) * 100


def _gain(a: float, b: float, metric: str) -> float:
    """How much better ``a`` is than ``b`` in points (> 0: a better)."""
    if HIGHER_IS_BETTER.get(metric, True):
        return (a - b) * 100
    return (b - a) / max(abs(b), 1e-12) * 100


def _fmt(s: ModelSummary | None, attr: str = "accuracy", scale: float = 1.0, unit: str = "",
         digits: int = 3) -> str:
    if s is None or getattr(s, attr).mean is None:
        return "–"
    return f"{s.model}: {getattr(s, attr).fmt(digits, scale)}{unit}"


def check_claims(summaries: list[ModelSummary], min_points: float = 1.0, rel: float = 0.10) -> list[Claim]:
    """Verdicts for the review's claims on one target's model summaries."""
    have = [s for s in summaries if s.accuracy.mean is not None]
    liq = [s for s in have if s.family == "liquid"]
    rnn = [s for s in have if s.family == "rnn"]
    claims_acc = "LNNs are more accurate than LSTM/GRU"
    if not liq or not rnn:
        missing = "liquid" if not liq else "RNN"
        return [Claim(c, "–", "–", NO_DATA, f"no {missing} model with a measured accuracy")
                for c in [claims_acc, *[c[1] for c in COST_CLAIMS], *SHIFT_CLAIMS.values()]]
    metric = have[0].metric
    better = (lambda s: s.accuracy.mean) if HIGHER_IS_BETTER.get(metric, True) else (lambda s: -s.accuracy.mean)
    champ_l, champ_r, best = max(liq, key=better), max(rnn, key=better), max(have, key=better)
    out = []

    margin = max(min_points, _points(champ_l.accuracy, metric), _points(champ_r.accuracy, metric))
    gain = _gain(champ_l.accuracy.mean, champ_r.accuracy.mean, metric)
    out.append(Claim(claims_acc, _fmt(champ_l), _fmt(champ_r), _verdict(gain, margin),
                     f"most accurate liquid vs most accurate RNN model: better by more than "
                     f"{margin:.1f} points (max of {min_points:g} and the seed std) supports; "
                     f"worse by more contradicts (difference {gain:+.1f})"))

    margin_best = max(min_points, _points(best.accuracy, metric))
    competitive = [s for s in have if _gain(best.accuracy.mean, s.accuracy.mean, metric) <= margin_best + 1e-9]
    names = ", ".join(s.model for s in competitive)
    for attr, claim, unit, scale in COST_CLAIMS:
        cl = [s for s in competitive if s.family == "liquid" and getattr(s, attr).mean is not None]
        cr = [s for s in competitive if s.family == "rnn" and getattr(s, attr).mean is not None]
        bl = min(cl, key=lambda s: getattr(s, attr).mean, default=None)
        br = min(cr, key=lambda s: getattr(s, attr).mean, default=None)
        digits = 0 if attr == "params" else 2 if attr != "latency_us" else 1
        rule = (f"lowest value among competitive models (accuracy within {margin_best:.1f} points of "
                f"the best: {names}); liquid/RNN ratio < {1 - rel:.2f} supports, > {1 / (1 - rel):.2f} "
                "contradicts")
        if bl is None and br is None:
            out.append(Claim(claim, "–", "–", NO_DATA, rule))
            continue
        if bl is None or br is None:
            verdict = SUPPORTED if br is None else CONTRADICTED
            rule += f"; only {'liquid' if br is None else 'RNN'} models are competitive"
        else:
            ratio = getattr(bl, attr).mean / max(getattr(br, attr).mean, 1e-12)
            verdict = SUPPORTED if ratio < 1 - rel else CONTRADICTED if ratio > 1 / (1 - rel) else INCONCLUSIVE
            rule += f" (ratio {ratio:.2f})"
        out.append(Claim(claim, _fmt(bl, attr, scale, unit, digits), _fmt(br, attr, scale, unit, digits),
                         verdict, rule))

    for shift, claim in SHIFT_CLAIMS.items():
        dl, dr = champ_l.drop_under.get(shift), champ_r.drop_under.get(shift)
        if not dl or not dr or dl.mean is None or dr.mean is None:
            out.append(Claim(claim, "–", "–", NO_DATA, f"no {shift} shift measured for both champions"))
            continue
        m = max(min_points, dl.std, dr.std)
        diff = dr.mean - dl.mean
        out.append(Claim(claim, f"{champ_l.model}: loses {dl.fmt(1)} pts", f"{champ_r.model}: loses {dr.fmt(1)} pts",
                         _verdict(diff, m),
                         f"mean loss vs clean over the {shift} levels, most accurate model of each family: "
                         f"liquid losing less by more than {m:.1f} points supports; more contradicts "
                         f"(difference {diff:+.1f})"))
    return out


def _verdict(gain: float, margin: float) -> str:
    if gain > margin:
        return SUPPORTED
    if gain < -margin:
        return CONTRADICTED
    return INCONCLUSIVE


def statement(claims: list[Claim], dataset: str, seeds: int, target: str) -> str:
    """A short plain paragraph generated from the verdicts."""
    def group(verdict):
        items = [c.claim for c in claims if c.verdict == verdict]
        return "; ".join(i[5:] if i.startswith("LNNs ") else i for i in items)

    def sentence(lead, verdict, empty, connector="that"):
        items = group(verdict)
        return f"{lead} {connector} LNNs {items}." if items else empty

    seeds_txt = f"{seeds} seed{'s' if seeds != 1 else ''} per model"
    parts = [f"On **{dataset}** ({seeds_txt}, target `{target}`):",
             sentence("the measurements **support**", SUPPORTED, "the measurements support none of the claims."),
             sentence("They **contradict** (an RNN baseline did better)", CONTRADICTED,
                      "They contradict none."),
             sentence("**Inconclusive** (difference within the margin or the seed spread):", INCONCLUSIVE,
                      "", "whether")]
    if group(NO_DATA):
        parts.append(f"No data for: {group(NO_DATA)}.")
    return " ".join(p for p in parts if p)
