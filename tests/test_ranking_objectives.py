"""Stage 2 beyond the paper's LM loss: the ranking and distillation objectives (read through the tree-masked pass
with gradients on), the soft-token options (placement, standardised inputs, normalised scale), the swap test, the
learning curve and resuming a run exactly."""

import json

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel

from allmrec_hf import ALLMRecConfig
from allmrec_hf.decoding import candidate_scores, evaluate_scoring, swap_candidate_tokens
from allmrec_hf.evaluation import protocol_metrics
from allmrec_hf.prompts import SoftTokenLayout, recommendation_prompt
from allmrec_hf.training.diagnostics import (
    CURVE_KEY,
    LearningCurveCallback,
    mean_pairwise_cosine,
    soft_token_statistics,
)
from allmrec_hf.training.stage2 import RecommenderTrainingArguments, build_recommender_trainer
from allmrec_hf.utils import weights_fingerprint

from .conftest import snapshot


OBJECTIVE = {"lm_loss_weight": 0.5, "ranking_loss_weight": 1.0, "distillation_loss_weight": 2.0}


def ranking_batch(tester, model, tokenizer, count=3):
    return tester.batch(model, tokenizer, tester.rows("train", count), with_answers=False, with_candidate_answers=True)


@pytest.mark.parametrize("teacher", ["joint", "text", "both"])
def test_the_objective_is_the_weighted_sum_of_its_definitions(tester, teacher):
    """Every loss computed by hand from the cached candidate scores and the stage-1 scorer it distils."""
    model, tokenizer = tester.build(**OBJECTIVE, distillation_teacher=teacher, distillation_joint_weight=0.3)
    batch = ranking_batch(tester, model, tokenizer)
    output = model(**batch)
    sums, counts = model.score_answers(
        {k: v for k, v in batch.items() if not k.startswith("candidate_answer")},
        batch["candidate_answer_ids"],
        batch["candidate_answer_lengths"],
    )
    mean = sums / counts
    torch.testing.assert_close(output.logits, mean, rtol=1e-5, atol=1e-5)
    labels = batch["labels"]
    rows = tester.rows("train", 3)
    assert labels.tolist() == [row["candidates"].index(row["target"]) for row in rows]
    users = model.aligner.cf_backbone.user_representation(batch["cf_input_ids"], batch["user_ids"])
    paths = {
        path: model.aligner.score_candidates(users, batch["candidate_item_ids"], path) for path in ("joint", "text")
    }
    # "both": a product of the two paths' candidate distributions, 0.3 of the joint one, renormalised
    paths["both"] = 0.3 * paths["joint"].log_softmax(-1) + 0.7 * paths["text"].log_softmax(-1)
    lm = -mean[torch.arange(3), labels]
    ranking = F.cross_entropy(mean, labels, reduction="none")

    def expected_loss(scores):
        p = scores.softmax(-1)
        distillation = (p * (p.log() - mean.log_softmax(-1))).sum(-1)
        return (0.5 * lm + 1.0 * ranking + 2.0 * distillation).mean()

    torch.testing.assert_close(output.loss, expected_loss(paths[teacher]), rtol=1e-4, atol=1e-5)
    for other in set(paths) - {teacher}:  # and, at the same tolerance, the loss tells which teacher was read
        assert not torch.allclose(output.loss, expected_loss(paths[other]), rtol=1e-4, atol=1e-5), other


def test_ranking_training_moves_only_the_projectors_and_lowers_the_loss(opt_tester, tmp_path):
    model, tokenizer = opt_tester.build(lm_loss_weight=0.0, ranking_loss_weight=1.0)
    assert model.config.score_normalization == "mean"  # what the ranking objective trains is how it ranks
    dataset = opt_tester.dataset
    subset = dataset.splits["train"].select(range(8))
    fixed = opt_tester.batch(model, tokenizer, subset.to_list(), with_answers=False, with_candidate_answers=True)
    frozen = {"llm": snapshot(model.llm), "aligner": snapshot(model.aligner)}
    with torch.no_grad():
        before = model(**fixed).loss.item()
    args = RecommenderTrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=10, learning_rate=3e-2, per_device_train_batch_size=8,
        save_strategy="no", disable_tqdm=True, seed=0,
    )  # fmt: skip
    eight_users = type(dataset)(splits={"train": subset}, items=dataset.items, report=dataset.report)
    trainer = build_recommender_trainer(model, tokenizer, eight_users, args)
    assert "candidate_answer_ids" in trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    trainer.train()
    with torch.no_grad():
        after = model(**fixed).loss.item()
    assert after < before - 0.05, (before, after)
    for name, state in frozen.items():
        assert all(torch.equal(state[key], value) for key, value in snapshot(getattr(model, name)).items()), name


@pytest.mark.parametrize(
    "layout, expected",
    [
        (
            SoftTokenLayout(),
            '[UserRep] is a user representation. This user has bought "a"[HistoryEmb] in the previous.',
        ),
        (
            SoftTokenLayout(user_token_placement="after_text", item_token_placement="before_title"),
            'The user representation is [UserRep]. This user has bought [HistoryEmb]"a" in the previous.',
        ),
        (SoftTokenLayout(False, False), 'This user has bought "a" in the previous.'),
    ],
)
def test_soft_token_layouts(layout, expected):
    prompt = recommendation_prompt("item", ["a"], ["b", "c"], layout)
    assert prompt.startswith(expected)
    tokens = "[CandidateEmb]" if layout.item_tokens else ""
    candidates = (
        f'{tokens}"b",{tokens}"c"' if layout.item_token_placement == "before_title" else f'"b"{tokens},"c"{tokens}'
    )
    assert f"title set, {candidates}. The recommendation is" in prompt


def test_soft_tokens_sit_before_their_titles_and_carry_the_normalised_projections(opt_tester):
    model, tokenizer = opt_tester.build(
        user_token_placement="after_text",
        item_token_placement="before_title",
        normalize_soft_tokens=True,
        soft_token_scale=0.25,
    )
    batch = opt_tester.batch(model, tokenizer, opt_tester.rows(count=2), with_answers=False)
    text = tokenizer.decode(batch["input_ids"][0]).replace("<pad>", "")
    assert text.startswith('</s>The user representation is [UserRep]. This user has bought [HistoryEmb]"')
    embeds = model.embed_prompt(**{k: v for k, v in batch.items() if k not in ("attention_mask", "labels")})
    config = model.config
    with torch.no_grad():
        candidates = model.item_projector(model.aligner.catalog_embeddings(batch["candidate_item_ids"][0]))
        placed = embeds[0][batch["input_ids"][0] == config.candidate_token_id]
    # Each placed token is its projection rescaled to RMS 0.25.
    torch.testing.assert_close(placed.pow(2).mean(-1).sqrt(), torch.full((20,), 0.25), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(F.normalize(placed, dim=-1), F.normalize(candidates, dim=-1), rtol=1e-4, atol=1e-5)


def test_standardised_inputs_are_fitted_to_the_catalog_and_users_and_saved(opt_tester, tmp_path):
    dataset = opt_tester.dataset
    model, tokenizer = opt_tester.build(standardize_soft_token_inputs=True, user_rows=dataset.splits["train"])
    items = model.aligner.catalog_embeddings(torch.arange(1, dataset.num_items + 1))
    standardised = (items - model.item_projector.input_mean) / model.item_projector.input_std
    torch.testing.assert_close(standardised.mean(0), torch.zeros(items.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(standardised.std(0), torch.ones(items.shape[1]), atol=1e-3, rtol=0)
    assert not torch.equal(model.user_projector.input_std, torch.ones_like(model.user_projector.input_std))
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    for name in ("item_projector", "user_projector"):
        for buffer in ("input_mean", "input_std"):
            assert torch.equal(getattr(getattr(loaded, name), buffer), getattr(getattr(model, name), buffer))
    features = opt_tester.rows(count=2)
    torch.testing.assert_close(
        opt_tester.scores(loaded, tokenizer, features), opt_tester.scores(model, tokenizer, features)
    )
    # Standardised inputs make different items' soft tokens less alike than the paper's raw e_i do.
    raw, _ = opt_tester.build()
    ids = torch.arange(1, 41)
    with torch.no_grad():
        alike_raw = mean_pairwise_cosine(raw.soft_tokens(raw.item_projector, raw.item_representations(ids)))
        alike = mean_pairwise_cosine(model.soft_tokens(model.item_projector, model.item_representations(ids)))
    assert alike < alike_raw


@pytest.mark.parametrize("normalize", [False, True])
def test_item_tokens_can_start_at_the_llms_embedding_of_words(opt_tester, tmp_path, normalize):
    model, tokenizer = opt_tester.build(item_token_init_text=" best", normalize_soft_tokens=normalize)
    word = model.llm.get_input_embeddings()(torch.tensor(tokenizer(" best", add_special_tokens=False)["input_ids"]))
    word = word.float().mean(0)
    with torch.no_grad():
        tokens = model.soft_tokens(model.item_projector, model.item_representations(torch.arange(1, 21)))
    # Every item starts near the word, and still differs from the others (the shrunk weights carry the item).
    assert F.cosine_similarity(tokens, word[None]).min() > 0.95  # a random start: about 0
    assert not torch.allclose(tokens[0], tokens[1])
    if not normalize:  # the output layer's bias is the word, at the scale the soft tokens enter with
        bias = model.item_projector.layers[-1].bias * model.config.soft_token_scale
        torch.testing.assert_close(bias, word)
    # The start is part of the weights: a saved model reloads with the same tokens, not re-initialised.
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    with torch.no_grad():
        reloaded = loaded.soft_tokens(loaded.item_projector, loaded.item_representations(torch.arange(1, 21)))
    torch.testing.assert_close(reloaded, tokens)
    assert loaded.config.item_token_init_text == " best"


def test_user_conditioned_item_tokens_read_the_item_and_its_fit_with_the_prompts_user(opt_tester, tmp_path):
    dataset = opt_tester.dataset
    model, tokenizer = opt_tester.build(
        item_token_conditioning="user", standardize_soft_token_inputs=True, user_rows=dataset.splits["train"]
    )
    latent, cf = model.config.aligner_config.latent_size, model.config.aligner_config.cf_config.hidden_size
    assert model.item_projector.layers[0].in_features == latent + cf
    batch = opt_tester.batch(model, tokenizer, opt_tester.rows(count=2), with_answers=False)
    inputs = {k: v for k, v in batch.items() if k not in ("attention_mask", "labels")}
    embeds = model.embed_prompt(**inputs)
    with torch.no_grad():
        users = model.cf_user_representations(batch["cf_input_ids"], batch.get("user_ids"))
        for row in range(2):
            items = model.aligner.catalog_embeddings(batch["candidate_item_ids"][row])
            # The products x_u ⊙ f_dec(e_i), whose sum is stage 1's logit of this user and item (eq. 5).
            products = users[row] * model.aligner.item_decoder(items)
            expected = model.soft_tokens(model.item_projector, torch.cat([items, products], -1))
            placed = embeds[row][batch["input_ids"][row] == model.config.candidate_token_id]
            torch.testing.assert_close(placed, expected, rtol=1e-4, atol=1e-5)
        # The same item under two users: two tokens (the paper's item tokens are the same for every user).
        item = batch["candidate_item_ids"][0][:1]
        one, other = (model.item_token_inputs(item, users[row][None]) for row in range(2))
        assert not torch.allclose(model.item_projector(one), model.item_projector(other))
    # The match half of F_I's inputs is standardised over (item, user) pairs and saved; the model reloads its size.
    assert not torch.equal(model.item_projector.input_std[latent:], torch.ones(cf))
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert loaded.config.item_token_conditioning == "user"
    features = opt_tester.rows(count=2)
    torch.testing.assert_close(
        opt_tester.scores(loaded, tokenizer, features), opt_tester.scores(model, tokenizer, features)
    )
    with pytest.raises(ValueError, match="needs the user"):
        model.item_token_inputs(item, None)
    # The training diagnostics measure such tokens too (as the first user's prompt holds them).
    statistics = soft_token_statistics(model, torch.arange(1, 21), batch["cf_input_ids"], batch.get("user_ids"))
    assert {"item_token_rms", "item_token_cosine", "user_token_cosine"} <= statistics.keys()


def test_user_and_text_conditioned_item_tokens_also_read_the_text_paths_fit(opt_tester, tmp_path):
    dataset = opt_tester.dataset
    model, tokenizer = opt_tester.build(
        item_token_conditioning="user+text", standardize_soft_token_inputs=True, user_rows=dataset.splits["train"]
    )
    latent, cf = model.config.aligner_config.latent_size, model.config.aligner_config.cf_config.hidden_size
    assert model.item_projector.layers[0].in_features == latent + 2 * cf
    batch = opt_tester.batch(model, tokenizer, opt_tester.rows(count=2), with_answers=False)
    embeds = model.embed_prompt(**{k: v for k, v in batch.items() if k not in ("attention_mask", "labels")})
    with torch.no_grad():
        users = model.cf_user_representations(batch["cf_input_ids"], batch.get("user_ids"))
        for row in range(2):
            candidates = batch["candidate_item_ids"][row]
            items, texts = (model.aligner.catalog_embeddings(candidates, path) for path in ("joint", "text"))
            # x_u ⊙ f_dec(e_i) and x_u ⊙ f_dec(q_i): their sums are stage 1's joint and text-path logits.
            joint_fit, text_fit = (users[row] * model.aligner.item_decoder(latents) for latents in (items, texts))
            torch.testing.assert_close(
                text_fit.sum(-1), model.aligner.score_candidates(users[row][None], candidates[None], "text")[0]
            )
            expected = model.soft_tokens(model.item_projector, torch.cat([items, joint_fit, text_fit], -1))
            placed = embeds[row][batch["input_ids"][row] == model.config.candidate_token_id]
            torch.testing.assert_close(placed, expected, rtol=1e-4, atol=1e-5)
    # Standardised over (item, user) pairs: the text half has statistics of its own.
    assert not torch.equal(model.item_projector.input_std[latent + cf :], torch.ones(cf))
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    features = opt_tester.rows(count=2)
    torch.testing.assert_close(
        opt_tester.scores(loaded, tokenizer, features), opt_tester.scores(model, tokenizer, features)
    )


def test_item_tokens_cannot_start_at_words_without_tokens(opt_tester):
    model, tokenizer = opt_tester.build()
    with pytest.raises(ValueError, match="item_token_init_text '' has no tokens"):
        model.initialize_item_tokens_at_text(tokenizer, "")


def test_swap_moves_every_soft_token_to_another_candidate_of_its_row():
    ids = torch.arange(1, 61).reshape(3, 20)
    swapped = swap_candidate_tokens(ids, torch.Generator().manual_seed(0))
    for row, original in zip(swapped, ids):
        assert sorted(row.tolist()) == original.tolist() and not (row == original).any()


def test_the_swap_test_scores_the_same_titles_with_other_soft_tokens(opt_tester):
    model, tokenizer = opt_tester.build()
    dataset = opt_tester.dataset
    plain, lengths, rows = candidate_scores(model, tokenizer, dataset, "test", max_users=6)
    swapped, swapped_lengths, _ = candidate_scores(
        model, tokenizer, dataset, "test", max_users=6, swap_soft_tokens=True
    )
    again, _, _ = candidate_scores(model, tokenizer, dataset, "test", max_users=6, swap_soft_tokens=True)
    assert (lengths == swapped_lengths).all() and (swapped == again).all()  # the same answers, seeded swaps
    assert (plain != swapped).all(axis=1).any()
    metrics = evaluate_scoring(model, tokenizer, dataset, normalization="sum", max_users=6, swap_soft_tokens=True)
    expected = protocol_metrics(swapped, rows["candidates"], rows["target"], dataset.popularity)
    assert metrics["swapped_soft_tokens"] and metrics["hit@1"] == pytest.approx(expected["hit@1"])


def curve_trainer(opt_tester, tmp_path, model, tokenizer, max_steps, curve_file):
    args = RecommenderTrainingArguments(
        output_dir=str(tmp_path / "checkpoints"), max_steps=max_steps, learning_rate=1e-2, per_device_train_batch_size=2,
        save_strategy="steps", save_steps=2, save_total_limit=None, disable_tqdm=True, seed=0, logging_steps=1,
    )  # fmt: skip
    trainer = build_recommender_trainer(model, tokenizer, opt_tester.dataset, args, max_users=8)
    trainer.add_callback(LearningCurveCallback(model, tokenizer, opt_tester.dataset, [0, 4, 8], 4, curve_file))
    return trainer


def test_a_resumed_run_ends_exactly_as_an_uninterrupted_one_and_continues_its_learning_curve(opt_tester, tmp_path):
    """Train 4 steps straight; train 2, stop, resume to 4: the same projector weights (learning-rate schedule, data
    order and fresh candidates all restored), and the learning curve is neither repeated nor lost."""
    straight, tokenizer = opt_tester.build(ranking_loss_weight=1.0)
    curve = tmp_path / "straight" / "curve.json"
    curve_trainer(opt_tester, tmp_path / "straight", straight, tokenizer, 4, curve).train()
    points = json.loads(curve.read_text())["points"]
    assert [point["samples"] for point in points] == [0, 4, 8]
    # the SASRec the curve is built on, by the fingerprint examples/evaluate.py records on every row
    assert json.loads(curve.read_text())["cf_backbone_weights"] == weights_fingerprint(straight.aligner.cf_backbone)
    assert all({"hit@1", "swapped_hit@1", "item_token_rms", "text_token_rms"} <= point.keys() for point in points)
    # every user's figures, plain and swapped, so that runs on the same validation users pair up
    for point in points:
        plain, swapped = point["per_user"], point["swapped_per_user"]
        assert plain["user_id"] == swapped["user_id"] and len(plain["hit@1"]) == point["num_users"] == 4
        assert sum(plain["hit@1"]) / 4 == pytest.approx(point["hit@1"])
        assert sum(swapped["hit@1"]) / 4 == pytest.approx(point["swapped_hit@1"])

    interrupted, tokenizer = opt_tester.build(ranking_loss_weight=1.0)
    resumed_curve = tmp_path / "resumed" / "curve.json"
    curve_trainer(opt_tester, tmp_path / "resumed", interrupted, tokenizer, 2, resumed_curve).train()
    assert [point["samples"] for point in json.loads(resumed_curve.read_text())["points"]] == [0, 4]
    resumed, tokenizer = opt_tester.build(ranking_loss_weight=1.0)
    trainer = curve_trainer(opt_tester, tmp_path / "resumed", resumed, tokenizer, 4, resumed_curve)
    trainer.train(resume_from_checkpoint=str(tmp_path / "resumed" / "checkpoints" / "checkpoint-2"))
    for name in ("user_projector", "item_projector"):
        before, after = snapshot(getattr(straight, name)), snapshot(getattr(resumed, name))
        assert all(torch.allclose(before[key], after[key], atol=1e-6) for key in before), name
    resumed_points = json.loads(resumed_curve.read_text())["points"]
    assert [point["samples"] for point in resumed_points] == [0, 4, 8]
    assert resumed_points[2]["hit@1"] == pytest.approx(points[2]["hit@1"])
    assert resumed_points[0]["per_user"] == points[0]["per_user"]  # kept through the checkpoint
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged and all("item_token_cosine" in entry for entry in logged)
    assert sum(CURVE_KEY in entry for entry in trainer.state.log_history) == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lm_loss_weight": 0.0}, "not all 0"),
        ({"ranking_loss_weight": -1.0}, "must be >= 0"),
        ({"ranking_temperature": 0.0}, "temperature"),
        ({"distillation_teacher": "sasrec"}, "distillation_teacher"),
        ({"distillation_joint_weight": 1.5}, "distillation_joint_weight"),
        ({"item_token_conditioning": "history"}, "item_token_conditioning"),
        ({"item_token_placement": "inside"}, "item_token_placement"),
        ({"user_token_placement": "last"}, "user_token_placement"),
    ],
)
def test_objective_and_layout_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ALLMRecConfig(**kwargs)
