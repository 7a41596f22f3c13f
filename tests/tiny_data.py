"""A tiny learnable image dataset (npz) for tests that train: 1x28x28 images whose class (0-3)
is the quadrant of a bright 7x7 patch; LeNet learns it in a few dozen iterations."""

import numpy as np


def write_tiny_npz(path, n_train: int = 200, n_test: int = 100, seed: int = 0, test_label_noise: float = 0.0) -> str:
    """Write the dataset to ``path`` and return its lrkit dataset name (``npz:PATH``).
    ``test_label_noise``: the share of test labels replaced by another class (caps the accuracy)."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = rng.integers(0, 4, n)
        x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            r, q = divmod(int(c), 2)
            x[i, 3 + 14 * r:10 + 14 * r, 3 + 14 * q:10 + 14 * q] = 250
        return x, y

    xtr, ytr = split(n_train)
    xte, yte = split(n_test)
    flip = rng.random(n_test) < test_label_noise
    yte[flip] = (yte[flip] + 1) % 4
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return f"npz:{path}"
