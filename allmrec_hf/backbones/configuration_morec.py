"""MoRec configuration."""

from ..configuration_aligner import ALIGNER_PRESETS
from ..configuration_utils import checked_types
from .configuration_item_text import ItemTextConfigMixin
from .configuration_sasrec import SASRecConfig


class MoRecConfig(ItemTextConfigMixin, SASRecConfig):
    """Configuration of `MoRecModel` (Yuan et al., SIGIR 2023): SASRec whose item embeddings are written from item
    text by a sentence encoder and an adapter. Every SASRec field applies (see `SASRecConfig`).

    Args:
        num_items (`int`): Catalog size (ids 1..num_items; 0 is padding).
        adapter_hidden_size (`int`, *optional*, defaults to 256):
            Width of the adapter's hidden layer (Linear, GELU, Linear from the sentence embedding to ``hidden_size``);
            0 makes the adapter one Linear layer, MoRec's dense projection.
        sentence_encoder_config (`PreTrainedConfig` or `dict`): Config of the sentence encoder's transformer.
        sentence_encoder_modules (`list[dict]`): The sentence-transformers modules after the transformer.
        sentence_encoder_name_or_path (`str`, *optional*): Where the sentence encoder came from.
        sentence_encoder_training (`str`, *optional*, defaults to `"frozen"`):
            ``"frozen"``: the catalog's sentence embeddings are computed once and only the adapter and SASRec train
            (cheap on a CPU); ``"top_layers"`` / ``"full"``: the encoder trains end to end too, as in the MoRec
            paper (every step encodes the batch's distinct items: a GPU setting).
        sentence_encoder_trainable_layers (`int`, *optional*, defaults to 0): Layers trained with ``"top_layers"``.
        max_text_length (`int`, *optional*, defaults to 128): Tokens of an item's text the encoder reads.
        text_template (`str`, *optional*, defaults to `"Title: {title}, Description: {description}"`):
            An item's text, as A-LLMRec's stage 1 writes it for the same encoder.
        missing_title / missing_description (`str`): Written in place of an empty title / description.
    """

    model_type = "morec"

    @checked_types
    def __init__(
        self,
        num_items: int = 1,
        adapter_hidden_size: int = 256,
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
        if adapter_hidden_size < 0:
            raise ValueError(f"adapter_hidden_size must be >= 0 (0: one linear layer), got {adapter_hidden_size}")
        self.adapter_hidden_size = adapter_hidden_size
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
