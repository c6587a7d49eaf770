"""From raw interactions to chronological per-user sequences over contiguous integer ids (paper appendix B).

Order of operations: optional de-duplication, the rating threshold, the core filter, removal of users too short to
split, then ids (1-based, 0 is padding) in order of first appearance, as the reference implementation assigns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


CORE_FILTERS = ("iterative", "single_pass", "none")
RATING_FILTER_TARGETS = ("sequences", "counts")
MIN_SEQUENCE_LENGTH = 3  # leave-one-out needs one training, one validation and one test interaction


@dataclass
class Sequences:
    """Chronological item sequences over contiguous ids.

    Attributes:
        user_keys (`numpy.ndarray` of str): Original user id of user ``u`` at index ``u - 1``.
        item_keys (`numpy.ndarray` of str): Original item id of item ``i`` at index ``i - 1``.
        sequences (`list[numpy.ndarray]`): Item ids (int32, oldest first) of user ``u`` at index ``u - 1``.
        statistics (`dict`): Interactions removed by each step, for the report.
    """

    user_keys: np.ndarray
    item_keys: np.ndarray
    sequences: list[np.ndarray]
    statistics: dict = field(default_factory=dict)

    @property
    def num_users(self) -> int:
        return len(self.user_keys)

    @property
    def num_items(self) -> int:
        return len(self.item_keys)


def _counts(codes: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(codes[mask], minlength=size)


def iterative_core(users: np.ndarray, items: np.ndarray, keep: np.ndarray, min_user: int, min_item: int):
    """Remove users and items below their thresholds until none is left (a true k-core).

    ``users`` and ``items`` are integer codes; returns the final keep mask and the number of passes.
    """
    num_users, num_items = users.max() + 1, items.max() + 1
    passes = 0
    while True:
        passes += 1
        user_count = _counts(users, keep, num_users)
        item_count = _counts(items, keep, num_items)
        next_keep = keep & (user_count[users] >= min_user) & (item_count[items] >= min_item)
        if np.array_equal(next_keep, keep):
            return keep, passes
        keep = next_keep


def single_pass_core(users, items, keep, counted, min_user: int, min_item: int):
    """The reference implementation's filter: count once over ``counted`` rows, then drop the rows of users or items
    below their thresholds, without recounting (so survivors may fall below the thresholds)."""
    user_count = _counts(users, counted, users.max() + 1)
    item_count = _counts(items, counted, items.max() + 1)
    return keep & (user_count[users] >= min_user) & (item_count[items] >= min_item)


def build_sequences(
    interactions: pd.DataFrame,
    min_rating: float | None = None,
    rating_filter: str = "sequences",
    core_filter: str = "iterative",
    min_user_interactions: int = 5,
    min_item_interactions: int = 5,
    deduplicate: bool = False,
) -> Sequences:
    """Filter ``interactions`` (a `RawInteractions.interactions` frame) and group them into sequences.

    Args:
        min_rating (`float`, *optional*):
            Keep interactions rated at least this much. ``None`` keeps every interaction.
        rating_filter (`str`, *optional*, defaults to `"sequences"`):
            ``"sequences"`` removes low-rated interactions from the data; ``"counts"`` only excludes them from the
            core filter's counts and keeps them in the sequences, as the reference implementation does.
        core_filter (`str`, *optional*, defaults to `"iterative"`):
            ``"iterative"`` (a true k-core), ``"single_pass"`` (the reference implementation) or ``"none"``.
        min_user_interactions / min_item_interactions (`int`): Core thresholds for users and items.
        deduplicate (`bool`, *optional*, defaults to `False`):
            Keep only the first interaction of each (user, item) pair.
    """
    if core_filter not in CORE_FILTERS:
        raise ValueError(f"core_filter must be one of {CORE_FILTERS}, got {core_filter!r}")
    if rating_filter not in RATING_FILTER_TARGETS:
        raise ValueError(f"rating_filter must be one of {RATING_FILTER_TARGETS}, got {rating_filter!r}")
    if len(interactions) == 0:
        raise ValueError("there are no interactions to prepare")
    statistics = {"raw_interactions": len(interactions)}
    users, user_keys = pd.factorize(interactions["user"], sort=False)
    items, item_keys = pd.factorize(interactions["item"], sort=False)
    timestamps = interactions["timestamp"].to_numpy(np.int64)
    file_order = np.arange(len(interactions))
    keep = np.ones(len(interactions), dtype=bool)

    if deduplicate:
        chronological = np.lexsort((file_order, timestamps, items, users))
        pairs = users[chronological].astype(np.int64) * (items.max() + 1) + items[chronological]
        first = np.ones(len(pairs), dtype=bool)
        first[1:] = pairs[1:] != pairs[:-1]
        keep[chronological[~first]] = False
        statistics["removed_duplicates"] = int((~first).sum())

    counted = keep.copy()
    if min_rating is not None:
        ratings = interactions["rating"].to_numpy(np.float64)
        if np.isnan(ratings).all():
            raise ValueError("min_rating is set but the source has no ratings")
        high = ratings >= min_rating
        counted &= high
        if rating_filter == "sequences":
            statistics["removed_by_rating"] = int((keep & ~high).sum())
            keep &= high

    before = int(keep.sum())
    if core_filter == "iterative":
        keep, passes = iterative_core(users, items, keep, min_user_interactions, min_item_interactions)
        statistics["core_passes"] = passes
    elif core_filter == "single_pass":
        keep = single_pass_core(users, items, keep, counted, min_user_interactions, min_item_interactions)
    statistics["removed_by_core_filter"] = before - int(keep.sum())

    lengths = _counts(users, keep, users.max() + 1)
    short = keep & (lengths[users] < MIN_SEQUENCE_LENGTH)
    statistics["removed_short_users"] = int(np.count_nonzero(lengths[(lengths > 0)] < MIN_SEQUENCE_LENGTH))
    statistics["removed_short_user_interactions"] = int(short.sum())
    keep &= ~short
    if not keep.any():
        raise ValueError(
            f"no interactions survive the filters (--core_filter {core_filter}, --min_user_interactions "
            f"{min_user_interactions}, --min_item_interactions {min_item_interactions}, --min_rating {min_rating}) "
            "(hint: lower the thresholds)"
        )

    # Ids follow first appearance in file order among the surviving rows (the reference's numbering).
    kept = np.flatnonzero(keep)
    user_ids, user_index = pd.factorize(users[kept], sort=False)
    item_ids, item_index = pd.factorize(items[kept], sort=False)
    order = np.lexsort((file_order[kept], timestamps[kept], user_ids))
    boundaries = np.flatnonzero(np.diff(user_ids[order])) + 1
    flat_items = (item_ids[order] + 1).astype(np.int32)
    sequences = np.split(flat_items, boundaries)
    statistics["interactions"] = int(len(kept))
    return Sequences(
        user_keys=np.asarray(user_keys[user_index], dtype=object),
        item_keys=np.asarray(item_keys[item_index], dtype=object),
        sequences=sequences,
        statistics=statistics,
    )
