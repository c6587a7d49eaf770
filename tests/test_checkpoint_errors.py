"""A damaged weights file or a wrong-typed config field is reported with its file and field, for every model."""

import json
import os

import pytest
from transformers import AutoModel

from allmrec_hf import GRU4RecConfig, GRU4RecModel, NCFConfig, NCFModel, SASRecConfig, SASRecModel


def saved_models(stage1_dir, stage2_dir):
    return {
        "sasrec": lambda path: SASRecModel(SASRecConfig(num_items=10, hidden_size=8)).save_pretrained(path),
        "gru4rec": lambda path: GRU4RecModel(GRU4RecConfig(num_items=10, hidden_size=8)).save_pretrained(path),
        "ncf": lambda path: NCFModel(NCFConfig(num_items=10, num_users=5, hidden_size=8)).save_pretrained(path),
        "aligner": lambda path: AutoModel.from_pretrained(stage1_dir).save_pretrained(path),
        "allmrec": lambda path: AutoModel.from_pretrained(stage2_dir).save_pretrained(path),
    }


MODELS = ["sasrec", "gru4rec", "ncf", "aligner", "allmrec"]
# Where each model's config keeps its CF backbone's width.
WIDTH = {"aligner": ("cf_config",), "allmrec": ("aligner_config", "cf_config")}


@pytest.mark.parametrize("name", MODELS)
def test_a_damaged_weights_file_is_named(name, stage1_dir, stage2_dir, tmp_path):
    saved_models(stage1_dir, stage2_dir)[name](tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: os.path.getsize(weights) // 2])
    with pytest.raises(OSError, match=f"{weights} is damaged or not a safetensors file"):
        AutoModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("name", MODELS)
def test_a_wrong_typed_config_field_names_the_file_and_the_field(name, stage1_dir, stage2_dir, tmp_path):
    saved_models(stage1_dir, stage2_dir)[name](tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    section = config
    for key in WIDTH.get(name, ()):
        section = section[key]
    section["hidden_size"] = "fifty"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TypeError, match=f"{tmp_path}/config.json: .*field 'hidden_size' must be int, got 'fifty'"):
        AutoModel.from_pretrained(tmp_path)
