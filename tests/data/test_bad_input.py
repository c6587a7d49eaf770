import json
import re

import pytest

from allmrec_hf.data import (
    DataArguments,
    DataFormatError,
    PreparedDataset,
    ProblemLog,
    prepare_dataset,
    read_amazon2014,
    read_sequences,
)
from allmrec_hf.data.generic import read_interaction_table

from .raw_files import meta_2014, review_2014, write_lines


def _generic_files(tmp_path, sequence_lines, item_ids=("a", "b", "c", "d", "e", "f")):
    items = write_lines(tmp_path / "items.jsonl", [json.dumps({"item_id": i, "title": f"T {i}"}) for i in item_ids])
    sequences = write_lines(tmp_path / "sequences.jsonl", sequence_lines)
    return str(sequences), str(items)


GOOD = json.dumps({"user_id": "u1", "item_ids": ["a", "b", "c"]})


def _generic_args(sequences, items, **overrides):
    """Preparation settings for a handful of short users (no core filter or cold users, one negative, no few-shot)."""
    return DataArguments(
        source="generic",
        sequences_file=sequences,
        items_file=items,
        min_user_interactions=1,
        min_item_interactions=1,
        num_negatives=1,
        hold_out_cold_users=False,
        few_shot_sizes=[],
        **overrides,
    )


def _skipped(dataset):
    return {entry["reason"]: entry for entry in dataset.report["skipped_records"]}


@pytest.mark.parametrize(
    "bad_line, field, fragment",
    [
        ('{"user_id": "u2", "item_ids": ["a", "b"', None, "malformed JSON"),
        (json.dumps({"item_ids": ["a"]}), "user_id", "missing required field"),
        (json.dumps({"user_id": "u2", "item_ids": "a b"}), "item_ids", "expected list"),
        (json.dumps({"user_id": "u2", "item_ids": ["a", "zzz"]}), "item_ids", "'zzz' is not in"),
        (json.dumps({"user_id": "u1", "item_ids": ["a"]}), "user_id", "already has a sequence on line 1"),
        (json.dumps({"user_id": "u2", "item_ids": []}), "item_ids", "empty item list"),
    ],
    ids=["malformed", "missing-field", "wrong-type", "unknown-item", "repeated-user", "empty-sequence"],
)
def test_bad_sequence_lines_name_file_line_and_field(tmp_path, bad_line, field, fragment):
    sequences, items = _generic_files(tmp_path, [GOOD, bad_line])
    with pytest.raises(DataFormatError) as caught:
        read_sequences(sequences, items)
    error = caught.value
    assert error.path == sequences
    assert error.line == 2
    assert error.field == field
    assert fragment in str(error)
    assert f"{sequences}, line 2" in str(error)


def test_non_utf8_bytes(tmp_path):
    sequences, items = _generic_files(tmp_path, [GOOD])
    with open(sequences, "ab") as handle:
        handle.write(b'{"user_id": "caf\xe9", "item_ids": ["a"]}\n')
    with pytest.raises(DataFormatError, match=r"line 2: invalid UTF-8 byte 0xe9 at column 17"):
        read_sequences(sequences, items)


def test_empty_file(tmp_path):
    sequences, items = _generic_files(tmp_path, [GOOD])
    (tmp_path / "empty.jsonl").write_text("\n  \n")
    with pytest.raises(DataFormatError, match="empty.jsonl: the file is empty"):
        read_sequences(str(tmp_path / "empty.jsonl"), items)


def test_damaged_gzip(tmp_path):
    path = write_lines(tmp_path / "reviews.json.gz", [review_2014("U1", "A1", 1)] * 50)
    path.write_bytes(path.read_bytes()[:-12])
    meta = write_lines(tmp_path / "meta.json.gz", [meta_2014("A1", "x")])
    with pytest.raises(DataFormatError, match="damaged gzip stream"):
        read_amazon2014(str(path), str(meta))


def test_missing_review_field_and_bad_literal(tmp_path):
    reviews = write_lines(
        tmp_path / "reviews.json",
        [review_2014("U1", "A1", 1), json.dumps({"reviewerID": "U2", "asin": "A1", "overall": 5.0})],
    )
    meta = write_lines(tmp_path / "meta.json", [meta_2014("A1", "x")])
    with pytest.raises(DataFormatError, match=r"reviews.json, line 2, field 'unixReviewTime': missing required field"):
        read_amazon2014(str(reviews), str(meta))
    reviews = write_lines(tmp_path / "reviews.json", [review_2014("U1", "A1", 1)])
    meta = write_lines(tmp_path / "meta.json", [meta_2014("A1", "x"), "{'asin': 'A2', 'title': __import__('os')}"])
    with pytest.raises(DataFormatError, match=r"meta.json, line 2: malformed Python literal"):
        read_amazon2014(str(reviews), str(meta))


def test_unknown_item_in_amazon_reviews_names_the_review_line(tmp_path):
    reviews = write_lines(tmp_path / "reviews.json", [review_2014("U1", "A1", 1), review_2014("U1", "A7", 2)])
    meta = write_lines(tmp_path / "meta.json", [meta_2014("A1", "x")])
    with pytest.raises(DataFormatError, match=r"reviews.json, line 2, field 'asin': item 'A7' has no record"):
        read_amazon2014(str(reviews), str(meta))
    kept = read_amazon2014(str(reviews), str(meta), unknown_items="keep")
    assert kept.items["A7"] == {"title": "", "description": ""} and kept.items_without_text == 1
    skipped = read_amazon2014(str(reviews), str(meta), unknown_items="skip")
    assert skipped.interactions["item"].tolist() == ["A1"]
    assert sum(skipped.problems.skipped.values()) == 1


def test_bad_csv_rows(tmp_path):
    items = write_lines(tmp_path / "items.jsonl", [json.dumps({"item_id": "a", "title": "A"})])
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp\nu1,a,5\nu1,,6\nu1,a,yesterday-ish\n")
    with pytest.raises(DataFormatError, match=r"log.csv, line 3, field 'item_id': missing or unparseable value"):
        read_interaction_table(str(path), str(items))
    path.write_text("user,item_id\nu1,a\n")
    with pytest.raises(DataFormatError, match=r"field 'user_id': missing required column"):
        read_interaction_table(str(path), str(items))


def test_skip_option_counts_every_skipped_record_in_the_report(tmp_path):
    catalog = ["a", "b", "c", "d", "e", "f"]
    lines = [json.dumps({"user_id": f"u{n}", "item_ids": catalog[n % 3 : n % 3 + 4]}) for n in range(6)]
    lines.insert(2, "not json at all")
    lines.insert(4, json.dumps({"user_id": "u9"}))
    sequences, items = _generic_files(tmp_path, lines)
    with pytest.raises(DataFormatError):
        prepare_dataset(_generic_args(sequences, items))
    dataset = prepare_dataset(_generic_args(sequences, items, on_error="skip"))
    dataset.save(tmp_path / "prepared")
    skipped = PreparedDataset.load(tmp_path / "prepared").report["skipped_records"]
    assert {(entry["reason"], entry["count"]) for entry in skipped} == {("malformed JSON", 1), ("missing item_ids", 1)}
    assert dataset.report["num_users"] == 6
    assert "line 3" in skipped[0]["examples"][0] or "line 3" in skipped[1]["examples"][0]


def test_repeated_item_record_is_counted_with_both_lines(tmp_path):
    sequences, items = _generic_files(tmp_path, [GOOD, json.dumps({"user_id": "u2", "item_ids": ["d", "e", "f"]})])
    with open(items, "a") as handle:
        handle.write(json.dumps({"item_id": "b", "title": "second record of b"}) + "\n")
    dataset = prepare_dataset(_generic_args(sequences, items))
    repeated = _skipped(dataset)["repeated item record (first kept)"]
    assert repeated["count"] == 1
    assert repeated["examples"] == [f"{items}, line 7, field 'item_id': item 'b' already has a record on line 2"]
    assert dataset.items["title"][dataset.items["item"].index("b")] == "T b"


@pytest.mark.parametrize(
    "option", [{"unknown_items": "skip"}, {"on_error": "skip"}], ids=["unknown_items", "on_error"]
)
def test_skipping_unknown_items_in_sequences_is_counted(tmp_path, option):
    lines = [
        json.dumps({"user_id": "u1", "item_ids": ["a", "zzz", "b", "c"]}),
        json.dumps({"user_id": "u2", "item_ids": ["d", "e", "f"]}),
    ]
    sequences, items = _generic_files(tmp_path, lines)
    dataset = prepare_dataset(_generic_args(sequences, items, **option))
    unknown = _skipped(dataset)["item without text record"]
    assert unknown["count"] == 1
    assert unknown["examples"] == [f"{sequences}, line 1, field 'item_ids': item 'zzz' is not in {items}"]
    assert dataset.report["num_interactions"] == 6


def test_on_error_skip_drops_unknown_items_of_an_interaction_table(tmp_path):
    items = write_lines(tmp_path / "items.jsonl", [json.dumps({"item_id": i}) for i in "abcdef"])
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\nu1,a\nu1,zzz\nu1,b\nu1,c\nu2,d\nu2,zzz\nu2,e\nu2,f\n")
    raw = read_interaction_table(str(path), str(items), problems=ProblemLog(on_error="skip"))
    assert raw.interactions["item"].tolist() == list("abcdef")
    assert raw.problems.to_report() == [
        {
            "file": str(path),
            "reason": "item without text record",
            "count": 2,
            "examples": [f"{path}, line 3, field 'item_id': item 'zzz' has no record in {items}"],
        }
    ]


@pytest.mark.parametrize(
    "bad_line, position",
    [
        ('{"user_id": "u2", "item_ids": ["a", "b"', "at the end of the line (column 40)"),
        ('{"user_id": tru, "item_ids": ["a"]}', "at column 13"),
        ('{"user_id": "u2", "item_ids": ["a"]} {"x": 1}', "at column 38"),
    ],
    ids=["truncated", "bad-literal", "extra-data"],
)
def test_malformed_json_names_the_column_of_the_fault(tmp_path, bad_line, position):
    sequences, items = _generic_files(tmp_path, [GOOD, bad_line])
    with pytest.raises(DataFormatError, match=rf"line 2: malformed JSON: .* {re.escape(position)}"):
        read_sequences(sequences, items)


def test_candidate_error_names_the_user_as_the_file_does(tmp_path):
    lines = [
        json.dumps({"user_id": "alice", "item_ids": list("abcdef")}),
        json.dumps({"user_id": "bob", "item_ids": list("abc")}),
    ]
    sequences, items = _generic_files(tmp_path, lines)
    with pytest.raises(ValueError, match=r"^user 'alice' interacted with 6 of 6 items"):
        prepare_dataset(_generic_args(sequences, items))


def _interaction_lines(count=30):
    """A CSV header and ``count`` rows over items a..f; line ``n`` of the file holds row ``n - 2``."""
    return ["user_id,item_id,timestamp"] + [f"u{row % 3},{'abcdef'[row % 6]},{row}" for row in range(count)]


def _catalog(tmp_path):
    return str(write_lines(tmp_path / "items.jsonl", [json.dumps({"item_id": i}) for i in "abcdef"]))


def test_truncated_csv_gz_names_the_file(tmp_path):
    path = write_lines(tmp_path / "log.csv.gz", _interaction_lines(2000))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(path))}: damaged gzip stream after line \d+"):
        read_interaction_table(str(path), _catalog(tmp_path))


def test_non_utf8_csv_names_the_line_and_column(tmp_path):
    lines = [line.encode() for line in _interaction_lines()]
    lines[20] = b"caf\xe9" + lines[20]
    path = tmp_path / "log.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataFormatError, match=r"log.csv, line 21: invalid UTF-8 byte 0xe9 at column 4"):
        read_interaction_table(str(path), _catalog(tmp_path))


def test_csv_row_with_extra_cells_is_an_error_or_a_counted_skip(tmp_path):
    lines = _interaction_lines()
    lines[5] += ",surplus"
    path = write_lines(tmp_path / "log.csv", lines)
    with pytest.raises(DataFormatError, match=r"log.csv, line 6: 4 cells, but the header \(line 1\) names 3 columns"):
        read_interaction_table(str(path), _catalog(tmp_path))
    raw = read_interaction_table(str(path), _catalog(tmp_path), problems=ProblemLog(on_error="skip"))
    assert len(raw.interactions) == 29
    assert raw.problems.skipped == {(str(path), "extra cells"): 1}


def test_timestamp_beyond_int64_is_an_error_or_a_counted_skip(tmp_path):
    lines = _interaction_lines()
    lines[5] = "u1,a,1.5e30"
    path = write_lines(tmp_path / "log.csv", lines)
    with pytest.raises(DataFormatError, match=r"line 6, field 'timestamp': timestamp '1.5e30' is out of range"):
        read_interaction_table(str(path), _catalog(tmp_path))
    raw = read_interaction_table(str(path), _catalog(tmp_path), problems=ProblemLog(on_error="skip"))
    assert raw.problems.skipped == {(str(path), "bad timestamp"): 1}
    timestamps = raw.interactions["timestamp"]
    assert timestamps.is_monotonic_increasing and len(timestamps) == 29


@pytest.mark.parametrize("bad_id", [["a"], {"id": "a"}, 1.5, True], ids=["list", "object", "float", "bool"])
def test_json_lines_table_rejects_ids_that_are_not_strings_or_integers(tmp_path, bad_id):
    records = [{"user_id": "u1", "item_id": "a", "timestamp": 1}, {"user_id": "u1", "item_id": bad_id, "timestamp": 2}]
    path = write_lines(tmp_path / "log.jsonl", [json.dumps(record) for record in records])
    with pytest.raises(DataFormatError, match=r"log.jsonl, line 2, field 'item_id': expected str or int, got"):
        read_interaction_table(str(path), _catalog(tmp_path))


def test_csv_line_numbers_follow_the_file_across_a_quoted_line_break_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes('\ufeffuser_id,item_id,note\nu1,a,"two\nlines"\n\nu1,,x\n'.encode())
    with pytest.raises(DataFormatError, match=r"log.csv, line 5, field 'item_id': missing or unparseable value"):
        read_interaction_table(str(path), _catalog(tmp_path))
