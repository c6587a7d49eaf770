"""RECFORMER (Li et al., "Text Is All You Need: Learning Language Representations for Sequential Recommendation", KDD
2023): items as key-value sentences, a user as the sentence of their items, one language model encoding both, and
next-item prediction as matching a user's sentence to an item's.

What differs from the original, which extends Longformer (4096 positions; the A-LLMRec paper uses it):

- The encoder is a sentence encoder that installs offline (all-MiniLM-L6-v2 by default, 512 positions), pooled as it
  was trained (mean pooling, normalised) rather than by the first token. A user's sentence holds
  ``max_user_text_length`` tokens (128: the most recent items, each cut to ``max_text_length`` = 32 tokens) instead of
  1,024, so that an epoch fits a 2-core CPU.
- Tokens carry BERT's own positions only: RECFORMER's extra token-type (key/value) and item-position embeddings are
  left out, so the encoder keeps the inputs it was pre-trained on. Item sentences are joined with the separator token.
- Pre-training is the item-item contrastive task alone, on the training data (user sentence against the sentences of
  the batch's next items, in-batch negatives); the masked-language-model task and RECFORMER's multi-domain
  pre-training corpus are left out (the encoder is already a pre-trained language model).
- Fine-tuning is RECFORMER's first fine-tuning stage: InfoNCE against every catalog item, with the item embeddings
  re-encoded once per epoch (after every epoch, by the Trainer); its second stage (a frozen item table) is that same
  loss with the table no longer refreshed. Each user gives one training row per epoch: the last training item.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..backbones.modeling_item_text import ItemTextCatalog, ItemTextModelMixin, info_nce
from ..backbones.modeling_recommender import CFBackbonePreTrainedModel, RecommenderOutput
from .configuration_recformer import RecformerConfig


# Users encoded per batch when many are scored at once (evaluation batches hold up to 1,024 users).
ENCODING_BATCH_SIZE = 128


class RecformerPreTrainedModel(CFBackbonePreTrainedModel):
    config_class = RecformerConfig
    base_model_prefix = "recformer"


class RecformerModel(ItemTextModelMixin, RecformerPreTrainedModel):
    """RECFORMER with the CF backbone interface: ``E_i`` is the normalised embedding of item ``i``'s sentence and
    ``x_u`` the normalised embedding of the user's sentence divided by the temperature, so ``x_u · E_i`` is the
    cosine similarity RECFORMER ranks by (over the temperature).

    Build one with `from_sentence_transformer` and fill its catalog with `set_catalog`; load a trained one with
    ``AutoModel.from_pretrained`` (its tokenizer is saved beside it). ``config.training_stage`` says what ``forward``
    trains.
    """

    def __init__(self, config: RecformerConfig):
        super().__init__(config)
        self.text_catalog = ItemTextCatalog(config)
        if self.text_catalog.embedding_size != config.hidden_size:
            raise ValueError(
                f"hidden_size is {config.hidden_size} but the sentence encoder embeds at "
                f"{self.text_catalog.embedding_size}: RECFORMER scores in the encoder's own space"
            )
        self.post_init()
        self.text_catalog.sentence_encoder.set_trainable(
            config.sentence_encoder_training, config.sentence_encoder_trainable_layers
        )

    @classmethod
    def from_sentence_transformer(cls, sentence_transformer, **config_kwargs):
        """A new RECFORMER on a loaded sentence-transformers model; ``hidden_size`` is the encoder's width, and user
        sentences, like item sentences, are capped at the encoder's ``max_seq_length``."""
        # sentence-transformers 6.3 renamed get_sentence_embedding_dimension.
        width = getattr(sentence_transformer, "get_embedding_dimension", None)
        config_kwargs["hidden_size"] = int((width or sentence_transformer.get_sentence_embedding_dimension)())
        model = super().from_sentence_transformer(sentence_transformer, **config_kwargs)
        config = model.config
        config.max_user_text_length = min(config.max_user_text_length, int(sentence_transformer.max_seq_length))
        return model

    def set_catalog(self, input_ids: torch.LongTensor, lengths: torch.LongTensor) -> None:
        # User sentences are item sentences joined by their own start and end tokens, which the empty text of the
        # padding row shows.
        if int(lengths[0]) != 2:
            raise ValueError(
                "RECFORMER joins item sentences by their start and end tokens: the sentence encoder's tokenizer must "
                f"write the empty text (catalog row 0) as those two tokens, got {int(lengths[0])} tokens"
            )
        super().set_catalog(input_ids, lengths)

    def text_to_items(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(text_embeddings, dim=-1)

    def item_embeddings(self) -> torch.Tensor:
        return self.text_to_items(self.text_catalog.table())

    def user_sentences(self, input_ids: torch.LongTensor) -> tuple[torch.LongTensor, torch.LongTensor]:
        """Token rows of the users' sentences and their lengths: the start token, then the items of the history
        window, most recent first, each as its sentence's tokens after its start token (so each ends with the end
        token), cut at ``max_user_text_length`` tokens; right-padded with 0."""
        catalog = self.text_catalog
        items = input_ids[:, -self.config.max_sequence_length :].flip(1)
        pieces = (catalog.lengths[items] - 1).clamp(min=0) * (items != 0)
        ends = pieces.cumsum(1)
        width = min(int(ends[:, -1].max()) + 1, self.config.max_user_text_length)
        lengths = 1 + ends[:, -1].clamp(max=width - 1)
        positions = torch.arange(width - 1, device=items.device).expand(len(items), -1).contiguous()
        # Position p of a row reads the first item whose pieces end after p, at p's offset within that item.
        piece = torch.searchsorted(ends, positions, right=True).clamp(max=items.shape[1] - 1)
        offset = positions - (ends.gather(1, piece) - pieces.gather(1, piece))
        tokens = catalog.input_ids[items.gather(1, piece), (1 + offset).clamp(0, catalog.input_ids.shape[1] - 1)]
        tokens = tokens * (positions < lengths[:, None] - 1)
        start = catalog.input_ids[0, :1].expand(len(items), 1)
        return torch.cat([start, tokens], 1), lengths

    def encode_users(self, input_ids: torch.LongTensor) -> torch.Tensor:
        """Sentence embeddings of the users' sentences (unnormalised), ``(batch, hidden_size)``."""
        tokens, lengths = self.user_sentences(input_ids)
        return torch.cat(
            [
                self.text_catalog.encode(rows, row_lengths)
                for rows, row_lengths in zip(tokens.split(ENCODING_BATCH_SIZE), lengths.split(ENCODING_BATCH_SIZE))
            ]
        )

    def user_representation(self, input_ids: torch.LongTensor, user_ids: torch.LongTensor | None = None):
        return F.normalize(self.encode_users(input_ids), dim=-1) / self.config.contrastive_temperature

    def sequence_representations(self, input_ids, user_ids=None):
        raise NotImplementedError(
            "RECFORMER reads a whole history as one sentence and has no representation per position: use "
            "user_representation"
        )

    def forward(
        self,
        input_ids: torch.LongTensor,
        user_ids: torch.LongTensor | None = None,
        positive_ids: torch.LongTensor | None = None,
        candidate_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs,
    ) -> RecommenderOutput:
        """Train (``positive_ids``) or score candidates (``candidate_ids``).

        Args:
            input_ids (`torch.LongTensor` of shape `(batch, length)`): Left-padded item histories.
            positive_ids (`torch.LongTensor` of shape `(batch,)`, *optional*): Each row's next item. The loss is
                InfoNCE at ``config.contrastive_temperature`` of the user's sentence against the distinct next items of the batch
                (``training_stage="pretrain"``, both sides encoded with gradients) or against every catalog item
                (``"finetune"``, the item embeddings stored at the last epoch's end).
            candidate_ids (`torch.LongTensor` of shape `(batch, num_candidates)`, *optional*): Items to score.
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*): Index of the target in ``candidate_ids``.
        """
        self.check_item_ids("input_ids", input_ids)
        if positive_ids is not None:
            self.check_item_ids("positive_ids", positive_ids)
            if positive_ids.dim() != 1:
                raise ValueError(
                    f"RECFORMER trains on one next item per row: positive_ids must be (batch,), got "
                    f"{tuple(positive_ids.shape)}"
                )
            if bool((positive_ids == 0).any()):
                raise ValueError("positive_ids holds padding (0): every training row needs its next item")
            users = self.encode_users(input_ids)
            if self.config.training_stage == "pretrain":
                items, targets = torch.unique(positive_ids, return_inverse=True)
                with self.text_catalog.encoding(items):
                    keys = self.text_catalog.table()[items]
            else:
                keys, targets = self.text_catalog.table()[1:], positive_ids - 1
            return RecommenderOutput(loss=info_nce(users, keys, self.config.contrastive_temperature, targets))
        if candidate_ids is None:
            raise ValueError("pass positive_ids to train, or candidate_ids to score")
        logits = self.score_candidates(input_ids, candidate_ids, user_ids)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return RecommenderOutput(loss=loss, logits=logits)
