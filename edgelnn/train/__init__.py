"""Training and evaluation of zoo models on edgelnn datasets (CPU, deterministic per seed)."""
from .augment import AUGMENTS, UnknownAugmentError
from .loop import TrainConfig, TrainResult, evaluate, item_scores, predict_steps, train

__all__ = ["AUGMENTS", "TrainConfig", "TrainResult", "UnknownAugmentError", "evaluate", "item_scores",
           "predict_steps", "train"]
