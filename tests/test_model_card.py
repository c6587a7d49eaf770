"""The generated model card: Hub metadata from `huggingface_hub.ModelCardData`, and the card that push_to_hub uploads."""

import json
from pathlib import Path

import yaml
from huggingface_hub import HfApi, RepoUrl

from allmrec_hf import ALLMRecForRecommendation, SASRecConfig, SASRecModel


def card_data(results):
    return {"dataset": "beauty", "results": results, "protocol": "Leave-one-out.", "title": "SASRec on Beauty"}


def capture_uploads(monkeypatch):
    uploads = []

    def upload_folder(self, repo_id, folder_path, **kwargs):
        uploads.append({path.name: path.read_bytes() for path in Path(folder_path).iterdir()})
        return "https://huggingface.co/" + repo_id

    monkeypatch.setattr(
        HfApi, "create_repo", lambda self, repo_id, **kwargs: RepoUrl(f"https://huggingface.co/{repo_id}")
    )
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return uploads


def front_matter(readme: str) -> dict:
    _, header, _ = readme.split("---\n", 2)
    return yaml.safe_load(header)


def test_push_to_hub_uploads_the_generated_card(monkeypatch):
    uploads = capture_uploads(monkeypatch)
    model = SASRecModel(SASRecConfig(num_items=20, hidden_size=8))
    model.card_data = card_data({"hit@1": 0.3578, "ndcg@10": 0.5612})
    model.push_to_hub("org/sasrec-beauty")
    (files,) = uploads
    assert {"config.json", "model.safetensors", "README.md", "card_data.json"} <= set(files)
    assert "card_data" not in json.loads(files["config.json"])  # training metadata stays out of the config
    readme = files["README.md"].decode()
    metadata = front_matter(readme)
    assert metadata["library_name"] == "allmrec_hf" and metadata["datasets"] == ["beauty"]
    results = metadata["model-index"][0]["results"]
    assert {(metric["type"], metric["value"]) for result in results for metric in result["metrics"]} == {
        ("hit@1", 0.3578),
        ("ndcg@10", 0.5612),
    }
    assert "# SASRec on Beauty" in readme and "| hit@1 | 0.3578 |" in readme


def test_a_packaged_llm_is_the_cards_base_model(stage1_dir, opt_llm_dir, tmp_path):
    model, _ = ALLMRecForRecommendation.from_stage1(str(stage1_dir), str(opt_llm_dir), max_title_tokens=12)
    model.config.llm_name_or_path = "smollm2-135m-instruct"
    model.save_pretrained(tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert front_matter(readme)["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "| Title cap (LLM tokens) | 12 |" in readme
    model.config.llm_name_or_path = str(opt_llm_dir)  # a local folder is no Hub base model
    model.save_pretrained(tmp_path)
    assert "base_model" not in front_matter((tmp_path / "README.md").read_text())


def test_the_card_metadata_survives_a_reload(tmp_path):
    model = SASRecModel(SASRecConfig(num_items=20, hidden_size=8))
    model.card_data = card_data({"hit@1": 0.25})
    model.save_pretrained(tmp_path)
    reloaded = SASRecModel.from_pretrained(tmp_path)
    assert reloaded.card_data == model.card_data
