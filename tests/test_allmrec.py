import json
import os

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModel, AutoTokenizer

from allmrec_hf import ALLMRecConfig, ALLMRecForRecommendation
from allmrec_hf.collators import RecommendationBatcher
from allmrec_hf.decoding import AnswerTrie, evaluate_generation, evaluate_scoring
from allmrec_hf.training.stage2 import RecommenderTrainingArguments, build_recommender_trainer


def build(stage1_dir, tiny_llm_dir, **config_kwargs):
    torch.manual_seed(0)
    return ALLMRecForRecommendation.from_stage1(
        str(stage1_dir), str(tiny_llm_dir), prompt_domain="item", **config_kwargs
    )


def rows(dataset, split="test", count=4):
    return [dataset.splits[split][i] for i in range(count)]


def batcher_for(model, tokenizer, dataset, **options):
    return RecommendationBatcher.for_model(model, tokenizer, dataset.titles, **options)


def snapshot(module):
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def test_only_the_projectors_train_and_frozen_weights_stay_bit_identical(
    stage1_dir, tiny_llm_dir, sample_dataset, tmp_path
):
    model, tokenizer = build(stage1_dir, tiny_llm_dir)
    projector_parameters = sum(
        p.numel() for p in [*model.user_projector.parameters(), *model.item_projector.parameters()]
    )
    assert model.num_trainable_parameters() == projector_parameters
    frozen = {"llm": snapshot(model.llm), "aligner": snapshot(model.aligner)}
    subset = sample_dataset.splits["train"].select(range(8))
    fixed_batch = batcher_for(model, tokenizer, sample_dataset)(subset.to_list())
    with torch.no_grad():
        loss_before = model(**fixed_batch).loss.item()
    args = RecommenderTrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=15, learning_rate=3e-2, per_device_train_batch_size=8,
        save_strategy="no", disable_tqdm=True, seed=0,
    )  # fmt: skip
    dataset = type(sample_dataset)(splits={"train": subset}, items=sample_dataset.items, report=sample_dataset.report)
    build_recommender_trainer(model, tokenizer, dataset, args).train()
    with torch.no_grad():
        loss_after = model(**fixed_batch).loss.item()
    assert loss_after < loss_before - 0.01, (loss_before, loss_after)
    for name, before in frozen.items():
        after = snapshot(getattr(model, name))
        assert all(torch.equal(before[key], after[key]) for key in before), f"{name} changed"
    assert not model.llm.training and not model.aligner.training


def test_soft_token_rows_equal_the_projector_outputs(stage1_dir, tiny_llm_dir, sample_dataset):
    model, tokenizer = build(stage1_dir, tiny_llm_dir)
    batch = batcher_for(model, tokenizer, sample_dataset, with_answers=False)(rows(sample_dataset))
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
    history_ids = sample_dataset.splits["test"][0]["history"][-10:]
    assert history_ids and text.count("[HistoryEmb]") == len(history_ids)
    assert text.count("[CandidateEmb]") == 20


def test_batched_padding_gives_the_same_scores_as_one_user_at_a_time(stage1_dir, tiny_llm_dir, sample_dataset):
    model, tokenizer = build(stage1_dir, tiny_llm_dir)
    features = rows(sample_dataset, count=3)
    training = batcher_for(model, tokenizer, sample_dataset)
    scoring = batcher_for(model, tokenizer, sample_dataset, with_answers=False, with_candidate_answers=True)
    with torch.no_grad():
        together = model(**training(features)).logits
        batch = scoring(features)
        sums, _ = model.score_answers(batch, batch.pop("candidate_answer_ids"), batch.pop("candidate_answer_lengths"))
        for index, feature in enumerate(features):
            alone = model(**training([feature])).logits[0]
            width = alone.shape[0]
            torch.testing.assert_close(together[index, :width], alone, rtol=1e-4, atol=1e-4)
            single = scoring([feature])
            single_sums, _ = model.score_answers(
                single, single.pop("candidate_answer_ids"), single.pop("candidate_answer_lengths")
            )
            torch.testing.assert_close(sums[index], single_sums[0], rtol=1e-4, atol=1e-4)


def test_scores_match_an_uncached_forward_pass(stage1_dir, tiny_llm_dir, sample_dataset):
    """The shared prompt cache changes nothing: each candidate's score equals the answer log-likelihood of a full
    forward pass over prompt + that answer."""
    model, tokenizer = build(stage1_dir, tiny_llm_dir)
    feature = rows(sample_dataset, count=1)[0]
    batch = batcher_for(model, tokenizer, sample_dataset, with_answers=False, with_candidate_answers=True)([feature])
    answers, lengths = batch.pop("candidate_answer_ids"), batch.pop("candidate_answer_lengths")
    sums, counts = model.score_answers(batch, answers, lengths)
    training = batcher_for(model, tokenizer, sample_dataset)
    with torch.no_grad():
        for position, item in enumerate(feature["candidates"]):
            full = training([{**feature, "target": item}])
            log_probs = model(**full).logits.log_softmax(-1)
            expected = log_probs[0].gather(1, full["labels"][0].unsqueeze(-1)).sum()
            torch.testing.assert_close(sums[0, position], expected, rtol=1e-4, atol=1e-4)
            assert counts[0, position] == lengths[0, position]


def test_save_then_auto_load_gives_identical_scores_and_no_llm_tensors(
    stage1_dir, tiny_llm_dir, sample_dataset, tmp_path
):
    model, tokenizer = build(stage1_dir, tiny_llm_dir)
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
    assert json.loads((tmp_path / "config.json").read_text())["llm_name_or_path"] == str(tiny_llm_dir)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, ALLMRecForRecommendation)
    reloaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    features = rows(sample_dataset, count=2)
    first = batcher_for(model, tokenizer, sample_dataset, with_answers=False, with_candidate_answers=True)(features)
    second = batcher_for(loaded, reloaded_tokenizer, sample_dataset, with_answers=False, with_candidate_answers=True)(
        features
    )
    assert torch.equal(first["input_ids"], second["input_ids"])
    scores = model.score_answers(first, first.pop("candidate_answer_ids"), first.pop("candidate_answer_lengths"))[0]
    again = loaded.score_answers(second, second.pop("candidate_answer_ids"), second.pop("candidate_answer_lengths"))[0]
    assert torch.equal(scores, again)
    card = (tmp_path / "README.md").read_text()
    assert "A-LLMRec" in card and str(tiny_llm_dir) in card


def test_three_answering_modes(stage1_dir, tiny_llm_dir, sample_dataset):
    model, tokenizer = build(stage1_dir, tiny_llm_dir, generation={"max_new_tokens": 12})
    generated = evaluate_generation(model, tokenizer, sample_dataset, max_users=6, batch_size=3, keep_predictions=True)
    assert generated["num_users"] == 6 and {"hit@1", "hit@1_lenient", "hit@1_cold", "hit@1_warm"} <= set(generated)
    assert len(generated["predictions"]) == 6
    constrained = evaluate_generation(model, tokenizer, sample_dataset, constrained=True, max_users=6, batch_size=3)
    assert constrained["named_a_candidate"] == 1.0  # a random LLM still always names a candidate
    ranked = evaluate_scoring(model, tokenizer, sample_dataset, normalization="mean", max_users=6, batch_size=3)
    assert {"hit@1", "hit@5", "hit@10", "ndcg@5", "ndcg@10"} <= set(ranked) and ranked["score_normalization"] == "mean"
    picked = evaluate_scoring(model, tokenizer, sample_dataset, max_users=6, batch_size=3)
    assert picked["score_normalization"] in ("sum", "mean")


def test_sbert_variant_and_ablations_change_what_the_llm_sees(stage1_dir, tiny_llm_dir, sample_dataset):
    model, tokenizer = build(stage1_dir, tiny_llm_dir)
    batch = batcher_for(model, tokenizer, sample_dataset, with_answers=False)(rows(sample_dataset, count=2))
    args = (
        batch["input_ids"],
        batch["history_item_ids"],
        batch["candidate_item_ids"],
        batch["cf_input_ids"],
        batch["user_ids"],
    )
    assert not torch.equal(model.embed_prompt(*args), model.embed_prompt(*args, item_embedding_path="text"))

    no_user, tokenizer = build(stage1_dir, tiny_llm_dir, use_user_token=False)
    batch = batcher_for(no_user, tokenizer, sample_dataset, with_answers=False)(rows(sample_dataset, count=2))
    assert not (batch["input_ids"] == no_user.config.user_token_id).any()
    assert not any(p.requires_grad for p in no_user.user_projector.parameters())

    no_items, tokenizer = build(stage1_dir, tiny_llm_dir, item_embeddings="none")
    batch = batcher_for(no_items, tokenizer, sample_dataset, with_answers=False)(rows(sample_dataset, count=2))
    assert not (batch["input_ids"] == no_items.config.history_token_id).any()
    assert not (batch["input_ids"] == no_items.config.candidate_token_id).any()

    random_items, _ = build(stage1_dir, tiny_llm_dir, item_embeddings="random")
    table = random_items.item_representations(torch.tensor([1, 2]))
    torch.testing.assert_close(table, random_items.random_item_embeddings[[1, 2]])


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


def test_wrong_number_of_candidates_is_a_clear_error(stage1_dir, tiny_llm_dir, sample_dataset):
    model, tokenizer = build(stage1_dir, tiny_llm_dir, num_candidates=10)
    with pytest.raises(ValueError, match="has 20 candidates but the model prompts with num_candidates=10"):
        batcher_for(model, tokenizer, sample_dataset)(rows(sample_dataset, count=1))


def test_the_normalisation_picked_on_validation_is_stored_and_ranks_alike_after_reload(
    stage1_dir, opt_llm_dir, sample_dataset, tmp_path
):
    model, tokenizer = build(stage1_dir, opt_llm_dir)
    assert model.config.score_normalization is None
    reported = evaluate_scoring(model, tokenizer, sample_dataset, max_users=6, batch_size=3)
    assert model.config.score_normalization == reported["score_normalization"]
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert loaded.config.score_normalization == reported["score_normalization"]
    again = evaluate_scoring(loaded, tokenizer, sample_dataset, max_users=6, batch_size=3)
    assert again["ndcg@10"] == pytest.approx(reported["ndcg@10"])


def test_a_prompt_beyond_the_llm_context_is_a_clear_error(stage1_dir, opt_llm_dir, sample_dataset):
    model, tokenizer = build(stage1_dir, opt_llm_dir)
    model.config.llm_config.max_position_embeddings = 64
    with pytest.raises(ValueError, match="beyond the LLM's 64 positions; lower --max_title_tokens"):
        batcher_for(model, tokenizer, sample_dataset)(rows(sample_dataset, count=1))


def test_stage2_trains_on_fresh_candidates_per_epoch_and_evaluates_on_the_stored_ones(
    stage1_dir, opt_llm_dir, sample_dataset, tmp_path
):
    model, tokenizer = build(stage1_dir, opt_llm_dir)
    args = RecommenderTrainingArguments(output_dir=str(tmp_path), report_to=[], seed=3)
    trainer = build_recommender_trainer(model, tokenizer, sample_dataset, args, max_users=8)
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
    stored = batcher_for(model, tokenizer, sample_dataset, with_answers=False)(rows)["candidate_item_ids"]
    assert torch.equal(stored, torch.tensor([row["candidates"] for row in rows]))
