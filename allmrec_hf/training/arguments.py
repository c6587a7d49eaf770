"""The `TrainingArguments` defaults every stage shares; each stage's arguments add only what differs."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments
from transformers.trainer_utils import SaveStrategy


@dataclass
class StageTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the defaults of the reference code for every stage: Adam betas (0.9, 0.98), no weight
    decay, no gradient clipping, a constant learning rate, a checkpoint per epoch (only the last kept). The rows are
    precomputed tensors or prompts built by a collator, so no column is dropped, no worker process is started and no
    memory is pinned (a warning on every data loader of a CPU run, and no gain for index tensors)."""

    # HfArgumentParser prints the script's own arguments first and these, transformers' many, under this heading.
    _argument_group_name = "training (transformers.TrainingArguments)"

    output_dir: str | None = field(default=None, metadata={"help": "Where the trained model is written."})
    adam_beta2: float = field(default=0.98)
    weight_decay: float = field(default=0.0)
    max_grad_norm: float = field(default=0.0)
    lr_scheduler_type: str = field(default="constant")
    save_strategy: SaveStrategy | str = field(default="epoch")
    save_total_limit: int | None = field(default=1)
    remove_unused_columns: bool = field(default=False)
    dataloader_num_workers: int = field(default=0)
    dataloader_pin_memory: bool = field(default=False)
