"""RECFORMER configuration."""

from ..backbones.configuration_ctrl import TRAINING_STAGES
from ..backbones.configuration_item_text import ItemTextConfigMixin
from ..backbones.modeling_recommender import CFBackboneConfig
from ..configuration_utils import checked_types


# RECFORMER writes an item as its attributes' key-value pairs (Li et al., 2023b: title, brand, category).
KEY_VALUE_ATTRIBUTES = ("title", "brand", "categories")


def key_value_template(item_fields) -> str:
    """RECFORMER's key-value sentence over the attributes an item table has (Beauty 2014 has titles only): an
    attribute the catalog lacks is left out, as RECFORMER leaves out the attributes an item lacks."""
    attributes = [name for name in KEY_VALUE_ATTRIBUTES if name in item_fields]
    if not attributes:
        raise ValueError(f"the item table has none of RECFORMER's attributes {list(KEY_VALUE_ATTRIBUTES)}")
    return ", ".join(f"{name}: {{{name}}}" for name in attributes)


KEY_VALUE_TEMPLATE = key_value_template(KEY_VALUE_ATTRIBUTES)


class RecformerConfig(ItemTextConfigMixin, CFBackboneConfig):
    """Configuration of `RecformerModel` (Li et al., "Text Is All You Need: Learning Language Representations for
    Sequential Recommendation", KDD 2023): items as key-value sentences, a user as the sentence of their items, one
    language model encoding both.

    Args:
        num_items (`int`): Catalog size (ids 1..num_items; 0 is padding).
        hidden_size (`int`, *optional*, defaults to 384): Width of user and item representations: the sentence
            encoder's own (`RecformerModel.from_sentence_transformer` sets it; 384 for all-MiniLM-L6-v2).
        max_sequence_length (`int`, *optional*, defaults to 50): Most recent items a user's sentence may hold.
        training_stage (`str`, *optional*, defaults to `"finetune"`):
            What ``forward`` trains: ``"pretrain"``, InfoNCE of each user's sentence against the sentences of the
            batch's next items, both encoded with gradients; ``"finetune"``, InfoNCE of each user's sentence against
            every catalog item, whose embeddings are re-encoded once per epoch (RECFORMER's fine-tuning).
        contrastive_temperature (`float`, *optional*, defaults to 0.05): Temperature of the cosine similarities.
        max_user_text_length (`int`, *optional*, defaults to 128): Tokens of a user's sentence (most recent items
            first, so the oldest are cut).
        max_text_length (`int`, *optional*, defaults to 32): Tokens of an item's sentence.
        text_template (`str`, *optional*, defaults to `"title: {title}, brand: {brand}, categories: {categories}"`):
            An item's key-value sentence; any item-table field may appear in braces.
        sentence_encoder_training (`str`, *optional*, defaults to `"full"`):
            ``"full"`` or ``"top_layers"`` (RECFORMER is its encoder: a frozen one would leave nothing to train).
        sentence_encoder_config, sentence_encoder_modules, sentence_encoder_name_or_path,
        sentence_encoder_trainable_layers, missing_title, missing_description: The item-text fields of `MoRecConfig`.

    ``dropout`` (a field of every backbone) is not read: the encoder's own dropout applies.
    """

    model_type = "recformer"

    @checked_types
    def __init__(
        self,
        num_items: int = 1,
        hidden_size: int = 384,
        max_sequence_length: int = 50,
        training_stage: str = "finetune",
        contrastive_temperature: float = 0.05,
        max_user_text_length: int = 128,
        sentence_encoder_config=None,
        sentence_encoder_modules=None,
        sentence_encoder_name_or_path: str | None = None,
        sentence_encoder_training: str = "full",
        sentence_encoder_trainable_layers: int = 0,
        max_text_length: int = 32,
        text_template: str = KEY_VALUE_TEMPLATE,
        missing_title: str = "No Title",
        missing_description: str = "Empty description",
        **kwargs,
    ):
        if training_stage not in TRAINING_STAGES:
            raise ValueError(f"training_stage must be one of {TRAINING_STAGES}, got {training_stage!r}")
        if contrastive_temperature <= 0:
            raise ValueError(f"contrastive_temperature must be positive, got {contrastive_temperature}")
        if sentence_encoder_training == "frozen":
            raise ValueError(
                "sentence_encoder_training must be 'full' or 'top_layers' for RECFORMER, got 'frozen': the encoder "
                "is the whole model, so a frozen one leaves nothing to train"
            )
        if max_user_text_length < 2:
            raise ValueError(f"max_user_text_length must be at least 2, got {max_user_text_length}")
        self.training_stage = training_stage
        self.contrastive_temperature = contrastive_temperature
        self.max_user_text_length = max_user_text_length
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
        super().__init__(
            num_items=num_items, hidden_size=hidden_size, max_sequence_length=max_sequence_length, **kwargs
        )
