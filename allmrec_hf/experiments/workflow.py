"""The whole method as resumable steps: prepare -> CF backbone -> stage 1 -> stage 2 -> evaluate.

A config (``hub_configs/*.json``) has one section per step (``data``, ``cf``, ``stage1``, ``stage2``,
``evaluation``); each section holds the fields of that step's argument dataclasses. Every step writes its own folder
under the output directory and a ``step.json`` with a fingerprint of its settings and of the steps it reads; a step
whose folder already holds the same fingerprint is skipped, so an interrupted run resumes at the first unfinished
step, and changing one step's settings reruns it and everything after it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from transformers import AutoModel, AutoTokenizer, HfArgumentParser

from .. import __version__
from ..commands.cf import BackboneArguments, run_backbone_training
from ..commands.stage1 import AlignerArguments, run_stage1
from ..commands.stage2 import RecommenderArguments, run_stage2
from ..data.prepare import DataArguments, prepare_dataset
from ..data.prepared import PreparedDataset
from ..decoding import DECODINGS, evaluate_recommender, path_inputs
from ..training.cf import CFTrainingArguments
from ..training.runs import RESULTS_FILE, checkpoint_dir
from ..training.stage1 import AlignerTrainingArguments
from ..training.stage2 import RecommenderTrainingArguments
from ..utils import read_json, write_json_atomic


logger = logging.getLogger(__name__)

STEP_FILE = "step.json"
PENDING_FILE = "step.pending.json"
SECTIONS = ("data", "cf", "stage1", "stage2", "evaluation")


@dataclass
class EvaluationSettings:
    """How the final A-LLMRec model is scored: every decoding listed, on the test split."""

    decodings: list[str] = field(default_factory=lambda: list(DECODINGS))
    batch_size: int = 8
    max_users: int | None = None
    sbert_variant: bool = True
    # Table 4's users who had no training history, scored apart from the test split (the quickstart skips them).
    cold_users: bool = True

    def __post_init__(self):
        unknown = sorted(set(self.decodings) - set(DECODINGS))
        if unknown:
            raise ValueError(f"unknown decodings {unknown}; choose from {DECODINGS}")


def fingerprint(settings: dict, upstream: list[str]) -> str:
    payload = json.dumps(
        {"settings": settings, "upstream": upstream, "version": __version__}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def parse_section(config: dict, section: str, dataclass_types: tuple, path: str = "config") -> tuple:
    """The section's fields as dataclass instances; an unknown key is an error naming the config and the key."""
    values = dict(config.get(section, {}))
    try:
        return HfArgumentParser(dataclass_types).parse_dict(values)
    except ValueError as error:
        raise ValueError(f"{path}: section {section!r}: {error}") from error


def _settings_of(*instances) -> dict:
    settings = {}
    for instance in instances:
        values = instance.to_dict() if hasattr(instance, "to_dict") else asdict(instance)
        # Where outputs go and how they are logged does not change what a step computes.
        for volatile in ("output_dir", "logging_dir", "run_name", "disable_tqdm", "report_to"):
            values.pop(volatile, None)
        settings.update(values)
    return settings


@dataclass
class StepOutcome:
    name: str
    output_dir: str
    fingerprint: str
    skipped: bool


class Workflow:
    """Runs the steps of a config into ``output_dir``, skipping those already done with the same settings."""

    def __init__(self, config: dict, output_dir: str, config_path: str = "config"):
        unknown = sorted(set(config) - set(SECTIONS) - {"name", "description", "experiments"})
        if unknown:
            raise ValueError(f"{config_path}: unknown sections {unknown}; expected {SECTIONS}")
        self.config = config
        self.output_dir = output_dir
        self.config_path = config_path
        self.outcomes: dict[str, StepOutcome] = {}

    def path(self, name: str) -> str:
        return os.path.join(self.output_dir, name)

    def step(self, name: str, settings: dict, upstream: list[str], run: Callable[[str], None]) -> StepOutcome:
        """Run ``run(folder)`` unless ``folder/step.json`` already records the same fingerprint."""
        folder = self.path(name)
        # Paths to upstream folders are named by step: their content is already in the upstream fingerprints, and
        # the same settings must fingerprint alike in any output folder.
        folders = {self.outcomes[step].output_dir: f"<{step}>" for step in upstream}
        settings = {
            key: folders.get(value, value) if isinstance(value, str) else value for key, value in settings.items()
        }
        key = fingerprint(settings, [self.outcomes[step].fingerprint for step in upstream])
        marker = os.path.join(folder, STEP_FILE)
        if os.path.exists(marker) and read_json(marker).get("fingerprint") == key:
            logger.info("step %s: already done with these settings (%s), skipped", name, folder)
            outcome = StepOutcome(name, folder, key, skipped=True)
        else:
            logger.info("step %s: running into %s", name, folder)
            # A run of these settings that was interrupted resumes from its checkpoints; those of other settings
            # must not be resumed.
            pending = os.path.join(folder, PENDING_FILE)
            if os.path.exists(pending) and read_json(pending).get("fingerprint") != key:
                shutil.rmtree(checkpoint_dir(folder), ignore_errors=True)
            write_json_atomic(pending, {"step": name, "fingerprint": key})
            run(folder)
            write_json_atomic(marker, {"step": name, "fingerprint": key, "settings": settings, "upstream": upstream})
            if os.path.exists(pending):  # steps that write into the folder rather than replace it
                os.remove(pending)
            outcome = StepOutcome(name, folder, key, skipped=False)
        self.outcomes[name] = outcome
        return outcome

    def prepare(self, name: str = "data", overrides: dict | None = None) -> StepOutcome:
        (data_args,) = parse_section(
            {"data": {**self.config.get("data", {}), **(overrides or {})}}, "data", (DataArguments,), self.config_path
        )
        return self.step(name, _settings_of(data_args), [], lambda folder: prepare_dataset(data_args).save(folder))

    def _train(
        self, name: str, section: str, types: tuple, run_training, inputs: dict, upstream: list, overrides=None
    ):
        """A training step: the config section (with ``overrides``) parsed into ``types``, the fields of ``inputs``
        pointed at the folders of earlier steps, and ``run_training(args, training_args)`` writing the folder."""
        values = {**self.config.get(section, {}), **(overrides or {})}
        args, training = parse_section({section: values}, section, types, self.config_path)
        for field_name, step in inputs.items():
            setattr(args, field_name, self.outcomes[step].output_dir)

        def run(folder):
            training.output_dir = folder
            run_training(args, training)

        return self.step(name, _settings_of(args, training), upstream, run)

    def train_cf(
        self, name: str = "cf", data: str = "data", overrides: dict | None = None, pretrained: str | None = None
    ) -> StepOutcome:
        """A CF backbone or modality-aware baseline; ``pretrained``: the step whose model it fine-tunes (CTRL and
        RECFORMER after their pre-training step)."""
        types = (BackboneArguments, CFTrainingArguments)
        inputs, upstream = {"data_dir": data}, [data]
        if pretrained is not None:
            inputs["pretrained_model"] = pretrained
            upstream.append(pretrained)
        return self._train(name, "cf", types, run_backbone_training, inputs, upstream, overrides)

    def train_stage1(
        self, name: str = "stage1", data: str = "data", cf: str = "cf", overrides: dict | None = None
    ) -> StepOutcome:
        types = (AlignerArguments, AlignerTrainingArguments)
        return self._train(
            name, "stage1", types, run_stage1, {"data_dir": data, "cf_model": cf}, [data, cf], overrides
        )

    def train_stage2(
        self,
        name: str = "stage2",
        data: str = "data",
        stage1: str = "stage1",
        llm: str | None = None,
        llm_step: str | None = None,
        overrides: dict | None = None,
    ) -> StepOutcome:
        """Stage 2 on ``llm`` (an id or folder), or on the LLM an earlier step ``llm_step`` built."""
        overrides = dict(overrides or {})
        inputs = {"data_dir": data, "stage1_model": stage1}
        if llm_step is not None:
            inputs["llm"] = llm_step
        elif llm is not None:
            overrides["llm"] = llm
        types = (RecommenderArguments, RecommenderTrainingArguments)
        upstream = [data, stage1] + ([llm_step] if llm_step else [])
        return self._train(name, "stage2", types, run_stage2, inputs, upstream, overrides)

    def evaluate(self, name: str = "evaluation", data: str = "data", model: str = "stage2") -> StepOutcome:
        (settings,) = parse_section(self.config, "evaluation", (EvaluationSettings,), self.config_path)

        def run(folder):
            dataset = PreparedDataset.load(self.outcomes[data].output_dir)
            recommender = AutoModel.from_pretrained(self.outcomes[model].output_dir)
            tokenizer = AutoTokenizer.from_pretrained(self.outcomes[model].output_dir)
            options = {"batch_size": settings.batch_size, "max_users": settings.max_users}
            results = {}
            for decoding in settings.decodings:
                results[decoding] = evaluate_recommender(recommender, tokenizer, dataset, decoding, "test", **options)
            if settings.sbert_variant and "score" in settings.decodings:
                results["score_sbert"] = evaluate_recommender(
                    recommender, tokenizer, dataset, "score", "test", prompt_inputs=path_inputs("text"), **options
                )
            if settings.cold_users and len(dataset.splits["cold_users"]) and "score" in settings.decodings:
                results["score_cold_users"] = evaluate_recommender(
                    recommender, tokenizer, dataset, "score", "cold_users", **options
                )
            write_json_atomic(os.path.join(folder, RESULTS_FILE), results)

        return self.step(name, asdict(settings), [data, model], run)

    def results(self, name: str) -> dict:
        """What a finished step reports: ``report.json`` for data, ``eval_results.json`` otherwise."""
        folder = self.outcomes[name].output_dir
        report = os.path.join(folder, "report.json")
        return read_json(report) if os.path.exists(report) else read_json(os.path.join(folder, RESULTS_FILE))


TINY_RANDOM_LLM = "tiny-random"
TINY_LLM_NOTICE = (
    "--llm {name}: building a tiny RANDOMLY INITIALISED {architecture} LLM with a tokenizer trained on this dataset. "
    "The whole method runs, but the LLM knows no language: its recommendations are meaningless. Leave --llm at its "
    "default (smollm2-135m-instruct) or pass any causal LLM for real results."
)


def tiny_random_architecture(llm: str | None) -> str | None:
    """``opt`` for ``tiny-random``, the architecture for ``tiny-random-<architecture>``, None for any other LLM."""
    if not llm or not llm.startswith(TINY_RANDOM_LLM):
        return None
    return llm.removeprefix(TINY_RANDOM_LLM).lstrip("-") or "opt"


def resolve_llm(workflow: Workflow, llm: str | None) -> tuple[str, str | None]:
    """``(llm, step)``: for ``tiny-random[-<architecture>]`` a step builds that random LLM and its folder is the LLM;
    any other reference is used as it is (no step)."""
    from ..testing_utils import save_tiny_llm

    if not llm:
        raise ValueError(
            "no LLM given: pass --llm (a Hub id, folder, .gguf file or smollm2-135m-instruct) or set stage2.llm"
        )
    architecture = tiny_random_architecture(llm)
    if architecture is None:
        return llm, None
    print(TINY_LLM_NOTICE.format(name=llm, architecture=architecture.upper()), flush=True)
    dataset = workflow.outcomes["data"].output_dir
    workflow.step(
        "tiny_llm",
        {"architecture": architecture},
        ["data"],
        lambda folder: save_tiny_llm(folder, architecture, PreparedDataset.load(dataset)),
    )
    return workflow.outcomes["tiny_llm"].output_dir, "tiny_llm"


def run_method(config: dict, output_dir: str, llm: str | None = None, config_path: str = "config") -> dict:
    """Run every step of the method for ``config`` into ``output_dir`` and write ``metrics.json``; returns it."""
    workflow = Workflow(config, output_dir, config_path)
    workflow.prepare()
    workflow.train_cf()
    workflow.train_stage1()
    llm = llm or config.get("stage2", {}).get("llm")
    llm_folder, step = resolve_llm(workflow, llm)
    if step:
        workflow.train_stage2(llm_step=step)
    else:
        workflow.train_stage2(llm=llm)
    workflow.evaluate()
    metrics = {name: workflow.results(name) for name in ("data", "cf", "stage1", "stage2", "evaluation")}
    metrics["llm"] = {"name_or_path": llm_folder, "tiny_random": step is not None}
    write_json_atomic(os.path.join(output_dir, "metrics.json"), metrics)
    return metrics
