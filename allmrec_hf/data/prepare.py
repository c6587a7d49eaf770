"""Raw logs in, `PreparedDataset` out: read, filter, split, draw candidates, label items, build scenarios."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
from datasets import Dataset, DatasetDict

from .amazon import read_amazon2014, read_amazon2018, read_amazon2023
from .errors import ProblemLog
from .generic import read_interaction_table, read_sequences
from .prepared import PreparedDataset, user_split
from .preprocessing import CORE_FILTERS, RATING_FILTER_TARGETS, Sequences, build_sequences
from .protocol import (
    POPULARITY_GROUPS,
    STREAM_COLD_USER_CANDIDATES,
    STREAM_FEW_SHOT,
    STREAM_SIMULATED_COLD_USERS,
    STREAM_TEST_CANDIDATES,
    STREAM_TRAIN_CANDIDATES,
    STREAM_VALIDATION_CANDIDATES,
    draw_candidates,
    popularity_groups,
    random_stream,
    sample_rows,
)
from .raw import UNKNOWN_ITEM_POLICIES, RawInteractions
from .synthetic import SyntheticShop
from .text import DESCRIPTION_MODES


logger = logging.getLogger(__name__)

SOURCES = ("amazon2014", "amazon2018", "amazon2023", "generic", "synthetic")
DEFAULT_FEW_SHOT_SIZES = (128, 256)  # the paper's few-shot sizes (Table 4)


@dataclass
class DataArguments:
    """How to turn a raw log into a prepared dataset (parsed by `HfArgumentParser`; a ``hub_configs`` JSON may
    supply any field)."""

    source: str = field(default="synthetic", metadata={"help": "Input format.", "choices": list(SOURCES)})
    reviews_file: str | None = field(
        default=None, metadata={"help": "Amazon review file (.json/.jsonl, optionally .gz; hf:// for 2023)."}
    )
    meta_file: str | None = field(default=None, metadata={"help": "Amazon metadata file matching reviews_file."})
    interactions_file: str | None = field(
        default=None, metadata={"help": "Generic interactions table: CSV, TSV, Parquet or JSON lines."}
    )
    sequences_file: str | None = field(default=None, metadata={"help": "Generic sequences.jsonl."})
    items_file: str | None = field(default=None, metadata={"help": "Generic items.jsonl (item text)."})
    data_dir: str | None = field(
        default=None,
        metadata={"help": "A folder holding sequences.jsonl and items.jsonl (shortcut for the generic layout)."},
    )
    user_column: str = field(default="user_id", metadata={"help": "User column of the interactions table."})
    item_column: str = field(default="item_id", metadata={"help": "Item column of the interactions table."})
    timestamp_column: str = field(default="timestamp", metadata={"help": "Timestamp column (optional in the file)."})
    rating_column: str = field(default="rating", metadata={"help": "Rating column (optional in the file)."})
    description_mode: str = field(
        default="first",
        metadata={
            "help": "Description given as a list: first element (reference) or joined.",
            "choices": list(DESCRIPTION_MODES),
        },
    )
    unknown_items: str = field(
        default="error",
        metadata={
            "help": "Interactions with an item that has no text record: raise, skip (counted) or keep with empty text.",
            "choices": list(UNKNOWN_ITEM_POLICIES),
        },
    )
    on_error: str = field(
        default="raise",
        metadata={
            "help": "Malformed records: raise, or skip them and count them in report.json.",
            "choices": ["raise", "skip"],
        },
    )
    min_rating: float | None = field(default=None, metadata={"help": "Keep interactions rated at least this much."})
    rating_filter: str = field(
        default="sequences",
        metadata={
            "help": "Where min_rating applies: the sequences, or only the core filter's counts (reference).",
            "choices": list(RATING_FILTER_TARGETS),
        },
    )
    core_filter: str = field(
        default="iterative",
        metadata={
            "help": "iterative k-core, single_pass (the reference's one counting pass, preset 'official') or none.",
            "choices": list(CORE_FILTERS),
        },
    )
    min_user_interactions: int = field(default=5, metadata={"help": "Core threshold for users."})
    min_item_interactions: int = field(default=5, metadata={"help": "Core threshold for items."})
    deduplicate: bool = field(default=False, metadata={"help": "Keep only the first interaction per (user, item)."})
    num_negatives: int = field(
        default=19, metadata={"help": "Negatives per candidate set (19 in the paper, 99 S3-Rec)."}
    )
    seed: int = field(default=42, metadata={"help": "Seed of every random draw of the preparation."})
    cold_item_fraction: float = field(default=0.35, metadata={"help": "Bottom share of items labelled cold."})
    warm_item_fraction: float = field(default=0.35, metadata={"help": "Top share of items labelled warm."})
    cold_user_interactions: int = field(
        default=3, metadata={"help": "Users with exactly this many interactions form the cold-user scenario."}
    )
    hold_out_cold_users: bool = field(
        default=True, metadata={"help": "Keep cold users out of training, validation and test (paper 5.2.3)."}
    )
    simulated_cold_users: int = field(
        default=0,
        metadata={
            "help": "Also hold out this many sampled longer users, truncated to their first cold_user_interactions "
            "items (for k-core data that has no user that short)."
        },
    )
    few_shot_sizes: list[int] | None = field(
        default=None,
        metadata={
            "help": f"Sizes K of the few-shot training subsets (default: those of {list(DEFAULT_FEW_SHOT_SIZES)} the "
            "dataset has enough users for; an explicit size that does not fit is an error)."
        },
    )
    synthetic_users: int = field(default=600, metadata={"help": "Synthetic source: number of users."})
    synthetic_items_per_category: int = field(default=30, metadata={"help": "Synthetic source: items per category."})

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        needs = {
            "amazon2014": ("reviews_file", "meta_file"),
            "amazon2018": ("reviews_file", "meta_file"),
            "amazon2023": ("reviews_file", "meta_file"),
        }
        if self.source == "generic":
            if self.data_dir and not (self.sequences_file or self.interactions_file):
                self.sequences_file = f"{self.data_dir}/sequences.jsonl"
                self.items_file = self.items_file or f"{self.data_dir}/items.jsonl"
            if not (self.sequences_file or self.interactions_file) or not self.items_file:
                raise ValueError(
                    "--source generic needs --items_file and one of --sequences_file / --interactions_file "
                    "(or --data_dir)"
                )
        for name in needs.get(self.source, ()):
            if not getattr(self, name):
                raise ValueError(f"--source {self.source} needs --{name}")
        if self.num_negatives < 1:
            raise ValueError(f"num_negatives must be at least 1, got {self.num_negatives}")
        if self.cold_user_interactions < 2:
            raise ValueError("cold_user_interactions must be at least 2 (one history item and one target)")
        if self.min_user_interactions < 1 or self.min_item_interactions < 1:
            raise ValueError("core thresholds must be at least 1")
        if any(size < 1 for size in self.few_shot_sizes or ()):
            raise ValueError(f"few_shot_sizes must be positive, got {self.few_shot_sizes}")


def read_source(args: DataArguments, problems: ProblemLog) -> RawInteractions:
    if args.source == "synthetic":
        shop = SyntheticShop(
            num_users=args.synthetic_users, items_per_category=args.synthetic_items_per_category, seed=args.seed
        )
        return shop.generate()
    options = {"description_mode": args.description_mode, "unknown_items": args.unknown_items, "problems": problems}
    if args.source == "generic":
        if args.sequences_file:
            return read_sequences(args.sequences_file, args.items_file, **options)
        return read_interaction_table(
            args.interactions_file,
            args.items_file,
            user_column=args.user_column,
            item_column=args.item_column,
            timestamp_column=args.timestamp_column,
            rating_column=args.rating_column,
            **options,
        )
    reader = {"amazon2014": read_amazon2014, "amazon2018": read_amazon2018, "amazon2023": read_amazon2023}[args.source]
    return reader(args.reviews_file, args.meta_file, **options)


def _items_table(sequences: Sequences, raw: RawInteractions, train_counts: np.ndarray, groups: np.ndarray) -> Dataset:
    fields = raw.text_fields
    columns = {name: [] for name in fields}
    for key in sequences.item_keys:
        text = raw.items.get(key, {})
        for name in fields:
            columns[name].append(text.get(name, ""))
    return Dataset.from_dict(
        {
            "item_id": np.arange(1, sequences.num_items + 1, dtype=np.int32),
            "item": [str(key) for key in sequences.item_keys],
            **columns,
            "train_count": train_counts[1:].astype(np.int32),
            "popularity": list(groups[1:]),
        }
    )


def _split(rows, ends, sequences, user_keys, rng, num_items: int, num_negatives: int):
    """One row per user: ``sequence[:end]`` split into history and target (its last item), with candidates that
    exclude every item of the user's whole sequence."""
    whole = [sequences[row] for row in rows]
    used = [sequence[:end] for sequence, end in zip(whole, ends)]
    targets = np.array([sequence[-1] for sequence in used], dtype=np.int32)
    keys = user_keys[rows]
    candidates = draw_candidates(rng, targets, whole, num_items, num_negatives, keys)
    return user_split(rows + 1, keys, [sequence[:-1] for sequence in used], targets, candidates)


def _few_shot_sizes(requested: list[int] | None, num_users: int) -> tuple[list[int], list[int]]:
    """The few-shot sizes to build and the default ones skipped because the dataset has too few training users (a
    size the user asked for is always built, so one that does not fit is an error, not a silent omission)."""
    if requested is not None:
        return list(requested), []
    fits = [size for size in DEFAULT_FEW_SHOT_SIZES if size <= num_users]
    skipped = [size for size in DEFAULT_FEW_SHOT_SIZES if size > num_users]
    if skipped:
        logger.info("few-shot sizes %s skipped: only %d training users", skipped, num_users)
    return fits, skipped


def prepare_dataset(args: DataArguments) -> PreparedDataset:
    """Run the whole preparation and return the dataset (call `PreparedDataset.save` to write it)."""
    problems = ProblemLog(on_error=args.on_error)
    raw = read_source(args, problems)
    logger.info("read %d interactions of %d items from %s", len(raw.interactions), len(raw.items), raw.source)
    sequences = build_sequences(
        raw.interactions,
        min_rating=args.min_rating,
        rating_filter=args.rating_filter,
        core_filter=args.core_filter,
        min_user_interactions=args.min_user_interactions,
        min_item_interactions=args.min_item_interactions,
        deduplicate=args.deduplicate,
    )
    user_keys = sequences.user_keys
    num_items = sequences.num_items
    lengths = np.array([len(sequence) for sequence in sequences.sequences])
    cold = np.zeros(len(lengths), dtype=bool)
    if args.hold_out_cold_users:
        cold = lengths == args.cold_user_interactions
    simulated = np.zeros_like(cold)
    if args.simulated_cold_users:
        longer = np.flatnonzero(~cold & (lengths > args.cold_user_interactions))
        rng = random_stream(args.seed, STREAM_SIMULATED_COLD_USERS)
        picked = sample_rows(rng, len(longer), args.simulated_cold_users, "--simulated_cold_users")
        simulated[longer[picked]] = True
    main_rows = np.flatnonzero(~cold & ~simulated)
    cold_rows = np.flatnonzero(cold | simulated)
    if len(main_rows) == 0:
        raise ValueError("every user is a cold user; nothing is left to train on (hint: --hold_out_cold_users false)")

    full = sequences.sequences
    k = args.cold_user_interactions
    main_lengths = lengths[main_rows]
    # Leave-one-out: the last item is the test target, the one before it the validation target, the rest trains.
    # Cold users are judged on their first k items.
    layout = {
        "train": (main_rows, main_lengths - 2, STREAM_TRAIN_CANDIDATES),
        "validation": (main_rows, main_lengths - 1, STREAM_VALIDATION_CANDIDATES),
        "test": (main_rows, main_lengths, STREAM_TEST_CANDIDATES),
        "cold_users": (cold_rows, np.minimum(lengths[cold_rows], k), STREAM_COLD_USER_CANDIDATES),
    }
    splits = DatasetDict(
        {
            name: _split(rows, ends, full, user_keys, random_stream(args.seed, stream), num_items, args.num_negatives)
            for name, (rows, ends, stream) in layout.items()
        }
    )
    train_items = np.concatenate([full[row][:-2] for row in main_rows])
    train_counts = np.bincount(train_items, minlength=num_items + 1)
    groups = popularity_groups(train_counts, args.cold_item_fraction, args.warm_item_fraction)
    few_shot_rng = random_stream(args.seed, STREAM_FEW_SHOT)
    few_shot_sizes, skipped_few_shot_sizes = _few_shot_sizes(args.few_shot_sizes, len(main_rows))
    for size in few_shot_sizes:
        rows = sample_rows(few_shot_rng, len(main_rows), size, f"--few_shot_sizes {size}")
        splits[f"few_shot_{size}"] = splits["train"].select(rows)

    items = _items_table(sequences, raw, train_counts, groups)
    kept_lengths = np.where(cold | simulated, np.minimum(lengths, k), lengths)
    num_interactions = int(kept_lengths.sum())
    report = {
        "source": raw.source,
        "num_users": int(len(lengths)),
        "num_items": int(num_items),
        "num_interactions": num_interactions,
        "avg_seq_len": round(num_interactions / len(lengths), 4),
        "splits": {name: len(split) for name, split in splits.items()},
        "cold_users": {"exact": int(cold.sum()), "simulated": int(simulated.sum())},
        "items": {group: int((groups[1:] == group).sum()) for group in POPULARITY_GROUPS}
        | {"without_training_interactions": int((train_counts[1:] == 0).sum())},
        "missing_text": {
            "title": int(sum(1 for title in items["title"] if not title)),
            "description": int(sum(1 for text in items["description"] if not text)),
            "no_text_record": int(raw.items_without_text),
        },
        "filtering": sequences.statistics,
        "skipped_records": problems.to_report(),
        "protocol": {
            "split": "leave-one-out",
            "num_negatives": args.num_negatives,
            "seed": args.seed,
            "cold_item_fraction": args.cold_item_fraction,
            "warm_item_fraction": args.warm_item_fraction,
            "cold_user_interactions": k,
            "few_shot_sizes": few_shot_sizes,
            "skipped_few_shot_sizes": skipped_few_shot_sizes,
        },
        "settings": asdict(args),
    }
    logger.info(
        "prepared %d users, %d items, %d interactions (%d cold users)",
        report["num_users"],
        num_items,
        num_interactions,
        len(cold_rows),
    )
    return PreparedDataset(splits=splits, items=items, report=report)
