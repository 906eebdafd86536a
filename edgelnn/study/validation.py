"""Validation large enough to rank models: how a study carves validation data, and the rule for
small datasets.

**Folds.** Every run of a study validates on one fold of a ``FOLDS``-fold partition of the
training set (stratified by class): seed s on fold ``s % FOLDS`` of the partition drawn with seed
``s // FOLDS`` (``edgelnn.data.load(..., folds=FOLDS)``). The final runs' seeds 0..4 therefore
validate on disjoint folds that together hold every training item once, so the competence gate
(the final runs' mean validation score) rests on the whole training set at no extra cost -- five
random 20 % carves would count some items twice and leave about a third out. Time-ordered data
(co2) keep validating on the end of their training period.

**Small datasets** (the rule). Tuning scores each setting by its mean over the tuning seeds, one
fold each. Where one fold holds fewer than ``MIN_VAL_ITEMS`` items, one item moves a fold's
accuracy by more than 2 points -- near the competence gate's 3-point margin, and more than the
differences tuning ranks settings by -- so each setting is scored over more folds: the fewest
whose items together reach ``MIN_VAL_ITEMS`` (at least the design's tuning seeds, at most all
``FOLDS``). On the shipped data: italypowerdemand (67 training items, 13-14 a fold) 4 folds, 54
items; basicmotions (40, 8 a fold) all 5, 40 items -- the whole training set, all there is. Every
other dataset keeps its tuning seeds (>= 54 items a fold). The cost: that dataset's tuning runs
grow by folds / tuning seeds (x2 and x2.5 with 2 tuning seeds); final runs and every other
dataset are unchanged. Only where tuning ranks settings (more than one trial).
"""
from __future__ import annotations

import math

FOLDS = 5              # a fold is 1/5 of train: the 20 % validation share the recipe always carved
MIN_VAL_ITEMS = 50     # one item then moves an accuracy by <= 2 points


def chronological(dataset: str) -> bool:
    from ..data import get_info

    return get_info(dataset).chronological


def folds_for(dataset: str) -> int | None:
    """The ``folds`` a study loads ``dataset`` with (None: time-ordered, validated on its end)."""
    return None if chronological(dataset) else FOLDS


def fold_items(dataset: str) -> int:
    """Validation items of one run: the smallest fold (time-ordered data: the end carve)."""
    from ..data import get_info

    info = get_info(dataset)
    if chronological(dataset):
        return int(round(info.val_fraction * info.n_train))
    return info.n_train // FOLDS


def fold_sizes(dataset: str) -> list[int]:
    """Items of each fold, fold 0 first (the round-robin deal of edgelnn.data.prepare.fold_index)."""
    from ..data import get_info

    n = get_info(dataset).n_train
    return [n // FOLDS + (1 if i < n % FOLDS else 0) for i in range(FOLDS)]


def tuning_folds(dataset: str, tune_seeds: int, trials: int, min_items: int = MIN_VAL_ITEMS) -> int:
    """How many folds (= tuning seeds) each tuning setting of ``dataset`` is scored over (module
    docstring: the rule)."""
    if trials <= 1 or min_items <= 0 or chronological(dataset):
        return tune_seeds
    need = math.ceil(min_items / max(1, fold_items(dataset)))
    return max(tune_seeds, min(FOLDS, need))


def rule_text(min_items: int = MIN_VAL_ITEMS) -> str:
    """The rule, as the declared analysis and the report state it."""
    return (f"every study run validates on one fold of a stratified {FOLDS}-fold partition of the training set "
            f"(seed s: fold s mod {FOLDS} of the partition drawn with seed s div {FOLDS}), so the final runs' "
            f"{FOLDS} seeds validate on disjoint folds that together hold every training item once; the "
            "competence gate reads their mean. Time-ordered data (co2) validate on the end of the training "
            f"period. Where one fold holds fewer than {min_items} items (one item moves an accuracy by more "
            "than 2 points), each tuning setting is scored over the fewest folds whose items together reach "
            f"{min_items} (at least the tuning seeds, at most {FOLDS}; only where tuning ranks settings): "
            "that dataset's tuning runs grow by folds / tuning seeds. The items behind each score are "
            "reported per cell.")


def describe(design) -> str:
    """One sentence for the report's design section: the folds per dataset and their items."""
    parts = []
    for d in design.datasets:
        if chronological(d):
            parts.append(f"{d}: the end of train ({fold_items(d)} items)")
            continue
        sizes = fold_sizes(d)
        k, g = len(design.tuning_seeds(d)), min(design.seeds, FOLDS)
        each = f"{min(sizes)}" if min(sizes) == max(sizes) else f"{min(sizes)}-{max(sizes)}"
        parts.append(f"{d}: {each} items a fold, tuning over {k} ({sum(sizes[:k])} items), "
                     f"the gate over {g} ({sum(sizes[:g])} items)")
    rule = (f"a dataset whose fold holds fewer than {design.min_val_items} items is tuned over more folds"
            if design.min_val_items > 0 else "the small-fold rule is off (--min-val-items 0)")
    return (f"**Validation.** Each run validates on one of {FOLDS} disjoint folds of the training set (its seed "
            f"picks the fold); {rule} (edgelnn.study.validation). " + "; ".join(parts) + ".")
