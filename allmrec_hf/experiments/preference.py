"""Favourite genre / category prediction (paper section 5.4.4): the same soft-token prompt, asking in free text
which genres or categories the user likes. Where the item table has categories, an answer is checked against the
categories of the user's own history items."""

from __future__ import annotations

import re

from ..collators import RecommendationBatcher
from ..decoding import prompt_batches


_SEPARATORS = re.compile(r"[,|>/;]")


def item_categories(dataset) -> list[set[str]]:
    """Lower-cased category names of every item (index 0 is padding); empty sets when the data has none."""
    if "categories" not in dataset.items.column_names:
        return [set() for _ in range(dataset.num_items + 1)]
    return [set()] + [
        {part.strip().lower() for part in _SEPARATORS.split(value) if part.strip()}
        for value in dataset.items["categories"]
    ]


def predict_preferences(
    model, tokenizer, dataset, split="test", max_users=20, batch_size=8, max_new_tokens=32, rows=None
) -> list[dict]:
    """Generate each user's favourite genres/categories; one record per user with the history beside the answer.

    The users are a seeded sample of ``max_users`` of ``split``, or the given ``rows`` (a `datasets.Dataset`)."""
    rows = rows if rows is not None else dataset.sample_rows(split, max_users)
    batcher = RecommendationBatcher.for_model(
        model, tokenizer, dataset.titles, with_answers=False, prompt="preference"
    )
    categories = item_categories(dataset)
    records = []
    for features, batch in prompt_batches(model, rows, batcher, batch_size, f"preferences {split}"):
        generated = model.generate_answers(batch, max_new_tokens=max_new_tokens).cpu().tolist()
        for feature, tokens in zip(features, generated):
            answer = tokenizer.decode(tokens, skip_special_tokens=True).strip()
            history = list(feature["history"])[-model.config.history_length :]
            liked = set().union(*(categories[item] for item in history)) if history else set()
            mentioned = sorted(category for category in liked if category in answer.lower())
            records.append(
                {
                    "user": feature["user"],
                    "history": [batcher.titles[item] for item in history],
                    "answer": answer,
                    "history_categories": sorted(liked),
                    "mentioned": mentioned,
                }
            )
    return records


def preference_agreement(records: list[dict]) -> float | None:
    """Share of answers naming at least one category of the user's history (None when the data has none)."""
    judged = [record for record in records if record["history_categories"]]
    return sum(bool(record["mentioned"]) for record in judged) / len(judged) if judged else None
