"""Training RECFORMER with `transformers.Trainer`: both stages (``config.training_stage``) read the same rows, one per
user with a training history: the history window and the next item (the user's last training item). Validation and
early stopping are those of every backbone (`backbone_trainer`); the catalog's item embeddings are re-encoded after
every epoch."""

from __future__ import annotations

import torch
from transformers import Trainer

from ..collators import TensorRows, collate_rows, pad
from ..data.negatives import training_sequences
from ..data.prepared import PreparedDataset
from ..training.cf import CFTrainingArguments, backbone_trainer
from .modeling_recformer import RecformerModel


def recformer_training_rows(split, max_length: int) -> TensorRows:
    """One row per user whose training sequence has a history: the last ``max_length`` items before the last one
    (``input_ids``, left-padded) and that last item (``positive_ids``)."""
    sequences = training_sequences(split)
    kept = [index for index, sequence in enumerate(sequences) if len(sequence) > 1]
    return TensorRows(
        ("input_ids",),
        input_ids=pad([sequences[index][:-1] for index in kept], 0, "left", max_length),
        positive_ids=torch.tensor([sequences[index][-1] for index in kept], dtype=torch.long),
        user_ids=torch.tensor(split["user_id"], dtype=torch.long)[kept],
    )


def build_recformer_trainer(
    model: RecformerModel, dataset: PreparedDataset, args: CFTrainingArguments, train_split: str = "train"
) -> Trainer:
    """A `Trainer` for RECFORMER on ``train_split``, in the stage ``model.config.training_stage`` says."""
    rows = recformer_training_rows(dataset.splits[train_split], model.config.max_sequence_length)
    if not len(rows):
        raise ValueError(f"split {train_split!r} has no user with a training history")
    model.register_training_users(rows.columns["user_ids"])
    return backbone_trainer(model, dataset, args, rows, collate_rows)
