"""The prepared dataset every later stage reads: user splits, the item table and the preparation report.

On disk (``save``), a folder holds a `datasets.DatasetDict` saved with ``save_to_disk`` (so
``datasets.load_from_disk(folder)`` returns the splits), an ``items/`` dataset and ``report.json``.

Every split has one row per user with the same columns:

- ``user_id`` (int32): contiguous user index (1-based);
- ``user`` (string): the original user id;
- ``history`` (list of int32): the items before the target, oldest first;
- ``target`` (int32): the item to predict;
- ``candidates`` (list of int32): the target and ``num_negatives`` items the user never interacted with, shuffled,
  drawn once at preparation time.

``train`` rows hold each user's training sequence as ``history + [target]`` (its last training item is the target
that stage 1 and stage 2 learn from); ``validation`` and ``test`` follow leave-one-out; ``cold_users`` holds users
kept out of training; ``few_shot_<K>`` holds the training rows of K sampled users.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property

import datasets
import numpy as np
import pyarrow as pa
from datasets import Dataset, DatasetDict

from ..utils import atomic_directory, read_json, write_json_atomic


REPORT_FILE = "report.json"
ITEMS_DIR = "items"
MAIN_SPLITS = ("train", "validation", "test")


def _list_column(sequences: list[np.ndarray]) -> pa.ListArray:
    lengths = np.fromiter((len(sequence) for sequence in sequences), dtype=np.int64, count=len(sequences))
    offsets = np.zeros(len(sequences) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate(sequences).astype(np.int32) if sequences else np.zeros(0, dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def user_split(
    user_ids: np.ndarray,
    user_keys: np.ndarray,
    histories: list[np.ndarray],
    targets: np.ndarray,
    candidates: np.ndarray,
) -> Dataset:
    """Build one split from per-row arrays without a Python loop over rows."""
    table = pa.table(
        {
            "user_id": pa.array(np.asarray(user_ids, dtype=np.int32)),
            "user": pa.array(list(user_keys), type=pa.string()),
            "history": _list_column(histories),
            "target": pa.array(np.asarray(targets, dtype=np.int32)),
            "candidates": _list_column(list(candidates)),
        }
    )
    return Dataset(datasets.table.InMemoryTable(table))


@dataclass
class PreparedDataset:
    """User splits, item table and report of one prepared dataset.

    Args:
        splits (`datasets.DatasetDict`): ``train``, ``validation``, ``test`` and the scenario splits.
        items (`datasets.Dataset`):
            One row per item, ordered by ``item_id`` (1..num_items): ``item`` (original id), ``title``,
            ``description``, extra text fields, ``train_count`` and ``popularity`` (``cold``/``middle``/``warm``).
        report (`dict`): What ``report.json`` holds: statistics, counts and the preparation settings.
    """

    splits: DatasetDict
    items: Dataset
    report: dict

    @property
    def num_items(self) -> int:
        return len(self.items)

    @property
    def num_negatives(self) -> int:
        return int(self.report["protocol"]["num_negatives"])

    def item_column(self, name: str) -> list:
        """``items[name]`` indexed by item id: position 0 (padding) holds an empty value."""
        if name not in self.items.column_names:
            raise KeyError(f"the item table has no column {name!r}; it has {self.items.column_names}")
        values = self.items[name]
        return [type(values[0])() if values else None, *values]

    def sample_rows(self, split: str, max_users: int | None = None, seed: int = 0) -> Dataset:
        """The rows of a split, or a fixed seeded sample of ``max_users`` of them in their original order: every
        model asked for the same ``max_users`` (CF, stage 1 or LLM) is scored on the very same users (the reference
        scores at most 10,000 sampled users)."""
        rows = self.splits[split]
        if max_users is None or max_users >= len(rows):
            return rows
        if max_users < 1:
            raise ValueError(f"max_users must be positive, got {max_users}")
        return rows.select(np.sort(np.random.default_rng(seed).choice(len(rows), max_users, replace=False)))

    @cached_property
    def titles(self) -> list[str]:
        return self.item_column("title")

    @cached_property
    def popularity(self) -> np.ndarray:
        """Popularity group (``cold``/``middle``/``warm``) by item id; index 0 is ``""``."""
        return np.asarray(self.item_column("popularity"), dtype=object)

    @cached_property
    def train_counts(self) -> np.ndarray:
        return np.asarray(self.item_column("train_count"), dtype=np.int64)

    def save(self, path: str | os.PathLike) -> None:
        """Write the dataset to ``path`` atomically (a partial write never replaces a good folder)."""
        # An empty split (no cold users, say) needs an explicit shard: datasets writes none otherwise and cannot load
        # it back (huggingface/datasets#8385).
        empty = {name: 1 for name, split in self.splits.items() if len(split) == 0}
        with atomic_directory(path) as temporary:
            self.splits.save_to_disk(str(temporary), num_shards=empty or None)
            self.items.save_to_disk(str(temporary / ITEMS_DIR))
            write_json_atomic(temporary / REPORT_FILE, self.report)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PreparedDataset:
        """Load a folder written by `save` (memory-mapped Arrow, nothing copied into RAM)."""
        path = str(path)
        for required in ("dataset_dict.json", ITEMS_DIR, REPORT_FILE):
            if not os.path.exists(os.path.join(path, required)):
                raise FileNotFoundError(
                    f"{path} is not a prepared dataset ({required} is missing); create one with examples/prepare_data.py"
                )
        return cls(
            splits=datasets.load_from_disk(path),
            items=datasets.load_from_disk(os.path.join(path, ITEMS_DIR)),
            report=read_json(os.path.join(path, REPORT_FILE)),
        )

    def push_to_hub(self, repo_id: str, private: bool | None = None, token: str | None = None) -> None:
        """Upload to a Hub dataset repository: config ``interactions`` (the splits), config ``items`` (split
        ``catalog``) and ``report.json``. `from_hub` reads it back."""
        from huggingface_hub import HfApi

        self.splits.push_to_hub(repo_id, config_name="interactions", private=private, token=token)
        DatasetDict({"catalog": self.items}).push_to_hub(repo_id, config_name="items", private=private, token=token)
        HfApi(token=token).upload_file(
            path_or_fileobj=json.dumps(self.report, indent=2).encode("utf-8"),
            path_in_repo=REPORT_FILE,
            repo_id=repo_id,
            repo_type="dataset",
        )

    @classmethod
    def from_hub(cls, repo_id: str, revision: str | None = None, token: str | None = None) -> PreparedDataset:
        from huggingface_hub import hf_hub_download

        splits = datasets.load_dataset(repo_id, "interactions", revision=revision, token=token)
        items = datasets.load_dataset(repo_id, "items", split="catalog", revision=revision, token=token)
        report_path = hf_hub_download(repo_id, REPORT_FILE, repo_type="dataset", revision=revision, token=token)
        return cls(splits=splits, items=items, report=read_json(report_path))
