"""MoRec (Yuan et al., "Where to Go Next for Recommender Systems? ID- vs. Modality-based Recommender Models Revisited",
SIGIR 2023) over SASRec, as the A-LLMRec paper uses it (appendix C): a pre-trained sentence encoder turns each item's
text into its embedding, which replaces SASRec's ID embedding table.

``E_i = adapter(sentence_encoder(text_i))`` feeds SASRec's input positions and scores its outputs (``x_u · E_i``), so
every item, one the model never saw included, is embedded from its text alone. The adapter and SASRec train with
SASRec's next-item BCE; the encoder is frozen by default (the catalog is encoded once, which a CPU affords) or trains
end to end (``sentence_encoder_training``), as the MoRec paper does.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .configuration_morec import MoRecConfig
from .modeling_item_text import ItemTextCatalog, ItemTextModelMixin
from .modeling_sasrec import SASRecModel


class MoRecAdapter(nn.Module):
    """From a sentence embedding to SASRec's item width: Linear, GELU, Linear (one Linear when
    ``adapter_hidden_size`` is 0)."""

    def __init__(self, text_size: int, config: MoRecConfig):
        super().__init__()
        if config.adapter_hidden_size:
            layers = [
                nn.Linear(text_size, config.adapter_hidden_size),
                nn.GELU(),
                nn.Linear(config.adapter_hidden_size, config.hidden_size),
            ]
        else:
            layers = [nn.Linear(text_size, config.hidden_size)]
        self.layers = nn.Sequential(*layers)

    def forward(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(text_embeddings)


class MoRecItemEmbedding(nn.Module):
    """SASRec's item embedding table written from text: ``adapter(sentence_encoder(text_i))`` for every item (row 0,
    padding, is zero). It stands where SASRec keeps its ID table and is read the same way, ``module(item_ids)`` and
    ``module.weight``, so SASRec's code runs unchanged over it."""

    def __init__(self, config: MoRecConfig):
        super().__init__()
        self.text_catalog = ItemTextCatalog(config)
        self.adapter = MoRecAdapter(self.text_catalog.embedding_size, config)
        self.step_table = None

    def compute_table(self) -> torch.Tensor:
        table = self.adapter(self.text_catalog.table())
        return torch.cat([torch.zeros_like(table[:1]), table[1:]])

    @property
    def weight(self) -> torch.Tensor:
        """The whole table ``(num_items + 1, hidden_size)``."""
        return self.step_table if self.step_table is not None else self.compute_table()

    def forward(self, item_ids: torch.LongTensor) -> torch.Tensor:
        return self.weight[item_ids]

    @contextmanager
    def one_table(self, item_ids: torch.LongTensor):
        """Within this block every lookup reads one table, computed once (the items of ``item_ids`` re-encoded when
        the encoder trains): a forward pass reads the table for its inputs and again for its outputs."""
        with self.text_catalog.encoding(item_ids):
            self.step_table = self.compute_table()
            try:
                yield
            finally:
                self.step_table = None


class MoRecModel(ItemTextModelMixin, SASRecModel):
    """MoRec as a backbone: SASRec over item embeddings written from item text.

    Build one with `from_sentence_transformer` and fill its catalog with `set_catalog`; load a trained one with
    ``AutoModel.from_pretrained`` (its tokenizer is saved beside it).

    Example:

    ```python
    >>> import torch
    >>> from transformers import AutoModel, AutoTokenizer
    >>> model = AutoModel.from_pretrained("runs/scientific-morec")
    >>> tokenizer = AutoTokenizer.from_pretrained("runs/scientific-morec")
    >>> user = model.user_representation(torch.tensor([[0, 0, 3, 17, 42]]))
    >>> new_item = model.embed_new_items([{"title": "Nitrile gloves, 100 pack", "description": ""}], tokenizer)
    >>> (user @ new_item.T).shape
    torch.Size([1, 1])
    ```
    """

    config_class = MoRecConfig
    base_model_prefix = "morec"

    def __init__(self, config: MoRecConfig):
        super().__init__(config)
        # SASRec's blocks stay; its ID table gives way to the table written from text.
        self.item_embedding = MoRecItemEmbedding(config)
        self.post_init_text()

    def text_to_items(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        return self.item_embedding.adapter(text_embeddings)

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
        """SASRec's forward (BCE training or candidate scoring, see `CFBackbonePreTrainedModel.forward`) over one item
        table for the whole pass."""
        read = {"input_ids": input_ids, "positive_ids": positive_ids, "negative_ids": negative_ids}
        read["candidate_ids"] = candidate_ids
        for name, ids in read.items():
            if ids is not None:
                self.check_item_ids(name, ids)
        with self.item_embedding.one_table(torch.cat([ids.flatten() for ids in read.values() if ids is not None])):
            return super().forward(input_ids, user_ids, positive_ids, negative_ids, candidate_ids, labels, **kwargs)
