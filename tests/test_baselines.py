"""Each baseline and scenario does what it claims (paper appendix C, section 5.2, 5.4.4)."""

import json

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModel, AutoTokenizer

from allmrec_hf import ALLMRecForRecommendation
from allmrec_hf.collators import RecommendationBatcher
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.experiments import ExperimentRunner, all_tables, write_plots
from allmrec_hf.experiments.cross_domain import (
    evaluate_recommender_cross_domain,
    evaluate_text_path_cross_domain,
    foreign_joint_embeddings,
)
from allmrec_hf.experiments.preference import item_categories, predict_preferences, preference_agreement

from .conftest import SAMPLE_DATA_ARGS


def build(stage1_dir, llm_dir, **kwargs):
    torch.manual_seed(0)
    return ALLMRecForRecommendation.from_stage1(str(stage1_dir), str(llm_dir), prompt_domain="item", **kwargs)


def batch_of(model, tokenizer, dataset, count=2, **options):
    rows = [dataset.splits["train"][i] for i in range(count)]
    return RecommendationBatcher(tokenizer, dataset.titles, model.config, 10, **options)(rows)


def test_tallrec_trains_only_lora_adapters_on_text_only_prompts(stage1_dir, opt_llm_dir, sample_dataset, tmp_path):
    model, tokenizer = build(stage1_dir, opt_llm_dir, llm_adapter="lora", item_embeddings="none", use_user_token=False)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in name for name in trainable)
    batch = batch_of(model, tokenizer, sample_dataset)
    placeholders = [model.config.user_token_id, model.config.history_token_id, model.config.candidate_token_id]
    assert not torch.isin(batch["input_ids"], torch.tensor(placeholders)).any()
    base = {name: p.detach().clone() for name, p in model.llm.named_parameters() if ".lora_" not in name}
    model.train()
    assert model.llm.training  # a fine-tuned LLM trains in train mode, unlike A-LLMRec's frozen one
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(**batch).loss.backward()
    optimizer.step()
    assert all(torch.equal(base[name], p) for name, p in model.llm.named_parameters() if ".lora_" not in name)
    model.eval().save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as stored:
        llm_keys = [key for key in stored.keys() if key.startswith("llm.")]  # noqa: SIM118 (safe_open is not iterable)
    assert llm_keys and all(".lora_" in key for key in llm_keys)  # adapters saved, base weights referenced
    loaded = AutoModel.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name


def test_mlp_llm_projects_the_cf_embeddings_directly(stage1_dir, opt_llm_dir):
    model, _ = build(stage1_dir, opt_llm_dir, item_embeddings="cf")
    cf = model.aligner.cf_backbone
    assert model.item_projector.layers[0].in_features == cf.config.hidden_size  # d = 50 in the paper, not d' = 128
    ids = torch.tensor([1, 5, 9])
    torch.testing.assert_close(model.item_representations(ids), cf.item_embeddings()[ids])


def test_llm_only_has_nothing_to_train_and_no_soft_tokens(stage1_dir, opt_llm_dir, sample_dataset):
    model, tokenizer = build(stage1_dir, opt_llm_dir, item_embeddings="none", use_user_token=False)
    assert model.num_trainable_parameters() == 0
    text = tokenizer.decode(batch_of(model, tokenizer, sample_dataset, count=1)["input_ids"][0])
    assert "[UserRep]" not in text and "[HistoryEmb]" not in text and "This user has bought" in text


@pytest.fixture(scope="module")
def foreign_dataset():
    return prepare_dataset(DataArguments(**{**SAMPLE_DATA_ARGS, "seed": 99}))


def test_cross_domain_scores_a_foreign_catalog_through_text(stage2_dir, foreign_dataset):
    model = AutoModel.from_pretrained(stage2_dir)
    sentence_tokenizer = AutoTokenizer.from_pretrained(stage2_dir / "sentence_tokenizer")
    joint = foreign_joint_embeddings(model.aligner, sentence_tokenizer, foreign_dataset)
    assert joint.shape == (foreign_dataset.num_items + 1, model.config.aligner_config.latent_size)
    # A foreign item's q_i is what the text path computes from its own title and description.
    text = model.aligner.config.item_text(foreign_dataset.items[3])
    tokens = sentence_tokenizer(
        [text], truncation=True, max_length=model.aligner.config.max_text_length, return_tensors="pt"
    )
    torch.testing.assert_close(
        model.aligner.embed_text_tokens(tokens["input_ids"], tokens["attention_mask"])[0],
        joint[4],
        rtol=1e-4,
        atol=1e-5,
    )
    results = evaluate_recommender_cross_domain(
        model,
        AutoTokenizer.from_pretrained(stage2_dir),
        sentence_tokenizer,
        foreign_dataset,
        max_users=8,
        batch_size=8,
    )
    assert results["num_users"] == 8 and 0 <= results["hit@1"] <= 1
    text_path = evaluate_text_path_cross_domain(model.aligner, sentence_tokenizer, foreign_dataset)
    assert text_path["num_users"] == len(foreign_dataset.splits["test"])


def test_preference_prediction_checks_answers_against_history_categories(stage2_dir, sample_dataset):
    categories = item_categories(sample_dataset)
    assert categories[0] == set() and all(categories[1:])  # the sample's items all carry categories
    model = AutoModel.from_pretrained(stage2_dir)
    records = predict_preferences(
        model, AutoTokenizer.from_pretrained(stage2_dir), sample_dataset, max_users=3, max_new_tokens=8
    )
    assert len(records) == 3 and all(record["history_categories"] for record in records)
    assert (
        preference_agreement(
            [
                {"history_categories": ["camping"], "mentioned": ["camping"]},
                {"history_categories": ["tent"], "mentioned": []},
            ]
        )
        == 0.5
    )


def test_experiment_runner_writes_every_table_and_plot(tiny_sentence_transformer_dir, opt_llm_dir, tmp_path):
    config = {
        "name": "tiny",
        "data": {**SAMPLE_DATA_ARGS, "synthetic_users": 120, "synthetic_items_per_category": 8, "few_shot_sizes": [16]},
        "cf": {"hidden_size": 16, "max_sequence_length": 8, "num_train_epochs": 2, "disable_tqdm": True},
        "stage1": {"text_encoder": str(tiny_sentence_transformer_dir), "max_text_length": 24, "num_train_epochs": 1,
                   "save_strategy": "no", "disable_tqdm": True},
        "stage2": {"num_train_epochs": 1, "per_device_train_batch_size": 16, "save_strategy": "no", "disable_tqdm": True,
                   "evaluation_decoding": "none"},
        "experiments": {"llm": str(opt_llm_dir), "backbones": ["sasrec", "ncf"], "eval_max_users": 12, "eval_batch_size": 12,
                        "preference_users": 2, "cross_domain": {"seed": 9}},
    }  # fmt: skip
    results = ExperimentRunner(config, str(tmp_path)).run()
    expected = ["cf/sasrec", "cf/ncf", "stage1/ncf", "allmrec/ncf", "allmrec_sbert", "llm_only", "tallrec", "mlp_llm",
                "ablation_stage1/frozen text encoder", "ablation_stage2/random joint embedding", "cold_users/allmrec",
                "few_shot/16/allmrec", "few_shot/16/tallrec", "cross_domain/allmrec", "cross_domain/tallrec", "preference/LLM-Only"]  # fmt: skip
    assert set(expected) <= set(results)
    assert json.loads((tmp_path / "results.json").read_text()).keys() == results.keys()
    tables = all_tables(results, "tiny")
    for number in range(1, 10):
        assert f"### Table {number}." in tables
    assert [
        path.endswith(name)
        for path, name in zip(write_plots(results, str(tmp_path / "plots")), ["cold_warm.png", "few_shot.png"])
    ] == [True, True]


def test_tables_of_an_llm_free_run_leave_out_the_llm_tables():
    cf = {"hit@1": 0.3, "hit@1_cold": 0.1, "hit@1_warm": 0.45}
    stage1 = {"hit@1": 0.31, "hit@1_cold": 0.09, "hit@1_warm": 0.47, "text_hit@1": 0.24, "text_hit@1_cold": 0.15,
              "text_hit@1_warm": 0.32}  # fmt: skip
    tables = all_tables({"cf/sasrec": cf, "stage1/sasrec": stage1}, "scientific")
    assert [line for line in tables.splitlines() if line.startswith("### ")] == [
        "### Table 1. Overall Hit@1",
        "### Table 2. Hit@1 on cold and warm items",
        "### Table 9. Model-agnostic: each CF backbone alone and inside A-LLMRec",
    ]
    assert "| SASRec | 0.3000 | 0.3100 | 0.2400 | – |" in tables


def test_tables_follow_the_main_backbone():
    figures = {"hit@1": 0.25, "hit@1_cold": 0.05, "hit@1_warm": 0.4}
    results = {
        "experiment": {"main_backbone": "gru4rec"},
        "cf/gru4rec": figures,
        "stage1/gru4rec": {**figures, "text_hit@1": 0.2, "text_hit@1_cold": 0.1, "text_hit@1_warm": 0.3},
        "allmrec/gru4rec": {"hit@1": 0.3, "hit@1_cold": 0.2, "hit@1_warm": 0.41},
        "cold_users/cf": {"hit@1": 0.12},
        "few_shot/16/cf": {"hit@1": 0.11},
    }
    tables = all_tables(results, "scientific")
    assert "| GRU4Rec | 0.0500 | 0.4000 | 0.2500 |" in tables  # Table 2
    assert "| A-LLMRec | 0.2000 | 0.4100 | 0.3000 |" in tables
    assert "| GRU4Rec | 0.1200 |" in tables  # Table 3, cold users
    assert "| K | GRU4Rec |" in tables and "| 16 | 0.1100 |" in tables  # Table 4
    assert "SASRec" not in tables.split("### Table 2")[1]  # Table 1 lists every CF baseline; the rest the main one
