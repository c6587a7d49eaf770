"""The answer format and its parser: the prompt/answer boundary per tokenizer, the title cap, exact and lenient
matching, and the one rule for candidates that share a title."""

import json

import numpy as np
import pytest

from allmrec_hf.evaluation import per_user_metrics
from allmrec_hf.llm_reference import PACKAGED_LLMS, load_llm_tokenizer, packaged_gguf
from allmrec_hf.prompts import (
    SoftTokenLayout,
    answer_text,
    answer_token_ids,
    cap_titles,
    exact_hit,
    lenient_hit,
    named_candidates,
    normalize_title,
    recommendation_prompt,
)
from allmrec_hf.testing_utils import dataset_tokenizer, train_tiny_tokenizer

from .conftest import shared_dataset


TITLES = ["The Matrix", "The Matrix Reloaded", "Heat (1995)"]


@pytest.mark.parametrize(
    "answer, named, lenient_hits",
    [
        (' "The Matrix"</s>', [0], {"The Matrix"}),
        ("\u201cthe matrix reloaded.\u201d", [1], {"The Matrix", "The Matrix Reloaded"}),
        ("heat (1995)", [2], {"Heat (1995)"}),
        # Several titles named: exact takes the first, the lenient rule counts every one (and their prefixes).
        (' "The Matrix Reloaded", "Heat (1995)"', [1], set(TITLES)),
        ('"Matrix"', [], set()),
        ("The Matrix is a film", [], {"The Matrix"}),
    ],
)
def test_answer_matching(answer, named, lenient_hits):
    assert named_candidates(answer, TITLES) == named
    assert {title for title in TITLES if lenient_hit(answer, title)} == lenient_hits


def test_lenient_rule_counts_prefix_titles_that_exact_matching_rejects():
    assert lenient_hit(' "The Matrix Reloaded"', "The Matrix")
    assert named_candidates(' "The Matrix Reloaded"', ["The Matrix"]) == []
    assert normalize_title('  "Heat &amp; Dust."  ') == "heat & dust"


def test_titles_with_quotes_inside_are_matched_whole():
    titles = ["Tape 1.88\u201d x 9 yd", "Tape 1.88", 'He said "hi"']
    for index, title in enumerate(titles):
        assert named_candidates(answer_text(title), titles) == [index]


def test_candidates_sharing_a_title_split_the_hit_as_tied_scores_do():
    titles = ["Nitrile Gloves", "Safety Glasses", "nitrile  gloves", "Ear Plugs"]
    assert named_candidates(answer_text("Nitrile Gloves"), titles) == [0, 2]
    assert exact_hit(answer_text("Nitrile Gloves"), titles, target_index=2) == 0.5
    assert exact_hit(answer_text("Nitrile Gloves"), titles, target_index=1) == 0.0
    assert exact_hit(answer_text("Safety Glasses"), titles, target_index=1) == 1.0
    # Scoring gives identical answers identical likelihoods: the same expected Hit@1 for the tied target.
    scores = np.array([[-3.0, -7.0, -3.0, -9.0]])
    assert per_user_metrics(scores, np.array([2]))["hit@1"][0] == 0.5


@pytest.mark.parametrize("name", ["amazon_scientific_2018", "amazon_beauty_2014"])
def test_every_catalog_title_is_named_by_its_own_answer(name):
    with open(shared_dataset(name) / "items.jsonl", encoding="utf-8") as lines:
        titles = [json.loads(line)["title"] for line in lines]
    failures = [title for title in titles if title and not named_candidates(answer_text(title), [title])]
    assert failures == []


def test_title_cap_cuts_at_word_boundaries(sample_dataset):
    tokenizer = train_tiny_tokenizer(list(sample_dataset.items["title"]))
    titles = ["Summit Ridge waterproof tent for backpacking trips", "Tent"]
    capped = cap_titles(tokenizer, titles, max_tokens=3)
    assert capped[1] == "Tent"
    assert titles[0].startswith(capped[0]) and titles[0][len(capped[0])] == " "
    assert len(tokenizer(capped[0], add_special_tokens=False)["input_ids"]) <= 3
    assert cap_titles(tokenizer, titles, None) == titles


def real_tokenizer(name):
    try:
        packaged_gguf(name)
    except OSError as error:
        pytest.skip(str(error))
    return load_llm_tokenizer(name)


TOKENIZERS = {
    "tiny-bpe": dataset_tokenizer,
    **{name: (lambda dataset, name=name: real_tokenizer(name)) for name in PACKAGED_LLMS},
}
# Reading Gemma 3's 262k-token tokenizer out of its GGUF file takes about 30 s on a CPU: a slow test, as every real
# LLM's (SmolLM2's takes half a second).
SLOW_TOKENIZERS = {"gemma-3-270m"}


@pytest.mark.parametrize(
    "tokenizer_name",
    [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_TOKENIZERS else name for name in TOKENIZERS],
)
def test_answer_tokens_are_those_of_the_full_text(tokenizer_name, sample_dataset):
    """The prompt ends without a space; the answer's first token is the quote with its space, exactly as the
    tokenizer reads prompt and answer as one text (no lone space token)."""
    tokenizer = TOKENIZERS[tokenizer_name](sample_dataset)
    titles = ["Stanley 6-Piece Screwdriver Set", 'Tape 1.88" x 9 yd', "Nitrile gloves, 100 pack"]
    prompt = recommendation_prompt("item", titles[:1], titles, SoftTokenLayout(False, False))
    assert not prompt.endswith(" ")
    prompt_ids = tokenizer(prompt)["input_ids"]
    for title, answer in zip(titles, answer_token_ids(tokenizer, titles)):
        assert answer[-1] == tokenizer.eos_token_id
        assert tokenizer(prompt + answer_text(title))["input_ids"] == prompt_ids + answer[:-1]
        first = tokenizer.convert_ids_to_tokens(answer[:1])[0]
        assert first.strip("Ġ▁ ") == '"', first
