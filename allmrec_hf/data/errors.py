"""Bad input is reported with its file, line and field, or counted when the user asked to skip it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class DataFormatError(ValueError):
    """A record of an input file cannot be used.

    The message always names the file, and the line (or row) and field when they are known, so a user can open the
    file at the right place instead of reading a traceback from deep inside a parser.
    """

    def __init__(self, path: str, message: str, line: int | None = None, field: str | None = None, unit: str = "line"):
        self.path = str(path)
        self.line = line
        self.field = field
        location = self.path if line is None else f"{self.path}, {unit} {line}"
        if field is not None:
            location += f", field {field!r}"
        super().__init__(f"{location}: {message}")


@dataclass
class ProblemLog:
    """Decides what happens to a bad record: raise (the default) or skip it and count why.

    Skipped records are never silent: their counts per file and reason go into ``report.json``, with the first few
    locations kept as examples.
    """

    on_error: str = "raise"
    max_examples: int = 5
    skipped: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")

    def problem(
        self,
        path,
        message: str,
        line: int | None = None,
        field: str | None = None,
        reason: str | None = None,
        unit: str = "line",
    ):
        """Raise a `DataFormatError`, or count the record as skipped when ``on_error='skip'``."""
        error = DataFormatError(path, message, line=line, field=field, unit=unit)
        if self.on_error == "raise":
            raise error
        key = (str(path), reason or message)
        self.skipped[key] += 1
        self.examples.setdefault(key, [])
        if len(self.examples[key]) < self.max_examples:
            self.examples[key].append(str(error))

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_report(self) -> list[dict]:
        return [
            {"file": path, "reason": reason, "count": count, "examples": self.examples[(path, reason)]}
            for (path, reason), count in sorted(self.skipped.items())
        ]
