import json
import os

import pytest

from allmrec_hf.experiments.workflow import STEP_FILE, Workflow, resolve_llm, run_method

from .conftest import SAMPLE_DATA_ARGS


@pytest.fixture
def tiny_config(tiny_sentence_transformer_dir, opt_llm_dir):
    return {
        "data": dict(SAMPLE_DATA_ARGS),
        "cf": {"hidden_size": 16, "max_sequence_length": 10, "num_train_epochs": 2, "disable_tqdm": True, "save_strategy": "no", "load_best_model_at_end": False},
        "stage1": {"sentence_encoder": str(tiny_sentence_transformer_dir), "max_text_length": 32, "num_train_epochs": 1, "save_strategy": "no", "disable_tqdm": True},
        "stage2": {"llm": str(opt_llm_dir), "num_train_epochs": 1, "per_device_train_batch_size": 16, "learning_rate": 1e-3,
                   "evaluation_decoding": "none", "save_strategy": "no", "disable_tqdm": True},
        "evaluation": {"decodings": ["score"], "max_users": 24, "batch_size": 12, "sbert_variant": False},
    }  # fmt: skip


def without_timing(results):
    return {name: value for name, value in results.items() if not name.startswith("seconds")}


def fingerprints(folder):
    return {
        name: json.load(open(os.path.join(folder, name, STEP_FILE)))["fingerprint"]
        for name in ("data", "cf", "stage1", "stage2", "evaluation")
    }


def test_interrupted_run_resumes_at_stage2_with_the_same_final_metrics(tiny_config, tmp_path):
    uninterrupted = run_method(tiny_config, str(tmp_path / "straight"))
    assert json.loads((tmp_path / "straight" / "metrics.json").read_text()) == json.loads(json.dumps(uninterrupted))

    # A run that stopped after stage 1 ...
    partial = Workflow(tiny_config, str(tmp_path / "resumed"))
    partial.prepare()
    partial.train_cf()
    partial.train_stage1()
    stage1_mtime = os.path.getmtime(tmp_path / "resumed" / "stage1" / "model.safetensors")
    # ... started again: data, CF and stage 1 are skipped, stage 2 and the evaluation run.
    resumed = run_method(tiny_config, str(tmp_path / "resumed"))
    assert os.path.getmtime(tmp_path / "resumed" / "stage1" / "model.safetensors") == stage1_mtime
    assert without_timing(resumed["evaluation"]["score"]) == without_timing(uninterrupted["evaluation"]["score"])
    assert resumed["stage1"]["hit@1"] == uninterrupted["stage1"]["hit@1"]
    assert fingerprints(tmp_path / "resumed") == fingerprints(tmp_path / "straight")

    # A finished run started again skips every step; a changed stage-2 setting reruns stage 2 and what follows.
    again = Workflow(tiny_config, str(tmp_path / "resumed"))
    assert all(again.prepare() and again.outcomes[name].skipped for name in ["data"])
    changed = json.loads(json.dumps(tiny_config))
    changed["stage2"]["learning_rate"] = 5e-3
    before = fingerprints(tmp_path / "resumed")
    run_method(changed, str(tmp_path / "resumed"))
    after = fingerprints(tmp_path / "resumed")
    assert [name for name in before if before[name] != after[name]] == ["stage2", "evaluation"]

    # The cold-user scenario can be left out (the quickstart does): only the evaluation reruns, without it.
    quicker = json.loads(json.dumps(changed))
    quicker["evaluation"]["cold_users"] = False
    metrics = run_method(quicker, str(tmp_path / "resumed"))
    last = fingerprints(tmp_path / "resumed")
    assert [name for name in after if after[name] != last[name]] == ["evaluation"]
    assert "score_cold_users" in uninterrupted["evaluation"] and "score_cold_users" not in metrics["evaluation"]


def test_config_errors_name_the_section_and_key(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="unknown sections \\['stage3'\\]"):
        Workflow({**tiny_config, "stage3": {}}, str(tmp_path))
    workflow = Workflow({**tiny_config, "data": {**tiny_config["data"], "num_negative": 3}}, str(tmp_path), "my.json")
    with pytest.raises(ValueError, match="my.json: section 'data'.*num_negative"):
        workflow.prepare()


def test_a_moved_output_folder_is_still_done_with_a_tiny_random_llm(tiny_config, tmp_path):
    config = json.loads(json.dumps(tiny_config))
    config["stage2"]["llm"] = "tiny-random-llama"
    run_method(config, str(tmp_path / "first"))
    os.rename(tmp_path / "first", tmp_path / "moved")
    again = Workflow(config, str(tmp_path / "moved"))
    for step in (again.prepare, again.train_cf, again.train_stage1):
        assert step().skipped
    llm, llm_step = resolve_llm(again, config["stage2"]["llm"])
    assert again.outcomes["tiny_llm"].skipped and llm == str(tmp_path / "moved" / "tiny_llm")
    assert again.train_stage2(llm_step=llm_step).skipped
