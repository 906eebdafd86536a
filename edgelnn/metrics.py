"""Task metrics on numpy arrays: shared by training (torch), export and devices (no torch)."""
from __future__ import annotations

import numpy as np

METRICS = {"classification": "accuracy", "regression": "rmse"}
HIGHER_IS_BETTER = {"accuracy": True, "rmse": False}


def metric_name(task: str) -> str:
    return METRICS[task]


def last_valid(outputs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(N, T, O) per-step outputs -> (N, O) outputs at each sequence's last valid step."""
    idx = np.asarray(lengths, dtype=np.int64) - 1
    return outputs[np.arange(len(idx)), idx]


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
    """``item_scores`` from an artifact's per-step outputs (N, T, O) (read at each last valid step)."""
    return item_scores(last_valid(outputs, lengths), y, task, target_std)


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
