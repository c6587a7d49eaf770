"""What a user sees while a stage trains: progress and figures through logging, nothing printed per log, one
warning at most, and a script's own arguments first in --help."""

import logging
import warnings

import pytest
import torch
from transformers import HfArgumentParser

from allmrec_hf import SASRecConfig, SASRecModel
from allmrec_hf.commands.stage2 import RecommenderArguments
from allmrec_hf.training.cf import CFTrainingArguments, build_backbone_trainer
from allmrec_hf.training.stage2 import RecommenderTrainingArguments
from allmrec_hf.utils import cpu_model, provenance


def test_training_prints_nothing_and_logs_its_figures(sample_dataset, tmp_path, capsys, caplog):
    model = SASRecModel(SASRecConfig(num_items=sample_dataset.num_items, hidden_size=8, max_sequence_length=8))
    args = CFTrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=2, save_strategy="no", load_best_model_at_end=False,
        early_stopping_patience=0, report_to=[], disable_tqdm=True,
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO, "allmrec_hf.training"):
        warnings.simplefilter("always")
        build_backbone_trainer(model, sample_dataset, args).train()
    assert capsys.readouterr().out == ""
    assert any("'loss'" in record.getMessage() for record in caplog.records)
    assert any("'eval_ndcg@10'" in record.getMessage() for record in caplog.records)
    assert not [warning for warning in caught if "pin_memory" in str(warning.message)]


def test_help_shows_the_scripts_own_arguments_before_the_training_arguments(capsys):
    parser = HfArgumentParser((RecommenderArguments, RecommenderTrainingArguments))
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = capsys.readouterr().out
    sections = text.split("\n\n")[1:]  # after the usage line
    headings = [section.splitlines()[0] for section in sections]
    assert headings[:3] == ["options:", "stage 2 (LLM alignment):", "training (transformers.TrainingArguments):"]
    assert "--stage1_model" in sections[1] and "--learning_rate" in sections[2]
    assert "--learning_rate" not in sections[1]


def test_provenance_names_the_cpu_its_figures_were_computed_on(tmp_path):
    # The same seed trains other weights on another CPU, so a committed figure must say which one computed it.
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: avx2\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 7B13"
    assert cpu_model(tmp_path / "missing") is None
    recorded = provenance()
    assert recorded["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert recorded["cpu"] == cpu_model()
