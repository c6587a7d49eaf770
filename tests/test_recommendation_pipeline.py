import pytest
from transformers import pipeline

import allmrec_hf  # noqa: F401


@pytest.fixture(scope="module")
def recommend(stage2_dir):
    return pipeline("recommendation", model=str(stage2_dir))


def test_history_given_as_titles_returns_ranked_titles(recommend, sample_dataset):
    row = sample_dataset.splits["test"][0]
    titles = [sample_dataset.titles[item] for item in row["history"]]
    ranked = recommend(titles, top_k=5)
    assert len(ranked) == 5
    assert all(set(entry) == {"item_id", "item", "title", "score"} for entry in ranked)
    assert [entry["score"] for entry in ranked] == sorted((entry["score"] for entry in ranked), reverse=True)
    assert not {entry["item_id"] for entry in ranked} & set(row["history"])  # retrieval excludes the history
    assert all(entry["title"] == sample_dataset.titles[entry["item_id"]] for entry in ranked)
    # Ids, original ids and titles name the same items.
    originals = [sample_dataset.items[item - 1]["item"] for item in row["history"]]
    assert recommend(originals, top_k=5) == ranked == recommend(list(row["history"]), top_k=5)


def test_given_candidates_are_exactly_what_gets_ranked(recommend, sample_dataset):
    row = sample_dataset.splits["test"][1]
    ranked = recommend({"history": row["history"], "candidates": row["candidates"]})
    assert sorted(entry["item_id"] for entry in ranked) == sorted(row["candidates"])


def test_unknown_items_are_an_error_or_skipped(recommend, sample_dataset):
    history = [sample_dataset.titles[1], "A Tent That Does Not Exist"]
    with pytest.raises(ValueError, match="history item 'A Tent That Does Not Exist' is not in the model's catalog"):
        recommend(history)
    assert len(recommend(history, unknown_items="skip", top_k=3)) == 3


def test_empty_and_too_long_histories(recommend, sample_dataset):
    ranked = recommend([], top_k=4)
    assert len(ranked) == 4
    long_history = list(range(1, 11)) * 12  # 120 interactions, far past the 10 titles the prompt shows
    assert len(recommend(long_history, top_k=2)) == 2
    with pytest.raises(ValueError, match="no candidate left"):
        recommend(list(range(1, sample_dataset.num_items + 1)))  # the user has everything already
