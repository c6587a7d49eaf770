"""A-LLMRec's stage 2 (`ALLMRecForRecommendation`) in the transformers habit: `ALLMRecTester` builds the model over
one tiny random LLM, with its batches and the reference computations the tests compare it with, and every test taking
the `tester` fixture runs once per architecture of `TINY_LLM_CONFIGS` (OPT, Llama, Gemma3). Tests whose subject does
not depend on the LLM take `opt_tester`."""

import json
import os

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModel, AutoTokenizer

from allmrec_hf import ALLMRecConfig, ALLMRecForRecommendation
from allmrec_hf.collators import RecommendationBatcher
from allmrec_hf.decoding import AnswerTrie, evaluate_generation, evaluate_scoring
from allmrec_hf.evaluation import protocol_metrics
from allmrec_hf.prompts import exact_hit
from allmrec_hf.training.stage2 import RecommenderTrainingArguments, build_recommender_trainer

from .conftest import snapshot


# -- every architecture ---------------------------------------------------------------------------------------------


def test_training_moves_only_the_projectors_and_lowers_the_loss(tester, tmp_path):
    model, tokenizer = tester.build()
    projector_parameters = sum(
        p.numel() for p in [*model.user_projector.parameters(), *model.item_projector.parameters()]
    )
    assert model.num_trainable_parameters() == projector_parameters
    frozen = {"llm": snapshot(model.llm), "aligner": snapshot(model.aligner)}
    dataset = tester.dataset
    subset = dataset.splits["train"].select(range(8))
    fixed_batch = tester.batch(model, tokenizer, subset.to_list())
    with torch.no_grad():
        loss_before = model(**fixed_batch).loss.item()
    args = RecommenderTrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=15, learning_rate=3e-2, per_device_train_batch_size=8,
        save_strategy="no", disable_tqdm=True, seed=0,
    )  # fmt: skip
    eight_users = type(dataset)(splits={"train": subset}, items=dataset.items, report=dataset.report)
    build_recommender_trainer(model, tokenizer, eight_users, args).train()
    with torch.no_grad():
        loss_after = model(**fixed_batch).loss.item()
    assert loss_after < loss_before - 0.01, (loss_before, loss_after)
    for name, before in frozen.items():
        after = snapshot(getattr(model, name))
        assert all(torch.equal(before[key], after[key]) for key in before), f"{name} changed"
    assert not model.llm.training and not model.aligner.training


def test_soft_token_rows_equal_the_projector_outputs(tester):
    model, tokenizer = tester.build()
    batch = tester.batch(model, tokenizer, tester.rows(), with_answers=False)
    embeds = model.embed_prompt(
        batch["input_ids"],
        batch["history_item_ids"],
        batch["candidate_item_ids"],
        batch["cf_input_ids"],
        batch["user_ids"],
    )
    config = model.config
    with torch.no_grad():
        users = model.user_projector(
            model.aligner.cf_backbone.user_representation(batch["cf_input_ids"], batch["user_ids"])
        )
        for row in range(len(batch["input_ids"])):
            ids = batch["input_ids"][row]
            torch.testing.assert_close(embeds[row][ids == config.user_token_id][0], users[row])
            history = batch["history_item_ids"][row][batch["history_item_ids"][row] != 0]
            expected = model.item_projector(model.aligner.catalog_embeddings(history))
            torch.testing.assert_close(embeds[row][ids == config.history_token_id], expected)
            candidates = model.item_projector(model.aligner.catalog_embeddings(batch["candidate_item_ids"][row]))
            torch.testing.assert_close(embeds[row][ids == config.candidate_token_id], candidates)
            ordinary = (
                (ids != config.user_token_id) & (ids != config.history_token_id) & (ids != config.candidate_token_id)
            )
            torch.testing.assert_close(embeds[row][ordinary], model.llm.get_input_embeddings()(ids[ordinary]))
    # The placeholders sit where the prompt says: user token first, one item token after each title.
    text = tokenizer.decode(batch["input_ids"][0], skip_special_tokens=False)
    assert text.replace("<pad>", "").startswith("</s>[UserRep] is a user representation. This user has bought")
    history_ids = tester.dataset.splits["test"][0]["history"][-10:]
    assert history_ids and text.count("[HistoryEmb]") == len(history_ids)
    assert text.count("[CandidateEmb]") == 20


def test_batched_padding_gives_the_same_scores_as_one_user_at_a_time(tester):
    model, tokenizer = tester.build()
    features = tester.rows(count=3)
    with torch.no_grad():
        together = model(**tester.batch(model, tokenizer, features)).logits
        sums, _ = tester.scores(model, tokenizer, features)
        for index, feature in enumerate(features):
            alone = model(**tester.batch(model, tokenizer, [feature])).logits[0]
            torch.testing.assert_close(together[index, : alone.shape[0]], alone, rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(
                sums[index], tester.scores(model, tokenizer, [feature])[0][0], rtol=1e-4, atol=1e-4
            )


def test_scores_match_an_uncached_forward_pass(tester):
    """The shared prompt cache changes nothing: each candidate's score equals the answer log-likelihood of a full
    forward pass over prompt + that answer."""
    model, tokenizer = tester.build()
    feature = tester.rows(count=1)[0]
    sums, counts = tester.scores(model, tokenizer, [feature])
    with torch.no_grad():
        for position, item in enumerate(feature["candidates"]):
            full = tester.batch(model, tokenizer, [{**feature, "target": item}])
            log_probs = model(**full).logits.log_softmax(-1)
            expected = log_probs[0].gather(1, full["labels"][0].unsqueeze(-1)).sum()
            torch.testing.assert_close(sums[0, position], expected, rtol=1e-4, atol=1e-4)
            assert counts[0, position] == (full["labels"][0] != -100).sum()


def test_scoring_ranks_the_candidates_by_answer_likelihood(tester):
    """`evaluate_scoring` gives the protocol's metrics of the summed or per-token answer log-likelihoods of the same
    seeded users."""
    model, tokenizer = tester.build()
    rows = tester.dataset.sample_rows("test", 6)
    sums, counts = tester.scores(model, tokenizer, rows.to_list())
    for normalization, scores in (("sum", sums), ("mean", sums / counts)):
        ranked = evaluate_scoring(
            model, tokenizer, tester.dataset, normalization=normalization, max_users=6, batch_size=4
        )
        expected = protocol_metrics(scores, rows["candidates"], rows["target"], tester.dataset.popularity)
        assert ranked["score_normalization"] == normalization
        for name, value in expected.items():
            assert ranked[name] == pytest.approx(value, abs=1e-9, nan_ok=True), name


@pytest.mark.parametrize(
    "constrained, batch_size",
    [
        pytest.param(False, 1, id="greedy"),
        pytest.param(True, 3, id="constrained-padded"),
        pytest.param(False, 3, id="greedy-padded"),
    ],
)
def test_generation_is_greedy_decoding_of_each_user_alone(tester, constrained, batch_size):
    """Generation answers what greedy decoding of each user alone answers (with the reference's repetition penalty
    for free generation; only the tokens that continue a candidate's answer when constrained), left-padded in a
    batch or not, and its Hit@1 is that of those answers."""
    model, tokenizer = tester.build(generation={"max_new_tokens": 12})
    results = evaluate_generation(
        model,
        tokenizer,
        tester.dataset,
        constrained=constrained,
        max_users=3,
        batch_size=batch_size,
        keep_predictions=True,
    )
    features = tester.dataset.sample_rows("test", 3).to_list()
    batcher = RecommendationBatcher.for_model(model, tokenizer, tester.dataset.titles)
    candidate_answers = [[batcher.answer_ids[item] for item in feature["candidates"]] for feature in features]
    hits = []
    for feature, answers, prediction in zip(features, candidate_answers, results["predictions"]):
        if constrained:
            longest = max(len(answer) for answer in answers)  # a path through the answers ends by then
            tokens = tester.greedy_answer(model, tokenizer, feature, longest, answers=answers)
            assert tokens in answers  # it always completes a candidate's answer
        else:
            tokens = tester.greedy_answer(model, tokenizer, feature, 12, repetition_penalty=1.5)
        answer = tokenizer.decode(tokens, skip_special_tokens=True)
        assert prediction["answer"] == answer
        titles = [batcher.titles[item] for item in feature["candidates"]]
        hits.append(exact_hit(answer, titles, feature["candidates"].index(feature["target"])))
    assert results["num_users"] == 3 and results["hit@1"] == pytest.approx(sum(hits) / 3)
    if constrained:
        assert results["named_a_candidate"] == 1.0


def test_save_then_auto_load_gives_identical_scores_and_no_llm_tensors(tester, tmp_path):
    model, tokenizer = tester.build()
    with torch.no_grad():
        for parameter in model.item_projector.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)  # trained-looking projector weights
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as stored:
        keys = list(stored.keys())
    assert keys and not any(key.startswith("llm.") for key in keys)
    # The file holds exactly the non-LLM tensors (plus a small header): no LLM weight rides along.
    stored_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    llm_bytes = sum(t.numel() * t.element_size() for t in model.llm.state_dict().values())
    assert stored_bytes <= os.path.getsize(tmp_path / "model.safetensors") < stored_bytes + min(llm_bytes, 256 * 1024)
    assert json.loads((tmp_path / "config.json").read_text())["llm_name_or_path"] == str(tester.llm_dir)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, ALLMRecForRecommendation)
    reloaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    features = tester.rows(count=2)
    assert torch.equal(
        tester.batch(model, tokenizer, features)["input_ids"],
        tester.batch(loaded, reloaded_tokenizer, features)["input_ids"],
    )
    assert torch.equal(
        tester.scores(model, tokenizer, features)[0], tester.scores(loaded, reloaded_tokenizer, features)[0]
    )
    card = (tmp_path / "README.md").read_text()
    assert "A-LLMRec" in card and str(tester.llm_dir) in card


def test_sbert_variant_and_ablations_change_what_the_llm_sees(tester):
    model, tokenizer = tester.build()
    batch = tester.batch(model, tokenizer, tester.rows(count=2), with_answers=False)
    args = (
        batch["input_ids"],
        batch["history_item_ids"],
        batch["candidate_item_ids"],
        batch["cf_input_ids"],
        batch["user_ids"],
    )
    assert not torch.equal(model.embed_prompt(*args), model.embed_prompt(*args, item_embedding_path="text"))

    no_user, tokenizer = tester.build(use_user_token=False)
    batch = tester.batch(no_user, tokenizer, tester.rows(count=2), with_answers=False)
    assert not (batch["input_ids"] == no_user.config.user_token_id).any()
    assert not any(p.requires_grad for p in no_user.user_projector.parameters())

    no_items, tokenizer = tester.build(item_embeddings="none")
    batch = tester.batch(no_items, tokenizer, tester.rows(count=2), with_answers=False)
    assert not (batch["input_ids"] == no_items.config.history_token_id).any()
    assert not (batch["input_ids"] == no_items.config.candidate_token_id).any()

    random_items, _ = tester.build(item_embeddings="random")
    table = random_items.item_representations(torch.tensor([1, 2]))
    torch.testing.assert_close(table, random_items.random_item_embeddings[[1, 2]])


# -- whatever the LLM -----------------------------------------------------------------------------------------------


def test_the_normalisation_with_the_better_validation_ndcg_is_stored_and_ranks_alike_after_reload(
    opt_tester, tmp_path
):
    model, tokenizer = opt_tester.build()
    dataset = opt_tester.dataset
    assert model.config.score_normalization is None
    validation = {
        name: evaluate_scoring(model, tokenizer, dataset, "validation", normalization=name, max_users=6)["ndcg@10"]
        for name in ("sum", "mean")
    }
    assert model.config.score_normalization is None  # an explicit normalisation stores nothing
    reported = evaluate_scoring(model, tokenizer, dataset, max_users=6, batch_size=3)
    picked = "sum" if validation["sum"] >= validation["mean"] else "mean"
    assert reported["score_normalization"] == model.config.score_normalization == picked
    fixed = evaluate_scoring(model, tokenizer, dataset, normalization=picked, max_users=6, batch_size=3)
    assert reported["ndcg@10"] == fixed["ndcg@10"]
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert loaded.config.score_normalization == picked
    again = evaluate_scoring(loaded, tokenizer, dataset, max_users=6, batch_size=3)
    assert again["ndcg@10"] == pytest.approx(reported["ndcg@10"])


def test_wrong_number_of_candidates_is_a_clear_error(opt_tester):
    model, tokenizer = opt_tester.build(num_candidates=10)
    with pytest.raises(ValueError, match="has 20 candidates but the model prompts with num_candidates=10"):
        opt_tester.batch(model, tokenizer, opt_tester.rows(count=1))


def test_a_prompt_beyond_the_llm_context_is_a_clear_error(opt_tester):
    model, tokenizer = opt_tester.build()
    model.config.llm_config.max_position_embeddings = 64
    with pytest.raises(ValueError, match="beyond the LLM's 64 positions; lower --max_title_tokens"):
        opt_tester.batch(model, tokenizer, opt_tester.rows(count=1))


def test_stage2_trains_on_fresh_candidates_per_epoch_and_evaluates_on_the_stored_ones(opt_tester, tmp_path):
    model, tokenizer = opt_tester.build()
    args = RecommenderTrainingArguments(output_dir=str(tmp_path), report_to=[], seed=3)
    trainer = build_recommender_trainer(model, tokenizer, opt_tester.dataset, args, max_users=8)
    rows = [trainer.train_dataset[i] for i in range(8)]
    collator = trainer.data_collator

    def candidates_in_prompts():
        return collator(rows)["candidate_item_ids"]

    first = candidates_in_prompts()
    assert all(row["target"] in ids for row, ids in zip(rows, first.tolist()))
    assert not torch.equal(first, torch.tensor([row["candidates"] for row in rows]))  # not the stored ones
    [callback] = [c for c in trainer.callback_handler.callbacks if hasattr(c, "negatives")]
    callback.negatives.set_epoch(1)
    assert not torch.equal(candidates_in_prompts(), first)
    callback.negatives.set_epoch(0)
    assert torch.equal(candidates_in_prompts(), first)
    stored = opt_tester.batch(model, tokenizer, rows, with_answers=False)["candidate_item_ids"]
    assert torch.equal(stored, torch.tensor([row["candidates"] for row in rows]))


def test_popularity_weighted_training_negatives_follow_the_training_counts(opt_tester, tmp_path):
    model, tokenizer = opt_tester.build()
    counts = torch.from_numpy(opt_tester.dataset.train_counts).double()
    weighted = RecommenderTrainingArguments(output_dir=str(tmp_path), report_to=[], negative_popularity_exponent=1)
    trainer = build_recommender_trainer(model, tokenizer, opt_tester.dataset, weighted, max_users=8)
    [callback] = [c for c in trainer.callback_handler.callbacks if hasattr(c, "negatives")]
    assert torch.allclose(callback.negatives.weights[1:], counts[1:] + 1)
    uniform = RecommenderTrainingArguments(output_dir=str(tmp_path), report_to=[])
    trainer = build_recommender_trainer(model, tokenizer, opt_tester.dataset, uniform, max_users=8)
    [callback] = [c for c in trainer.callback_handler.callbacks if hasattr(c, "negatives")]
    assert callback.negatives.weights is None
    with pytest.raises(ValueError, match="negative_popularity_exponent must be a finite number >= 0, got -1"):
        RecommenderTrainingArguments(output_dir=str(tmp_path), negative_popularity_exponent=-1)


# -- no LLM -----------------------------------------------------------------------------------------------------------


def test_answer_trie():
    trie = AnswerTrie([[5, 6, 2], [5, 7, 2], [8, 2]])
    assert sorted(trie.allowed([], fallback=0)) == [5, 8]
    assert sorted(trie.allowed([5], fallback=0)) == [6, 7]
    assert trie.allowed([5, 6, 2], fallback=0) == [0]
    assert trie.allowed([9], fallback=0) == [0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompt_domain": "book"}, "prompt_domain"),
        ({"item_embeddings": "magic"}, "item_embeddings"),
        ({"llm_quantization": "3bit"}, "llm_quantization"),
        ({"num_candidates": 1}, "num_candidates"),
        ({"max_title_tokens": 0}, "max_title_tokens"),
        ({"soft_token_scale": 0.0}, "soft_token_scale"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ALLMRecConfig(**kwargs)
