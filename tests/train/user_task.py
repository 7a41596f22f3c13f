"""A model and a data set of a user's own, importable as ``tests.train.user_task:...`` — what a recipe
TOML or ``lrkit tune grid --model/--dataset`` names by import path: an MLP on feature vectors, and
three Gaussian blobs in 8 dimensions (float features, learnable in a few dozen iterations)."""

import numpy as np
from torch import nn

FEATURES, CLASSES = 8, 3


def make_mlp(in_channels: int, num_classes: int, hidden: int = 16) -> nn.Module:
    """A two-layer MLP over ``in_channels`` features (the registry passes the sample's first dimension)."""
    return nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def load_blobs(n_train: int = 240, n_test: int = 90, seed: int = 0):
    """``(x_train, y_train, x_test, y_test)``: float32 ``(N, 8)`` features around one centre per class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (CLASSES, FEATURES))

    def split(n):
        y = rng.integers(0, CLASSES, n)
        return (centres[y] + rng.normal(0.0, 1.0, (n, FEATURES))).astype(np.float32), y

    return (*split(n_train), *split(n_test))
