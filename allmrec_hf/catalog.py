"""The item catalog a saved A-LLMRec model needs at inference: ids, original ids and titles (``catalog.jsonl``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from transformers.utils import cached_file

from .prompts import normalize_title
from .utils import write_text_atomic


CATALOG_FILE = "catalog.jsonl"


@dataclass
class Catalog:
    """Items by id (index 0 is padding), with lookups from original ids and from titles."""

    items: list[str]
    titles: list[str]

    def __post_init__(self):
        self.by_key = {key: index for index, key in enumerate(self.items) if index}
        self.by_title: dict[str, int] = {}
        for index, title in enumerate(self.titles):
            if index and title:
                self.by_title.setdefault(normalize_title(title), index)

    @classmethod
    def from_dataset(cls, dataset) -> Catalog:
        return cls(items=[""] + list(dataset.items["item"]), titles=dataset.titles)

    def save(self, folder) -> None:
        lines = [
            json.dumps({"item_id": index, "item": key, "title": title}, ensure_ascii=False)
            for index, (key, title) in enumerate(zip(self.items, self.titles))
            if index
        ]
        write_text_atomic(os.path.join(folder, CATALOG_FILE), "\n".join(lines) + "\n")

    @classmethod
    def load(cls, name_or_path: str, **hub_kwargs) -> Catalog:
        path = cached_file(name_or_path, CATALOG_FILE, **hub_kwargs)
        items, titles = [""], [""]
        with open(path, encoding="utf-8") as stream:
            for expected, line in enumerate(stream, 1):
                record = json.loads(line)
                if record["item_id"] != expected:
                    raise ValueError(f"{path}, line {expected}: item ids must run 1, 2, ... in order")
                items.append(record["item"])
                titles.append(record["title"])
        return cls(items=items, titles=titles)

    def resolve(self, value) -> int | None:
        """The item id of an id, an original id or a title; ``None`` when the catalog has no such item."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value if 0 < value < len(self.items) else None
        value = str(value)
        if value in self.by_key:
            return self.by_key[value]
        return self.by_title.get(normalize_title(value))
