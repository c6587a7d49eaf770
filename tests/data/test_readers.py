import json

import pandas as pd
import pytest

from allmrec_hf.data import read_amazon2014, read_amazon2018, read_amazon2023, read_interaction_table, read_sequences
from allmrec_hf.data.records import iter_json_records_with_datasets
from allmrec_hf.data.text import clean_text, description_text, join_list

from .raw_files import meta_2014, meta_2018, meta_2023, review_2014, review_2018, review_2023, write_lines


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_amazon2014_reviews_and_python_literal_metadata(tmp_path, compress):
    suffix = ".json.gz" if compress else ".json"
    reviews = write_lines(
        tmp_path / f"reviews_Beauty_5{suffix}",
        [review_2014("U1", "A1", 300), review_2014("U1", "A2", 100, rating=2.0), review_2014("U2", "A1", 50)],
    )
    meta = write_lines(
        tmp_path / f"meta_Beauty{suffix}",
        [
            meta_2014("A1", "Girls Ballet Tutu &amp; Bow", "Soft <b>tulle</b>   skirt"),
            meta_2014("A2", "Kid's Lip Gloss", categories=(("Beauty", "Makeup", "Lips"), ("Toys", "Dress Up"))),
            meta_2014("A9", "Never reviewed"),
        ],
    )
    raw = read_amazon2014(str(reviews), str(meta))
    frame = raw.interactions
    assert frame["user"].tolist() == ["U1", "U1", "U2"]
    assert frame["item"].tolist() == ["A1", "A2", "A1"]
    assert frame["timestamp"].tolist() == [300, 100, 50]
    assert frame["rating"].tolist() == [5.0, 2.0, 5.0]
    assert raw.has_ratings
    # Only interacted items are kept; text is unescaped and tag-free; the Python-literal quote survived.
    assert set(raw.items) == {"A1", "A2"}
    assert raw.items["A1"]["title"] == "Girls Ballet Tutu & Bow"
    assert raw.items["A1"]["description"] == "Soft tulle skirt"
    assert raw.items["A2"]["title"] == "Kid's Lip Gloss"
    assert raw.items["A2"]["categories"] == "Beauty, Makeup, Lips | Toys, Dress Up"
    assert raw.items["A2"]["brand"] == "Coxlures"


@pytest.mark.parametrize(
    "mode, expected", [("first", "First paragraph."), ("join", "First paragraph. Second paragraph.")]
)
def test_amazon2018_description_list(tmp_path, mode, expected):
    reviews = write_lines(tmp_path / "Industrial_and_Scientific.json.gz", [review_2018("U1", "B1", 10)])
    meta = write_lines(tmp_path / "meta_Industrial_and_Scientific.json", [meta_2018("B1", "Lab Gloves, Size M")])
    raw = read_amazon2018(str(reviews), str(meta), description_mode=mode)
    assert raw.items["B1"] == {
        "title": "Lab Gloves, Size M",
        "description": expected,
        "brand": "Acme",
        "categories": "Industrial & Scientific, Lab Supplies",
    }


def test_amazon2023_uses_parent_asin_and_parses_details(tmp_path):
    reviews = write_lines(
        tmp_path / "All_Beauty.jsonl.gz",
        [review_2023("U1", "P1", 1588687728923), review_2023("U1", "P2", 1588687728000)],
    )
    meta = write_lines(tmp_path / "meta_All_Beauty.jsonl", [meta_2023("P1", "Face Cream"), meta_2023("P2", "Toner")])
    raw = read_amazon2023(str(reviews), str(meta))
    assert raw.interactions["item"].tolist() == ["P1", "P2"]
    assert raw.interactions["timestamp"].tolist() == [1588687728923, 1588687728000]
    text = raw.items["P1"]
    assert text["title"] == "Face Cream"
    assert text["description"] == "A cream."
    assert text["features"] == "Gentle Vegan"
    assert text["details"] == "Package Dimensions: 4 x 2 x 1 inches; UPC: 123"
    assert text["price"] == "12.99"
    assert text["store"] == "Howard Products"


def test_datasets_json_builder_reads_2023_records(tmp_path):
    """The path taken for hf://datasets/... files, exercised here on a local file."""
    meta = write_lines(tmp_path / "meta.jsonl", [meta_2023("P1", "Face Cream"), meta_2023("P2", "Toner")])
    rows = list(iter_json_records_with_datasets(str(meta)))
    assert [line for line, _ in rows] == [1, 2]
    assert rows[1][1]["parent_asin"] == "P2"
    assert json.loads(rows[0][1]["details"])["UPC"] == "123"


def _items_jsonl(tmp_path, ids=("i1", "i2", "i3")):
    return write_lines(
        tmp_path / "items.jsonl",
        [
            json.dumps(
                {
                    "item_id": item,
                    "title": f"Item {item}",
                    "description": ["d1", "d2"],
                    "brand": "B",
                    "tags": ["x", "y"],
                }
            )
            for item in ids
        ],
    )


def test_generic_sequences_keep_order_and_extra_fields(tmp_path):
    items = _items_jsonl(tmp_path)
    sequences = write_lines(
        tmp_path / "sequences.jsonl",
        [
            json.dumps({"user_id": "u1", "item_ids": ["i2", "i1", "i3"]}),
            json.dumps({"user_id": 7, "item_ids": ["i3"]}),
        ],
    )
    raw = read_sequences(str(sequences), str(items), description_mode="join")
    frame = raw.interactions
    assert frame["user"].tolist() == ["u1", "u1", "u1", "7"]
    assert frame["item"].tolist() == ["i2", "i1", "i3", "i3"]
    assert frame["timestamp"].tolist() == [0, 1, 2, 0]
    assert raw.items["i1"] == {"title": "Item i1", "description": "d1 d2", "brand": "B", "tags": "x, y"}
    assert raw.text_fields == ["title", "description", "brand", "tags"]


@pytest.mark.parametrize("kind", ["csv", "tsv", "parquet", "jsonl"])
def test_generic_interaction_tables(tmp_path, kind):
    items = _items_jsonl(tmp_path)
    table = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "item_id": ["i1", "i2", "i3"],
            "timestamp": ["2020-01-02", "2020-01-01T12:00:00", "2021-05-05"],
            "rating": [5, 3, 4],
        }
    )
    path = tmp_path / f"interactions.{kind}"
    if kind == "csv":
        table.to_csv(path, index=False)
    elif kind == "tsv":
        table.to_csv(path, index=False, sep="\t")
    elif kind == "parquet":
        table.to_parquet(path)
    else:
        table.to_json(path, orient="records", lines=True)
    raw = read_interaction_table(str(path), str(items))
    frame = raw.interactions
    assert frame["item"].tolist() == ["i1", "i2", "i3"]
    assert frame["timestamp"].tolist() == [1577923200, 1577880000, 1620172800]
    assert frame["rating"].tolist() == [5.0, 3.0, 4.0]
    assert raw.has_ratings


def test_interaction_table_without_timestamps_uses_file_order(tmp_path):
    items = _items_jsonl(tmp_path)
    path = tmp_path / "interactions.csv"
    path.write_text("user,item\nu1,i2\nu1,i1\n")
    raw = read_interaction_table(str(path), str(items), user_column="user", item_column="item")
    assert raw.interactions["timestamp"].tolist() == [0, 1]
    assert not raw.has_ratings


def test_text_cleaning():
    assert clean_text("AT&amp;amp;T  <br/>Phone\n") == "AT&T Phone"
    assert clean_text("Size <5mm") == "Size <5mm"
    assert clean_text(None) == ""
    assert description_text(["", "second"], "first") == ""
    assert description_text(["", "second"], "join") == "second"
    assert join_list([["A", "B"], ["A", "C"]]) == "A, B | A, C"
    assert join_list(["x", "x", "y"]) == "x, y"
