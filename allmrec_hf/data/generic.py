"""Readers for logs that are not Amazon dumps: an interactions table, or ``sequences.jsonl`` + ``items.jsonl``.

``../shared/data`` and the synthetic sample use the second layout:

- ``sequences.jsonl``: ``{"user_id": str, "item_ids": [str, ...]}`` per line, oldest item first;
- ``items.jsonl``: ``{"item_id": str, "title": str, "description": str, ...}`` per line; every other field is kept
  as extra item text (``brand``, ``categories``, ...).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .errors import DataFormatError, ProblemLog
from .raw import (
    UNKNOWN_ITEM_POLICIES,
    UNKNOWN_ITEM_REASON,
    UNKNOWN_ITEMS_HINT,
    RawInteractions,
    interaction_frame,
    resolve_unknown_items,
    skip_repeated_item,
)
from .records import is_missing, iter_delimited_records, iter_json_records, required
from .text import clean_text, description_text, join_list


ID_TYPES = (str, int)
INT64_LIMIT = 2.0**63


def _is_id(value) -> bool:
    return isinstance(value, ID_TYPES) and not isinstance(value, bool)


def read_items_jsonl(path: str, description_mode: str, problems: ProblemLog) -> dict[str, dict[str, str]]:
    """Parse ``items.jsonl`` into ``{item_id: text fields}``; a repeated item id keeps its first record."""
    catalog: dict[str, dict[str, str]] = {}
    first_lines: dict[str, int] = {}
    for line, record in iter_json_records(path, problems):
        item = required(record, "item_id", ID_TYPES, path, line, problems)
        if is_missing(item):
            continue
        item = str(item)
        if item in catalog:
            skip_repeated_item(problems, path, item, line, first_lines[item], "item_id")
            continue
        first_lines[item] = line
        text = {
            "title": clean_text(record.get("title")),
            "description": description_text(record.get("description"), description_mode),
        }
        for name, value in record.items():
            if name not in ("item_id", "title", "description"):
                text[name] = join_list(value) if isinstance(value, (list, tuple)) else clean_text(value)
        catalog[item] = text
    return catalog


def _drop_unknown_item(problems: ProblemLog, policy: str, sequences_file: str, items_file: str, item: str, line: int):
    """Raise for an interaction with an item that has no text record, or count it as skipped (``--unknown_items
    skip``, or the default policy under ``--on_error skip``)."""
    message = f"item {item!r} is not in {items_file}"
    if policy == "skip":
        problems.skip(sequences_file, UNKNOWN_ITEM_REASON, message, line=line, field="item_ids")
        return
    problems.problem(
        sequences_file, message, line=line, field="item_ids", reason=UNKNOWN_ITEM_REASON, hint=UNKNOWN_ITEMS_HINT
    )


def read_sequences(
    sequences_file: str,
    items_file: str,
    description_mode: str = "first",
    unknown_items: str = "error",
    problems: ProblemLog | None = None,
) -> RawInteractions:
    """Read ``sequences.jsonl`` (chronological item lists) with ``items.jsonl``.

    The sequences carry an order but no timestamps, so each interaction's timestamp is its position.
    """
    if unknown_items not in UNKNOWN_ITEM_POLICIES:
        raise ValueError(f"unknown_items must be one of {UNKNOWN_ITEM_POLICIES}, got {unknown_items!r}")
    problems = problems or ProblemLog()
    catalog = read_items_jsonl(items_file, description_mode, problems)
    users, items, positions = [], [], []
    seen_users: dict[str, int] = {}
    kept_without_text = set()
    for line, record in iter_json_records(sequences_file, problems):
        user = required(record, "user_id", ID_TYPES, sequences_file, line, problems)
        item_ids = required(record, "item_ids", list, sequences_file, line, problems)
        if is_missing(user) or is_missing(item_ids):
            continue
        user = str(user)
        if user in seen_users:
            problems.problem(
                sequences_file,
                f"user {user!r} already has a sequence on line {seen_users[user]}",
                line=line,
                field="user_id",
                reason="repeated user",
            )
            continue
        if not item_ids:
            problems.problem(sequences_file, "empty item list", line=line, field="item_ids", reason="empty sequence")
            continue
        bad_types = [value for value in item_ids if not _is_id(value)]
        if bad_types:
            problems.problem(
                sequences_file,
                f"item ids must be strings or integers, got {bad_types[0]!r}",
                line=line,
                field="item_ids",
                reason="bad item id",
            )
            continue
        seen_users[user] = line
        position = 0
        for value in item_ids:
            item = str(value)
            if item not in catalog:
                if unknown_items == "keep":
                    kept_without_text.add(item)
                    catalog[item] = {"title": "", "description": ""}
                else:
                    _drop_unknown_item(problems, unknown_items, sequences_file, items_file, item, line)
                    continue
            users.append(user)
            items.append(item)
            positions.append(position)
            position += 1
    interactions = interaction_frame(users, items, positions, None)
    used = set(items)
    return RawInteractions(
        interactions=interactions,
        items={item: text for item, text in catalog.items() if item in used},
        source="generic",
        problems=problems,
        items_without_text=len(kept_without_text),
    )


def _read_parquet(path: str) -> pd.DataFrame:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return pd.read_parquet(path)
    except (ValueError, OSError) as error:
        raise DataFormatError(path, f"cannot read the Parquet file: {error}") from error


def _read_rows(path: str, problems: ProblemLog) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The table, each row's line number in the file (a row number for Parquet) and the word for that number.

    CSV/TSV and JSON lines are read line by line, so a bad line is reported (or skipped) with its number.
    """
    lowered = str(path).lower()
    if lowered.endswith((".parquet", ".pq")):
        table = _read_parquet(path)
        return table, np.arange(1, len(table) + 1), "row"
    if lowered.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
        records = iter_json_records(path, problems)
    else:
        records = iter_delimited_records(path, "\t" if lowered.endswith((".tsv", ".tsv.gz")) else ",", problems)
    lines, rows = [], []
    for line, record in records:
        lines.append(line)
        rows.append(record)
    return pd.DataFrame(rows), np.asarray(lines, dtype=np.int64), "line"


def _ids(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_float_dtype(values):
        # A Parquet integer column with a null reads as floats: whole numbers are the ids it held.
        whole = (values % 1 == 0).to_numpy()
        return values.where(whole).astype("Int64"), ~whole
    if values.dtype == object:  # mixed JSON values: a list or an object may sit where an id should
        return values, ~values.map(_is_id).to_numpy(dtype=bool)
    return values, values.isna().to_numpy()


def _timestamps(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers stay as they are and date strings become Unix seconds; anything else, or a number too large for
    int64 (which the cast would silently wrap into the wrong order), is bad."""
    numeric = pd.to_numeric(values, errors="coerce")
    dates = numeric.isna() & values.notna()
    if dates.any():
        parsed = pd.to_datetime(values[dates], errors="coerce", utc=True, format="mixed")
        numeric[dates] = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return numeric, ~(numeric.abs() < INT64_LIMIT).to_numpy()


def _ratings(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    numeric = pd.to_numeric(values, errors="coerce")
    return numeric, numeric.isna().to_numpy()


# Each column role's parser: the parsed values and which rows are bad.
PARSERS = {"user": _ids, "item": _ids, "timestamp": _timestamps, "rating": _ratings}


def _is_number(value) -> bool:
    return isinstance(value, (str, int, float)) and bool(np.isfinite(pd.to_numeric(value, errors="coerce")))


def _bad_value(role: str, value) -> str:
    """Why ``value`` cannot be used as the column's ``role``."""
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return "missing or unparseable value (none given)"
    value = value.item() if isinstance(value, np.generic) else value  # Parquet cells: say 1.5, not np.float64(1.5)
    if role in ("user", "item"):
        return f"expected str or int, got {type(value).__name__} {value!r:.60}"
    if role == "timestamp" and _is_number(value):
        return f"timestamp {value!r} is out of range (64-bit integers)"
    return f"missing or unparseable value {value!r}"


def read_interaction_table(
    interactions_file: str,
    items_file: str,
    user_column: str = "user_id",
    item_column: str = "item_id",
    timestamp_column: str | None = "timestamp",
    rating_column: str | None = "rating",
    description_mode: str = "first",
    unknown_items: str = "error",
    problems: ProblemLog | None = None,
) -> RawInteractions:
    """Read an interactions table (CSV, TSV, Parquet or JSON lines) with ``items.jsonl``.

    ``timestamp`` may be numeric or a date string; without it, file order within each user is the order. ``rating``
    is optional. Rows are numbered as lines (header = line 1) for CSV/TSV and JSON lines, as rows for Parquet.
    """
    problems = problems or ProblemLog()
    table, line_numbers, line_unit = _read_rows(interactions_file, problems)
    if len(table) == 0:
        raise DataFormatError(interactions_file, "the file is empty (no records)")

    columns = {"user": user_column, "item": item_column}
    if timestamp_column and timestamp_column in table.columns:
        columns["timestamp"] = timestamp_column
    if rating_column and rating_column in table.columns:
        columns["rating"] = rating_column
    for name in (user_column, item_column):
        if name not in table.columns:
            raise DataFormatError(
                interactions_file,
                f"missing required column; the file has {sorted(map(str, table.columns))}",
                field=name,
            )

    keep = np.ones(len(table), dtype=bool)
    for role, column in columns.items():
        raw = table[column]
        table[column], bad = PARSERS[role](raw)
        bad = bad & keep
        for index in np.flatnonzero(bad):
            problems.problem(
                interactions_file,
                _bad_value(role, raw.iloc[index]),
                line=int(line_numbers[index]),
                field=column,
                reason=f"bad {column}",
                unit=line_unit,
            )
        keep &= ~bad
    table = table.loc[keep].reset_index(drop=True)
    line_numbers = line_numbers[keep]

    users = table[user_column].astype(str).tolist()
    items = table[item_column].astype(str).tolist()
    if "timestamp" in columns:
        timestamps = table[timestamp_column].astype("int64").tolist()
    else:
        timestamps = list(range(len(table)))
    ratings = table[rating_column].astype("float64").tolist() if "rating" in columns else None
    interactions = interaction_frame(users, items, timestamps, ratings)

    first_lines: dict[str, int] = {}
    for item, line in zip(items, line_numbers.tolist()):
        first_lines.setdefault(item, line)
    catalog = read_items_jsonl(items_file, description_mode, problems)
    interactions, without_text = resolve_unknown_items(
        interactions,
        catalog,
        unknown_items,
        first_lines,
        interactions_file,
        items_file,
        item_column,
        problems,
        line_unit,
    )
    used = set(interactions["item"].unique())
    return RawInteractions(
        interactions=interactions,
        items={item: text for item, text in catalog.items() if item in used},
        source="generic",
        has_ratings="rating" in columns,
        problems=problems,
        items_without_text=without_text,
    )
