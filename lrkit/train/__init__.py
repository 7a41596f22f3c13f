"""Training: the engine (iteration-based loop), the LR schedule monitor, data and models."""

from .engine import Run, TrainConfig, evaluate, train
from .monitor import LRMonitor, RunRecord, replay_policy, set_lr

__all__ = ["Run", "TrainConfig", "train", "evaluate", "LRMonitor", "RunRecord", "replay_policy", "set_lr"]
