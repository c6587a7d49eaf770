"""Training and evaluating stage 1 with `transformers.Trainer`.

The CF backbone is frozen, so every ``x_u`` is computed once before training; item texts are tokenised once for the
whole catalog, and each batch only gathers the rows of its distinct items (a frozen sentence encoder is even run only
once). Negatives are drawn per step from a seeded sampler, one per user, outside the user's training items.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import Trainer
from transformers.trainer_utils import IntervalStrategy

from ..collators import AlignerCollator, TensorRows, pad
from ..data.negatives import EpochNegatives, interaction_keys, training_sequences
from ..data.prepared import PreparedDataset
from ..evaluation import protocol_metrics
from ..modeling_aligner import ALLMRecAlignerModel
from . import StageTrainingArguments, report_quietly
from .callbacks import EpochNegativesCallback
from .cf import user_representations


logger = logging.getLogger(__name__)

# Below this ratio of text-latent to item-latent spread across the catalog the text path is treated as collapsed
# (a frozen or top-layer MiniLM gives 0.4-0.7 on Scientific, a collapsed one 0.0).
COLLAPSED_TEXT_SPREAD = 0.01


TRAINING_ITEMS = ("last", "all")


def catalog_texts(model: ALLMRecAlignerModel, dataset: PreparedDataset) -> list[str]:
    """The text of every item as the config writes it; index 0 (padding) is empty."""
    missing = sorted(set(model.config.text_template_fields) - set(dataset.items.column_names))
    if missing:
        raise ValueError(f"text_template {model.config.text_template!r} reads {missing}, which the item table lacks")
    columns = {name: dataset.items[name] for name in model.config.text_template_fields}
    return [""] + [
        model.config.item_text({name: values[i] for name, values in columns.items()}) for i in range(dataset.num_items)
    ]


def tokenize_catalog(tokenizer, texts: list[str], max_length: int) -> tuple[torch.LongTensor, torch.LongTensor]:
    """Tokenise every item text once: right-padded ``(items, max_length)`` ids and the real length of each row."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding="max_length", return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"].sum(1)


def aligner_training_rows(cf_backbone, split, training_items: str = "last") -> tuple[TensorRows, torch.LongTensor]:
    """One row per (user, next item) pair with ``x_u`` precomputed: the last training item of each user by default
    (paper), or every item after the first (``training_items="all"``, section 5.4.2)."""
    if training_items not in TRAINING_ITEMS:
        raise ValueError(f"training_items must be one of {TRAINING_ITEMS}, got {training_items!r}")
    sequences = training_sequences(split)
    length = cf_backbone.config.max_sequence_length
    inputs = pad([sequence[:-1] for sequence in sequences], 0, "left", length)
    positives = pad([sequence[1:] for sequence in sequences], 0, "left", length)
    if training_items == "last":
        users = user_representations(
            cf_backbone, {"history": [s[:-1] for s in sequences], "user_id": split["user_id"]}
        )
        rows = TensorRows(user_representations=users, positive_ids=positives[:, -1], row=torch.arange(len(sequences)))
    else:
        cf_backbone.eval()
        with torch.no_grad():
            states = torch.cat(
                [
                    cf_backbone.sequence_representations(
                        inputs[start : start + 512], torch.tensor(split["user_id"][start : start + 512])
                    )
                    for start in range(0, len(inputs), 512)
                ]
            )
        real = positives != 0
        rows = TensorRows(
            user_representations=states[real],
            positive_ids=positives[real],
            row=torch.arange(len(sequences)).unsqueeze(1).expand_as(positives)[real],
        )
    return rows, interaction_keys(sequences, cf_backbone.config.num_items)


@dataclass
class AlignerTrainingArguments(StageTrainingArguments):
    """`TrainingArguments` with the paper's stage-1 defaults: Adam (lr 1e-4, betas 0.9/0.98), batch 32, 10 epochs,
    a checkpoint at most once per epoch; the LLM-free scorers are validated every epoch (the last epoch is kept, as
    in the paper, unless ``load_best_model_at_end`` with a ``metric_for_best_model``)."""

    num_train_epochs: float = field(default=10.0)
    learning_rate: float = field(default=1e-4)
    per_device_train_batch_size: int = field(default=32)
    eval_strategy: IntervalStrategy | str = field(default="epoch")
    logging_steps: float = field(default=50)
    sentence_encoder_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate of the sentence encoder when it should differ from --learning_rate (which then "
            "drives the autoencoders, trained from scratch). Default: one rate for all, as the paper.",
            "aliases": ["--text_encoder_learning_rate"],
        },
    )
    training_items: str = field(
        default="last",
        metadata={
            "help": "Train on each user's last item (paper) or on all items (section 5.4.2).",
            "choices": list(TRAINING_ITEMS),
        },
    )

    def __post_init__(self):
        super().__post_init__()
        # TrainingArguments falls back to "loss", which stage-1 validation does not report: the run would fail
        # only after its first epoch.
        if self.load_best_model_at_end and self.metric_for_best_model in ("loss", "eval_loss"):
            raise ValueError(
                "load_best_model_at_end needs --metric_for_best_model: a key of the stage-1 validation, e.g. "
                "hit@1, ndcg@10 (joint scorer) or text_hit@1, text_hit@1_cold (text path)"
            )


class AlignerTrainer(Trainer):
    """`Trainer` for stage 1.

    Its optimizer gives the sentence encoder its own learning rate (``sentence_encoder_learning_rate``): the
    autoencoders start from scratch and take a large rate, while a pre-trained encoder driven at that rate loses what
    it knew (fully fine-tuned MiniLM at 1e-3 mapped every text to the same embedding within two epochs).

    Its evaluation is the LLM-free scorers of `evaluate_aligner` on the validation split's stored candidates, after
    re-encoding the catalog with the current weights, so ``--eval_strategy epoch`` with ``--load_best_model_at_end
    --metric_for_best_model text_hit@1`` keeps the best epoch (any joint-scorer key such as ``hit@1``, ``ndcg@10``,
    ``hit@1_cold`` or its ``text_`` counterpart). ``validation_seconds`` adds up the time spent validating.
    """

    def __init__(self, *args, dataset: PreparedDataset, catalog, item_has_interactions, **kwargs):
        super().__init__(*args, eval_dataset=dataset.splits["validation"], **kwargs)
        self.dataset = dataset
        self.catalog = catalog
        self.item_has_interactions = item_has_interactions
        self.validation_seconds = 0.0

    def create_optimizer(self, model=None):
        supplied = self.optimizer is not None
        optimizer = super().create_optimizer(model)
        rate = self.args.sentence_encoder_learning_rate
        if rate is None or any(group.get("sentence_encoder") for group in optimizer.param_groups):
            return optimizer
        if supplied:
            raise ValueError("sentence_encoder_learning_rate cannot regroup an optimizer passed to the Trainer")
        encoder = {id(p) for p in self.accelerator.unwrap_model(model or self.model).sentence_encoder.parameters()}
        groups = []
        for group in optimizer.param_groups:
            settings = {key: value for key, value in group.items() if key != "params"}
            others = [p for p in group["params"] if id(p) not in encoder]
            moved = [p for p in group["params"] if id(p) in encoder]
            groups += [{**settings, "params": others}] if others else []
            groups += [{**settings, "params": moved, "lr": rate, "sentence_encoder": True}] if moved else []
        # The optimizer was built just now: no step has run and no scheduler has read its groups yet.
        optimizer.param_groups[:] = groups
        return optimizer

    def train(self, *args, **kwargs):
        """Train, then store what later stages read from the model (the catalog's ``e_i`` and ``q_i``, the mean
        training user), so that a model trained by this Trainer alone is complete."""
        output = super().train(*args, **kwargs)
        model = self.refresh_catalog()
        model.mean_user_representation.copy_(self.train_dataset.columns["user_representations"].mean(0))
        return output

    def refresh_catalog(self) -> ALLMRecAlignerModel:
        """Store ``e_i`` and ``q_i`` of every catalog item computed with the current weights; returns the model."""
        model = self.accelerator.unwrap_model(self.model)
        model.refresh_catalog(
            *self.catalog,
            item_has_interactions=self.item_has_interactions,
            text_embeddings=self.data_collator.frozen_text_embeddings,
        )
        return model

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        if eval_dataset is not None:
            raise ValueError("stage 1 validates on its dataset's validation split; eval_dataset cannot replace it")
        started = time.perf_counter()
        metrics = evaluate_aligner(self.refresh_catalog(), self.dataset, "validation", include_cf=False)
        self.validation_seconds += time.perf_counter() - started
        metrics = {f"{metric_key_prefix}_{key}": value for key, value in metrics.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def build_aligner_trainer(
    model: ALLMRecAlignerModel,
    dataset: PreparedDataset,
    tokenizer,
    args: AlignerTrainingArguments,
    train_split: str = "train",
) -> AlignerTrainer:
    """A Trainer for stage 1 on ``train_split``, validated on the stored validation candidates."""
    rows, keys = aligner_training_rows(model.cf_backbone, dataset.splits[train_split], args.training_items)
    catalog = tokenize_catalog(tokenizer, catalog_texts(model, dataset), model.config.max_text_length)
    negatives = EpochNegatives(dataset.num_items, keys, int(rows.columns["row"].max()) + 1, 1, seed=args.seed + 1)
    negative_texts = model.config.aligns_negatives
    if model.config.sentence_encoder_training == "frozen":
        frozen = model.encode_catalog_texts(*catalog).cpu()
        collator = AlignerCollator(negatives, frozen_text_embeddings=frozen, negative_texts=negative_texts)
    else:
        collator = AlignerCollator(negatives, *catalog, negative_texts=negative_texts)
    return report_quietly(
        AlignerTrainer(
            model=model,
            args=args,
            train_dataset=rows,
            data_collator=collator,
            callbacks=[EpochNegativesCallback(negatives)],
            dataset=dataset,
            catalog=catalog,
            item_has_interactions=trained_items(dataset, train_split),
        )
    )


def evaluate_aligner(
    model: ALLMRecAlignerModel,
    dataset: PreparedDataset,
    split: str = "test",
    include_cf: bool = True,
    max_users: int | None = None,
    per_user: bool = False,
) -> dict:
    """The stage-1 scorers on a split's stored candidates: the joint scorer (keys without prefix), the text path
    (``text_`` keys) and, with ``include_cf``, the frozen CF backbone itself (``cf_`` keys), each with cold/warm
    Hit@1; ``max_users``: the fixed seeded subset of `PreparedDataset.sample_rows`; ``per_user``: each user's Hit@1
    and NDCG@10 too."""
    rows = dataset.sample_rows(split, max_users)
    users = rows["user_id"] if per_user else None
    representations = user_representations(model.cf_backbone, rows).to(model.device)
    candidates = torch.tensor(rows["candidates"], device=model.device)
    targets = rows["target"]
    results = {}
    for prefix, path in (("", "joint"), ("text_", "text")):
        scores = model.score_candidates(representations, candidates, path)
        results.update(
            protocol_metrics(scores, candidates, targets, dataset.popularity, prefix=prefix, user_ids=users)
        )
    if not include_cf:
        return results
    with torch.no_grad():
        cf_scores = torch.einsum("bd,bcd->bc", representations, model.cf_backbone.item_embeddings()[candidates])
    results.update(protocol_metrics(cf_scores, candidates, targets, dataset.popularity, prefix="cf_", user_ids=users))
    return results


def trained_items(dataset: PreparedDataset, split: str) -> np.ndarray:
    """Which items a training split holds (the others have no interactions and use the text path)."""
    present = np.zeros(dataset.num_items + 1, dtype=bool)
    present[np.concatenate([np.asarray(s) for s in training_sequences(dataset.splits[split])])] = True
    return present
