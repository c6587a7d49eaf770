"""The modality-aware baselines (MoRec, CTRL, RECFORMER): save/reload, items entering from their text, training steps,
the contrastive losses against hand computations, both stages through the CF script, and the experiment tables."""

import json
import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoTokenizer

from allmrec_hf import CTRLRecConfig, MoRecConfig, MoRecModel, RecformerConfig, RecformerModel
from allmrec_hf.backbones import MODALITY_AWARE_BACKBONES
from allmrec_hf.backbones.modeling_item_text import info_nce, symmetric_info_nce
from allmrec_hf.collators import BackboneCollator, collate_rows, pad
from allmrec_hf.commands.cf import ITEM_TEXT_ARGUMENTS, BackboneArguments
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.data.negatives import EpochNegatives
from allmrec_hf.experiments import ExperimentRunner, ExperimentSettings, all_tables
from allmrec_hf.modeling_aligner import SentenceEncoder, load_sentence_transformer
from allmrec_hf.recformer.configuration_recformer import key_value_template
from allmrec_hf.recformer.training import recformer_training_rows
from allmrec_hf.training.cf import backbone_training_rows, evaluate_backbone
from allmrec_hf.training.stage1 import catalog_texts

from ..conftest import SAMPLE_DATA_ARGS


NAMES = list(MODALITY_AWARE_BACKBONES)
TINY = {
    "morec": {"hidden_size": 8, "num_blocks": 1, "max_sequence_length": 8, "dropout": 0.0, "adapter_hidden_size": 8,
              "max_text_length": 24},
    "ctrl": {"hidden_size": 8, "num_blocks": 1, "max_sequence_length": 8, "dropout": 0.0, "projection_size": 8,
             "max_text_length": 24},
    "recformer": {"max_sequence_length": 8, "max_text_length": 16, "max_user_text_length": 40},
}  # fmt: skip
NEW_ITEM = "A brand-new ultralight tent nobody bought yet"


@pytest.fixture(scope="module")
def sentence_transformer(tiny_sentence_transformer_dir):
    return load_sentence_transformer(str(tiny_sentence_transformer_dir))


@pytest.fixture(scope="module")
def foreign_dataset():
    """Another synthetic shop: other items, other users."""
    return prepare_dataset(
        DataArguments(
            **{
                **SAMPLE_DATA_ARGS,
                "synthetic_users": 80,
                "synthetic_items_per_category": 5,
                "few_shot_sizes": [8],
                "seed": 9,
            }
        )
    )


def build(name, dataset, sentence_transformer, seed=0, **overrides):
    torch.manual_seed(seed)
    model = MODALITY_AWARE_BACKBONES[name][1].from_sentence_transformer(
        sentence_transformer, num_items=dataset.num_items, **{**TINY[name], **overrides}
    )
    model.set_catalog(*model.tokenize_texts(catalog_texts(model, dataset), sentence_transformer.tokenizer))
    if name == "ctrl":
        # Items 1-9 never appear in training: CTRL writes them from their text through its fitted map.
        model.register_training_items(torch.arange(10, dataset.num_items + 1))
        model.refresh_catalog()
    return model.eval()


def training_batch(model, dataset, size=16):
    split = dataset.splits["train"]
    if isinstance(model, RecformerModel):
        rows = recformer_training_rows(split, model.config.max_sequence_length)
        return collate_rows([rows[index] for index in range(size)])
    rows, keys = backbone_training_rows(split, model.config.max_sequence_length, dataset.num_items)
    negatives = EpochNegatives(dataset.num_items, keys, len(rows), model.config.max_sequence_length, seed=0)
    return BackboneCollator(negatives)([rows[index] for index in range(size)])


def scoring_rows(dataset, count=8, split="test"):
    rows = dataset.splits[split]
    return pad(rows["history"][:count], 0, "left", 8), torch.tensor(rows["candidates"][:count])


def hand_info_nce(queries, keys, temperature, labels=None):
    """InfoNCE written out: for each query, log-sum-exp of its cosines over the temperature minus its positive's."""
    total = 0.0
    for row, query in enumerate(queries.tolist()):
        logits = [
            sum(q * k for q, k in zip(query, key))
            / math.dist(query, [0] * len(query))
            / math.dist(key, [0] * len(key))
            for key in keys.tolist()
        ]
        logits = [logit / temperature for logit in logits]
        target = row if labels is None else int(labels[row])
        total += math.log(sum(math.exp(logit) for logit in logits)) - logits[target]
    return total / len(queries)


def test_info_nce_matches_a_hand_computation():
    queries = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    keys = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    root = math.sqrt(2)
    # Cosines over temperature 0.5: query 0 -> (2, √2), query 1 -> (0, √2); key 0 -> (2, 0), key 1 -> (√2, √2).
    forward = (math.log(math.exp(2) + math.exp(root)) - 2 + math.log(1 + math.exp(root)) - root) / 2
    backward = (math.log(math.exp(2) + 1) - 2 + math.log(2 * math.exp(root)) - root) / 2
    assert info_nce(queries, keys, 0.5).item() == pytest.approx(forward)
    assert symmetric_info_nce(queries, keys, 0.5).item() == pytest.approx((forward + backward) / 2)
    both_key_1 = (math.log(math.exp(2) + math.exp(root)) - root + math.log(1 + math.exp(root)) - root) / 2
    assert info_nce(queries, keys, 0.5, torch.tensor([1, 1])).item() == pytest.approx(both_key_1)
    assert hand_info_nce(queries, keys, 0.5) == pytest.approx(forward)


def test_ctrl_pretraining_loss_matches_a_hand_computation(sample_dataset, sentence_transformer):
    model = build(
        "ctrl", sample_dataset, sentence_transformer, training_stage="pretrain", contrastive_temperature=0.2,
        user_alignment_weight=0.7, item_alignment_weight=0.3,
    ).train()  # fmt: skip
    model.register_training_items(torch.arange(1, sample_dataset.num_items + 1))  # every item by its ID row
    batch = training_batch(model, sample_dataset, 6)
    output = model(**batch)
    input_ids, positives = batch["input_ids"], batch["positive_ids"]
    with torch.no_grad():
        users = model.sequence_representations(input_ids)[:, -1]  # no dropout: as in the training pass
        texts = model.text_catalog.embeddings
        kept = [row for row, ids in enumerate(input_ids.tolist()) if ids[-1]]
        histories = torch.stack([texts[[item for item in input_ids[row].tolist() if item]].mean(0) for row in kept])
        cf_users, text_users = model.cf_projection(users[kept]), model.text_projection(histories)
        items = sorted(set(positives[positives != 0].tolist()))
        cf_items = model.cf_projection(model.item_embedding.embedding.weight[items])
        text_items = model.text_projection(texts[items])
    user = (hand_info_nce(cf_users, text_users, 0.2) + hand_info_nce(text_users, cf_users, 0.2)) / 2
    item = (hand_info_nce(cf_items, text_items, 0.2) + hand_info_nce(text_items, cf_items, 0.2)) / 2
    assert output.user_alignment_loss.item() == pytest.approx(user, rel=1e-4)
    assert output.item_alignment_loss.item() == pytest.approx(item, rel=1e-4)
    assert output.loss.item() == pytest.approx(0.7 * user + 0.3 * item, rel=1e-4)


def test_recformer_losses_match_hand_computations(sample_dataset, sentence_transformer):
    model = build("recformer", sample_dataset, sentence_transformer, contrastive_temperature=0.1).train()
    batch = training_batch(model, sample_dataset, 4)
    batch["positive_ids"][1] = batch["positive_ids"][
        0
    ]  # two users with the same next item: one key, no false negative
    positives = batch["positive_ids"].tolist()
    items = sorted(set(positives))
    with torch.no_grad():
        users = model.encode_users(batch["input_ids"])
        # The tiny encoder has no dropout: the items re-encoded with gradients equal the stored embeddings.
        in_batch = hand_info_nce(users, model.text_catalog.embeddings[items], 0.1, [items.index(p) for p in positives])
        catalog = hand_info_nce(users, model.text_catalog.embeddings[1:], 0.1, [p - 1 for p in positives])
    model.config.training_stage = "pretrain"
    assert model(**batch).loss.item() == pytest.approx(in_batch, rel=1e-4)
    model.config.training_stage = "finetune"
    assert model(**batch).loss.item() == pytest.approx(catalog, rel=1e-4)
    # Scores are the cosines of the user's and the items' sentence embeddings over the temperature.
    history, candidates = scoring_rows(sample_dataset, 3)
    with torch.no_grad():
        expected = torch.stack(
            [
                F.cosine_similarity(user, model.text_catalog.embeddings[row], dim=-1) / 0.1
                for user, row in zip(model.encode_users(history), candidates)
            ]
        )
        torch.testing.assert_close(model.score_candidates(history, candidates), expected, rtol=1e-4, atol=1e-4)


def test_recformer_user_sentence_joins_item_sentences_most_recent_first(sample_dataset, sentence_transformer):
    model = build("recformer", sample_dataset, sentence_transformer)
    catalog = model.text_catalog
    histories = [[0, 0, 3, 5], [0, 0, 0, 7], [1, 2, 3, 4]]
    tokens, lengths = model.user_sentences(torch.tensor(histories))
    for row, history in enumerate(histories):
        expected = [sentence_transformer.tokenizer.cls_token_id]
        for item in reversed([item for item in history if item]):
            expected += catalog.input_ids[item, 1 : catalog.lengths[item]].tolist()  # its tokens, ending in [SEP]
        expected = expected[:40]
        assert tokens[row, : lengths[row]].tolist() == expected
        assert not tokens[row, lengths[row] :].any()
    assert lengths[2] == 40  # four items do not fit: the oldest is cut
    assert tokens.shape[1] == int(lengths.max())


@pytest.mark.parametrize("name", NAMES)
def test_save_then_auto_load_gives_identical_scores_without_unpickling(
    name, sample_dataset, sentence_transformer, tmp_path, monkeypatch
):
    model = build(name, sample_dataset, sentence_transformer)
    model.save_pretrained(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (tmp_path / "README.md").read_text()
    assert (
        "| Items |" in card
        and "a baseline of A-LLMRec" in card
        and "collaborative-filtering model, usable" not in card
    )

    def refuse(*args, **kwargs):
        raise AssertionError("loading must not unpickle")

    for module, function in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(module, function, refuse)
    assert AutoConfig.from_pretrained(tmp_path).model_type == model.config.model_type
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[key]), key
    assert loaded.text_catalog.embeddings[1:].norm(dim=1).gt(0).all()  # the catalog came back, not zeros
    history, candidates = scoring_rows(sample_dataset)
    with torch.no_grad():
        assert torch.equal(loaded.score_candidates(history, candidates), model.score_candidates(history, candidates))


def by_hand(name, model, sentence):
    """Each model's map from a sentence embedding to its item space, written out."""
    if name == "morec":
        first, _, second = model.item_embedding.adapter.layers
        return second(F.gelu(first(sentence)))
    if name == "ctrl":
        mapping = model.item_embedding.text_mapping
        return sentence @ mapping[:-1] + mapping[-1]
    return sentence / sentence.norm(dim=-1, keepdim=True)


@pytest.mark.parametrize("name", NAMES)
def test_an_unseen_item_is_scored_from_its_text(name, sample_dataset, sentence_transformer):
    model = build(name, sample_dataset, sentence_transformer)
    tokenizer = sentence_transformer.tokenizer
    # Item 1 from its item-table row is the stored catalog item (CTRL: item 1 has no trained row, see `build`).
    from_row = model.embed_new_items([sample_dataset.items[0]], tokenizer)
    torch.testing.assert_close(from_row[0], model.item_embeddings()[1], rtol=1e-4, atol=1e-5)
    if name == "ctrl":
        assert torch.equal(model.item_embeddings()[10], model.item_embedding.embedding.weight[10])
        assert model.item_embedding.text_mapping.abs().sum() > 0
    tokens = tokenizer([NEW_ITEM], return_tensors="pt")
    with torch.no_grad():
        expected = by_hand(
            name, model, model.text_catalog.sentence_encoder(tokens["input_ids"], tokens["attention_mask"])
        )
    new = model.embed_new_items([NEW_ITEM], tokenizer)
    torch.testing.assert_close(new, expected)
    assert not torch.allclose(new, from_row)
    history, _ = scoring_rows(sample_dataset, 2)
    with torch.no_grad():
        assert (model.user_representation(history) @ new.T).shape == (2, 1)


@pytest.mark.parametrize("name", NAMES)
def test_another_catalog_enters_from_its_text(name, sample_dataset, foreign_dataset, sentence_transformer):
    model = build(name, sample_dataset, sentence_transformer)
    before = {key: tensor.clone() for key, tensor in model.state_dict().items()}
    texts = catalog_texts(model, foreign_dataset)
    foreign = model.with_catalog(texts, sentence_transformer.tokenizer)
    assert foreign.config.num_items == foreign_dataset.num_items != model.config.num_items
    # Every foreign item is written from its text, as a new item is; every weight is the model's own.
    torch.testing.assert_close(
        foreign.item_embeddings()[1:],
        model.embed_new_items(texts[1:], sentence_transformer.tokenizer),
        rtol=1e-4,
        atol=1e-5,
    )
    shared = [key for key in foreign.state_dict() if not key.endswith(model.per_item_state)]
    assert shared and all(torch.equal(foreign.state_dict()[key], before[key]) for key in shared)
    assert all(torch.equal(tensor, before[key]) for key, tensor in model.state_dict().items())
    results = evaluate_backbone(foreign, foreign_dataset, "test")
    assert 0 <= results["hit@1"] <= 1 and results["num_users"] == len(foreign_dataset.splits["test"])


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("morec", {}),
        ("morec", {"sentence_encoder_training": "top_layers", "sentence_encoder_trainable_layers": 1}),
        ("ctrl", {"training_stage": "pretrain"}),
        ("ctrl", {}),
        ("recformer", {"training_stage": "pretrain"}),
        ("recformer", {}),
    ],
)
def test_training_steps_lower_the_loss(name, overrides, sample_dataset, sentence_transformer):
    model = build(name, sample_dataset, sentence_transformer, **overrides).train()
    batch = training_batch(model, sample_dataset)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = model(**batch).loss
    first.backward()
    encoder = model.text_catalog.sentence_encoder
    reached = [p.grad is not None and bool(p.grad.any()) for p in encoder.parameters() if p.requires_grad]
    if model.config.sentence_encoder_training == "frozen":
        assert not reached and not encoder.training
    else:
        assert any(reached)
    optimizer.step()
    for _ in range(3):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    assert model(**batch).loss.item() < first.item()


def test_train_cf_runs_both_stages_and_saves_what_scoring_needs(
    sample_dataset, sample_dataset_dir, tiny_sentence_transformer_dir, tmp_path
):
    import train_cf

    common = ["--data_dir", str(sample_dataset_dir), "--sentence_encoder", str(tiny_sentence_transformer_dir),
              "--num_train_epochs", "1", "--hidden_size", "8", "--max_sequence_length", "8",
              "--per_device_train_batch_size", "64", "--disable_tqdm", "true"]  # fmt: skip
    recformer = ["--backbone", "recformer", "--learning_rate", "1e-4"]
    runs = {
        "morec": ["--backbone", "morec", "--config_overrides", '{"max_text_length": 24}'],
        "ctrl_pretrain": ["--backbone", "ctrl", "--training_stage", "pretrain"],
        "ctrl": ["--backbone", "ctrl", "--pretrained_model", str(tmp_path / "ctrl_pretrain")],
        "recformer_pretrain": [*recformer, "--training_stage", "pretrain", "--config_overrides",
                               '{"max_text_length": 16, "max_user_text_length": 40}'],
        "recformer": [*recformer, "--pretrained_model", str(tmp_path / "recformer_pretrain")],
    }  # fmt: skip
    models = {}
    for name, flags in runs.items():
        output = tmp_path / name
        train_cf.main([*common, *flags, "--output_dir", str(output)])
        results = json.loads((output / "eval_results.json").read_text())
        models[name] = model = AutoModel.from_pretrained(output).eval()
        test = evaluate_backbone(model, sample_dataset, "test")
        for key in ("hit@1", "hit@5", "ndcg@10", "hit@1_cold", "hit@1_warm"):
            assert results[key] == pytest.approx(test[key]), (name, key)
        assert "cold_users_hit@1" in results
        new = model.embed_new_items([NEW_ITEM], AutoTokenizer.from_pretrained(output))
        assert new.shape == (1, model.config.hidden_size)
    assert [models[name].config.training_stage for name in ("ctrl_pretrain", "ctrl")] == ["pretrain", "finetune"]
    # The synthetic shop has every key-value attribute, so RECFORMER's sentences hold all three.
    assert models["recformer"].config.text_template == "title: {title}, brand: {brand}, categories: {categories}"
    # Fine-tuning starts from the pre-trained model: its projection heads, which fine-tuning does not read, are those.
    assert torch.equal(models["ctrl"].cf_projection.weight, models["ctrl_pretrain"].cf_projection.weight)
    # The saved text map is the ridge fit to the saved ID rows of the items the training data shows.
    ctrl = models["ctrl"].item_embedding
    split = sample_dataset.splits["train"]
    # An item keeps its ID row when a training window (8 inputs, 8 next items: the last 9 items) shows it.
    shown = {item for history, target in zip(split["history"], split["target"]) for item in (history + [target])[-9:]}
    assert ctrl.item_has_interactions.nonzero().flatten().tolist() == [0, *sorted(shown)]
    saved = ctrl.text_mapping.clone()
    ctrl.fit_text_mapping(models["ctrl"].config.text_mapping_ridge)
    torch.testing.assert_close(ctrl.text_mapping, saved)
    # RECFORMER's saved catalog is its saved encoder's (re-encoded after the last epoch), and the encoder trained.
    catalog = models["recformer"].text_catalog
    stored = catalog.embeddings.clone()
    catalog.refresh()
    torch.testing.assert_close(catalog.embeddings, stored, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(stored, models["recformer_pretrain"].text_catalog.embeddings)


def test_train_cf_refuses_stage_flags_that_do_not_apply(
    sample_dataset, sample_dataset_dir, sentence_transformer, tmp_path
):
    import train_cf

    morec = build("morec", sample_dataset, sentence_transformer)
    morec.save_pretrained(tmp_path / "morec")
    sentence_transformer.tokenizer.save_pretrained(tmp_path / "morec")
    common = ["--data_dir", str(sample_dataset_dir), "--output_dir", str(tmp_path / "out")]
    cases = [
        (["--backbone", "morec", "--training_stage", "pretrain"], "morec has no pre-training stage"),
        (["--backbone", "sasrec", "--training_stage", "pretrain"], "apply to \\['ctrl', 'recformer'\\], not sasrec"),
        (["--backbone", "ctrl", "--pretrained_model", str(tmp_path / "morec")], "holds a MoRecModel, not a CTRLRec"),
    ]
    for flags, message in cases:
        with pytest.raises(ValueError, match=message):
            train_cf.main([*common, *flags])


@pytest.mark.parametrize(
    ("config_class", "kwargs", "error", "message"),
    [
        (MoRecConfig, {"adapter_hidden_size": -1}, ValueError, "adapter_hidden_size"),
        (MoRecConfig, {"sentence_encoder_training": "top_layers"}, ValueError, "sentence_encoder_trainable_layers"),
        (MoRecConfig, {"text_template": "no field"}, ValueError, "text_template"),
        (MoRecConfig, {"max_text_length": "long"}, TypeError, "max_text_length"),
        (CTRLRecConfig, {"training_stage": "warmup"}, ValueError, "training_stage"),
        (CTRLRecConfig, {"contrastive_temperature": 0.0}, ValueError, "contrastive_temperature"),
        (CTRLRecConfig, {"user_alignment_weight": 0.0, "item_alignment_weight": 0.0}, ValueError, "alignment_weight"),
        (CTRLRecConfig, {"text_mapping_ridge": 0.0}, ValueError, "text_mapping_ridge"),
        (RecformerConfig, {"sentence_encoder_training": "frozen"}, ValueError, "sentence_encoder_training"),
        (RecformerConfig, {"max_user_text_length": 1}, ValueError, "max_user_text_length"),
    ],
)
def test_configs_validate_their_fields(config_class, kwargs, error, message):
    with pytest.raises(error, match=message):
        config_class(num_items=5, **kwargs)


def test_recformer_key_value_sentences_hold_the_attributes_the_item_table_has():
    assert key_value_template(["item_id", "title", "description"]) == "title: {title}"  # Beauty 2014: titles only
    assert (
        key_value_template(["categories", "brand", "title"])
        == "title: {title}, brand: {brand}, categories: {categories}"
    )
    with pytest.raises(ValueError, match="none of RECFORMER's attributes"):
        key_value_template(["item_id", "description"])


def test_a_model_needs_its_sentence_encoder_and_recformer_its_width(sentence_transformer):
    with pytest.raises(ValueError, match="no sentence_encoder_config"):
        MoRecModel(MoRecConfig(num_items=5))
    text_config, modules, _ = SentenceEncoder.describe(sentence_transformer)
    config = RecformerConfig(num_items=5, hidden_size=50, sentence_encoder_config=text_config,
                             sentence_encoder_modules=modules)  # fmt: skip
    with pytest.raises(ValueError, match="hidden_size is 50 but the sentence encoder embeds at 32"):
        RecformerModel(config)


def test_only_the_text_backbones_add_settings_to_the_workflow_fingerprint():
    # The fields (in order) that an ID backbone's step fingerprinted before the modality-aware backbones existed.
    before = ["data_dir", "backbone", "hidden_size", "max_sequence_length", "dropout", "config_overrides",
              "train_split", "full_catalog", "keep_checkpoints"]  # fmt: skip
    assert list(BackboneArguments(backbone="gru4rec").to_dict()) == before
    assert list(BackboneArguments(backbone="morec").to_dict()) == before + list(ITEM_TEXT_ARGUMENTS)


def test_tables_and_settings_of_the_modality_aware_baselines():
    def figures(hit):
        return {"hit@1": hit, "hit@1_cold": hit / 2, "hit@1_warm": hit * 1.5}

    results = {
        "cf/sasrec": figures(0.3),
        "modality_aware/morec": figures(0.28),
        "modality_aware/ctrl": figures(0.2),
        "modality_aware/recformer": figures(0.26),
        "cold_users/morec": {"hit@1": 0.4},
        "few_shot/16/cf": {"hit@1": 0.1},
        "few_shot/16/morec": {"hit@1": 0.12},
        "cross_domain/recformer": {"hit@1": 0.07},
    }
    tables = all_tables(results, "scientific")
    assert "| dataset | NCF | NextItNet | GRU4Rec | SASRec | MoRec | CTRL | RECFORMER | LLM-Only |" in tables
    assert "| scientific | – | – | – | 0.3000 | 0.2800 | 0.2000 | 0.2600 | – |" in tables
    assert "| MoRec | 0.1400 | 0.4200 | 0.2800 |" in tables  # Table 2: cold, warm, overall
    assert "| MoRec | 0.4000 |" in tables  # Table 3, cold users
    assert "| 16 | 0.1000 | 0.1200 |" in tables  # Table 4, few-shot
    table_5 = tables.split("### Table 5")[1]
    assert "| SASRec | MoRec | CTRL | RECFORMER |" in table_5 and "| – | – | 0.0700 |" in table_5
    with pytest.raises(ValueError, match="unknown modality_aware models \\['bert4rec'\\]"):
        ExperimentSettings(modality_aware=["bert4rec"])
    with pytest.raises(ValueError, match="names steps \\['ctrl'\\] that do not run"):
        ExperimentSettings(modality_aware=["morec"], modality_aware_overrides={"ctrl": {}})


def test_experiment_runner_trains_and_reports_the_modality_aware_baselines(tiny_sentence_transformer_dir, tmp_path):
    config = {
        "data": {**SAMPLE_DATA_ARGS, "synthetic_users": 120, "synthetic_items_per_category": 8, "few_shot_sizes": [16]},
        "cf": {"hidden_size": 8, "max_sequence_length": 8, "num_train_epochs": 1, "disable_tqdm": True,
               "sentence_encoder": str(tiny_sentence_transformer_dir)},
        "experiments": {"backbones": ["sasrec"], "use_stage1": False, "use_llm": False, "cross_domain": {"seed": 9},
                        "modality_aware": NAMES, "eval_max_users": 20,
                        "modality_aware_overrides": {"ctrl_pretrain": {"num_train_epochs": 1},
                                                     "recformer": {"num_train_epochs": 1}}},
    }  # fmt: skip
    results = ExperimentRunner(config, str(tmp_path)).run()
    expected = [f"modality_aware/{name}" for name in NAMES] + [f"cross_domain/{name}" for name in NAMES]
    assert set(expected + ["cold_users/morec", "few_shot/16/morec"]) <= set(results)
    assert json.loads((tmp_path / "ctrl" / "run_settings.json").read_text())["model"]["pretrained_model"] == str(
        tmp_path / "ctrl_pretrain"
    )
    tables = all_tables(results, "tiny")
    for name in ("MoRec", "CTRL", "RECFORMER"):
        assert f"| {name} | 0." in tables.split("### Table 2")[1].split("### Table 3")[0]
    # A second run finds every step done.
    assert ExperimentRunner(config, str(tmp_path)).run() == results
