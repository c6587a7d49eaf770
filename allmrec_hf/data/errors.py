"""Bad input is reported with its file, line and field, or counted when the user asked to skip it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


# What a user can pass to get past a skippable record; hints name command-line flags, the form most users type.
ON_ERROR_HINT = "--on_error skip"


class DataFormatError(ValueError):
    """A record of an input file cannot be used.

    The message always names the file, and the line (or row) and field when they are known, so a user can open the
    file at the right place instead of reading a traceback from deep inside a parser. ``hint`` names the flag that
    gets past the problem, when one does.
    """

    def __init__(
        self,
        path: str,
        message: str,
        line: int | None = None,
        field: str | None = None,
        unit: str = "line",
        hint: str | None = None,
    ):
        self.path = str(path)
        self.line = line
        self.field = field
        self.hint = hint
        location = self.path if line is None else f"{self.path}, {unit} {line}"
        if field is not None:
            location += f", field {field!r}"
        text = f"{location}: {message}"
        if hint:
            text += f" (hint: {hint})"
        super().__init__(text)


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
        hint: str | None = ON_ERROR_HINT,
    ):
        """Raise a `DataFormatError`, or count the record as skipped when ``on_error='skip'``."""
        if self.on_error == "raise":
            raise DataFormatError(path, message, line=line, field=field, unit=unit, hint=hint)
        self.skip(path, reason or message, message, line=line, field=field, unit=unit)

    def skip(
        self,
        path,
        reason: str,
        message: str,
        line: int | None = None,
        field: str | None = None,
        unit: str = "line",
        count: int = 1,
    ):
        """Count ``count`` records of ``path`` as skipped for ``reason``, keeping the location as an example.

        Used directly for records a reader drops by policy whatever ``on_error`` says (a repeated item record, an
        unknown item under ``--unknown_items skip``).
        """
        key = (str(path), reason)
        self.skipped[key] += count
        examples = self.examples.setdefault(key, [])
        if len(examples) < self.max_examples:
            examples.append(str(DataFormatError(path, message, line=line, field=field, unit=unit)))

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_report(self) -> list[dict]:
        return [
            {"file": path, "reason": reason, "count": count, "examples": self.examples[(path, reason)]}
            for (path, reason), count in sorted(self.skipped.items())
        ]
