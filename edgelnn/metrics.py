"""Task metrics on numpy arrays: shared by training (torch), export and devices (no torch)."""
from __future__ import annotations

import numpy as np

METRICS = {"classification": "accuracy", "regression": "rmse"}
RELATIVE_MSE = "relative-mse"  # regression's scale-free metric beside RMSE (``relative_mse``)
HIGHER_IS_BETTER = {"accuracy": True, "rmse": False, RELATIVE_MSE: False}


def metric_name(task: str) -> str:
    return METRICS[task]


def last_valid(outputs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(N, T, O) per-step outputs -> (N, O) outputs at each sequence's last valid step."""
    idx = np.asarray(lengths, dtype=np.int64) - 1
    return outputs[np.arange(len(idx)), idx]


def per_step(y, task: str) -> bool:
    """True for per-step targets: (N, T) labels or (N, T, K) regression targets (per-sequence
    targets are (N,) labels or (N, K) targets)."""
    return np.ndim(y) == (2 if task == "classification" else 3)


def valid_steps(lengths: np.ndarray, steps: int) -> np.ndarray:
    """(N, steps) bool: True at each sequence's valid (unpadded) steps."""
    return np.arange(steps)[None, :] < np.asarray(lengths, dtype=np.int64)[:, None]


def scored(outputs: np.ndarray, lengths: np.ndarray, y, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, targets) the task metric compares, from per-step outputs (N, T, O): each
    sequence's last valid step for per-sequence targets; every valid step of every sequence,
    flattened to (M, O) and (M[, K]), for per-step targets (``per_step``)."""
    if not per_step(y, task):
        return last_valid(outputs, lengths), y
    T = outputs.shape[1]
    m = valid_steps(lengths, T)
    return outputs[m], np.asarray(y)[:, :T][m]


def score_outputs(outputs: np.ndarray, lengths: np.ndarray, y, task: str, target_std: float = 1.0) -> float:
    """``score`` of per-step outputs (N, T, O): per sequence at its last step, or over every valid
    step for per-step targets."""
    return score(*scored(outputs, lengths, y, task), task, target_std)


def score(last: np.ndarray, y: np.ndarray, task: str, target_std: float = 1.0) -> float:
    """Accuracy for classification; RMSE in the target's original units for regression."""
    if task == "classification":
        return float(np.mean(np.argmax(last, axis=1) == np.asarray(y)))
    err = (np.asarray(last, dtype=np.float64) - np.asarray(y, dtype=np.float64)) * target_std
    return float(np.sqrt(np.mean(err ** 2)))


def item_scores(last: np.ndarray, y: np.ndarray, task: str, target_std: float = 1.0) -> np.ndarray:
    """Per-item scores in split order: 1.0 / 0.0 (correct) for classification; squared error in the
    target's original units for regression (mean over outputs). ``score`` is their mean (accuracy)
    or the root of their mean (RMSE), so paired statistics and the headline metric agree."""
    if task == "classification":
        return (np.argmax(last, axis=1) == np.asarray(y)).astype(np.float64)
    err = (np.asarray(last, dtype=np.float64) - np.asarray(y, dtype=np.float64)) * target_std
    return (err ** 2).reshape(len(err), -1).mean(axis=1)


def item_scores_of_outputs(outputs: np.ndarray, lengths: np.ndarray, y: np.ndarray, task: str,
                           target_std: float = 1.0) -> np.ndarray:
    """``item_scores`` from an artifact's per-step outputs (N, T, O): one per sequence (its last
    valid step), or one per valid step for per-step targets."""
    return item_scores(*scored(outputs, lengths, y, task), task, target_std)


def score_from_items(items: np.ndarray, task: str) -> float:
    """The task metric from per-item scores (accuracy = mean, RMSE = sqrt of the mean)."""
    items = np.asarray(items, dtype=np.float64)
    return float(items.mean()) if task == "classification" else float(np.sqrt(items.mean()))


def agreement(last: np.ndarray, reference_last: np.ndarray, task: str) -> float:
    """Classification: fraction of equal predicted classes. Regression: 1 - normalised RMSE gap."""
    if task == "classification":
        return float(np.mean(np.argmax(last, axis=1) == np.argmax(reference_last, axis=1)))
    gap = np.sqrt(np.mean((last - reference_last) ** 2))
    scale = np.std(reference_last) + 1e-12
    return float(max(0.0, 1.0 - gap / scale))


def mean_baseline_items(y: np.ndarray, target_std: float = 1.0) -> np.ndarray:
    """Per-item squared errors (original units, mean over outputs) of predicting y's own mean per
    output: the predict-the-mean baseline that ``relative_mse`` divides by."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    return (((y - y.mean(axis=0)) * target_std) ** 2).mean(axis=1)


def relative_mse_from_items(items: np.ndarray, y: np.ndarray, target_std: float = 1.0) -> float:
    """``relative_mse`` from regression ``item_scores`` (squared errors in original units) and the
    split's targets ``y`` in the units ``item_scores`` got them (normalised, with ``target_std``)."""
    base = mean_baseline_items(y, target_std).mean()
    return float(np.mean(np.asarray(items, dtype=np.float64)) / max(base, 1e-300))


def relative_mse(last: np.ndarray, y: np.ndarray) -> float:
    """MSE relative to predicting the mean: sum of squared errors / sum of squared deviations of y
    from its per-output mean, pooled over outputs (= 1 - R^2 for one output).

    0 is perfect, 1 is no better than a constant at the evaluated split's mean, > 1 is worse. Scale
    free (normalised or original units give the same value), so it compares across datasets. The
    baseline is the split's own mean (not the train mean), so a chronological split's trend does not
    inflate the baseline; on a shifted test set the targets, hence the baseline, are unchanged.
    Per item it is ``item_scores / mean_baseline_items().mean()``: a fixed divisor per test set, so
    paired differences between models on the same items keep their sign and ranking as for MSE."""
    err = np.asarray(last, dtype=np.float64).reshape(len(last), -1) - np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    return float((err ** 2).mean() / max(mean_baseline_items(y).mean(), 1e-300))
