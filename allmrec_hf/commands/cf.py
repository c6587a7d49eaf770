"""`examples/train_cf.py`: train a collaborative-filtering backbone and score it on the stored candidates."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from ..backbones import BACKBONES
from ..training.cf import CFTrainingArguments, build_backbone_trainer, evaluate_backbone
from .run import Built, run_stage, with_cold_users


logger = logging.getLogger(__name__)


@dataclass
class BackboneArguments:
    """What to train: the data, the backbone and its size (every other config field through ``config_overrides``)."""

    _argument_group_name = "CF backbone"

    data_dir: str = field(default=None, metadata={"help": "A prepared dataset (examples/prepare_data.py)."})
    backbone: str = field(default="sasrec", metadata={"help": "CF model to train.", "choices": list(BACKBONES)})
    hidden_size: int = field(default=50, metadata={"help": "Width d of E and x_u (50 in the paper)."})
    max_sequence_length: int = field(default=50, metadata={"help": "Most recent items read per user."})
    dropout: float | None = field(default=None, metadata={"help": "Dropout rate (default: the backbone's own)."})
    config_overrides: str | None = field(
        default=None, metadata={"help": "Other config fields as JSON, e.g. '{\"num_blocks\": 3}'."}
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on (e.g. few_shot_128)."})
    full_catalog: bool = field(default=False, metadata={"help": "Also rank the whole catalog (unsampled metrics)."})
    keep_checkpoints: bool = field(default=False, metadata={"help": "Keep Trainer's resumable checkpoints."})


def best_epoch(state) -> float | None:
    """The epoch of the best validation score (None without validation)."""
    if state.best_global_step is None:
        return None
    return round(state.best_global_step * state.num_train_epochs / state.max_steps, 2)


def build_backbone(args: BackboneArguments, training_args: CFTrainingArguments, dataset) -> Built:
    config_class, model_class = BACKBONES[args.backbone]
    options = {"hidden_size": args.hidden_size, "max_sequence_length": args.max_sequence_length}
    if args.dropout is not None:
        options["dropout"] = args.dropout
    options.update(json.loads(args.config_overrides or "{}"))
    config = config_class(num_items=dataset.num_items, num_users=dataset.report["num_users"], **options)
    model = model_class(config)
    logger.info("training %s (%d parameters) on %s", args.backbone, model.num_parameters(), args.data_dir)
    return Built(model, build_backbone_trainer(model, dataset, training_args, args.train_split))


def score_backbone(built: Built, args: BackboneArguments, training_args, dataset, seconds: float) -> dict:
    state = built.trainer.state
    results = with_cold_users(
        lambda split: evaluate_backbone(
            built.model, dataset, split, full_catalog=args.full_catalog and split == "test"
        ),
        dataset,
    )
    results.update(
        {
            "backbone": args.backbone,
            "train_split": args.train_split,
            f"best_validation_{training_args.metric_for_best_model}": state.best_metric,
            "best_epoch": best_epoch(state),
            "epochs": state.epoch,
            "train_seconds": round(seconds, 1),
            "seconds_per_epoch": round(seconds / max(state.epoch, 1e-9), 2),
        }
    )
    return results


def run_backbone_training(args: BackboneArguments, training_args: CFTrainingArguments) -> dict:
    """Train a backbone on ``args.data_dir``, score it on the test (and cold-user) candidates and write the model,
    ``eval_results.json`` and a model card to ``training_args.output_dir``; returns the results."""
    return run_stage(args, training_args, build_backbone, score_backbone)
