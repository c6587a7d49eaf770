"""Every shipped config parses: each section's keys are fields of its step's argument dataclasses."""

from pathlib import Path

import pytest

from allmrec_hf.commands.cf import BackboneArguments
from allmrec_hf.commands.stage1 import AlignerArguments
from allmrec_hf.commands.stage2 import RecommenderArguments
from allmrec_hf.data.prepare import DataArguments
from allmrec_hf.experiments.runner import ExperimentSettings
from allmrec_hf.experiments.workflow import SECTIONS, EvaluationSettings, parse_section
from allmrec_hf.training.cf import CFTrainingArguments
from allmrec_hf.training.stage1 import AlignerTrainingArguments
from allmrec_hf.training.stage2 import RecommenderTrainingArguments
from allmrec_hf.utils import read_json


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "hub_configs").glob("*.json"))
SECTION_TYPES = {
    "cf": (BackboneArguments, CFTrainingArguments),
    "stage1": (AlignerArguments, AlignerTrainingArguments),
    "stage2": (RecommenderArguments, RecommenderTrainingArguments),
    "evaluation": (EvaluationSettings,),
    "experiments": (ExperimentSettings,),
}


@pytest.mark.parametrize("path", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_config_sections_parse(path):
    config = read_json(path)
    assert set(config) <= {"name", "description", "experiments", *SECTIONS}
    assert config.get("description")
    for section, types in SECTION_TYPES.items():
        if section in config:
            parse_section(config, section, types, str(path))
    data = dict(config["data"])
    # Data arguments validate their sources at construction; the raw Amazon files are the user's to download.
    for key in ("reviews_file", "meta_file"):
        data.pop(key, None)
    if data["source"].startswith("amazon"):
        data["source"] = "synthetic"
    parse_section({"data": data}, "data", (DataArguments,), str(path))
