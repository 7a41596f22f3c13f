"""Augmentation as pure tensor ops over the whole batch."""

from __future__ import annotations

import torch


def crop_flip_at(
    x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor, padding: int = 4
) -> torch.Tensor:
    """Zero-pad ``x`` (B, C, H, W) by ``padding`` on each side, take the H×W window of image b
    whose top-left corner is ``(top[b], left[b])`` in padded coordinates (each in
    [0, 2·padding]), and mirror it left-right where ``flip[b]``. Same dtype and device as ``x``.

    >>> x = torch.arange(4.).reshape(1, 1, 2, 2)
    >>> crop_flip_at(x, torch.tensor([1]), torch.tensor([1]), torch.tensor([True]), padding=1)
    tensor([[[[1., 0.],
              [3., 2.]]]])
    >>> crop_flip_at(x, torch.tensor([0]), torch.tensor([1]), torch.tensor([False]), padding=1)
    tensor([[[[0., 0.],
              [0., 1.]]]])
    """
    b, c, h, w = x.shape
    p = int(padding)
    padded = x.new_zeros((b, c, h + 2 * p, w + 2 * p))
    padded[:, :, p : p + h, p : p + w] = x
    dev = x.device
    rows = top.to(dev, torch.long)[:, None] + torch.arange(h, device=dev)  # (B, H)
    cols = left.to(dev, torch.long)[:, None] + torch.arange(w, device=dev)  # (B, W)
    cols = torch.where(flip.to(dev, torch.bool)[:, None], cols.flip(1), cols)
    bi = torch.arange(b, device=dev)[:, None, None, None]
    ci = torch.arange(c, device=dev)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def crop_flip(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None):
    """The standard CIFAR augmentation on a batch ``(B, C, H, W)``: pad ``padding`` zeros, crop
    a random H×W window per image, and flip each image left-right with probability 1/2.

    Random numbers come from ``generator`` (a CPU generator; None: torch's global one), so the
    result does not depend on the device of ``x``.
    """
    b = x.shape[0]
    off = torch.randint(0, 2 * padding + 1, (2, b), generator=generator)
    flip = torch.randint(0, 2, (b,), generator=generator).bool()
    return crop_flip_at(x, off[0], off[1], flip, padding)
