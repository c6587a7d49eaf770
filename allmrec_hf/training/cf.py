"""Training and evaluating CF backbones with `transformers.Trainer` on a prepared dataset.

Training rows are built once as tensors (left-padded input windows and next-item positives); the collator stacks
them and draws one seeded negative per position outside the user's training sequence, as SASRec does. Validation
scores the stored validation candidates every epoch; ``load_best_model_at_end`` keeps the best checkpoint by
``metric_for_best_model`` (NDCG@10; any validation metric, e.g. ``hit@1``), over the whole budget unless
``early_stopping_patience`` is set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback
from transformers.trainer_utils import IntervalStrategy

from ..backbones.modeling_item_text import ItemTextModelMixin
from ..backbones.modeling_recommender import CFBackbonePreTrainedModel
from ..collators import BackboneCollator, TensorRows, by_length, map_rows, pad
from ..data.negatives import EpochNegatives, interaction_keys, training_sequences
from ..data.prepared import PreparedDataset
from ..evaluation import per_user_metrics, protocol_metrics, ranking_metrics, target_positions
from . import StageTrainingArguments, report_quietly
from .callbacks import EpochNegativesCallback


if TYPE_CHECKING:
    from datasets import Dataset


logger = logging.getLogger(__name__)


def backbone_training_rows(split, max_length: int, num_items: int) -> tuple[TensorRows, torch.LongTensor]:
    """Rows for next-item training and the sorted keys of every user's training items (for negative sampling)."""
    sequences = training_sequences(split)
    rows = TensorRows(
        ("input_ids", "positive_ids"),
        input_ids=pad([sequence[:-1] for sequence in sequences], 0, "left", max_length),
        positive_ids=pad([sequence[1:] for sequence in sequences], 0, "left", max_length),
        user_ids=torch.tensor(split["user_id"], dtype=torch.long),
        row=torch.arange(len(sequences)),
    )
    return rows, interaction_keys(sequences, num_items)


@dataclass
class CFTrainingArguments(StageTrainingArguments):
    """`TrainingArguments` with the SASRec reference defaults: Adam (lr 1e-3, betas 0.9/0.98), batch 128, 200 epochs,
    constant learning rate, no gradient clipping, validation every epoch, best checkpoint by NDCG@10."""

    num_train_epochs: float = field(default=200.0)
    learning_rate: float = field(default=1e-3)
    per_device_train_batch_size: int = field(default=128)
    per_device_eval_batch_size: int = field(default=1024)
    eval_strategy: IntervalStrategy | str = field(default="epoch")
    logging_strategy: IntervalStrategy | str = field(default="epoch")
    load_best_model_at_end: bool = field(default=True)
    metric_for_best_model: str | None = field(default="ndcg@10")
    greater_is_better: bool | None = field(default=True)
    train_sampling_strategy: str = field(
        default="group_by_length",
        metadata={
            "help": "group_by_length batches users of similar history length (shuffled mega-batches), so steps skip "
            "most padding; 'random' is the plain shuffle."
        },
    )
    # 0: the whole budget. Stopping after 20 epochs without a gain cost cold targets on Scientific (issue 20: cold
    # Hit@1 0.107 against 0.113 over three seeds; README, the SASRec seeds table).
    early_stopping_patience: int = field(
        default=0,
        metadata={"help": "Stop after this many evaluations without a better metric_for_best_model (0: never)."},
    )


def validation_metrics(prediction) -> dict[str, float]:
    """``compute_metrics`` for Trainer: Hit@k and NDCG@k of the candidate scores against the target index."""
    return ranking_metrics(prediction.predictions, prediction.label_ids, cutoffs=(1, 5, 10))


class ItemCatalogCallback(TrainerCallback):
    """After every epoch, before validation scores the model and the checkpoint saves it, a model that reads item text
    brings its catalog up to date (``refresh_catalog``: the items re-encoded when the sentence encoder trains, CTRL's
    text map refitted), so validation, the saved model and a resumed run all read the catalog of the current
    weights."""

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        model.refresh_catalog()


def backbone_trainer(
    model: CFBackbonePreTrainedModel,
    dataset: PreparedDataset,
    args: CFTrainingArguments,
    train_dataset,
    data_collator,
    callbacks: list | tuple = (),
) -> Trainer:
    """A `Trainer` for a model with the backbone interface: ``train_dataset`` through ``data_collator``, validation on
    the stored candidates every epoch (early stopping after ``args.early_stopping_patience`` evaluations without a
    better metric; nothing to stop on without validation) and, for a model that reads item text,
    `ItemCatalogCallback`."""
    callbacks = list(callbacks)
    if args.early_stopping_patience and args.eval_strategy != IntervalStrategy.NO:
        callbacks.append(EarlyStoppingCallback(args.early_stopping_patience))
    if isinstance(model, ItemTextModelMixin):
        callbacks.append(ItemCatalogCallback())
    return report_quietly(
        Trainer(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=by_length(candidate_rows(dataset.splits["validation"], model.config.max_sequence_length)),
            data_collator=data_collator,
            compute_metrics=validation_metrics,
            callbacks=callbacks,
        )
    )


def build_backbone_trainer(
    model: CFBackbonePreTrainedModel,
    dataset: PreparedDataset,
    args: CFTrainingArguments,
    train_split: str = "train",
) -> Trainer:
    """A `Trainer` for ``model`` on ``dataset``: next-item BCE on ``train_split`` (or whatever ``model`` computes
    from those rows, e.g. CTRL's pre-training), validation on the stored candidates."""
    max_length = model.config.max_sequence_length
    train_rows, train_keys = backbone_training_rows(dataset.splits[train_split], max_length, dataset.num_items)
    model.register_training_users(train_rows.columns["user_ids"])
    if isinstance(model, ItemTextModelMixin):
        seen = torch.cat([train_rows.columns["input_ids"].flatten(), train_rows.columns["positive_ids"].flatten()])
        model.register_training_items(torch.unique(seen[seen != 0]))
    negatives = EpochNegatives(dataset.num_items, train_keys, len(train_rows), max_length, seed=args.seed + 1)
    return backbone_trainer(
        model, dataset, args, train_rows, BackboneCollator(negatives), [EpochNegativesCallback(negatives)]
    )


def score_rows(model: CFBackbonePreTrainedModel, rows: TensorRows, batch_size: int = 1024, full_catalog: bool = False):
    """Scores of every row: its candidates ``(rows, num_candidates)`` or, with ``full_catalog``, every item
    ``(rows, num_items + 1)``."""
    model.eval()

    def score(batch):
        if full_catalog:
            return model.score_all_items(batch["input_ids"], batch["user_ids"])
        return model.score_candidates(batch["input_ids"], batch["candidate_ids"], batch["user_ids"])

    return map_rows(rows, score, batch_size, model.device).numpy()


def user_representations(model: CFBackbonePreTrainedModel, split, batch_size: int = 1024) -> torch.Tensor:
    """``x_u`` of every row of a split (from its history window), ``(rows, hidden_size)``."""
    model.eval()
    rows = TensorRows(
        ("input_ids",),
        input_ids=pad(split["history"], 0, "left", model.config.max_sequence_length),
        user_ids=torch.tensor(split["user_id"], dtype=torch.long),
    )
    return map_rows(
        rows, lambda batch: model.user_representation(batch["input_ids"], batch["user_ids"]), batch_size, model.device
    )


def full_catalog_metrics(
    model, split, max_length: int, batch_size: int = 256, cutoffs=(1, 5, 10, 20)
) -> dict[str, float]:
    """Rank the whole catalog for every user, the user's earlier items excluded (except the target, when the user
    consumed it before): the unsampled protocol of RecBole and SASRec.pytorch's full evaluation."""
    histories = split["history"]
    targets = np.asarray(split["target"])
    inputs = pad(histories, 0, "left", max_length)
    user_ids = torch.tensor(split["user_id"])
    totals: dict[str, float] = {}
    for start in range(0, len(targets), batch_size):
        stop = start + batch_size
        chunk = TensorRows(("input_ids",), input_ids=inputs[start:stop], user_ids=user_ids[start:stop])
        scores = score_rows(model, chunk, batch_size, full_catalog=True)
        for offset, history in enumerate(histories[start:stop]):
            seen = np.asarray(history, dtype=np.int64)
            scores[offset, seen[seen != targets[start + offset]]] = -np.inf
        for name, values in per_user_metrics(scores, targets[start:stop], cutoffs).items():
            totals[name] = totals.get(name, 0.0) + float(values.sum())
    return {f"full_{name}": value / len(targets) for name, value in totals.items()}


def evaluate_backbone(
    model: CFBackbonePreTrainedModel,
    dataset: PreparedDataset,
    split: str = "test",
    full_catalog: bool = False,
    batch_size: int = 1024,
    max_users: int | None = None,
    per_user: bool = False,
) -> dict:
    """Protocol metrics on a split's stored candidates (Hit@1/5/10, NDCG@5/10, Hit@1 on cold and warm targets) and,
    with ``full_catalog``, full-ranking metrics under ``full_`` keys; ``max_users``: the fixed seeded subset of
    `PreparedDataset.sample_rows`; ``per_user``: each user's Hit@1 and NDCG@10 too."""
    rows = dataset.sample_rows(split, max_users)
    max_length = model.config.max_sequence_length
    scores = score_rows(model, candidate_rows(rows, max_length), batch_size)
    users = rows["user_id"] if per_user else None
    results = protocol_metrics(scores, rows["candidates"], rows["target"], dataset.popularity, user_ids=users)
    if full_catalog:
        results.update(full_catalog_metrics(model, rows, max_length))
    return results


def candidate_rows(split: Dataset, max_length: int) -> TensorRows:
    """Scoring rows of a split: the history window, the stored candidates and the target's index among them."""
    candidates = torch.tensor(split["candidates"], dtype=torch.long)
    targets = torch.tensor(split["target"], dtype=torch.long)
    return TensorRows(
        ("input_ids",),
        input_ids=pad(split["history"], 0, "left", max_length),
        candidate_ids=candidates,
        labels=torch.from_numpy(target_positions(candidates, targets)).long(),
        user_ids=torch.tensor(split["user_id"], dtype=torch.long),
    )
