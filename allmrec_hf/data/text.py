"""Item text as the models see it: HTML-unescaped, tag-free, whitespace-normalised."""

from __future__ import annotations

import html
import json
import re


_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_SPACE = re.compile(r"\s+")

DESCRIPTION_MODES = ("first", "join")


def clean_text(value) -> str:
    """Normalise one text value.

    Amazon metadata is HTML-escaped, sometimes twice (``&amp;amp;``), and descriptions carry markup such as
    ``<br>``; the reference implementation feeds both to the models verbatim. Unescaping repeats until the text is
    stable, tags are replaced by spaces (a ``<`` not followed by a letter, as in ``<5mm``, is kept), and runs of
    whitespace become one space.
    """
    if value is None:
        return ""
    text = str(value)
    for _ in range(3):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    text = _TAG.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def description_text(value, mode: str = "first") -> str:
    """Turn a description that may be a string or a list of strings into one string.

    ``mode='first'`` keeps the first element as the reference implementation does; ``mode='join'`` joins every
    non-empty element with a space.
    """
    if mode not in DESCRIPTION_MODES:
        raise ValueError(f"description mode must be one of {DESCRIPTION_MODES}, got {mode!r}")
    if isinstance(value, (list, tuple)):
        parts = [clean_text(part) for part in value]
        if mode == "first":
            return parts[0] if parts else ""
        return " ".join(part for part in parts if part)
    return clean_text(value)


def join_list(value, separator: str = ", ") -> str:
    """A list (or list of lists, as Amazon 2014 category paths) as one string; duplicates keep their first place."""
    if value is None:
        return ""
    if isinstance(value, str):
        return clean_text(value)
    if value and all(isinstance(part, (list, tuple)) for part in value):
        return " | ".join(join_list(part, separator) for part in value if part)
    seen = []
    for part in value:
        cleaned = clean_text(part)
        if cleaned and cleaned not in seen:
            seen.append(cleaned)
    return separator.join(seen)


def details_text(value) -> str:
    """Amazon 2023 ``details`` (a JSON object, sometimes serialised as a string) as ``key: value; ...``."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return clean_text(value)
    if isinstance(value, dict):
        return "; ".join(
            f"{clean_text(key)}: {clean_text(item)}" for key, item in value.items() if item not in (None, "")
        )
    return clean_text(value)
