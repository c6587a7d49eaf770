"""Writers of small raw files in the real layouts of each supported source."""

import gzip
import json


def write_lines(path, lines, compress=None):
    compress = str(path).endswith(".gz") if compress is None else compress
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


def review_2014(user, asin, time, rating=5.0):
    return json.dumps(
        {
            "reviewerID": user,
            "asin": asin,
            "reviewerName": "J. Doe",
            "helpful": [0, 0],
            "reviewText": "Works great.",
            "overall": rating,
            "summary": "Nice",
            "unixReviewTime": time,
            "reviewTime": "09 13, 2009",
        }
    )


def meta_2014(asin, title, description="", categories=(("Beauty", "Makeup"),)):
    # Amazon 2014 metadata lines are Python literals (single quotes), not JSON.
    return repr(
        {
            "asin": asin,
            "title": title,
            "description": description,
            "price": 3.17,
            "imUrl": "http://ecx.images-amazon.com/images/I/51fAmVkTbyL._SY300_.jpg",
            "related": {"also_bought": ["B00JHONN1S"]},
            "salesRank": {"Beauty": 211836},
            "brand": "Coxlures",
            "categories": [list(path) for path in categories],
        }
    )


def review_2018(user, asin, time, rating=5.0):
    return json.dumps(
        {
            "overall": rating,
            "verified": True,
            "reviewTime": "09 1, 2016",
            "reviewerID": user,
            "asin": asin,
            "style": {"Size:": " 7.0 oz"},
            "reviewerName": "Jane",
            "reviewText": "Good",
            "summary": "Good",
            "unixReviewTime": time,
        }
    )


def meta_2018(asin, title, description=("First paragraph.", "Second paragraph.")):
    return json.dumps(
        {
            "category": ["Industrial & Scientific", "Lab Supplies"],
            "tech1": "",
            "description": list(description),
            "fit": "",
            "title": title,
            "also_buy": [],
            "brand": "Acme",
            "feature": ["Sturdy"],
            "rank": "12,345 in Industrial",
            "main_cat": "Industrial & Scientific",
            "asin": asin,
        }
    )


def review_2023(user, parent_asin, timestamp_ms, rating=4.0):
    return json.dumps(
        {
            "rating": rating,
            "title": "Great",
            "text": "Really great.",
            "images": [],
            "asin": parent_asin + "-V",
            "parent_asin": parent_asin,
            "user_id": user,
            "timestamp": timestamp_ms,
            "helpful_vote": 0,
            "verified_purchase": True,
        }
    )


def meta_2023(parent_asin, title):
    return json.dumps(
        {
            "main_category": "All Beauty",
            "title": title,
            "average_rating": 4.8,
            "rating_number": 10,
            "features": ["Gentle", "Vegan"],
            "description": ["A cream.", "Second line."],
            "price": "12.99",
            "images": [],
            "videos": [],
            "store": "Howard Products",
            "categories": ["Beauty", "Skin Care"],
            "details": json.dumps({"Package Dimensions": "4 x 2 x 1 inches", "UPC": "123"}),
            "parent_asin": parent_asin,
            "bought_together": None,
        }
    )
