"""Training stage 2 with `transformers.Trainer`: A-LLMRec's projectors through the frozen LLM (the LM loss still flows
through it to the soft tokens), or TALLRec's LoRA adapters (a `PeftModel` trained as any causal LM is)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from transformers import Trainer
from transformers.trainer_utils import IntervalStrategy

from ..collators import RecommendationBatcher
from ..data.negatives import EpochCandidates, interaction_keys, training_sequences
from ..data.prepared import PreparedDataset
from . import StageTrainingArguments, report_quietly
from .callbacks import EpochNegativesCallback


@dataclass
class RecommenderTrainingArguments(StageTrainingArguments):
    """`TrainingArguments` with the paper's stage-2 defaults: Adam (lr 1e-4, betas 0.9/0.98), batch 4, 5 epochs, a
    checkpoint per epoch. ``gradient_checkpointing`` trades LLM activations for recomputation on long prompts."""

    num_train_epochs: float = field(default=5.0)
    learning_rate: float = field(default=1e-4)
    per_device_train_batch_size: int = field(default=4)
    eval_strategy: IntervalStrategy | str = field(default="no")
    logging_steps: float = field(default=10)
    negative_popularity_exponent: float = field(
        default=0.0,
        metadata={
            "help": "Draw training negatives with probability proportional to (training interactions + 1) ** this: "
            "0 is uniform (the paper); 1 matches the targets' popularity, so popularity alone no longer tells the "
            "target and the objective rewards matching the user (evaluation keeps its stored uniform negatives)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if not math.isfinite(self.negative_popularity_exponent) or self.negative_popularity_exponent < 0:
            raise ValueError(
                f"--negative_popularity_exponent must be a finite number >= 0, got {self.negative_popularity_exponent}"
            )


def build_recommender_trainer(
    model,
    tokenizer,
    dataset: PreparedDataset,
    args: RecommenderTrainingArguments,
    train_split: str = "train",
    max_users: int | None = None,
) -> Trainer:
    """A Trainer on ``train_split`` (or a seeded sample of ``max_users`` of its users): each user's last training
    item is the answer (eq. 8), among candidates drawn afresh per (seed, epoch, user) in the prompt.

    ``model`` is an `ALLMRecForRecommendation` (its projectors train) or a `TextOnlyRecommender` whose LLM is a
    `PeftModel` (TALLRec): the PEFT model is then what Trainer trains, on causal-LM labels, so its checkpoints are
    adapter checkpoints Trainer resumes from."""
    if args.gradient_checkpointing and not args.gradient_checkpointing_kwargs:
        args.gradient_checkpointing_kwargs = {"use_reentrant": False}
    rows = dataset.sample_rows(train_split, max_users, seed=args.seed)
    rows = rows.add_column("row", list(range(len(rows))))
    exponent = args.negative_popularity_exponent
    weights = None if exponent == 0 else (torch.from_numpy(dataset.train_counts).double() + 1) ** exponent
    candidates = EpochCandidates(
        dataset.num_items,
        interaction_keys(training_sequences(rows), dataset.num_items),
        len(rows),
        model.config.num_candidates - 1,
        seed=args.seed + 2,
        weights=weights,
    )
    trains_adapters = model.config.model_type == "allmrec_text_only"
    # The ranking objectives read every candidate's answer after the prompt; eq. 8 alone reads the target's.
    ranks = getattr(model.config, "ranks_candidates", False)
    batcher = RecommendationBatcher.for_model(
        model,
        tokenizer,
        dataset.titles,
        training_candidates=candidates,
        causal_lm_labels=trains_adapters,
        with_answers=not ranks,
        with_candidate_answers=ranks,
    )
    return report_quietly(
        Trainer(
            model=model.llm if trains_adapters else model,
            args=args,
            train_dataset=rows,
            data_collator=batcher,
            processing_class=tokenizer,  # saved with every checkpoint, which then loads and answers on its own
            callbacks=[EpochNegativesCallback(candidates)],
        )
    )
