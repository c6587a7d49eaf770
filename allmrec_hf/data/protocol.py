"""The fixed evaluation protocol: leave-one-out splits, candidate sets drawn once, cold/warm items, scenarios.

Every model of the package is scored on the candidates stored here, so they are drawn exactly once, from generators
seeded by the preparation config (one independent stream per purpose, so changing one scenario does not move the
candidates of another).
"""

from __future__ import annotations

import numpy as np


# Independent random streams, one per purpose.
STREAM_TRAIN_CANDIDATES = 0
STREAM_VALIDATION_CANDIDATES = 1
STREAM_TEST_CANDIDATES = 2
STREAM_COLD_USER_CANDIDATES = 3
STREAM_FEW_SHOT = 4
STREAM_SIMULATED_COLD_USERS = 5

POPULARITY_GROUPS = ("cold", "middle", "warm")


def random_stream(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream]))


def draw_candidates(
    rng: np.random.Generator,
    targets: np.ndarray,
    exclusions: list[np.ndarray],
    num_items: int,
    num_negatives: int,
    users: np.ndarray,
) -> np.ndarray:
    """Draw ``num_negatives`` distinct items per row that the row's user never interacted with, add the target and
    shuffle: returns an int32 array ``(rows, num_negatives + 1)``. ``users`` holds each row's user id as the input
    file spells it, for the error message.

    Sampling is vectorised rejection sampling: draw a block per row, reject items in the user's history (looked up in
    one sorted array of ``row * (num_items + 1) + item`` keys) and repeats within the row, keep the first
    ``num_negatives`` survivors, and redraw wider blocks for the few rows that came up short.
    """
    rows = len(targets)
    if rows == 0:
        return np.zeros((0, num_negatives + 1), dtype=np.int32)
    stride = num_items + 1
    lengths = np.array([len(items) for items in exclusions])
    row_of = np.repeat(np.arange(rows, dtype=np.int64), lengths)
    forbidden = np.unique(row_of * stride + np.concatenate(exclusions).astype(np.int64))
    allowed = num_items - np.bincount(forbidden // stride, minlength=rows)
    if (allowed < num_negatives).any():
        row = int(np.flatnonzero(allowed < num_negatives)[0])
        raise ValueError(
            f"user {users[row]!r} interacted with {num_items - allowed[row]} of {num_items} items: fewer than "
            f"num_negatives={num_negatives} items are left to draw negatives from (hint: a smaller --num_negatives)"
        )

    negatives = np.zeros((rows, num_negatives), dtype=np.int64)
    pending = np.arange(rows)
    width = num_negatives + 8
    while pending.size:
        draws = rng.integers(1, num_items + 1, size=(pending.size, width))
        keys = pending[:, None] * stride + draws
        position = np.minimum(np.searchsorted(forbidden, keys), len(forbidden) - 1)
        valid = forbidden[position] != keys
        order = np.argsort(draws, axis=1, kind="stable")
        in_order = np.take_along_axis(draws, order, axis=1)
        repeated_sorted = np.zeros_like(valid)
        repeated_sorted[:, 1:] = in_order[:, 1:] == in_order[:, :-1]
        repeated = np.zeros_like(valid)
        np.put_along_axis(repeated, order, repeated_sorted, axis=1)
        valid &= ~repeated
        done = valid.sum(axis=1) >= num_negatives
        first_valid = np.argsort(~valid[done], axis=1, kind="stable")[:, :num_negatives]
        negatives[pending[done]] = np.take_along_axis(draws[done], first_valid, axis=1)
        pending = pending[~done]
        width *= 2
    candidates = np.concatenate([negatives, targets[:, None].astype(np.int64)], axis=1)
    return rng.permuted(candidates, axis=1).astype(np.int32)


def popularity_groups(train_counts: np.ndarray, cold_fraction: float, warm_fraction: float) -> np.ndarray:
    """Label items ``cold`` (bottom ``cold_fraction`` by training interactions), ``warm`` (top ``warm_fraction``) or
    ``middle``. ``train_counts[i]`` is item ``i``'s count (index 0 is padding and gets no label).

    Items are ranked by count, ties broken by item id, so the groups hold exactly the requested shares of the catalog
    (a count threshold would put every item of a heavily tied count on one side).
    """
    if not (0 <= cold_fraction <= 1 and 0 <= warm_fraction <= 1 and cold_fraction + warm_fraction <= 1):
        raise ValueError(
            f"cold_fraction={cold_fraction} and warm_fraction={warm_fraction} must be shares summing to <= 1"
        )
    num_items = len(train_counts) - 1
    item_ids = np.arange(1, num_items + 1)
    ranked = item_ids[np.lexsort((item_ids, train_counts[1:]))]
    num_cold = int(round(cold_fraction * num_items))
    num_warm = int(round(warm_fraction * num_items))
    groups = np.full(num_items + 1, "middle", dtype=object)
    groups[0] = ""
    groups[ranked[:num_cold]] = "cold"
    if num_warm:
        groups[ranked[num_items - num_warm :]] = "warm"
    return groups


def sample_rows(rng: np.random.Generator, num_rows: int, size: int, purpose: str) -> np.ndarray:
    """A seeded subset of ``size`` row indices, in ascending order."""
    if size > num_rows:
        raise ValueError(f"{purpose}: asked for {size} users but only {num_rows} are available")
    return np.sort(rng.choice(num_rows, size=size, replace=False))
