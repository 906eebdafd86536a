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


def agreement(last: np.ndarray, reference_last: np.ndarray, task: str) -> float:
    """Classification: fraction of equal predicted classes. Regression: 1 - normalised RMSE gap."""
    if task == "classification":
        return float(np.mean(np.argmax(last, axis=1) == np.argmax(reference_last, axis=1)))
    gap = np.sqrt(np.mean((last - reference_last) ** 2))
    scale = np.std(reference_last) + 1e-12
    return float(max(0.0, 1.0 - gap / scale))
