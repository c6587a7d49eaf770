"""Each baseline and scenario does what it claims (paper appendix C, section 5.2, 5.4.4)."""

import json

import pytest
import torch
from peft import PeftModel
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

from allmrec_hf import TextOnlyRecommender
from allmrec_hf.collators import RecommendationBatcher
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.decoding import evaluate_scoring
from allmrec_hf.evaluation import protocol_metrics
from allmrec_hf.experiments import ExperimentRunner, all_tables, write_plots
from allmrec_hf.experiments.cross_domain import (
    evaluate_recommender_cross_domain,
    evaluate_text_path_cross_domain,
    foreign_joint_embeddings,
)
from allmrec_hf.experiments.preference import item_categories, predict_preferences, preference_agreement
from allmrec_hf.testing_utils import tiny_allmrec
from allmrec_hf.training.stage2 import RecommenderTrainingArguments, build_recommender_trainer

from .conftest import SAMPLE_DATA_ARGS


def batch_of(model, tokenizer, dataset, count=2, **options):
    rows = [dataset.splits["train"][i] for i in range(count)]
    return RecommendationBatcher.for_model(model, tokenizer, dataset.titles, **options)(rows)


def test_tallrec_is_a_peft_adapter_trained_on_text_only_prompts(opt_llm_dir, sample_dataset, tmp_path):
    model, tokenizer = TextOnlyRecommender.from_llm(str(opt_llm_dir), "tallrec", prompt_domain="item")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in name for name in trainable)
    batch = batch_of(model, tokenizer, sample_dataset)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}  # no soft token: nothing but the text
    assert "This user has bought" in tokenizer.decode(batch["input_ids"][0])

    args = RecommenderTrainingArguments(
        output_dir=str(tmp_path / "checkpoints"), max_steps=3, per_device_train_batch_size=2, learning_rate=1e-2,
        save_strategy="no", report_to=[], disable_tqdm=True,
    )  # fmt: skip
    trainer = build_recommender_trainer(model, tokenizer, sample_dataset, args, max_users=8)
    assert isinstance(trainer.model, PeftModel)  # what Trainer trains (and checkpoints) is the PEFT model
    frozen = {name: p.detach().clone() for name, p in model.llm.named_parameters() if ".lora_" not in name}
    adapters = {name: p.detach().clone() for name, p in model.llm.named_parameters() if ".lora_B" in name}
    trainer.train()
    assert all(torch.equal(frozen[name], p) for name, p in model.llm.named_parameters() if name in frozen)
    assert all(not torch.equal(adapters[name], p) for name, p in model.llm.named_parameters() if name in adapters)

    model.eval().save_pretrained(tmp_path / "tallrec")
    tokenizer.save_pretrained(tmp_path / "tallrec")
    saved = {path.name for path in (tmp_path / "tallrec").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "config.json"} <= saved
    assert "model.safetensors" not in saved  # the LLM is referenced, not stored
    adapter_config = json.loads((tmp_path / "tallrec" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(opt_llm_dir)

    # A PEFT user loads the folder as the adapter it is ...
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(opt_llm_dir), tmp_path / "tallrec").eval()
    inputs = {name: batch[name] for name in ("input_ids", "attention_mask")}
    with torch.no_grad():
        torch.testing.assert_close(peft(**inputs).logits, model.llm(**inputs).logits)
    # ... and AutoModel gives back the recommender, answering alike.
    loaded = AutoModel.from_pretrained(tmp_path / "tallrec")
    assert isinstance(loaded, TextOnlyRecommender) and isinstance(loaded.llm, PeftModel)
    options = {"max_users": 4, "batch_size": 4, "normalization": "sum"}
    assert evaluate_scoring(loaded, tokenizer, sample_dataset, **options)["ndcg@10"] == pytest.approx(
        evaluate_scoring(model, tokenizer, sample_dataset, **options)["ndcg@10"]
    )


def test_mlp_llm_projects_the_cf_embeddings_directly(stage1_dir, opt_llm_dir):
    model, _ = tiny_allmrec(stage1_dir, opt_llm_dir, item_embeddings="cf")
    cf = model.aligner.cf_backbone
    assert model.item_projector.layers[0].in_features == cf.config.hidden_size  # d = 50 in the paper, not d' = 128
    ids = torch.tensor([1, 5, 9])
    torch.testing.assert_close(model.item_representations(ids), cf.item_embeddings()[ids])


def test_llm_only_is_the_llm_alone_with_the_text_prompt(opt_llm_dir, sample_dataset, tmp_path):
    model, tokenizer = TextOnlyRecommender.from_llm(str(opt_llm_dir), "llm_only", prompt_domain="item")
    assert model.num_trainable_parameters() == 0
    text = tokenizer.decode(batch_of(model, tokenizer, sample_dataset, count=1)["input_ids"][0])
    assert "[UserRep]" not in text and "[HistoryEmb]" not in text and "This user has bought" in text
    model.save_pretrained(tmp_path)
    assert {path.name for path in tmp_path.iterdir()} == {"config.json", "generation_config.json", "README.md"}


@pytest.fixture(scope="module")
def foreign_dataset():
    return prepare_dataset(DataArguments(**{**SAMPLE_DATA_ARGS, "seed": 99}))


def test_cross_domain_scores_a_foreign_catalog_through_text(stage2_dir, foreign_dataset, monkeypatch):
    model = AutoModel.from_pretrained(stage2_dir)
    aligner = model.aligner
    sentence_tokenizer = AutoTokenizer.from_pretrained(stage2_dir / "sentence_tokenizer")
    joint = foreign_joint_embeddings(aligner, sentence_tokenizer, foreign_dataset)
    assert joint.shape == (foreign_dataset.num_items + 1, model.config.aligner_config.latent_size)
    # A foreign item's q_i is the text path applied to its own title and description.
    text = aligner.config.item_text(foreign_dataset.items[3])
    tokens = sentence_tokenizer(
        [text], truncation=True, max_length=aligner.config.max_text_length, return_tensors="pt"
    )
    with torch.no_grad():
        q = aligner.text_encoder(aligner.sentence_encoder(tokens["input_ids"], tokens["attention_mask"]))
    torch.testing.assert_close(joint[4], q[0], rtol=1e-4, atol=1e-5)

    # The LLM ranks the foreign candidates with those q_i as item tokens and the mean training user as user token.
    tokenizer = AutoTokenizer.from_pretrained(stage2_dir)
    scored = []
    score_answers = model.score_answers
    monkeypatch.setattr(model, "score_answers", lambda *args: scored.append(score_answers(*args)) or scored[-1])
    results = evaluate_recommender_cross_domain(
        model, tokenizer, sentence_tokenizer, foreign_dataset, max_users=8, batch_size=8
    )
    rows = foreign_dataset.sample_rows("test", 8)
    batch = RecommendationBatcher.for_model(
        model, tokenizer, foreign_dataset.titles, with_answers=False, with_candidate_answers=True
    )(rows.to_list())
    answers, lengths = batch.pop("candidate_answer_ids"), batch.pop("candidate_answer_lengths")
    foreign = {"item_table": joint, "user_representations": aligner.mean_user_representation}
    sums, counts = score_answers({**batch, **foreign}, answers, lengths)
    torch.testing.assert_close(scored[-1][0], sums)  # the test users' scores (validation ones came first)
    scores = sums if results["score_normalization"] == "sum" else sums / counts
    expected = protocol_metrics(scores, rows["candidates"], rows["target"], foreign_dataset.popularity)
    assert results["num_users"] == 8
    for name in ("hit@1", "hit@5", "hit@10", "ndcg@5", "ndcg@10"):
        assert results[name] == pytest.approx(expected[name]), name

    # The LLM-free text path: x_mean . f_I^dec(q_i) (the paper's dot-product logit), for every test user.
    text_path = evaluate_text_path_cross_domain(aligner, sentence_tokenizer, foreign_dataset)
    test = foreign_dataset.splits["test"]
    candidates = torch.tensor(test["candidates"])
    assert aligner.config.score == "dot"
    with torch.no_grad():
        logits = aligner.item_decoder(joint[candidates]) @ aligner.mean_user_representation
    expected = protocol_metrics(logits, candidates, test["target"], foreign_dataset.popularity)
    assert text_path["num_users"] == len(test)
    for name in ("hit@1", "hit@10", "ndcg@10", "hit@1_cold", "hit@1_warm"):
        assert text_path[name] == pytest.approx(expected[name], nan_ok=True), name


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
        "stage1": {"sentence_encoder": str(tiny_sentence_transformer_dir), "max_text_length": 24, "num_train_epochs": 1,
                   "save_strategy": "no", "disable_tqdm": True},
        "stage2": {"num_train_epochs": 1, "per_device_train_batch_size": 16, "save_strategy": "no", "disable_tqdm": True,
                   "evaluation_decoding": "none"},
        "experiments": {"llm": str(opt_llm_dir), "backbones": ["sasrec", "ncf"], "eval_max_users": 12, "eval_batch_size": 12,
                        "preference_users": 2, "cross_domain": {"seed": 9}},
    }  # fmt: skip
    results = ExperimentRunner(config, str(tmp_path)).run()
    expected = ["cf/sasrec", "cf/ncf", "stage1/ncf", "allmrec/ncf", "allmrec_sbert", "llm_only", "tallrec", "mlp_llm",
                "ablation_stage1/frozen sentence encoder", "ablation_stage2/random joint embedding", "cold_users/allmrec",
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
