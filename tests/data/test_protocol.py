import json

import datasets
import numpy as np
import pytest

from allmrec_hf.data import DataArguments, PreparedDataset, prepare_dataset
from allmrec_hf.utils import atomic_directory

from ..conftest import SAMPLE_DATA_ARGS, shared_dataset


def rows_by_user(split):
    return {row["user_id"]: row for row in split}


def test_leave_one_out_reconstructs_each_sequence(sample_dataset):
    train, validation, test = (rows_by_user(sample_dataset.splits[name]) for name in ("train", "validation", "test"))
    assert train.keys() == validation.keys() == test.keys()
    for user, row in train.items():
        training_sequence = row["history"] + [row["target"]]
        assert validation[user]["history"] == training_sequence
        assert test[user]["history"] == training_sequence + [validation[user]["target"]]
        assert len(training_sequence) >= 1


def test_candidates_hold_the_target_and_unseen_distinct_negatives(sample_dataset):
    num_items = sample_dataset.num_items
    test = rows_by_user(sample_dataset.splits["test"])
    for name in ("train", "validation", "test", "cold_users"):
        for row in sample_dataset.splits[name]:
            candidates = row["candidates"]
            assert len(candidates) == 20
            assert len(set(candidates)) == 20
            assert candidates.count(row["target"]) == 1
            whole = (
                set(test[row["user_id"]]["history"] + [test[row["user_id"]]["target"]])
                if name != "cold_users"
                else None
            )
            negatives = set(candidates) - {row["target"]}
            assert all(1 <= item <= num_items for item in candidates)
            if whole is not None:
                assert not negatives & whole
            else:
                assert not negatives & set(row["history"])
    # Shuffled: the target is not always in the same slot.
    positions = [row["candidates"].index(row["target"]) for row in sample_dataset.splits["test"]]
    assert len(set(positions)) > 10


def test_preparing_twice_gives_identical_candidates_and_streams_are_independent(sample_dataset):
    again = prepare_dataset(DataArguments(**SAMPLE_DATA_ARGS))
    for name, split in sample_dataset.splits.items():
        assert split["candidates"] == again.splits[name]["candidates"], name
    # A different few-shot setting leaves every candidate set untouched; another seed moves them.
    other_scenarios = prepare_dataset(DataArguments(**{**SAMPLE_DATA_ARGS, "few_shot_sizes": [16]}))
    assert other_scenarios.splits["test"]["candidates"] == sample_dataset.splits["test"]["candidates"]
    other_seed = prepare_dataset(DataArguments(**{**SAMPLE_DATA_ARGS, "seed": 8}))
    assert other_seed.splits["test"]["candidates"] != sample_dataset.splits["test"]["candidates"]


def test_number_of_negatives_is_configurable():
    dataset = prepare_dataset(
        DataArguments(**{**SAMPLE_DATA_ARGS, "synthetic_items_per_category": 30, "num_negatives": 99})
    )
    assert {len(c) for c in dataset.splits["test"]["candidates"]} == {100}
    assert dataset.report["protocol"]["num_negatives"] == 99
    with pytest.raises(ValueError, match="fewer than num_negatives=500"):
        prepare_dataset(DataArguments(**{**SAMPLE_DATA_ARGS, "num_negatives": 500}))


def test_cold_warm_labels_follow_training_counts(sample_dataset):
    items = sample_dataset.items
    num_items = len(items)
    counts = np.zeros(num_items + 1, dtype=int)
    for row in sample_dataset.splits["train"]:
        for item in row["history"] + [row["target"]]:
            counts[item] += 1
    assert items["train_count"] == counts[1:].tolist()
    groups = np.array(items["popularity"])
    assert (groups == "cold").sum() == round(0.35 * num_items) == (groups == "warm").sum()
    assert counts[1:][groups == "cold"].max() <= counts[1:][groups == "middle"].min()
    assert counts[1:][groups == "middle"].max() <= counts[1:][groups == "warm"].min()
    assert sample_dataset.report["items"]["cold"] == (groups == "cold").sum()


def test_cold_users_are_held_out_of_training(sample_dataset):
    cold = sample_dataset.splits["cold_users"]
    assert len(cold) == sample_dataset.report["cold_users"]["exact"] > 0
    assert all(len(row["history"]) == 2 for row in cold)
    trained = set(sample_dataset.splits["train"]["user_id"]) | set(sample_dataset.splits["test"]["user_id"])
    assert not trained & set(cold["user_id"])


def test_few_shot_subsets_are_seeded_training_rows(sample_dataset):
    train = rows_by_user(sample_dataset.splits["train"])
    for size in SAMPLE_DATA_ARGS["few_shot_sizes"]:
        subset = sample_dataset.splits[f"few_shot_{size}"]
        assert len(subset) == size == len(set(subset["user_id"]))
        assert subset["user_id"] == sorted(subset["user_id"])
        assert all(train[row["user_id"]] == row for row in subset)
    with pytest.raises(ValueError, match="asked for 100000 users"):
        prepare_dataset(DataArguments(**{**SAMPLE_DATA_ARGS, "few_shot_sizes": [100000]}))


def test_default_few_shot_sizes_skip_those_the_dataset_is_too_small_for():
    defaults = {name: value for name, value in SAMPLE_DATA_ARGS.items() if name != "few_shot_sizes"}
    dataset = prepare_dataset(DataArguments(**defaults))
    assert len(dataset.splits["train"]) < 256
    assert dataset.report["protocol"]["few_shot_sizes"] == [128]
    assert dataset.report["protocol"]["skipped_few_shot_sizes"] == [256]
    assert len(dataset.splits["few_shot_128"]) == 128 and "few_shot_256" not in dataset.splits


def test_simulated_cold_users_for_data_without_short_users():
    args = {**SAMPLE_DATA_ARGS, "min_user_interactions": 5, "simulated_cold_users": 20}
    dataset = prepare_dataset(DataArguments(**args))
    assert dataset.report["cold_users"] == {"exact": 0, "simulated": 20}
    assert all(len(row["history"]) == 2 for row in dataset.splits["cold_users"])
    assert not set(dataset.splits["cold_users"]["user_id"]) & set(dataset.splits["train"]["user_id"])


def test_save_and_load_round_trip(sample_dataset, sample_dataset_dir):
    loaded = PreparedDataset.load(sample_dataset_dir)
    assert loaded.report == json.loads(json.dumps(sample_dataset.report))
    for name, split in sample_dataset.splits.items():
        assert loaded.splits[name].to_dict() == split.to_dict()
    assert loaded.items.to_dict() == sample_dataset.items.to_dict()
    assert isinstance(datasets.load_from_disk(str(sample_dataset_dir)), datasets.DatasetDict)
    assert loaded.titles[0] == "" and loaded.titles[1] == loaded.items[0]["title"]
    assert loaded.popularity[0] == ""
    with pytest.raises(FileNotFoundError, match="not a prepared dataset"):
        PreparedDataset.load(sample_dataset_dir / "items")


def test_atomic_directory_keeps_the_old_content_when_a_write_fails(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target) as temporary:
        (temporary / "file.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as temporary:
        (temporary / "file.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert (target / "file.txt").read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize(
    "name, users, items, interactions",
    [("amazon_beauty_2014", 22363, 12101, 198502), ("amazon_scientific_2018", 8317, 4344, 58492)],
)
def test_shared_real_data_through_the_generic_reader(name, users, items, interactions):
    dataset = prepare_dataset(DataArguments(source="generic", data_dir=str(shared_dataset(name))))
    report = dataset.report
    assert (report["num_users"], report["num_items"], report["num_interactions"]) == (users, items, interactions)
    assert report["splits"]["test"] == users
    assert report["avg_seq_len"] == round(interactions / users, 4)
