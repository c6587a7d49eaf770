"""Training sequences and the negatives drawn against them, per (seed, epoch, row): so training depends on nothing
else (batch size, shuffling, process count, resumption)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch


if TYPE_CHECKING:
    from datasets import Dataset


def training_sequences(split: Dataset) -> list[list[int]]:
    """Each row's training sequence: ``history + [target]`` (see `PreparedDataset`)."""
    return [history + [target] for history, target in zip(split["history"], split["target"])]


def interaction_keys(sequences: list, num_items: int) -> torch.LongTensor:
    """Sorted ``row * (num_items + 1) + item`` keys of every (row, item) pair, for membership tests by
    `torch.searchsorted`."""
    lengths = [len(sequence) for sequence in sequences]
    rows = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    items = np.concatenate([np.asarray(sequence, dtype=np.int64) for sequence in sequences]) if sequences else rows
    return torch.from_numpy(np.unique(rows * (num_items + 1) + items))


class EpochNegatives:
    """Negative items per (row, position) and epoch, never an item of the row's own sequence (and, with
    ``distinct``, never twice in one row).

    Each epoch's table is drawn from a generator seeded by ``(seed, epoch)``, so a row's negatives depend on nothing
    else: not the batch size, the shuffling, the number of processes (``accelerate launch``) or a resumed run.
    `EpochNegativesCallback` moves the table to Trainer's current epoch.

    Args:
        num_items (`int`): Catalog size (negatives are drawn from 1..num_items).
        forbidden (`torch.LongTensor`): Sorted ``row * (num_items + 1) + item`` keys of each row's items.
        num_rows (`int`): Rows of the training data.
        width (`int`): Negatives per row (one per position of the input window, or the candidates of a prompt).
        seed (`int`): Seed of the draws.
        distinct (`bool`, *optional*, defaults to `False`): Draw distinct negatives within a row.
        weights (`torch.Tensor` of shape `(num_items + 1,)`, *optional*): Unnormalised probability of drawing each
            item id (position 0, padding, is ignored); uniform over 1..num_items by default.
    """

    def __init__(
        self,
        num_items: int,
        forbidden: torch.LongTensor,
        num_rows: int,
        width: int,
        seed: int,
        max_rounds: int = 100,
        distinct: bool = False,
        weights: torch.Tensor | None = None,
    ):
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float64).clone()
            if weights.shape != (num_items + 1,) or not torch.isfinite(weights).all() or (weights < 0).any():
                raise ValueError(
                    f"negative weights must be {num_items + 1} finite non-negative numbers (one per item id, 0 "
                    f"first), got shape {tuple(weights.shape)}"
                )
            weights[0] = 0.0  # padding is never a negative
            if weights.sum() <= 0:
                raise ValueError("negative weights are all zero: no item can be drawn")
        self.weights = weights
        self.num_items = num_items
        self.forbidden = forbidden
        self.num_rows = num_rows
        self.width = width
        self.seed = seed
        self.max_rounds = max_rounds
        self.distinct = distinct
        self.epoch = None
        self.table = None
        self.set_epoch(0)

    def generator(self, epoch: int, purpose: int = 0) -> torch.Generator:
        """The generator of one epoch's draws (``purpose`` separates the streams of one epoch)."""
        return torch.Generator().manual_seed(
            int(np.random.SeedSequence([self.seed, epoch, purpose]).generate_state(1)[0])
        )

    def draw(self, shape: tuple, generator: torch.Generator) -> torch.LongTensor:
        """Item ids, uniform over 1..num_items or by ``weights``."""
        if self.weights is None:
            return torch.randint(1, self.num_items + 1, shape, generator=generator)
        count = int(np.prod(shape))
        return torch.multinomial(self.weights, count, replacement=True, generator=generator).reshape(shape)

    def set_epoch(self, epoch: int) -> None:
        if epoch == self.epoch:
            return
        generator = self.generator(epoch)
        stride = self.num_items + 1
        negatives = self.draw((self.num_rows, self.width), generator)
        rows = torch.arange(self.num_rows).unsqueeze(1)
        for _ in range(self.max_rounds):
            keys = rows * stride + negatives
            found = torch.searchsorted(self.forbidden, keys).clamp(max=len(self.forbidden) - 1)
            clash = self.forbidden[found] == keys
            if self.distinct:  # an item drawn earlier in the same row
                clash |= (negatives.unsqueeze(2) == negatives.unsqueeze(1)).tril(-1).any(2)
            if not clash.any():
                self.epoch, self.table = epoch, negatives
                return
            negatives[clash] = self.draw((int(clash.sum()),), generator)
        raise RuntimeError(f"could not draw negatives outside the users' items in {self.max_rounds} rounds")

    def __call__(self, rows: torch.LongTensor, width: int | None = None) -> torch.LongTensor:
        """The current epoch's negatives of ``rows``: the last ``width`` positions (all by default)."""
        negatives = self.table[rows]
        return negatives if width is None else negatives[:, negatives.shape[1] - width :]


class EpochCandidates(EpochNegatives):
    """Stage 2's training candidates: each row's target among ``num_negatives`` distinct fresh negatives from
    outside the row's items, at a position drawn with them; all depend on (seed, epoch, row) only, as the reference
    draws fresh candidates at every step. Evaluation keeps the candidates stored with the data."""

    def __init__(
        self,
        num_items: int,
        forbidden: torch.LongTensor,
        num_rows: int,
        num_negatives: int,
        seed: int,
        weights: torch.Tensor | None = None,
    ):
        super().__init__(num_items, forbidden, num_rows, num_negatives, seed, distinct=True, weights=weights)

    def set_epoch(self, epoch: int) -> None:
        if epoch == self.epoch:
            return
        super().set_epoch(epoch)
        self.slots = torch.randint(0, self.width + 1, (self.num_rows,), generator=self.generator(epoch, purpose=1))

    def candidates(self, rows: torch.LongTensor, targets: torch.LongTensor) -> torch.LongTensor:
        """``(rows, num_negatives + 1)`` candidates: the negatives with each target inserted at its slot."""
        negatives, slots = self(rows), self.slots[rows]
        width = negatives.shape[1] + 1
        position = torch.arange(width).unsqueeze(0)
        shifted = torch.cat([negatives, negatives[:, -1:]], 1)
        before = torch.cat([negatives[:, :1], negatives], 1)
        # Left of the slot the negatives keep their place; right of it they move one step to the right.
        candidates = torch.where(position < slots.unsqueeze(1), shifted, before)
        return candidates.scatter(1, slots.unsqueeze(1), targets.unsqueeze(1))
