"""The study's analysis as declared before any result: the claims, their Holm family, every gate.

Generated from the constants the analysis itself runs on (:mod:`edgelnn.study.verdicts`,
:mod:`edgelnn.study.competence`, :mod:`edgelnn.study.metrics`), so the text cannot drift from the
code. The report prints it before its results; ``docs/study-design.md`` holds the same text
between the markers below (``python scripts/update_design_doc.py`` rewrites it; a test checks it).
"""
from __future__ import annotations

from pathlib import Path

from . import competence as comp
from . import metrics as mx
from . import failures as fl
from . import stages as st
from . import validation as val
from . import verdicts as v
from .studydata import FAILURE_FIELD

START, END = "<!-- declared-analysis:start -->", "<!-- declared-analysis:end -->"


def rules(alpha: float = v.ALPHA, min_seeds: int = v.MIN_SEEDS) -> list[tuple[str, str]]:
    """(name, rule) of every decision the verdicts rest on."""
    metrics = "; ".join(f"*{m.name}* ({'higher' if m.higher_is_better else 'lower'} is better; {m.doc}; "
                        f"differences in {m.unit})" for m in mx.METRICS.values())
    return [
        ("Claims", "every liquid-vs-RNN pair of models, per dataset, of four kinds: "
         + "; ".join(f"*{k}*: {q}" for k, q in v.QUESTIONS.items())
         + f". Accuracy: test metric at each matched budget, plain arm. Efficiency: the budget at which each "
           f"model's curve first comes within {v.WITHIN_POINTS:g} point (relative metrics: {v.WITHIN_POINTS:g} %) "
           "of the dataset's best, in budget steps. Robustness and time-aug: at the reference budget (the time-aug "
           f"arm's budget, else the middle one), per shift ({', '.join(v.SHIFT_NAMES)}), averaged over the shift's "
           f"levels; time-aug only under {' and '.join(v.TIME_SHIFTS)}. Every difference is oriented liquid - RNN "
           "(> 0: liquid better)."),
        ("Metrics", metrics + "."),
        ("Test", "paired bootstrap over seeds x test items (both models share seeds and items); smooth "
         "statistics: estimate +- t(nu) SE, SE^2 = seed-only + item-only resampling variance, nu by "
         "Welch-Satterthwaite, p from t(nu); the budget-reach statistic: crossed bootstrap, percentile "
         "interval, p by interval inversion."),
        ("Holm family", f"{v.FAMILY_CHOICES[v.HOLM_FAMILY]} (alpha = {alpha:g}); verdict: Holm-adjusted "
         "p <= alpha, by the sign of the difference, else inconclusive. Sensitivity: the report also shows "
         f"{v.FAMILY_CHOICES[v.ALT_FAMILY]}, and which verdicts that would change; it decides nothing."),
        ("Who carries a verdict", f"a claim with >= {min_seeds} seeds common to both sides, in a study that is "
         "not a quick look, that passes the competence gate and has no training failure on either side; "
         "the others are reported as not assessable, training failure or no verdict, outside the family."),
        ("Validation", val.rule_text()),
        ("Competence gate", f"a model's best cell on a dataset is chosen by its *validation* metric (mean over "
         f"seeds, any budget and arm); it is competent when that validation accuracy is within "
         f"{comp.GATE_POINTS:g} points of the best published test accuracy for the dataset "
         "(edgelnn.study.competence.PUBLISHED). A pair where neither model is competent is not assessable. "
         "Test accuracy is never read by a gate: it is shown beside the published figure. Datasets without a "
         "published figure, and regression, are not gated (the report says so)."),
        ("Robustness", "measured as the share of the clean metric above chance that the shift takes away: "
         "(clean - shifted) / (clean - chance), chance = 1 / classes for accuracy (relative metrics: the baseline, "
         "1; a metric with no chance level: the absolute loss), with the absolute loss beside it; the claim tests "
         "the difference of shares. Assessable when both cells are competent on clean data at the reference "
         f"budget -- validation accuracy within {comp.GATE_POINTS:g} points of the published figure, else of the "
         "study's best validation accuracy on the dataset -- whatever they lose under the shift."),
        ("Training failures", "a cell with a run the trainer flagged (RunRecord field "
         f"`{FAILURE_FIELD}`) is a training failure: every claim with it on one side is reported as "
         "\"training failure\", never as a verdict, and is outside the family; such a dataset leaves the "
         "Friedman test for that model set."),
        ("Budget ladder", f"on a dataset where the best model is still improving at the top budget -- the model "
         "with the best mean validation score there (cells without a training failure) beats its own score at the "
         f"budget below by more than {st.NOISE_SE:g} standard errors of the difference (seed spread) -- every model "
         f"also runs at {st.LADDER_FACTOR} x the top budget (4,000 -> 16,000), tuned like every other budget, plain "
         "arm, the same seeds; decided once that dataset's top two budgets have finished (at most the design's "
         "extra_budgets rungs); the budget steps of that dataset's efficiency claims then include the new rung."),
        ("Capacity retry", "a cell flagged *falls-with-capacity* (its mean validation score falls from the next "
         f"smaller budget by more than {fl.NOISE_SE:g} SE of the difference and {fl.MIN_DROP * 100:g} point) is "
         "re-tuned once: one grid step below the "
         "lowest rate it tried is added (every batch size tried, the chosen setting's options), the choice is made "
         "again on validation loss, and where it changes, the cell's final runs are redone and replace the first "
         "ones (which the report lists). Only a cell tuned at its own budget; the same rule for every model. A fall that remains is a "
         "training failure, never a verdict."),
        ("Censored budget reach", "a curve that never comes within the threshold at any budget of the study is "
         "censored at the top budget: the observed difference in budget steps is then a bound (reported as "
         "\"at least\", its interval open on that side), never an imputed value; its sign, and so the p-value, "
         "stays exact."),
        ("Across datasets", "unit = dataset where the pair is assessable and trained: the liquid - RNN difference "
         "averaged over the budgets both ran (accuracy points; other metrics: % of the RNN's figure). Wilcoxon "
         "signed-rank per pair (scipy; exact up to 20 datasets), Holm over the liquid x RNN pairs (their own "
         "family); mean difference with a BCa interval (scipy.stats.bootstrap). Friedman test over the models "
         f"(>= {v.FRIEDMAN_MIN_MODELS} models, datasets where every model ran, one is competent and none failed), "
         "then the Nemenyi critical difference (studentized range, df = inf) and its diagram; pairs are named as "
         "different only after a Friedman p <= alpha."),
    ]


def markdown(alpha: float = v.ALPHA, min_seeds: int = v.MIN_SEEDS) -> str:
    return "\n".join(f"- **{name}.** {rule[:1].upper()}{rule[1:]}" for name, rule in rules(alpha, min_seeds))


def updated(doc: str, text: str | None = None) -> str:
    """``doc`` with the block between the markers replaced by the declarations."""
    if doc.count(START) != 1 or doc.count(END) != 1 or doc.index(START) > doc.index(END):
        raise ValueError(f"the document must hold one {START} ... {END} pair")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{text if text is not None else markdown()}\n{END}{tail}"


def update_doc(path: str | Path) -> bool:
    """Rewrite the declarations in ``path``; True when it changed."""
    path = Path(path)
    old = path.read_text(encoding="utf-8")
    new = updated(old)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old
