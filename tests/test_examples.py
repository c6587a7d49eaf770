"""The one end-to-end run of the example scripts, in the order a user runs them: prepare_data -> train_cf ->
train_stage1 -> train_stage2 -> evaluate, at tiny settings with a tiny random LLM. Every other test builds its models
through library calls."""

import ast
import importlib.util
import json
import re

import pytest
import torch
from transformers import AutoModel

from allmrec_hf import ALLMRecAlignerModel, ALLMRecForRecommendation, SASRecModel
from allmrec_hf.data import PreparedDataset
from allmrec_hf.utils import weights_fingerprint

from .conftest import EXAMPLES, SAMPLE_DATA_ARGS


def script(name: str):
    """An example script as a module, imported from its file (``evaluate`` would otherwise find a package)."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flags(arguments: dict) -> list[str]:
    return [part for name, value in arguments.items() for part in (f"--{name}", *map(str, value))]


def results_of(folder) -> dict:
    return json.loads((folder / "eval_results.json").read_text())


def evaluated(folder, data, output_file, capsys, *options) -> dict:
    """What examples/evaluate.py writes for ``folder``; its printed line must show the same Hit and NDCG figures."""
    capsys.readouterr()
    script("evaluate").main(
        ["--data_dir", str(data), "--model", str(folder), "--output_file", str(output_file), *options]
    )
    results = json.loads(output_file.read_text())
    printed = ast.literal_eval(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed and printed == {
        name: value for name, value in results.items() if name.startswith(("hit@", "ndcg@"))
    }
    return results


SAVED = {"config.json", "model.safetensors", "eval_results.json", "run_settings.json", "README.md", "card_data.json"}
FIGURES = ("hit@1", "hit@5", "hit@10", "ndcg@5", "ndcg@10", "hit@1_cold", "hit@1_warm")


def test_the_example_scripts_run_the_method_end_to_end(
    sample_dataset, tiny_sentence_transformer_dir, opt_llm_dir, tmp_path, capsys
):
    data, cf, stage1, stage2 = (tmp_path / name for name in ("data", "cf", "stage1", "stage2"))
    data_flags = flags(
        {name: value if isinstance(value, list) else [value] for name, value in SAMPLE_DATA_ARGS.items()}
    )
    script("prepare_data").main([*data_flags, "--output_dir", str(data)])
    prepared = PreparedDataset.load(str(data))
    assert prepared.splits["test"].to_list() == sample_dataset.splits["test"].to_list()  # what the tiny LLM read

    quiet = ["--disable_tqdm", "true"]
    script("train_cf").main(
        ["--data_dir", str(data), "--output_dir", str(cf), "--num_train_epochs", "2", "--hidden_size", "16",
         "--max_sequence_length", "10", *quiet]
    )  # fmt: skip
    script("train_stage1").main(
        ["--data_dir", str(data), "--cf_model", str(cf), "--sentence_encoder", str(tiny_sentence_transformer_dir),
         "--output_dir", str(stage1), "--num_train_epochs", "2", "--learning_rate", "1e-3", "--max_text_length", "32",
         *quiet]
    )  # fmt: skip
    script("train_stage2").main(
        ["--data_dir", str(data), "--stage1_model", str(stage1), "--llm", str(opt_llm_dir), "--output_dir", str(stage2),
         "--num_train_epochs", "1", "--per_device_train_batch_size", "16", "--learning_rate", "1e-3",
         "--max_eval_users", "12", "--eval_batch_size", "12", "--logging_steps", "1", *quiet]
    )  # fmt: skip

    # Each step leaves a model folder that loads with AutoModel, and only safetensors and JSON beside its tokenizers.
    assert {path.name for path in cf.iterdir()} == SAVED
    assert {path.name for path in stage1.iterdir()} >= SAVED | {"tokenizer.json"}
    stage2_files = {path.name for path in stage2.iterdir()}
    assert stage2_files >= SAVED | {"tokenizer.json", "catalog.jsonl", "sentence_tokenizer", "generation_config.json"}
    assert not [path for path in tmp_path.rglob("*") if path.suffix in (".bin", ".pt", ".pth", ".pkl")]
    assert isinstance(AutoModel.from_pretrained(cf), SASRecModel)
    aligner = AutoModel.from_pretrained(stage1)
    assert isinstance(aligner, ALLMRecAlignerModel)
    model = AutoModel.from_pretrained(stage2)
    assert isinstance(model, ALLMRecForRecommendation)
    for name, tensor in aligner.state_dict().items():  # stage 2 carries stage 1 as it was saved
        assert torch.equal(model.aligner.state_dict()[name], tensor), name

    # What each training script reports is what evaluate.py measures on the saved model.
    cf_results = evaluated(cf, data, tmp_path / "cf.json", capsys)
    for name in FIGURES:
        assert results_of(cf)[name] == pytest.approx(cf_results[name], nan_ok=True), name
    stage1_results = results_of(stage1)
    assert [entry["epoch"] for entry in stage1_results["validation_history"]] == [1.0, 2.0]
    assert stage1_results["text_latent_spread"] == aligner.text_latent_spread()
    evaluated_stage1 = evaluated(stage1, data, tmp_path / "stage1.json", capsys)
    for name in (*FIGURES, *(f"text_{name}" for name in FIGURES), "cf_hit@1"):
        assert stage1_results[name] == pytest.approx(evaluated_stage1[name], nan_ok=True), name
    assert stage1_results["cf_hit@1"] == pytest.approx(cf_results["hit@1"])  # the frozen backbone, unchanged

    stage2_results = results_of(stage2)
    assert stage2_results["num_users"] == 12 and stage2_results["train_users"] == len(prepared.splits["train"])
    steps = -(-len(prepared.splits["train"]) // 16)  # one epoch of batches of 16
    assert [entry["step"] for entry in stage2_results["loss_history"]] == list(range(1, steps + 1))
    assert model.config.score_normalization == stage2_results["score_normalization"]
    reloaded = evaluated(stage2, data, tmp_path / "stage2.json", capsys, "--max_users", "12", "--batch_size", "12")
    for name in (*FIGURES, "score_normalization"):
        assert reloaded[name] == pytest.approx(stage2_results[name], nan_ok=True), name

    # Every row names the CF backbone it ranks with, so a variant pairs with the SASRec it was built on.
    fingerprint = cf_results["cf_backbone_weights"]
    assert re.fullmatch("[0-9a-f]{16}", fingerprint)
    assert evaluated_stage1["cf_backbone_weights"] == reloaded["cf_backbone_weights"] == fingerprint
    backbone = AutoModel.from_pretrained(cf)
    assert weights_fingerprint(backbone) == fingerprint
    with torch.no_grad():
        next(backbone.parameters())[0].add_(1e-3)
    assert weights_fingerprint(backbone) != fingerprint
