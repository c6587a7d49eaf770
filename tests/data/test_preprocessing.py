import numpy as np
import pytest

from allmrec_hf.data import build_sequences
from allmrec_hf.data.raw import interaction_frame


def frame(rows):
    users, items, times, ratings = zip(*rows)
    return interaction_frame(list(users), list(items), list(times), list(ratings))


def as_keys(sequences):
    """Sequences as {user key: [item keys]} for readable assertions."""
    return {
        sequences.user_keys[u]: [sequences.item_keys[i - 1] for i in sequence]
        for u, sequence in enumerate(sequences.sequences)
    }


# u1..u3 interact with a, b, c (3 each); u4 interacts with a, b, d; d has only that one interaction.
CORE_ROWS = [
    *[(user, item, t, 5.0) for t, (user, item) in enumerate((u, i) for u in ("u1", "u2", "u3") for i in "abc")],
    ("u4", "a", 20, 5.0),
    ("u4", "b", 21, 5.0),
    ("u4", "d", 22, 5.0),
]


def test_iterative_core_removes_until_stable_and_single_pass_does_not():
    # Item d (1 interaction) goes; then u4 has 2 < 3 interactions and goes; then a and b drop to 3, still fine.
    iterative = build_sequences(
        frame(CORE_ROWS), core_filter="iterative", min_user_interactions=3, min_item_interactions=2
    )
    assert as_keys(iterative) == {"u1": list("abc"), "u2": list("abc"), "u3": list("abc")}
    assert iterative.statistics["core_passes"] == 3
    # One counting pass drops only d's row; u4 keeps a and b (2 interactions) and is then too short to split.
    single = build_sequences(
        frame(CORE_ROWS), core_filter="single_pass", min_user_interactions=3, min_item_interactions=2
    )
    assert single.statistics["removed_by_core_filter"] == 1
    assert single.statistics["removed_short_users"] == 1
    assert set(as_keys(single)) == {"u1", "u2", "u3"}


def test_single_pass_keeps_users_that_fall_below_the_threshold():
    rows = [("u1", i, t, 5.0) for t, i in enumerate("abcd")] + [("u2", i, t, 5.0) for t, i in enumerate("abce")]
    rows += [("u3", i, t, 5.0) for t, i in enumerate("abc")]
    # d and e have one interaction each; u1 and u2 fall to 3 interactions but the single pass does not recount.
    single = build_sequences(frame(rows), core_filter="single_pass", min_user_interactions=4, min_item_interactions=2)
    assert as_keys(single) == {"u1": list("abc"), "u2": list("abc")}
    # The true 4-core of this log is empty: without d and e, nobody keeps 4 interactions.
    with pytest.raises(ValueError, match="no interactions survive"):
        build_sequences(frame(rows), core_filter="iterative", min_user_interactions=4, min_item_interactions=2)


def test_rating_filter_on_sequences_or_only_on_counts():
    ratings = {"u1": [5, 1, 2, 5, 5], "u2": [5, 2, 5, 4, 4]}
    rows = [(user, item, t, float(r)) for user, rs in ratings.items() for t, (item, r) in enumerate(zip("abcde", rs))]
    on_sequences = build_sequences(frame(rows), min_rating=3, core_filter="none")
    assert as_keys(on_sequences) == {"u1": list("ade"), "u2": list("acde")}
    assert on_sequences.statistics["removed_by_rating"] == 3
    # The reference: low ratings only leave the counts. b has no high rating and goes; c has one, so it stays, and
    # so does u1's low-rated c.
    counts_only = build_sequences(
        frame(rows),
        min_rating=3,
        rating_filter="counts",
        core_filter="single_pass",
        min_user_interactions=3,
        min_item_interactions=1,
    )
    assert as_keys(counts_only) == {"u1": list("acde"), "u2": list("acde")}
    with pytest.raises(ValueError, match="no ratings"):
        build_sequences(interaction_frame(["u"] * 3, list("abc"), [1, 2, 3], None), min_rating=3, core_filter="none")


def test_order_is_chronological_and_stable_and_ids_follow_first_appearance():
    rows = [
        ("u2", "x", 50, 5.0),
        ("u1", "y", 30, 5.0),
        ("u1", "z", 10, 5.0),
        ("u1", "x", 30, 5.0),  # ties with y at t=30: file order keeps y first
        ("u2", "y", 5, 5.0),
        ("u2", "z", 60, 5.0),
    ]
    sequences = build_sequences(frame(rows), core_filter="none")
    assert list(sequences.user_keys) == ["u2", "u1"]
    assert list(sequences.item_keys) == ["x", "y", "z"]
    assert as_keys(sequences) == {"u2": ["y", "x", "z"], "u1": ["z", "y", "x"]}
    assert sequences.sequences[0].dtype == np.int32
    assert sequences.sequences[0].tolist() == [2, 1, 3]


def test_deduplicate_keeps_the_first_interaction():
    rows = [("u1", "a", 1, 5.0), ("u1", "b", 2, 5.0), ("u1", "a", 3, 5.0), ("u1", "c", 4, 5.0)]
    assert as_keys(build_sequences(frame(rows), core_filter="none"))["u1"] == list("abac")
    deduplicated = build_sequences(frame(rows), core_filter="none", deduplicate=True)
    assert as_keys(deduplicated)["u1"] == list("abc")
    assert deduplicated.statistics["removed_duplicates"] == 1
