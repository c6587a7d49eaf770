"""The paper's experiments as resumable steps: every model scored on the very same stored candidates.

Baselines (appendix C): the four CF backbones; LLM-Only (the Figure 5 prompt, frozen LLM, nothing trained);
TALLRec (LoRA fine-tuning of the LLM on text-only prompts); MLP-LLM (CF embeddings projected straight into the LLM,
no stage 1); A-LLMRec (SBERT) (``q_i`` for every item at inference); A-LLMRec over each backbone (Table 9).
Ablations: Table 6 (stage-1 losses, frozen sentence encoder) and Table 7 (user token, joint embedding). Scenarios:
cold/warm items, cold users, few-shot training (K users), cross-domain. Favourite genre/category prediction
(section 5.4.4). The modality-aware baselines (MoRec, CTRL, RECFORMER) run when ``experiments.modality_aware`` lists
them (none by default: RECFORMER fine-tunes a language model), with their scenarios of the paper's tables.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from transformers import AutoModel, AutoTokenizer

from ..backbones import BACKBONES, MODALITY_AWARE_BACKBONES
from ..commands.stage2 import SENTENCE_TOKENIZER_DIR
from ..data.prepared import PreparedDataset
from ..decoding import DECODINGS, evaluate_recommender, path_inputs
from ..training.runs import RESULTS_FILE
from ..utils import write_json_atomic
from .cross_domain import (
    evaluate_modality_aware_cross_domain,
    evaluate_recommender_cross_domain,
    evaluate_text_path_cross_domain,
)
from .preference import predict_preferences, preference_agreement
from .workflow import TINY_RANDOM_LLM, Workflow, parse_section, resolve_llm


logger = logging.getLogger(__name__)

STAGE1_ABLATIONS = {
    "w/o matching loss": {"use_matching_loss": False},
    "w/o reconstruction losses": {"use_reconstruction_losses": False},
    "w/o recommendation loss": {"use_recommendation_loss": False},
    "frozen sentence encoder": {"sentence_encoder_training": "frozen"},
}
STAGE2_ABLATIONS = {
    "w/o user representation": {"use_user_token": False},
    "w/o joint embedding": {"item_embeddings": "none"},
    "random joint embedding": {"item_embeddings": "random"},
}
BASELINES = ("llm_only", "tallrec", "mlp_llm")
# Pre-training runs its epochs without validation (nothing to keep the best of).
PRETRAINING = {
    "training_stage": "pretrain",
    "eval_strategy": "no",
    "load_best_model_at_end": False,
    "early_stopping_patience": 0,
}
# RECFORMER fine-tunes MiniLM: at the CF learning rate (1e-3) a pre-trained encoder loses what it knew.
RECFORMER_TRAINING = {"learning_rate": 5e-5, "early_stopping_patience": 0}
# Each modality-aware baseline as steps over the ``cf`` section: (step, overrides, the step it fine-tunes). The epochs
# keep each within an hour of a 2-core CPU on Scientific; ``modality_aware_overrides`` changes any step's settings.
MODALITY_AWARE_STEPS = {
    "morec": [("morec", {}, None)],
    "ctrl": [("ctrl_pretrain", {**PRETRAINING, "num_train_epochs": 20}, None), ("ctrl", {}, "ctrl_pretrain")],
    "recformer": [
        ("recformer_pretrain", {**PRETRAINING, **RECFORMER_TRAINING, "num_train_epochs": 1}, None),
        ("recformer", {**RECFORMER_TRAINING, "num_train_epochs": 2}, "recformer_pretrain"),
    ],
}


@dataclass
class ExperimentSettings:
    """The ``experiments`` section of a config."""

    backbones: list[str] = field(default_factory=lambda: list(BACKBONES))
    main_backbone: str = "sasrec"
    modality_aware: list[str] = field(default_factory=list)
    modality_aware_overrides: dict = field(default_factory=dict)
    llm: str | None = None
    use_stage1: bool = True
    use_llm: bool = True
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    tallrec: dict = field(default_factory=dict)
    stage1_ablations: bool = True
    stage2_ablations: bool = True
    cold_users: bool = True
    few_shot: bool = True
    cross_domain: dict | None = None
    preference_users: int = 10
    decoding: str = "score"
    eval_batch_size: int = 16
    eval_max_users: int | None = None

    def __post_init__(self):
        if self.main_backbone not in self.backbones:
            raise ValueError(f"main_backbone {self.main_backbone!r} must be one of backbones {self.backbones}")
        if self.decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {self.decoding!r}")
        if self.use_llm and not self.use_stage1:
            raise ValueError("use_llm needs use_stage1: A-LLMRec's stage 2 reads the stage-1 model")
        unknown = sorted(set(self.baselines) - set(BASELINES))
        if unknown:
            raise ValueError(f"unknown baselines {unknown}; choose from {BASELINES}")
        unknown = sorted(set(self.modality_aware) - set(MODALITY_AWARE_BACKBONES))
        if unknown:
            raise ValueError(f"unknown modality_aware models {unknown}; choose from {list(MODALITY_AWARE_BACKBONES)}")
        steps = {step for name in self.modality_aware for step, _, _ in MODALITY_AWARE_STEPS[name]}
        unknown = sorted(set(self.modality_aware_overrides) - steps)
        if unknown:
            raise ValueError(
                f"modality_aware_overrides names steps {unknown} that do not run; they are {sorted(steps)}"
            )


class ExperimentRunner:
    """Runs every experiment of a config into ``output_dir``; `run` returns the flat results registry."""

    def __init__(self, config: dict, output_dir: str, config_path: str = "config", llm: str | None = None):
        self.workflow = Workflow(config, output_dir, config_path)
        (self.settings,) = parse_section(config, "experiments", (ExperimentSettings,), config_path)
        if llm is not None:
            self.settings.llm = llm
        self.output_dir = output_dir
        self.results: dict[str, dict] = {}

    # -- steps -----------------------------------------------------------------------------------------------

    def _evaluation(self, name, model_step, data_step="data", split="test", path=None, cross_domain=False) -> dict:
        settings = self.settings
        options = {"batch_size": settings.eval_batch_size, "max_users": settings.eval_max_users}
        step_settings = {
            "split": split,
            "path": path,
            "decoding": settings.decoding,
            "cross_domain": cross_domain,
            **options,
        }

        def run(folder):
            model_dir = self.workflow.outcomes[model_step].output_dir
            dataset = PreparedDataset.load(self.workflow.outcomes[data_step].output_dir)
            model = AutoModel.from_pretrained(model_dir)
            tokenizer = AutoTokenizer.from_pretrained(model_dir)
            if cross_domain:
                sentence_tokenizer = AutoTokenizer.from_pretrained(os.path.join(model_dir, SENTENCE_TOKENIZER_DIR))
                results = evaluate_recommender_cross_domain(
                    model, tokenizer, sentence_tokenizer, dataset, split, **options
                )
            else:
                results = evaluate_recommender(
                    model, tokenizer, dataset, settings.decoding, split, prompt_inputs=path_inputs(path), **options
                )
            write_json_atomic(os.path.join(folder, RESULTS_FILE), results)

        self.workflow.step(f"eval_{name}", step_settings, [data_step, model_step], run)
        return self.workflow.results(f"eval_{name}")

    # -- the experiments ---------------------------------------------------------------------------------------

    def run(self) -> dict:
        workflow, settings = self.workflow, self.settings
        main = settings.main_backbone
        self.results["experiment"] = {"main_backbone": main}
        workflow.prepare()
        for backbone in settings.backbones:
            workflow.train_cf(f"cf_{backbone}", overrides={"backbone": backbone})
            self.results[f"cf/{backbone}"] = workflow.results(f"cf_{backbone}")
            if settings.use_stage1:
                workflow.train_stage1(f"stage1_{backbone}", cf=f"cf_{backbone}")
                self.results[f"stage1/{backbone}"] = workflow.results(f"stage1_{backbone}")
        for name in settings.modality_aware:
            self._run_modality_aware(name)
        if settings.few_shot:
            for size in workflow.results("data")["protocol"]["few_shot_sizes"]:
                split = f"few_shot_{size}"
                workflow.train_cf(f"cf_{split}", overrides={"backbone": main, "train_split": split})
                self.results[f"few_shot/{size}/cf"] = workflow.results(f"cf_{split}")
                if "morec" in settings.modality_aware:  # paper Table 4
                    overrides = {"backbone": "morec", **settings.modality_aware_overrides.get("morec", {})}
                    workflow.train_cf(f"morec_{split}", overrides={**overrides, "train_split": split})
                    self.results[f"few_shot/{size}/morec"] = workflow.results(f"morec_{split}")
                if settings.use_stage1:
                    workflow.train_stage1(f"stage1_{split}", cf=f"cf_{split}", overrides={"train_split": split})
                    self.results[f"few_shot/{size}/stage1"] = workflow.results(f"stage1_{split}")
        if not settings.use_stage1:
            return self._finish()
        if settings.stage1_ablations:
            for name, overrides in STAGE1_ABLATIONS.items():
                workflow.train_stage1(f"stage1_{main}_{_slug(name)}", cf=f"cf_{main}", overrides=overrides)
        if settings.cross_domain:
            workflow.prepare("target_data", overrides=settings.cross_domain)
            target = PreparedDataset.load(workflow.outcomes["target_data"].output_dir)
            aligner = AutoModel.from_pretrained(workflow.outcomes[f"stage1_{main}"].output_dir)
            sentence_tokenizer = AutoTokenizer.from_pretrained(workflow.outcomes[f"stage1_{main}"].output_dir)
            self.results["cross_domain/stage1_text"] = evaluate_text_path_cross_domain(
                aligner, sentence_tokenizer, target
            )
        if settings.use_llm:
            self._run_llm_experiments()
        return self._finish()

    def _run_modality_aware(self, name: str) -> None:
        """Train a modality-aware baseline's steps; its test, cold-user and cross-domain figures."""
        workflow, settings = self.workflow, self.settings
        for step, overrides, pretrained in MODALITY_AWARE_STEPS[name]:
            overrides = {"backbone": name, **overrides, **settings.modality_aware_overrides.get(step, {})}
            workflow.train_cf(step, overrides=overrides, pretrained=pretrained)
        final = MODALITY_AWARE_STEPS[name][-1][0]
        results = workflow.results(final)
        self.results[f"modality_aware/{name}"] = results
        if settings.cold_users and workflow.results("data")["splits"].get("cold_users"):
            self.results[f"cold_users/{name}"] = _prefixed(results, "cold_users_")
        if not settings.cross_domain:
            return
        workflow.prepare("target_data", overrides=settings.cross_domain)

        def run(folder):
            model_dir = workflow.outcomes[final].output_dir
            target = PreparedDataset.load(workflow.outcomes["target_data"].output_dir)
            results = evaluate_modality_aware_cross_domain(
                AutoModel.from_pretrained(model_dir),
                AutoTokenizer.from_pretrained(model_dir),
                target,
                max_users=settings.eval_max_users,
            )
            write_json_atomic(os.path.join(folder, RESULTS_FILE), results)

        step = f"cross_domain_{name}"
        workflow.step(step, {"max_users": settings.eval_max_users}, ["target_data", final], run)
        self.results[f"cross_domain/{name}"] = workflow.results(step)

    def _finish(self) -> dict:
        write_json_atomic(os.path.join(self.output_dir, "results.json"), self.results)
        return self.results

    def _run_llm_experiments(self) -> None:
        workflow, settings = self.workflow, self.settings
        main = settings.main_backbone
        llm, llm_step = resolve_llm(workflow, settings.llm or TINY_RANDOM_LLM)

        def stage2(name, stage1, overrides=None, split=None):
            overrides = dict(overrides or {})
            if split:
                overrides["train_split"] = split
            workflow.train_stage2(name, stage1=stage1, llm=llm, llm_step=llm_step, overrides=overrides)

        for backbone in settings.backbones:
            stage2(f"stage2_{backbone}", f"stage1_{backbone}")
            self.results[f"allmrec/{backbone}"] = self._evaluation(f"stage2_{backbone}", f"stage2_{backbone}")
            self.results[f"allmrec/{backbone}"]["train_seconds"] = workflow.results(f"stage2_{backbone}")[
                "train_seconds"
            ]
        self.results["allmrec_sbert"] = self._evaluation("stage2_sbert", f"stage2_{main}", path="text")

        if "llm_only" in settings.baselines:
            stage2("llm_only", f"stage1_{main}", {"method": "llm_only"})
            self.results["llm_only"] = self._evaluation("llm_only", "llm_only")
        if "tallrec" in settings.baselines:
            stage2("tallrec", f"stage1_{main}", {"method": "tallrec", **settings.tallrec})
            self.results["tallrec"] = {
                **self._evaluation("tallrec", "tallrec"),
                "train_seconds": workflow.results("tallrec")["train_seconds"],
            }
        if "mlp_llm" in settings.baselines:
            stage2("mlp_llm", f"stage1_{main}", {"method": "mlp_llm"})
            self.results["mlp_llm"] = self._evaluation("mlp_llm", "mlp_llm")

        if settings.stage1_ablations:
            for name in STAGE1_ABLATIONS:
                step = f"stage2_{main}_{_slug(name)}"
                stage2(step, f"stage1_{main}_{_slug(name)}")
                self.results[f"ablation_stage1/{name}"] = self._evaluation(step, step)
        if settings.stage2_ablations:
            for name, overrides in STAGE2_ABLATIONS.items():
                step = f"stage2_{main}_{_slug(name)}"
                stage2(step, f"stage1_{main}", overrides)
                self.results[f"ablation_stage2/{name}"] = self._evaluation(step, step)

        if settings.cold_users and workflow.results("data")["splits"].get("cold_users"):
            self.results["cold_users/cf"] = _prefixed(workflow.results(f"cf_{main}"), "cold_users_")
            self.results["cold_users/stage1"] = _prefixed(workflow.results(f"stage1_{main}"), "cold_users_")
            for name in ("allmrec", *[b for b in ("tallrec", "mlp_llm") if b in settings.baselines]):
                model_step = f"stage2_{main}" if name == "allmrec" else name
                self.results[f"cold_users/{name}"] = self._evaluation(
                    f"cold_users_{name}", model_step, split="cold_users"
                )

        if settings.few_shot:
            for size in workflow.results("data")["protocol"]["few_shot_sizes"]:
                split = f"few_shot_{size}"
                stage2(f"stage2_{split}", f"stage1_{split}", split=split)
                self.results[f"few_shot/{size}/allmrec"] = self._evaluation(f"stage2_{split}", f"stage2_{split}")
                self.results[f"few_shot/{size}/allmrec_sbert"] = self._evaluation(
                    f"stage2_{split}_sbert", f"stage2_{split}", path="text"
                )
                if "tallrec" in settings.baselines:
                    stage2(
                        f"tallrec_{split}", f"stage1_{main}", {"method": "tallrec", **settings.tallrec}, split=split
                    )
                    self.results[f"few_shot/{size}/tallrec"] = self._evaluation(f"tallrec_{split}", f"tallrec_{split}")

        if settings.cross_domain:
            self.results["cross_domain/allmrec"] = self._evaluation(
                "cross_domain_allmrec", f"stage2_{main}", "target_data", cross_domain=True
            )
            for name in [b for b in ("tallrec", "llm_only") if b in settings.baselines]:
                self.results[f"cross_domain/{name}"] = self._evaluation(f"cross_domain_{name}", name, "target_data")

        if settings.preference_users:
            self._preferences(main)

    def _preferences(self, main: str) -> None:
        dataset = PreparedDataset.load(self.workflow.outcomes["data"].output_dir)
        models = {"A-LLMRec": f"stage2_{main}"}
        if "llm_only" in self.settings.baselines:
            models["LLM-Only"] = "llm_only"
        for name, step in models.items():
            folder = self.workflow.outcomes[step].output_dir
            records = predict_preferences(
                AutoModel.from_pretrained(folder),
                AutoTokenizer.from_pretrained(folder),
                dataset,
                max_users=self.settings.preference_users,
            )
            self.results[f"preference/{name}"] = {"agreement": preference_agreement(records), "records": records}


def _slug(name: str) -> str:
    return "".join(character if character.isalnum() else "_" for character in name.lower()).strip("_")


def _prefixed(results: dict, prefix: str) -> dict:
    return {name[len(prefix) :]: value for name, value in results.items() if name.startswith(prefix)}
