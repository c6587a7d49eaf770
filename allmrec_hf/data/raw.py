"""What every reader returns: interactions plus an item text table, before any filtering."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataFormatError, ProblemLog


UNKNOWN_ITEM_POLICIES = ("error", "skip", "keep")
UNKNOWN_ITEM_REASON = "item without text record"
UNKNOWN_ITEMS_HINT = "--unknown_items skip drops such interactions, --unknown_items keep keeps them with empty text"


@dataclass
class RawInteractions:
    """Interactions in file order and the text of every item.

    Attributes:
        interactions (`pandas.DataFrame`):
            Columns ``user`` (str), ``item`` (str), ``timestamp`` (int64; the position in the sequence when the source
            has only an order) and ``rating`` (float64, NaN when the source has none). Row order is file order, which
            breaks timestamp ties the way the reference implementation's stable sort does.
        items (`dict[str, dict[str, str]]`):
            Item id to text fields (``title``, ``description`` and any extra field such as ``brand`` or
            ``categories``); every value is a cleaned string, ``""`` when missing.
        source (`str`): Name of the reader, for the report.
        has_ratings (`bool`): Whether ``rating`` carries values.
        problems (`ProblemLog`): Records skipped while reading, by file and reason.
        items_without_text (`int`): Interacted items that had no metadata record and were kept with empty text.
    """

    interactions: pd.DataFrame
    items: dict[str, dict[str, str]]
    source: str
    has_ratings: bool = False
    problems: ProblemLog = field(default_factory=ProblemLog)
    items_without_text: int = 0

    @property
    def text_fields(self) -> list[str]:
        names = {"title", "description"}
        for text in self.items.values():
            names.update(text)
        return ["title", "description", *sorted(names - {"title", "description"})]


def interaction_frame(users: list, items: list, timestamps: list, ratings: list | None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": pd.array(users, dtype=object),
            "item": pd.array(items, dtype=object),
            "timestamp": np.asarray(timestamps, dtype=np.int64),
            "rating": np.asarray(ratings, dtype=np.float64) if ratings is not None else np.full(len(users), np.nan),
        }
    )


def skip_repeated_item(problems: ProblemLog, path: str, item: str, line: int, first_line: int, field: str) -> None:
    """Count a repeated item record of a text file; the first record is kept (real Amazon metadata repeats items)."""
    problems.skip(
        path,
        "repeated item record (first kept)",
        f"item {item!r} already has a record on line {first_line}",
        line=line,
        field=field,
    )


def resolve_unknown_items(
    interactions: pd.DataFrame,
    items: dict[str, dict[str, str]],
    policy: str,
    first_lines: dict[str, int],
    interactions_path: str,
    items_path: str,
    item_field: str,
    problems: ProblemLog,
    unit: str = "line",
) -> tuple[pd.DataFrame, int]:
    """Apply the unknown-item policy to items that have interactions but no text record.

    ``error`` raises on the first such item (naming the interaction file and line), or skips like ``skip`` under
    ``--on_error skip``; ``skip`` drops its interactions and counts them; ``keep`` keeps it with empty text. Returns
    the interactions and the number of items kept without text.
    """
    if policy not in UNKNOWN_ITEM_POLICIES:
        raise ValueError(f"unknown_items must be one of {UNKNOWN_ITEM_POLICIES}, got {policy!r}")
    unknown = sorted(set(interactions["item"].unique()) - items.keys(), key=lambda item: first_lines.get(item, 0))
    if not unknown:
        return interactions, 0
    if policy == "keep":
        for item in unknown:
            items[item] = {"title": "", "description": ""}
        return interactions, len(unknown)
    if policy == "error" and problems.on_error == "raise":
        item = unknown[0]
        raise DataFormatError(
            interactions_path,
            f"item {item!r} has no record in {items_path} ({len(unknown)} such items)",
            line=first_lines.get(item),
            field=item_field,
            unit=unit,
            hint=UNKNOWN_ITEMS_HINT,
        )
    dropped = interactions["item"].isin(set(unknown))
    counts = interactions.loc[dropped, "item"].value_counts()
    for item in unknown:
        problems.skip(
            interactions_path,
            UNKNOWN_ITEM_REASON,
            f"item {item!r} has no record in {items_path}",
            line=first_lines.get(item),
            field=item_field,
            unit=unit,
            count=int(counts[item]),
        )
    return interactions.loc[~dropped].reset_index(drop=True), 0
