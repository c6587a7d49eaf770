"""Configuration of stage 1 (paper section 4.1): the collaborative-text aligner."""

from __future__ import annotations

import copy
import string

from transformers import CONFIG_MAPPING, AutoConfig, PreTrainedConfig

from .configuration_utils import ConfigFileErrorsMixin, checked_types


# Where the paper and the reference implementation differ, both are offered (REFERENCE.md "Stage 1").
ALIGNER_PRESETS = {
    "paper": {
        "text_template": "Title: {title}, Description: {description}",
        "score": "dot",
        "alpha": 0.5,
        "beta": 0.2,
        "loss_aggregation": "positives",
    },
    "official": {
        "text_template": '"{title}, {description}"',
        "score": "mean",
        "alpha": 0.5,
        "beta": 0.2,
        "loss_aggregation": "sum",
    },
}
# Paper Table 11: alpha and beta per dataset (the official code hard-codes 0.5 / 0.2).
TABLE_11_COEFFICIENTS = {
    "movies_and_tv": (0.5, 0.5),
    "video_games": (0.5, 0.5),
    "beauty": (0.5, 0.2),
    "toys": (0.5, 0.2),
}
SENTENCE_ENCODER_TRAINING = ("full", "frozen", "top_layers")
LOSS_AGGREGATIONS = ("positives", "mean", "sum")


def sub_config(value, config_class=None):
    """A sub-config from a dict, or a copy of a config object: a composite config must never share a live model's
    config, because `PreTrainedConfig.__init__` sets attributes such as ``_attn_implementation`` recursively on
    its sub-configs (and would reset a loaded LLM's attention implementation)."""
    if isinstance(value, dict):
        return (config_class or CONFIG_MAPPING[value["model_type"]])(**value)
    return copy.deepcopy(value)


def template_fields(template: str) -> list[str]:
    """Names of the item-table fields a text template reads, e.g. ``["title", "description"]``."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


class ALLMRecAlignerConfig(ConfigFileErrorsMixin, PreTrainedConfig):
    """Configuration of `ALLMRecAlignerModel` (stage 1).

    Args:
        cf_config (`PreTrainedConfig` or `dict`): Config of the frozen CF backbone (SASRec, GRU4Rec, ...).
        sentence_encoder_config (`PreTrainedConfig` or `dict`): Config of the sentence encoder's transformer.
        sentence_encoder_modules (`list[dict]`): The sentence-transformers modules after the transformer.
        sentence_encoder_name_or_path (`str`): Where the sentence encoder came from (for model cards).
        max_text_length (`int`, *optional*, defaults to 128): Tokens of item text read by the sentence encoder.
        latent_size (`int`, *optional*, defaults to 128): Width ``d'`` of the joint embeddings ``e_i`` and ``q_i``.
        alpha (`float`, *optional*, defaults to 0.5): Weight of the item reconstruction loss (eq. 6).
        beta (`float`, *optional*, defaults to 0.2): Weight of the text reconstruction loss (eq. 6).
        text_template (`str`, *optional*, defaults to `"Title: {title}, Description: {description}"`):
            How an item's text is written for the sentence encoder; any item-table field may appear in braces.
        missing_title / missing_description (`str`): Written in place of an empty title / description.
        score (`str`, *optional*, defaults to `"dot"`):
            Recommendation logit of eq. 5: ``"dot"`` product (paper) or ``"mean"`` of the products (reference).
        loss_aggregation (`str`, *optional*, defaults to `"positives"`):
            Which items the matching and reconstruction MSEs cover: ``"positives"``, the users' next items only
            (paper eqs. 2-4, which average over the items of the users' sequences; the sentence encoder then reads
            half as many texts a step), the mean over the positive and negative items (``"mean"``), or the ``"sum"``
            of the MSE over the positives and the MSE over the negatives (reference).
        detach_text_target (`bool`, *optional*, defaults to `True`):
            The text reconstruction target ``Q_i`` carries no gradient into the sentence encoder (reference).
        sentence_encoder_training (`str`, *optional*, defaults to `"full"`):
            ``"full"`` fine-tunes the sentence encoder (paper), ``"frozen"`` keeps it fixed (Table 6 ablation),
            ``"top_layers"`` fine-tunes only its last ``sentence_encoder_trainable_layers`` layers.
        sentence_encoder_trainable_layers (`int`, *optional*, defaults to 0): Layers trained with ``"top_layers"``.
        use_matching_loss / use_reconstruction_losses / use_recommendation_loss (`bool`):
            Ablation switches of paper Table 6; all on by default.
        preset (`str`, *optional*): Name of the preset the settings came from (``"paper"`` or ``"official"``).
    """

    model_type = "allmrec_aligner"
    sub_configs = {"cf_config": AutoConfig, "sentence_encoder_config": AutoConfig}

    @checked_types
    def __init__(
        self,
        cf_config=None,
        sentence_encoder_config=None,
        sentence_encoder_modules=None,
        sentence_encoder_name_or_path: str | None = None,
        max_text_length: int = 128,
        latent_size: int = 128,
        alpha: float = 0.5,
        beta: float = 0.2,
        text_template: str = ALIGNER_PRESETS["paper"]["text_template"],
        missing_title: str = "No Title",
        missing_description: str = "Empty description",
        score: str = "dot",
        loss_aggregation: str = "positives",
        detach_text_target: bool = True,
        sentence_encoder_training: str = "full",
        sentence_encoder_trainable_layers: int = 0,
        use_matching_loss: bool = True,
        use_reconstruction_losses: bool = True,
        use_recommendation_loss: bool = True,
        preset: str | None = "paper",
        **kwargs,
    ):
        # Checkpoints saved before these fields were named after the sentence encoder they describe.
        sentence_encoder_training = kwargs.pop("text_encoder_training", sentence_encoder_training)
        sentence_encoder_trainable_layers = kwargs.pop(
            "text_encoder_trainable_layers", sentence_encoder_trainable_layers
        )
        if score not in ("dot", "mean"):
            raise ValueError(f"score must be 'dot' or 'mean', got {score!r}")
        if loss_aggregation not in LOSS_AGGREGATIONS:
            raise ValueError(f"loss_aggregation must be one of {LOSS_AGGREGATIONS}, got {loss_aggregation!r}")
        if sentence_encoder_training not in SENTENCE_ENCODER_TRAINING:
            raise ValueError(
                f"sentence_encoder_training must be one of {SENTENCE_ENCODER_TRAINING}, got {sentence_encoder_training!r}"
            )
        if sentence_encoder_training == "top_layers" and sentence_encoder_trainable_layers < 1:
            raise ValueError("sentence_encoder_training='top_layers' needs sentence_encoder_trainable_layers >= 1")
        if latent_size < 1 or max_text_length < 2:
            raise ValueError("latent_size must be positive and max_text_length at least 2")
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be non-negative, got {alpha} and {beta}")
        if not template_fields(text_template):
            raise ValueError(f"text_template {text_template!r} reads no item field")
        if not (use_matching_loss or use_reconstruction_losses or use_recommendation_loss):
            raise ValueError("at least one stage-1 loss must be on")
        self.cf_config = sub_config(cf_config)
        self.sentence_encoder_config = sub_config(sentence_encoder_config)
        self.sentence_encoder_modules = list(sentence_encoder_modules or [])
        self.sentence_encoder_name_or_path = sentence_encoder_name_or_path
        self.max_text_length = max_text_length
        self.latent_size = latent_size
        self.alpha = alpha
        self.beta = beta
        self.text_template = text_template
        self.missing_title = missing_title
        self.missing_description = missing_description
        self.score = score
        self.loss_aggregation = loss_aggregation
        self.detach_text_target = detach_text_target
        self.sentence_encoder_training = sentence_encoder_training
        self.sentence_encoder_trainable_layers = sentence_encoder_trainable_layers
        self.use_matching_loss = use_matching_loss
        self.use_reconstruction_losses = use_reconstruction_losses
        self.use_recommendation_loss = use_recommendation_loss
        self.preset = preset
        super().__init__(**kwargs)

    @property
    def aligns_negatives(self) -> bool:
        """Whether matching and reconstruction cover the negative items too (so their texts are encoded)."""
        return self.loss_aggregation != "positives"

    @property
    def text_template_fields(self) -> list[str]:
        return template_fields(self.text_template)

    def item_text(self, fields: dict[str, str]) -> str:
        """One item's text for the sentence encoder, empty title/description replaced by their placeholders."""
        values = dict(fields)
        values["title"] = values.get("title") or self.missing_title
        values["description"] = values.get("description") or self.missing_description
        return self.text_template.format(**values)
