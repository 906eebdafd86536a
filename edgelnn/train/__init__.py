"""Training and evaluation of zoo models on edgelnn datasets (CPU, deterministic per seed)."""
from .loop import TrainConfig, TrainResult, evaluate, predict_steps, train

__all__ = ["TrainConfig", "TrainResult", "evaluate", "predict_steps", "train"]
