"""Line-oriented record files (JSON lines, Python-literal lines, CSV/TSV; plain or gzip) with exact error locations."""

from __future__ import annotations

import ast
import csv
import gzip
import json
import os
import zlib
from collections.abc import Iterator

from .errors import DataFormatError, ProblemLog


def open_binary(path: str):
    """Open ``path`` for reading bytes, transparently decompressing ``.gz`` files."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def iter_text_lines(path: str, problems: ProblemLog) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every non-blank line, decoding UTF-8 strictly.

    Raises `DataFormatError` for an empty file (no non-blank line at all) and for a damaged gzip stream.
    """
    yielded = False
    number = 0
    try:
        with open_binary(path) as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    problems.problem(
                        path,
                        f"invalid UTF-8 byte 0x{raw[error.start]:02x} at column {error.start + 1}",
                        line=number,
                        reason="invalid UTF-8",
                    )
                    continue
                if not text.strip():
                    continue
                yielded = True
                yield number, text
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise DataFormatError(path, f"damaged gzip stream after line {number}: {error}") from error
    if not yielded:
        raise DataFormatError(path, "the file is empty (no records)")


def is_hub_path(path: str) -> bool:
    return str(path).startswith("hf://")


def iter_json_records(path: str, problems: ProblemLog) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for a JSON-lines file; every record must be a JSON object.

    ``hf://datasets/...`` paths are read through the `datasets` json builder (the Hub's Amazon 2023 loading script
    no longer runs under datasets >= 4); their "line" is the row number.
    """
    if is_hub_path(path):
        yield from iter_json_records_with_datasets(path)
        return
    for number, text in iter_text_lines(path, problems):
        # Without its line break, so a record cut short fails on its own line, not at "line 2, column 1".
        text = text.rstrip("\r\n")
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            problems.problem(
                path, f"malformed JSON: {error.msg} {_position(error, text)}", line=number, reason="malformed JSON"
            )
            continue
        if not isinstance(record, dict):
            problems.problem(
                path, f"expected a JSON object, got {type(record).__name__}", line=number, reason="not an object"
            )
            continue
        yield number, record


def _position(error: json.JSONDecodeError, text: str) -> str:
    if error.pos >= len(text):
        return f"at the end of the line (column {error.pos + 1})"
    return f"at column {error.pos + 1}"


def iter_python_literal_records(path: str, problems: ProblemLog) -> Iterator[tuple[int, dict]]:
    """Yield records of a file whose lines are Python dict literals (Amazon 2014 metadata).

    Uses `ast.literal_eval`, which only builds literals: the file cannot run code.
    """
    for number, text in iter_text_lines(path, problems):
        try:
            record = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError) as error:
            problems.problem(path, f"malformed Python literal: {error}", line=number, reason="malformed literal")
            continue
        if not isinstance(record, dict):
            problems.problem(
                path, f"expected a dict literal, got {type(record).__name__}", line=number, reason="not a dict"
            )
            continue
        yield number, record


class _LineSource:
    """Feeds text lines to `csv.reader` and keeps the number of the first line of the row being read (a quoted cell
    may span lines, and blank or skipped lines make `csv.reader.line_num` differ from the file's numbering)."""

    def __init__(self, lines: Iterator[tuple[int, str]]):
        self.lines = lines
        self.first: int | None = None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        number, text = next(self.lines)
        if self.first is None:
            self.first = number
        return text

    def take_line_number(self) -> int | None:
        """The first line of the row just read; the next row starts afresh."""
        number, self.first = self.first, None
        return number


def iter_delimited_records(path: str, separator: str, problems: ProblemLog) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each row of a CSV/TSV file whose first line names the columns.

    Cells are strings; an empty or absent cell is missing (``None``). A row with more cells than the header is a
    problem (skipped under ``on_error='skip'``), as it is impossible to tell which cell is the extra one.
    """
    source = _LineSource(iter_text_lines(path, problems))
    rows = csv.reader(source, delimiter=separator)
    try:
        header = next(rows)
        header_line = source.take_line_number()
        header[0] = header[0].removeprefix("\ufeff")  # the byte-order mark spreadsheet programs write
        for cells in rows:
            line = source.take_line_number()
            if len(cells) > len(header):
                problems.problem(
                    path,
                    f"{len(cells)} cells, but the header (line {header_line}) names {len(header)} columns",
                    line=line,
                    reason="extra cells",
                )
                continue
            yield line, {name: cell or None for name, cell in zip(header, cells)}
    except csv.Error as error:
        raise DataFormatError(path, f"cannot parse the row: {error}", line=source.first) from error


_MISSING = object()


def required(record: dict, name: str, kinds: type | tuple[type, ...], path: str, line: int, problems: ProblemLog):
    """Return ``record[name]`` if present, non-null and of one of ``kinds``; report a problem and return ``_MISSING``
    otherwise (the caller skips the record)."""
    value = record.get(name)
    if value is None:
        problems.problem(path, "missing required field", line=line, field=name, reason=f"missing {name}")
        return _MISSING
    if not isinstance(value, kinds) or isinstance(value, bool):
        expected = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
        problems.problem(
            path,
            f"expected {expected}, got {type(value).__name__} {value!r:.60}",
            line=line,
            field=name,
            reason=f"bad {name}",
        )
        return _MISSING
    return value


def is_missing(value) -> bool:
    return value is _MISSING


def iter_json_records_with_datasets(path: str) -> Iterator[tuple[int, dict]]:
    """Read a JSON-lines file (local or ``hf://``) with the `datasets` json builder, row by row."""
    import datasets

    try:
        table = datasets.load_dataset("json", data_files=str(path), split="train")
    except Exception as error:  # the builder raises many types; the user needs the file name and the cause
        raise DataFormatError(path, f"the datasets json builder could not read it: {error}") from error
    if len(table) == 0:
        raise DataFormatError(path, "the file is empty (no records)")
    for index, record in enumerate(table):
        yield index + 1, record
