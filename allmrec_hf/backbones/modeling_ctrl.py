"""CTRL (Li et al., "CTRL: Connect Collaborative and Language Model for CTR Prediction", 2023) over SASRec, as the
A-LLMRec paper uses it (appendix C): two stages, a contrastive pre-training that aligns the CF model with a sentence
encoder over the same users and items, then fine-tuning of the CF model alone for recommendation.

- Pre-training (``training_stage="pretrain"``): SASRec's user representation ``x_u`` is aligned with the sentence
  embeddings of the user's history, and each item's ID embedding ``E_i`` with its own sentence embedding, through one
  projection head per side and symmetric InfoNCE over the batch (CTRL's cross-modal contrastive objective).
- Fine-tuning (``"finetune"``): SASRec's next-item BCE from the pre-trained weights; the text side is not read.

Scoring is SASRec's (``x_u · E_i``), so items keep their ID rows. Items the training data never shows have no trained
row: a ridge-regression map from sentence embeddings to the trained rows, refitted after every epoch, writes theirs
(and a whole other catalog's, `with_catalog`). CTRL itself cannot embed unseen items; this map is what lets it enter
the cold-item and cross-domain scenarios at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

from .configuration_ctrl import CTRLRecConfig
from .modeling_item_text import ItemTextCatalog, ItemTextModelMixin, symmetric_info_nce
from .modeling_sasrec import SASRecModel


@dataclass
class CTRLPretrainingOutput(ModelOutput):
    """Output of CTRL's pre-training ``forward``: ``loss = user_alignment_weight * user_alignment_loss +
    item_alignment_weight * item_alignment_loss``, each a symmetric InfoNCE over the batch."""

    loss: torch.FloatTensor | None = None
    user_alignment_loss: torch.FloatTensor | None = None
    item_alignment_loss: torch.FloatTensor | None = None


class CTRLItemEmbedding(nn.Module):
    """SASRec's ID table, except for the items the training data never shows: those are written from their text by
    the linear map fitted to the trained rows (`fit_text_mapping`). Read as SASRec reads its table:
    ``module(item_ids)`` and ``module.weight``."""

    def __init__(self, config: CTRLRecConfig):
        super().__init__()
        self.embedding = nn.Embedding(config.num_items + 1, config.hidden_size, padding_idx=0)
        self.text_catalog = ItemTextCatalog(config)
        # Every item has a trained row until the training items are registered (as a plain SASRec).
        self.register_buffer("item_has_interactions", torch.ones(config.num_items + 1, dtype=torch.bool))
        # The map from sentence embeddings to item embeddings: weights, then the bias as the last row.
        self.register_buffer("text_mapping", torch.zeros(self.text_catalog.embedding_size + 1, config.hidden_size))

    def mapped(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        return text_embeddings @ self.text_mapping[:-1] + self.text_mapping[-1]

    def forward(self, item_ids: torch.LongTensor) -> torch.Tensor:
        trained = self.item_has_interactions[item_ids].unsqueeze(-1)
        return torch.where(trained, self.embedding(item_ids), self.mapped(self.text_catalog.table()[item_ids]))

    @property
    def weight(self) -> torch.Tensor:
        """The whole table ``(num_items + 1, hidden_size)``."""
        return self(torch.arange(len(self.item_has_interactions), device=self.item_has_interactions.device))

    @torch.no_grad()
    def fit_text_mapping(self, ridge: float) -> None:
        """Fit the map to the trained rows by ridge regression (the bias unpenalised), in float64."""
        rows = self.item_has_interactions.clone()
        rows[0] = False
        if not rows.any():
            return
        texts = self.text_catalog.embeddings[rows].double()
        inputs = torch.cat([texts, torch.ones_like(texts[:, :1])], 1)
        targets = self.embedding.weight[rows].double()
        penalty = ridge * torch.eye(inputs.shape[1], dtype=inputs.dtype, device=inputs.device)
        penalty[-1, -1] = 0
        solution = torch.linalg.solve(inputs.T @ inputs + penalty, inputs.T @ targets)
        self.text_mapping.copy_(solution.to(self.text_mapping.dtype))


class CTRLRecModel(ItemTextModelMixin, SASRecModel):
    """CTRL over SASRec. Build one with `from_sentence_transformer` and `set_catalog`; ``config.training_stage`` says
    what ``forward`` trains (``"pretrain"``: the contrastive alignment; ``"finetune"``: SASRec's BCE). Load a trained
    one with ``AutoModel.from_pretrained`` (its tokenizer is saved beside it)."""

    config_class = CTRLRecConfig
    base_model_prefix = "ctrl_rec"
    per_item_state = (*ItemTextModelMixin.per_item_state, "item_embedding.embedding.weight", "item_has_interactions")

    def __init__(self, config: CTRLRecConfig):
        super().__init__(config)
        # SASRec's blocks stay; its ID table moves into the embedding that also writes unseen items from text.
        self.item_embedding = CTRLItemEmbedding(config)
        self.cf_projection = nn.Linear(config.hidden_size, config.projection_size)
        self.text_projection = nn.Linear(self.text_catalog.embedding_size, config.projection_size)
        self.post_init_text()

    def text_to_items(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        return self.item_embedding.mapped(text_embeddings)

    def register_training_items(self, item_ids: torch.LongTensor) -> None:
        """The items of ``item_ids`` keep their ID rows; every other item is written from its text."""
        trained = torch.zeros_like(self.item_embedding.item_has_interactions)
        trained[torch.as_tensor(item_ids, dtype=torch.long, device=trained.device)] = True
        trained[0] = True  # padding keeps its zero row
        self.item_embedding.item_has_interactions.copy_(trained)

    def refresh_catalog(self) -> None:
        """Re-encode the catalog when the encoder trains, then refit the text map to the current ID rows."""
        super().refresh_catalog()
        self.item_embedding.fit_text_mapping(self.config.text_mapping_ridge)

    def forward(
        self,
        input_ids: torch.LongTensor,
        user_ids: torch.LongTensor | None = None,
        positive_ids: torch.LongTensor | None = None,
        negative_ids: torch.LongTensor | None = None,
        candidate_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs,
    ):
        """Pre-training loss (`alignment`) when ``config.training_stage`` is ``"pretrain"`` and ``positive_ids`` are
        given; otherwise SASRec's forward (BCE training or candidate scoring)."""
        if positive_ids is not None and self.config.training_stage == "pretrain":
            return self.alignment(input_ids, positive_ids, user_ids)
        return super().forward(input_ids, user_ids, positive_ids, negative_ids, candidate_ids, labels, **kwargs)

    def alignment(
        self, input_ids: torch.LongTensor, positive_ids: torch.LongTensor, user_ids: torch.LongTensor | None = None
    ) -> CTRLPretrainingOutput:
        """CTRL's contrastive pre-training on a batch of training rows.

        Users: ``x_u`` (the representation after the last input item) against the mean sentence embedding of the
        input items (users without history are left out). Items: the ID embedding of each distinct next item of the
        batch against its sentence embedding. Both sides go through their projection head; each pair of sets is
        scored by symmetric InfoNCE at ``config.contrastive_temperature``.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch, length)`): Left-padded item histories.
            positive_ids (`torch.LongTensor` of shape `(batch, length)`): The next item at every position (0: none).
        """
        self.check_item_ids("input_ids", input_ids)
        self.check_item_ids("positive_ids", positive_ids)
        config = self.config
        items = torch.unique(positive_ids[positive_ids != 0])
        with self.text_catalog.encoding(torch.cat([items, input_ids.flatten()])):
            texts = self.text_catalog.table()
            users = self.sequence_representations(input_ids, user_ids)[:, -1]
            real = (input_ids != 0).unsqueeze(-1)
            history_texts = (texts[input_ids] * real).sum(1) / real.sum(1).clamp(min=1)
            with_history = input_ids[:, -1] != 0
            if with_history.any():
                user_loss = symmetric_info_nce(
                    self.cf_projection(users[with_history]),
                    self.text_projection(history_texts[with_history]),
                    config.contrastive_temperature,
                )
            else:  # a batch of users without history aligns items only
                user_loss = users.sum() * 0.0
            item_loss = symmetric_info_nce(
                self.cf_projection(self.item_embedding(items)),
                self.text_projection(texts[items]),
                config.contrastive_temperature,
            )
        loss = config.user_alignment_weight * user_loss + config.item_alignment_weight * item_loss
        return CTRLPretrainingOutput(
            loss=loss, user_alignment_loss=user_loss.detach(), item_alignment_loss=item_loss.detach()
        )
