"""CTRL configuration."""

from ..configuration_aligner import ALIGNER_PRESETS
from ..configuration_utils import checked_types
from .configuration_item_text import ItemTextConfigMixin
from .configuration_sasrec import SASRecConfig


TRAINING_STAGES = ("pretrain", "finetune")


class CTRLRecConfig(ItemTextConfigMixin, SASRecConfig):
    """Configuration of `CTRLRecModel`, CTRL (Li et al., 2023) over SASRec: contrastive pre-training that aligns SASRec
    with a sentence encoder, then fine-tuning SASRec for recommendation. Every SASRec field applies (see
    `SASRecConfig`). The model type is ``ctrl_rec`` (``ctrl`` is transformers' CTRL language model).

    Args:
        num_items (`int`): Catalog size (ids 1..num_items; 0 is padding).
        training_stage (`str`, *optional*, defaults to `"finetune"`):
            What ``forward`` trains: ``"pretrain"``, the contrastive alignment of SASRec's users and items with their
            text; ``"finetune"``, SASRec's next-item BCE.
        projection_size (`int`, *optional*, defaults to 128): Width of the space where both sides are aligned.
        contrastive_temperature (`float`, *optional*, defaults to 0.1): Temperature of the InfoNCE losses.
        user_alignment_weight (`float`, *optional*, defaults to 1.0):
            Weight of the user-level alignment: ``x_u`` against the sentence embeddings of the user's history.
        item_alignment_weight (`float`, *optional*, defaults to 1.0):
            Weight of the item-level alignment: ``E_i`` against the item's sentence embedding.
        text_mapping_ridge (`float`, *optional*, defaults to 1.0):
            Ridge penalty of the linear map from sentence embeddings to trained item embeddings, fitted after every
            epoch; it writes the embeddings of items the training data never shows (and of another catalog's).
        sentence_encoder_training (`str`, *optional*, defaults to `"frozen"`):
            ``"frozen"``: the catalog's sentence embeddings are computed once; ``"top_layers"`` / ``"full"``: the
            encoder trains in pre-training too, as CTRL trains its language model (a GPU setting).
        sentence_encoder_config, sentence_encoder_modules, sentence_encoder_name_or_path,
        sentence_encoder_trainable_layers, max_text_length, text_template, missing_title, missing_description:
            The item-text fields of `MoRecConfig`.
    """

    model_type = "ctrl_rec"

    @checked_types
    def __init__(
        self,
        num_items: int = 1,
        training_stage: str = "finetune",
        projection_size: int = 128,
        contrastive_temperature: float = 0.1,
        user_alignment_weight: float = 1.0,
        item_alignment_weight: float = 1.0,
        text_mapping_ridge: float = 1.0,
        sentence_encoder_config=None,
        sentence_encoder_modules=None,
        sentence_encoder_name_or_path: str | None = None,
        sentence_encoder_training: str = "frozen",
        sentence_encoder_trainable_layers: int = 0,
        max_text_length: int = 128,
        text_template: str = ALIGNER_PRESETS["paper"]["text_template"],
        missing_title: str = "No Title",
        missing_description: str = "Empty description",
        **kwargs,
    ):
        if training_stage not in TRAINING_STAGES:
            raise ValueError(f"training_stage must be one of {TRAINING_STAGES}, got {training_stage!r}")
        if projection_size < 1:
            raise ValueError(f"projection_size must be positive, got {projection_size}")
        if contrastive_temperature <= 0:
            raise ValueError(f"contrastive_temperature must be positive, got {contrastive_temperature}")
        if min(user_alignment_weight, item_alignment_weight) < 0 or user_alignment_weight + item_alignment_weight == 0:
            raise ValueError(
                "user_alignment_weight and item_alignment_weight must be non-negative and not both 0, got "
                f"{user_alignment_weight} and {item_alignment_weight}"
            )
        if text_mapping_ridge <= 0:
            raise ValueError(f"text_mapping_ridge must be positive, got {text_mapping_ridge}")
        self.training_stage = training_stage
        self.projection_size = projection_size
        self.contrastive_temperature = contrastive_temperature
        self.user_alignment_weight = user_alignment_weight
        self.item_alignment_weight = item_alignment_weight
        self.text_mapping_ridge = text_mapping_ridge
        self.set_item_text_fields(
            sentence_encoder_config,
            sentence_encoder_modules,
            sentence_encoder_name_or_path,
            sentence_encoder_training,
            sentence_encoder_trainable_layers,
            max_text_length,
            text_template,
            missing_title,
            missing_description,
        )
        super().__init__(num_items=num_items, **kwargs)
