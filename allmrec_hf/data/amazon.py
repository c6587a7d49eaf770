"""Readers for the three public Amazon review releases (McAuley lab 2014, 2018 and 2023).

Each release pairs a review file (one interaction per line) with a metadata file (one item per line). Field names
and text layouts differ between releases; the readers hide that and return `RawInteractions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import ProblemLog
from .raw import RawInteractions, interaction_frame, resolve_unknown_items, skip_repeated_item
from .records import is_missing, iter_json_records, iter_python_literal_records, required
from .text import clean_text, description_text, details_text, join_list


@dataclass(frozen=True)
class ReviewFields:
    user: str
    item: str
    timestamp: str
    rating: str


REVIEWS_2014_2018 = ReviewFields(user="reviewerID", item="asin", timestamp="unixReviewTime", rating="overall")
# 2023 reviews name the variant in ``asin`` and the product in ``parent_asin``; metadata is keyed by the product.
REVIEWS_2023 = ReviewFields(user="user_id", item="parent_asin", timestamp="timestamp", rating="rating")


def read_reviews(path: str, fields: ReviewFields, problems: ProblemLog):
    """Parse a review file into interaction columns and the first line where each item appears."""
    users, items, timestamps, ratings = [], [], [], []
    first_lines: dict[str, int] = {}
    for line, record in iter_json_records(path, problems):
        user = required(record, fields.user, str, path, line, problems)
        item = required(record, fields.item, str, path, line, problems)
        timestamp = required(record, fields.timestamp, int, path, line, problems)
        rating = required(record, fields.rating, (int, float), path, line, problems)
        if any(is_missing(value) for value in (user, item, timestamp, rating)):
            continue
        users.append(user)
        items.append(item)
        timestamps.append(timestamp)
        ratings.append(float(rating))
        first_lines.setdefault(item, line)
    return interaction_frame(users, items, timestamps, ratings), first_lines


def _text_2014(record: dict, description_mode: str) -> dict[str, str]:
    return {
        "title": clean_text(record.get("title")),
        "description": description_text(record.get("description"), description_mode),
        "brand": clean_text(record.get("brand")),
        "categories": join_list(record.get("categories")),
    }


def _text_2018(record: dict, description_mode: str) -> dict[str, str]:
    return {
        "title": clean_text(record.get("title")),
        "description": description_text(record.get("description"), description_mode),
        "brand": clean_text(record.get("brand")),
        "categories": join_list(record.get("category")),
    }


def _text_2023(record: dict, description_mode: str) -> dict[str, str]:
    return {
        "title": clean_text(record.get("title")),
        "description": description_text(record.get("description"), description_mode),
        "features": join_list(record.get("features"), " "),
        "categories": join_list(record.get("categories")),
        "main_category": clean_text(record.get("main_category")),
        "store": clean_text(record.get("store")),
        "details": details_text(record.get("details")),
        "price": clean_text(record.get("price")),
    }


def read_metadata(
    path: str,
    key: str,
    to_text: Callable[[dict, str], dict[str, str]],
    description_mode: str,
    problems: ProblemLog,
    python_literals: bool = False,
) -> dict[str, dict[str, str]]:
    """Parse a metadata file into ``{item_id: text fields}``.

    Real Amazon metadata repeats some items; the first record is kept and the repeats are counted in the report.
    """
    records = iter_python_literal_records(path, problems) if python_literals else iter_json_records(path, problems)
    catalog: dict[str, dict[str, str]] = {}
    first_lines: dict[str, int] = {}
    for line, record in records:
        item = required(record, key, str, path, line, problems)
        if is_missing(item):
            continue
        if item in catalog:
            skip_repeated_item(problems, path, item, line, first_lines[item], key)
            continue
        first_lines[item] = line
        catalog[item] = to_text(record, description_mode)
    return catalog


def _read_release(
    source: str,
    reviews_file: str,
    meta_file: str,
    fields: ReviewFields,
    meta_key: str,
    to_text,
    description_mode: str,
    unknown_items: str,
    problems: ProblemLog,
    python_literal_meta: bool = False,
) -> RawInteractions:
    interactions, first_lines = read_reviews(reviews_file, fields, problems)
    catalog = read_metadata(meta_file, meta_key, to_text, description_mode, problems, python_literal_meta)
    interactions, without_text = resolve_unknown_items(
        interactions, catalog, unknown_items, first_lines, reviews_file, meta_file, fields.item, problems
    )
    used = set(interactions["item"].unique())
    catalog = {item: text for item, text in catalog.items() if item in used}
    return RawInteractions(
        interactions=interactions,
        items=catalog,
        source=source,
        has_ratings=True,
        problems=problems,
        items_without_text=without_text,
    )


def read_amazon2014(
    reviews_file: str,
    meta_file: str,
    description_mode: str = "first",
    unknown_items: str = "error",
    problems: ProblemLog | None = None,
) -> RawInteractions:
    """Amazon 2014: ``reviews_<Cat>[_5].json.gz`` (JSON lines) and ``meta_<Cat>.json.gz`` (Python dict literals)."""
    return _read_release(
        "amazon2014",
        reviews_file,
        meta_file,
        REVIEWS_2014_2018,
        "asin",
        _text_2014,
        description_mode,
        unknown_items,
        problems or ProblemLog(),
        python_literal_meta=True,
    )


def read_amazon2018(
    reviews_file: str,
    meta_file: str,
    description_mode: str = "first",
    unknown_items: str = "error",
    problems: ProblemLog | None = None,
) -> RawInteractions:
    """Amazon 2018: ``<Cat>[_5].json.gz`` and ``meta_<Cat>.json[.gz]`` (JSON lines, description is a list)."""
    return _read_release(
        "amazon2018",
        reviews_file,
        meta_file,
        REVIEWS_2014_2018,
        "asin",
        _text_2018,
        description_mode,
        unknown_items,
        problems or ProblemLog(),
    )


def read_amazon2023(
    reviews_file: str,
    meta_file: str,
    description_mode: str = "first",
    unknown_items: str = "error",
    problems: ProblemLog | None = None,
) -> RawInteractions:
    """Amazon 2023: ``<Cat>.jsonl[.gz]`` and ``meta_<Cat>.jsonl[.gz]``, local or ``hf://datasets/...`` paths.

    Items are products (``parent_asin``); timestamps are in milliseconds and only used for ordering.
    """
    return _read_release(
        "amazon2023",
        reviews_file,
        meta_file,
        REVIEWS_2023,
        "parent_asin",
        _text_2023,
        description_mode,
        unknown_items,
        problems or ProblemLog(),
    )
