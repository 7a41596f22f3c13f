"""What both endless batch streams share: a seeded sample order per epoch and a resumable position."""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import torch


def _derived_seed(seed: int, purpose: str) -> int:
    h = hashlib.blake2b(f"{int(seed)}/{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & (2**63 - 1)


class _EpochStream:
    """What both endless streams share: a seeded sample order per epoch, and a resumable position.

    Subclasses set ``seed``, ``shuffle`` and ``num_samples`` and implement ``_start_epoch`` (which
    calls :meth:`_epoch_order`); ``state_dict``/``load_state_dict`` build on the helpers here.
    """

    def _init_stream(self) -> None:
        self._order_gen = torch.Generator().manual_seed(self.seed)
        self.epoch = 0
        self.position = 0
        self._start_epoch()

    def _epoch_order(self) -> torch.Tensor:
        """This epoch's order (a permutation, or 0…N−1 without shuffling); remembers the
        generator state it was drawn from so a resumed stream can redraw it."""
        self._epoch_gen_state = self._order_gen.get_state()
        n = self.num_samples
        return torch.randperm(n, generator=self._order_gen) if self.shuffle else torch.arange(n)

    def _stream_state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "num_samples": self.num_samples,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "order_generator": self._epoch_gen_state.clone(),
        }

    def _load_stream_state(self, state: Mapping[str, Any], extra: tuple[str, ...] = ()) -> None:
        need = ("epoch", "position", "num_samples", "shuffle", "order_generator") + extra
        missing = [k for k in need if k not in state]
        if missing:
            raise ValueError(f"{type(self).__name__} state is missing {missing}")
        if state["num_samples"] != self.num_samples:
            raise ValueError(
                f"state num_samples={state['num_samples']} but this split has {self.num_samples}"
            )
        if bool(state["shuffle"]) != self.shuffle:
            raise ValueError(f"state shuffle={state['shuffle']} but this stream has shuffle={self.shuffle}")
        if not 0 <= int(state["position"]) <= self.num_samples:
            raise ValueError(f"state position={state['position']} is outside [0, {self.num_samples}]")
        self._order_gen.set_state(state["order_generator"].clone())
        self._start_epoch()
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
