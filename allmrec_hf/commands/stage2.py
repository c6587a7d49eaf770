"""`examples/train_stage2.py`: A-LLMRec's stage 2 and the LLM baselines, each row of the paper's comparison one
``--method``, scored on the stored test candidates."""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass, field

from transformers import AutoTokenizer

from ..baselines import TEXT_ONLY_METHODS, TextOnlyRecommender, lora_config
from ..configuration_allmrec import (
    DISTILLATION_TEACHERS,
    ITEM_EMBEDDINGS,
    ITEM_TOKEN_CONDITIONING,
    LLM_DTYPES,
    ALLMRecConfig,
    LLMPromptConfig,
)
from ..decoding import DECODINGS, evaluate_recommender
from ..modeling_allmrec import ALLMRecForRecommendation
from ..pipeline_recommendation import Catalog
from ..prompts import ITEM_TOKEN_PLACEMENTS, PROMPT_DOMAINS, USER_TOKEN_PLACEMENTS
from ..training.diagnostics import CURVE_KEY, LearningCurveCallback
from ..training.stage2 import RecommenderTrainingArguments, build_recommender_trainer
from .run import Built, run_stage


logger = logging.getLogger(__name__)

SENTENCE_TOKENIZER_DIR = "sentence_tokenizer"
# What each row of the paper's comparison trains (appendix C): the soft tokens it sees and what learns.
METHODS = {
    "allmrec": {},
    "allmrec_sbert": {},  # trained as A-LLMRec; answers with q_i for every item (Table 2's A-LLMRec (SBERT))
    "mlp_llm": {"item_embeddings": "cf"},
    "tallrec": {"item_embeddings": "none", "use_user_token": False},
    "llm_only": {"item_embeddings": "none", "use_user_token": False},
}


@dataclass
class RecommenderArguments:
    """What stage 2 connects: the data, the stage-1 model, the LLM (and how to load it), the prompt and, for
    TALLRec, the LoRA adapters. Fields named as `ALLMRecConfig`'s and `GenerationConfig`'s are passed to them."""

    _argument_group_name = "stage 2 (LLM alignment)"

    data_dir: str = field(default=None, metadata={"help": "A prepared dataset (examples/prepare_data.py)."})
    stage1_model: str = field(
        default=None,
        metadata={"help": "A trained stage-1 model (examples/train_stage1.py); TALLRec and LLM-Only need none."},
    )
    llm: str = field(
        default=None,
        metadata={
            "help": "Causal LLM: a Hub id (facebook/opt-6.7b), a folder, a .gguf file or a packaged name "
            "(smollm2-135m-instruct, gemma-3-270m)."
        },
    )
    llm_gguf_file: str | None = field(
        default=None, metadata={"help": "The GGUF file inside --llm (Hub id or folder)."}
    )
    llm_revision: str | None = field(default=None, metadata={"help": "Hub revision of the LLM."})
    method: str = field(
        default="allmrec",
        metadata={
            "help": "allmrec (the paper), allmrec_sbert (trained alike, answers with q_i for every item), mlp_llm "
            "(CF embeddings projected straight into the LLM), tallrec (LoRA adapters on text-only prompts) or "
            "llm_only (text-only prompts, nothing trained). Sets --item_embeddings and --use_user_token.",
            "choices": list(METHODS),
        },
    )
    dtype: str = field(default="auto", metadata={"help": "LLM weights dtype.", "choices": list(LLM_DTYPES)})
    quantization: str | None = field(
        default=None, metadata={"help": "Load the LLM in 8bit or 4bit (bitsandbytes).", "choices": ["8bit", "4bit"]}
    )
    device_map: str | None = field(default=None, metadata={"help": "device_map for the LLM, e.g. auto."})
    prompt_domain: str = field(default="item", metadata={"help": "Prompt wording.", "choices": list(PROMPT_DOMAINS)})
    history_length: int = field(default=10, metadata={"help": "History titles in the prompt."})
    max_title_tokens: int | None = field(
        default=None, metadata={"help": "Cut titles longer than this many LLM tokens (prompt length and cost)."}
    )
    soft_token_scale: str = field(
        default="1.0",
        metadata={
            "help": "Multiplier of the projector outputs: a number, or 'text' for the LLM's token-embedding RMS."
        },
    )
    item_embeddings: str = field(
        default="joint", metadata={"help": "Item soft tokens (see ALLMRecConfig).", "choices": list(ITEM_EMBEDDINGS)}
    )
    use_user_token: bool = field(default=True, metadata={"help": "Put the user soft token in the prompt."})
    user_token_placement: str = field(
        default="first",
        metadata={
            "help": "first (the paper) or after_text (words before it).",
            "choices": list(USER_TOKEN_PLACEMENTS),
        },
    )
    item_token_placement: str = field(
        default="after_title",
        metadata={"help": "after_title (the paper) or before_title.", "choices": list(ITEM_TOKEN_PLACEMENTS)},
    )
    normalize_soft_tokens: bool = field(
        default=False, metadata={"help": "Soft tokens at unit RMS times --soft_token_scale (the paper: false)."}
    )
    standardize_soft_token_inputs: bool = field(
        default=False,
        metadata={"help": "The projectors read their inputs standardised per dimension (the paper: false)."},
    )
    item_token_init_text: str | None = field(
        default=None,
        metadata={"help": "Start every item token at the LLM's embedding of these words, e.g. ' [recommended]'."},
    )
    item_token_conditioning: str = field(
        default="none",
        metadata={
            "help": "user: F_I also reads x_u ⊙ f_dec(e_i), how the item fits this user; user+text: and x_u ⊙ "
            "f_dec(q_i), the text path's fit (beyond the paper: none).",
            "choices": list(ITEM_TOKEN_CONDITIONING),
        },
    )
    lm_loss_weight: float = field(default=1.0, metadata={"help": "Weight of eq. 8's LM loss of the target answer."})
    ranking_loss_weight: float = field(
        default=0.0, metadata={"help": "Weight of the softmax cross-entropy over the candidates' answer scores."}
    )
    distillation_loss_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the KL divergence from a stage-1 scorer's candidate softmax (--distillation_teacher)."
        },
    )
    ranking_temperature: float = field(default=1.0, metadata={"help": "Divides the LLM's candidate scores."})
    distillation_temperature: float = field(default=1.0, metadata={"help": "Divides the stage-1 scorer's logits."})
    distillation_teacher: str = field(
        default="joint",
        metadata={
            "help": "The stage-1 scorer distilled (joint: CF-side items; text: q_i; both: the two mixed).",
            "choices": list(DISTILLATION_TEACHERS),
        },
    )
    distillation_joint_weight: float = field(
        default=0.5, metadata={"help": "Weight of the joint path in the 'both' teacher (the text path: 1 - it)."}
    )
    learning_curve_samples: list[int] | None = field(
        default=None,
        metadata={
            "help": "Training samples seen at which to score validation users and the swap test (e.g. 0 200 500)."
        },
    )
    learning_curve_users: int = field(default=100, metadata={"help": "Validation users of each learning-curve point."})
    learning_curve_file: str | None = field(
        default=None, metadata={"help": "Where the learning curve is written (JSON; default: in the output folder)."}
    )
    max_new_tokens: int = field(default=64, metadata={"help": "Generation budget of an answer."})
    repetition_penalty: float = field(default=1.5, metadata={"help": "Greedy generation's repetition penalty."})
    llm_adapter: str | None = field(
        default=None,
        metadata={"help": "lora: the same as --method tallrec (its older spelling).", "choices": ["lora"]},
    )
    lora_rank: int = field(default=8, metadata={"help": "TALLRec's LoRA rank (LoraConfig.r; TALLRec: 8)."})
    lora_alpha: int = field(default=16, metadata={"help": "TALLRec's LoRA alpha (TALLRec: 16)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "TALLRec's LoRA dropout (TALLRec: 0.05)."})
    train_split: str = field(default="train", metadata={"help": "Split to train on (e.g. few_shot_128)."})
    max_train_users: int | None = field(
        default=None, metadata={"help": "Train on a seeded sample of this many users of --train_split."}
    )
    evaluation_decoding: str = field(
        default="score",
        metadata={"help": "How to score the test split after training.", "choices": [*DECODINGS, "none"]},
    )
    eval_batch_size: int = field(default=8, metadata={"help": "Users per evaluation batch."})
    max_eval_users: int | None = field(default=None, metadata={"help": "Score a seeded sample of this many users."})
    keep_checkpoints: bool = field(default=False, metadata={"help": "Keep Trainer's resumable checkpoints."})

    def __post_init__(self):
        if self.llm_adapter == "lora":
            self.method = "tallrec"
        for name, value in METHODS[self.method].items():
            setattr(self, name, value)
        if self.soft_token_scale != "text":
            try:
                float(self.soft_token_scale)
            except ValueError:
                raise ValueError(
                    f"--soft_token_scale must be a number or 'text', got {self.soft_token_scale!r}"
                ) from None

    @property
    def text_only(self) -> bool:
        return self.method in TEXT_ONLY_METHODS

    def config_kwargs(self) -> dict:
        """The config fields these arguments set (those named as the config's)."""
        config_class = LLMPromptConfig if self.text_only else ALLMRecConfig
        ours = [cls for cls in config_class.__mro__ if cls.__module__.startswith("allmrec_hf.configuration")]
        names = {name for cls in ours for name in inspect.signature(cls.__init__).parameters}
        # The LLM's fields are set from the LLM it loads, and soft_token_scale (a number or "text") by `from_stage1`.
        names = {name for name in names if not name.startswith("llm_")} - {"self", "soft_token_scale"}
        return {name: value for name, value in vars(self).items() if name in names}

    def llm_kwargs(self) -> dict:
        """How the LLM is loaded and how the model generates."""
        return {
            "gguf_file": self.llm_gguf_file,
            "llm_revision": self.llm_revision,
            "dtype": self.dtype,
            "quantization": self.quantization,
            "device_map": self.device_map,
            "generation": {"max_new_tokens": self.max_new_tokens, "repetition_penalty": self.repetition_penalty},
        }


def build_stage2(args: RecommenderArguments, training_args: RecommenderTrainingArguments, dataset) -> Built:
    if not args.llm:
        raise ValueError("--llm is required")
    prompt = {**args.config_kwargs(), "num_candidates": dataset.num_negatives + 1}
    if args.text_only:
        lora = lora_config(args.lora_rank, args.lora_alpha, args.lora_dropout) if args.method == "tallrec" else None
        model, tokenizer = TextOnlyRecommender.from_llm(
            args.llm, args.method, lora=lora, **args.llm_kwargs(), **prompt
        )
        trainable = "the LoRA adapters of the LLM"
    else:
        if not args.stage1_model:
            raise ValueError(f"--method {args.method} needs --stage1_model")
        scale = args.soft_token_scale if args.soft_token_scale == "text" else float(args.soft_token_scale)
        model, tokenizer = ALLMRecForRecommendation.from_stage1(
            args.stage1_model,
            args.llm,
            soft_token_scale=scale,
            user_rows=dataset.splits[args.train_split],
            **args.llm_kwargs(),
            **prompt,
        )
        if model.config.aligner_config.cf_config.num_items != dataset.num_items:
            raise ValueError(f"{args.stage1_model} was trained on another catalog than {args.data_dir}")
        trainable = "the user and item projectors"
    count = model.num_trainable_parameters()
    logger.info("stage 2 (%s) with %s: %d trainable parameters (%s)", args.method, args.llm, count,
                trainable if count else "none: the LLM answers as it is")  # fmt: skip
    trainer = None
    if count:
        trainer = build_recommender_trainer(
            model, tokenizer, dataset, training_args, args.train_split, max_users=args.max_train_users
        )
        if args.learning_curve_samples and not args.text_only:
            curve_file = args.learning_curve_file or os.path.join(training_args.output_dir, "learning_curve.json")
            settings = {"model": vars(args), "training": training_args.to_dict()}
            trainer.add_callback(
                LearningCurveCallback(
                    model,
                    tokenizer,
                    dataset,
                    args.learning_curve_samples,
                    args.learning_curve_users,
                    curve_file,
                    settings,
                )  # fmt: skip
            )
    stage1_model = None if args.text_only else args.stage1_model  # text-only models read no item text
    return Built(model, trainer, inference_files(tokenizer, dataset, stage1_model), tokenizer)


def inference_files(tokenizer, dataset, stage1_model: str | None):
    """Writes what a saved stage-2 model needs beside its weights: the LLM tokenizer, the catalog (the pipeline's
    ids and titles) and the stage-1 sentence tokenizer (new items and foreign catalogs enter through their text)."""
    catalog = Catalog.from_dataset(dataset)
    sentence_tokenizer = AutoTokenizer.from_pretrained(stage1_model) if stage1_model else None

    def save(folder):
        tokenizer.save_pretrained(folder)
        catalog.save(folder)
        if sentence_tokenizer is not None:
            sentence_tokenizer.save_pretrained(os.path.join(folder, SENTENCE_TOKENIZER_DIR))

    return save


def score_stage2(built: Built, args: RecommenderArguments, training_args, dataset, seconds: float) -> dict:
    model = built.model
    results = {"method": args.method, "train_seconds": round(seconds, 1)}
    if built.trainer is not None:
        results["train_users"] = len(built.trainer.train_dataset)
        history = built.trainer.state.log_history
        results["loss_history"] = [
            {"step": entry["step"], "epoch": round(entry["epoch"], 4), "loss": entry["loss"]}
            | {name: value for name, value in entry.items() if name.endswith(("_rms", "_cosine"))}
            for entry in history
            if "loss" in entry
        ]
        curve = [entry[CURVE_KEY] for entry in history if CURVE_KEY in entry]
        if curve:
            results[CURVE_KEY] = curve
    if args.method == "allmrec_sbert":
        model.config.item_embeddings = "text"  # A-LLMRec (SBERT): q_i for every item at inference (Table 2)
    if args.evaluation_decoding != "none":
        options = {"batch_size": args.eval_batch_size, "max_users": args.max_eval_users}
        results.update(
            evaluate_recommender(model, built.tokenizer, dataset, args.evaluation_decoding, "test", **options)
        )
    return results


def run_stage2(args: RecommenderArguments, training_args: RecommenderTrainingArguments) -> dict:
    """Train stage 2 as ``args.method`` says, score the test split with ``args.evaluation_decoding`` and write the
    model (no LLM weights; TALLRec a PEFT adapter), tokenizer, ``eval_results.json`` (with the loss curve) and a
    model card to ``training_args.output_dir``. ``llm_only`` trains nothing and only saves."""
    return run_stage(args, training_args, build_stage2, score_stage2)
