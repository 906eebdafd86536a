"""The review's claims (Zong et al., arXiv 2510.07578) checked against the measured numbers.

Every verdict comes from an explicit rule over :class:`ModelSummary` figures (printed next to
it); a claim without figures on both sides is "no data", never a guess.

- Accuracy margin: ``max(min_points, std of either side, test-set sampling error)`` in accuracy
  points (RMSE: percent); the sampling error is the 95 % half-width of a difference of two
  accuracies on n test sequences, 1.96 * sqrt(p1(1-p1)/n + p2(1-p2)/n), when n is known.
- *Champion* of a family: its model with the best mean accuracy (reference artifact).
- Cost claims (size, latency, RAM of the deployed artifact) compare the champions: a
  liquid/RNN ratio below ``1 - rel`` supports, above ``1 / (1 - rel)`` contradicts, in between
  is inconclusive. Parameter efficiency needs accuracy and parameters together: one champion
  must be at least as accurate with fewer parameters, or more accurate with no more.
- Robustness claims compare, per shift, each family's model with the best mean accuracy over
  the shift's levels (what a user would deploy for shifted data), with the accuracy margin.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .rows import HIGHER_IS_BETTER
from .summary import ModelSummary, Stat

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NO_DATA = "supported", "not supported", "inconclusive", "no data"
SHIFT_CLAIMS = {
    "noise": "LNNs are more robust to input noise",
    "offset-drift": "LNNs are more robust to non-stationary inputs (a slow offset drift)",
    "drop": "LNNs are more robust to irregular sampling (dropped samples)",
    "sampling-rate": "LNNs generalize better to another sampling rate (same span, more or fewer steps)",
    "horizon": "LNNs generalize better to sequences longer than any seen in training",
}
COST_CLAIMS = [  # (attribute, claim, unit, scale)
    ("params", "LNNs are more parameter-efficient (as accurate with fewer parameters)", "", 1.0),
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

    sampling = _sampling_points(champ_l, champ_r, metric)
    margin = max(min_points, _points(champ_l.accuracy, metric), _points(champ_r.accuracy, metric), sampling)
    gain = _gain(champ_l.accuracy.mean, champ_r.accuracy.mean, metric)
    why = f"max of {min_points:g}, the seed std" + (f" and the test-set sampling error {sampling:.1f}"
                                                   if sampling else "")
    out.append(Claim(claims_acc, _fmt(champ_l), _fmt(champ_r), _verdict(gain, margin),
                     f"most accurate liquid vs most accurate RNN model: better by more than "
                     f"{margin:.1f} points ({why}) supports; worse by more contradicts "
                     f"(difference {gain:+.1f})"))

    for attr, claim, unit, scale in COST_CLAIMS:
        vl, vr = getattr(champ_l, attr).mean, getattr(champ_r, attr).mean
        digits = 0 if attr == "params" else 1 if attr == "latency_us" else 2
        fl, fr = _fmt(champ_l, attr, scale, unit, digits), _fmt(champ_r, attr, scale, unit, digits)
        if vl is None or vr is None:
            out.append(Claim(claim, fl, fr, NO_DATA, f"no {attr} for both champions"))
            continue
        ratio = vl / max(vr, 1e-12)
        if attr == "params":  # accuracy and parameters together: one side must dominate
            lo, hi = 1 - rel, 1 / (1 - rel)
            if (gain >= -margin and ratio < lo) or (gain > margin and ratio <= hi):
                verdict = SUPPORTED
            elif (gain <= margin and ratio > hi) or (gain < -margin and ratio >= lo):
                verdict = CONTRADICTED
            else:
                verdict = INCONCLUSIVE
            rule = (f"most accurate model of each family: liquid at least as accurate (within "
                    f"{margin:.1f} points) with < {lo:.2f}x the parameters, or more accurate with "
                    f"<= {hi:.2f}x, supports; the mirror image contradicts (ratio {ratio:.2f}, "
                    f"accuracy difference {gain:+.1f})")
        else:
            verdict = SUPPORTED if ratio < 1 - rel else CONTRADICTED if ratio > 1 / (1 - rel) else INCONCLUSIVE
            rule = (f"deployed artifact of the most accurate model of each family: liquid/RNN ratio "
                    f"< {1 - rel:.2f} supports, > {1 / (1 - rel):.2f} contradicts (ratio {ratio:.2f})")
        out.append(Claim(claim, fl, fr, verdict, rule))

    for shift, claim in SHIFT_CLAIMS.items():
        def under(s: ModelSummary) -> float:
            v = s.under[shift].mean
            return v if HIGHER_IS_BETTER.get(metric, True) else -v

        ul = [s for s in liq if shift in s.under and s.under[shift].mean is not None]
        ur = [s for s in rnn if shift in s.under and s.under[shift].mean is not None]
        if not ul or not ur:
            out.append(Claim(claim, "–", "–", NO_DATA, f"no {shift} shift measured for both families"))
            continue
        bl, br = max(ul, key=under), max(ur, key=under)
        sl, sr = bl.under[shift], br.under[shift]
        sampling = _sampling_points(bl, br, metric, sl.mean, sr.mean)
        m = max(min_points, _points(sl, metric), _points(sr, metric), sampling)
        diff = _gain(sl.mean, sr.mean, metric)

        def fig(s: ModelSummary, st: Stat) -> str:
            return f"{s.model}: {st.fmt(3)} (loses {s.drop_under[shift].fmt(1)} pts)"

        out.append(Claim(claim, fig(bl, sl), fig(br, sr), _verdict(diff, m),
                         f"mean accuracy over the {shift} levels, best model of each family under "
                         f"this shift: liquid better by more than {m:.1f} points supports; worse "
                         f"by more contradicts (difference {diff:+.1f})"))
    return out


def _sampling_points(a: ModelSummary, b: ModelSummary, metric: str,
                     pa: float | None = None, pb: float | None = None) -> float:
    """95 % half-width (points) of the difference of two accuracies on n test sequences."""
    n = min(a.eval_sequences or 0, b.eval_sequences or 0)
    if not n or not HIGHER_IS_BETTER.get(metric, True):
        return 0.0
    pa = a.accuracy.mean if pa is None else pa
    pb = b.accuracy.mean if pb is None else pb
    return 1.96 * math.sqrt(max(pa * (1 - pa), 0) / n + max(pb * (1 - pb), 0) / n) * 100


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
