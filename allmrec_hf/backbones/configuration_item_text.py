"""The configuration fields of the models that read item text (MoRec, CTRL, RECFORMER): the sentence encoder that reads
it, whether it is trained, and how each item's text is written."""

from __future__ import annotations

from transformers import AutoConfig

from ..configuration_aligner import SENTENCE_ENCODER_TRAINING, sub_config, template_fields


class ItemTextConfigMixin:
    """Fields of a config whose model reads item text; `set_item_text_fields` validates and sets them.

    Args:
        sentence_encoder_config (`PreTrainedConfig` or `dict`): Config of the sentence encoder's transformer (set by
            the model's ``from_sentence_transformer``; None only in a config that builds no model).
        sentence_encoder_modules (`list[dict]`): The sentence-transformers modules after the transformer.
        sentence_encoder_name_or_path (`str`, *optional*): Where the sentence encoder came from (for model cards).
        sentence_encoder_training (`str`): ``"frozen"`` (the catalog is encoded once), ``"top_layers"`` (only the
            last ``sentence_encoder_trainable_layers`` layers train) or ``"full"``.
        sentence_encoder_trainable_layers (`int`): Layers trained with ``"top_layers"``.
        max_text_length (`int`): Tokens of an item's text the sentence encoder reads.
        text_template (`str`): How an item's text is written; any item-table field may appear in braces.
        missing_title / missing_description (`str`): Written in place of an empty title / description.
    """

    sub_configs = {"sentence_encoder_config": AutoConfig}

    def set_item_text_fields(
        self,
        sentence_encoder_config,
        sentence_encoder_modules,
        sentence_encoder_name_or_path: str | None,
        sentence_encoder_training: str,
        sentence_encoder_trainable_layers: int,
        max_text_length: int,
        text_template: str,
        missing_title: str,
        missing_description: str,
    ) -> None:
        if sentence_encoder_training not in SENTENCE_ENCODER_TRAINING:
            raise ValueError(
                f"sentence_encoder_training must be one of {SENTENCE_ENCODER_TRAINING}, got {sentence_encoder_training!r}"
            )
        if sentence_encoder_training == "top_layers" and sentence_encoder_trainable_layers < 1:
            raise ValueError("sentence_encoder_training='top_layers' needs sentence_encoder_trainable_layers >= 1")
        if max_text_length < 2:
            raise ValueError(f"max_text_length must be at least 2, got {max_text_length}")
        if not template_fields(text_template):
            raise ValueError(f"text_template {text_template!r} reads no item field")
        self.sentence_encoder_config = sub_config(sentence_encoder_config)
        self.sentence_encoder_modules = list(sentence_encoder_modules or [])
        self.sentence_encoder_name_or_path = sentence_encoder_name_or_path
        self.sentence_encoder_training = sentence_encoder_training
        self.sentence_encoder_trainable_layers = sentence_encoder_trainable_layers
        self.max_text_length = max_text_length
        self.text_template = text_template
        self.missing_title = missing_title
        self.missing_description = missing_description

    @property
    def text_template_fields(self) -> list[str]:
        return template_fields(self.text_template)

    def item_text(self, fields: dict[str, str]) -> str:
        """One item's text, empty title/description replaced by their placeholders."""
        values = dict(fields)
        values["title"] = values.get("title") or self.missing_title
        values["description"] = values.get("description") or self.missing_description
        return self.text_template.format(**values)
