"""Training stage 2 with `transformers.Trainer`: only the two projectors learn; the LLM, CF model and stage-1 model
are frozen (the LM loss still flows through the LLM to the soft tokens)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from transformers import AutoTokenizer, Trainer, set_seed
from transformers.trainer_utils import IntervalStrategy

from ..collators import RecommendationBatcher
from ..configuration_allmrec import ITEM_EMBEDDINGS, LLM_DTYPES
from ..data.negatives import EpochCandidates, interaction_keys, training_sequences
from ..data.prepared import PreparedDataset
from ..decoding import DECODINGS, evaluate_recommender
from ..model_card import protocol_card_data
from ..modeling_allmrec import ALLMRecForRecommendation
from ..pipeline_recommendation import Catalog
from ..prompts import PROMPT_DOMAINS
from . import StageTrainingArguments, report_quietly
from .callbacks import EpochNegativesCallback
from .runs import checkpoint_dir, save_run, train_resuming


logger = logging.getLogger(__name__)

SENTENCE_TOKENIZER_DIR = "sentence_tokenizer"


@dataclass
class RecommenderTrainingArguments(StageTrainingArguments):
    """`TrainingArguments` with the paper's stage-2 defaults: Adam (lr 1e-4, betas 0.9/0.98), batch 4, 5 epochs, a
    checkpoint per epoch. ``gradient_checkpointing`` trades LLM activations for recomputation on long prompts."""

    num_train_epochs: float = field(default=5.0)
    learning_rate: float = field(default=1e-4)
    per_device_train_batch_size: int = field(default=4)
    eval_strategy: IntervalStrategy | str = field(default="no")
    logging_steps: float = field(default=10)


def build_recommender_trainer(
    model: ALLMRecForRecommendation,
    tokenizer,
    dataset: PreparedDataset,
    args: RecommenderTrainingArguments,
    train_split: str = "train",
    max_users: int | None = None,
) -> Trainer:
    """A Trainer on ``train_split`` (or a seeded sample of ``max_users`` of its users): each user's last training
    item is the answer (eq. 8), among candidates drawn afresh per (seed, epoch, user) in the prompt."""
    if args.gradient_checkpointing and not args.gradient_checkpointing_kwargs:
        args.gradient_checkpointing_kwargs = {"use_reentrant": False}
    rows = dataset.sample_rows(train_split, max_users, seed=args.seed)
    rows = rows.add_column("row", list(range(len(rows))))
    candidates = EpochCandidates(
        dataset.num_items,
        interaction_keys(training_sequences(rows), dataset.num_items),
        len(rows),
        model.config.num_candidates - 1,
        seed=args.seed + 2,
    )
    batcher = RecommendationBatcher(
        tokenizer,
        dataset.titles,
        model.config,
        model.aligner.cf_backbone.config.max_sequence_length,
        missing_title=model.config.aligner_config.missing_title,
        training_candidates=candidates,
    )
    return report_quietly(
        Trainer(
            model=model,
            args=args,
            train_dataset=rows,
            data_collator=batcher,
            processing_class=tokenizer,  # saved with every checkpoint, which then loads and answers on its own
            callbacks=[EpochNegativesCallback(candidates)],
        )
    )


# What each row of the paper's comparison trains (appendix C): the soft tokens it sees and what learns.
METHODS = {
    "allmrec": {},
    "allmrec_sbert": {},  # trained as A-LLMRec; answers with q_i for every item (Table 2's A-LLMRec (SBERT))
    "mlp_llm": {"item_embeddings": "cf"},
    "tallrec": {"item_embeddings": "none", "use_user_token": False, "llm_adapter": "lora"},
    "llm_only": {"item_embeddings": "none", "use_user_token": False},
}


@dataclass
class RecommenderArguments:
    """What stage 2 connects: the data, the stage-1 model, the LLM (and how to load it) and the prompt."""

    _argument_group_name = "stage 2 (LLM alignment)"

    data_dir: str = field(default=None, metadata={"help": "A prepared dataset (examples/prepare_data.py)."})
    stage1_model: str = field(default=None, metadata={"help": "A trained stage-1 model (examples/train_stage1.py)."})
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
            "(CF embeddings projected straight into the LLM), tallrec (LoRA on text-only prompts) or llm_only "
            "(text-only prompts, nothing trained). Sets --item_embeddings, --use_user_token and --llm_adapter.",
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
    use_user_token: bool = field(default=True, metadata={"help": "Put the user soft token first."})
    max_new_tokens: int = field(default=64, metadata={"help": "Generation budget of an answer."})
    repetition_penalty: float = field(default=1.5, metadata={"help": "Greedy generation's repetition penalty."})
    llm_adapter: str | None = field(
        default=None,
        metadata={"help": "lora: fine-tune the LLM with LoRA (the TALLRec baseline).", "choices": ["lora"]},
    )
    lora_rank: int = field(default=8, metadata={"help": "LoRA rank (TALLRec: 8)."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha (TALLRec: 16)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout (TALLRec: 0.05)."})
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
        for name, value in METHODS[self.method].items():
            setattr(self, name, value)
        if self.soft_token_scale != "text":
            try:
                float(self.soft_token_scale)
            except ValueError:
                raise ValueError(
                    f"--soft_token_scale must be a number or 'text', got {self.soft_token_scale!r}"
                ) from None

    def config_kwargs(self) -> dict:
        """The `ALLMRecConfig` fields these arguments set."""
        return {
            "prompt_domain": self.prompt_domain,
            "history_length": self.history_length,
            "max_title_tokens": self.max_title_tokens,
            "item_embeddings": self.item_embeddings,
            "use_user_token": self.use_user_token,
            "generation_max_new_tokens": self.max_new_tokens,
            "generation_repetition_penalty": self.repetition_penalty,
            "llm_adapter": self.llm_adapter,
            "lora_rank": self.lora_rank,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
        }


def save_recommender(
    output_dir, model, tokenizer, dataset, args, results: dict, settings: dict, keep_checkpoints=False
):
    """Write a stage-2 model (no LLM weights) with everything inference needs: the LLM tokenizer, the catalog and
    the stage-1 text encoder's tokenizer (new items and foreign catalogs enter through their text)."""
    epochs = settings.get("training", {}).get("num_train_epochs")
    model.config.card_data = protocol_card_data(dataset, args.data_dir, results, {"epochs": epochs})
    catalog = Catalog.from_dataset(dataset)
    sentence_tokenizer = AutoTokenizer.from_pretrained(args.stage1_model)

    def save_inference_files(folder):
        tokenizer.save_pretrained(folder)
        catalog.save(folder)
        sentence_tokenizer.save_pretrained(os.path.join(folder, SENTENCE_TOKENIZER_DIR))

    save_run(output_dir, model, results, settings, keep_checkpoints, extra=save_inference_files)


def run_stage2(
    args: RecommenderArguments, training_args: RecommenderTrainingArguments, llm=None, tokenizer=None
) -> dict:
    """Train stage 2 as ``args.method`` says, score the test split with ``args.evaluation_decoding`` and write the
    model (no LLM weights), tokenizer, ``eval_results.json`` (with the loss curve) and a model card to
    ``training_args.output_dir``. ``llm_only`` trains nothing and only saves.

    ``llm``/``tokenizer`` may be passed already loaded (the LLM is still recorded as ``args.llm``).
    """
    if not (args.data_dir and args.stage1_model and args.llm and training_args.output_dir):
        raise ValueError("data_dir, stage1_model, llm and output_dir are required")
    output_dir = training_args.output_dir
    training_args.output_dir = checkpoint_dir(output_dir)
    set_seed(training_args.seed)
    dataset = PreparedDataset.load(args.data_dir)
    model, tokenizer = ALLMRecForRecommendation.from_stage1(
        args.stage1_model,
        args.llm,
        gguf_file=args.llm_gguf_file,
        llm=llm,
        tokenizer=tokenizer,
        llm_revision=args.llm_revision,
        dtype=args.dtype,
        quantization=args.quantization,
        device_map=args.device_map,
        soft_token_scale=args.soft_token_scale if args.soft_token_scale == "text" else float(args.soft_token_scale),
        num_candidates=dataset.num_negatives + 1,
        **args.config_kwargs(),
    )
    if model.config.aligner_config.cf_config.num_items != dataset.num_items:
        raise ValueError(f"{args.stage1_model} was trained on another catalog than {args.data_dir}")
    trainable = "LoRA adapters of the LLM" if args.llm_adapter else "the user and item projectors"
    logger.info(
        "stage 2 (%s) with %s: %d trainable parameters (%s)",
        args.method,
        args.llm,
        model.num_trainable_parameters(),
        trainable if model.num_trainable_parameters() else "nothing: the LLM answers as it is",
    )

    results = {"method": args.method, "train_seconds": 0.0}
    trainer = build_recommender_trainer(
        model, tokenizer, dataset, training_args, args.train_split, max_users=args.max_train_users
    )
    if model.num_trainable_parameters():
        started = time.perf_counter()
        train_resuming(trainer)
        results["train_seconds"] = round(time.perf_counter() - started, 1)
        results["train_users"] = len(trainer.train_dataset)
        results["loss_history"] = [
            {"step": entry["step"], "epoch": round(entry["epoch"], 4), "loss": entry["loss"]}
            for entry in trainer.state.log_history
            if "loss" in entry
        ]
    if args.method == "allmrec_sbert":
        model.config.item_embeddings = "text"  # A-LLMRec (SBERT): q_i for every item at inference (Table 2)
    if args.evaluation_decoding != "none" and trainer.is_world_process_zero():
        options = {"batch_size": args.eval_batch_size, "max_users": args.max_eval_users}
        results.update(evaluate_recommender(model, tokenizer, dataset, args.evaluation_decoding, "test", **options))
    if trainer.is_world_process_zero():
        settings = {"model": vars(args), "training": training_args.to_dict()}
        save_recommender(output_dir, model, tokenizer, dataset, args, results, settings, args.keep_checkpoints)
    return results
