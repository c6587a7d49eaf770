"""GRU4Rec (Hidasi et al., ICLR 2016): a GRU over the item sequence."""

from __future__ import annotations

import torch
from torch import nn

from .configuration_gru4rec import GRU4RecConfig
from .modeling_recommender import CFBackbonePreTrainedModel


def right_align(input_ids: torch.Tensor):
    """Gather indices that move each left-padded row's items to the front, and the row lengths.

    ``input_ids.gather(1, index)`` right-pads; the same index scatters outputs back to the left-padded layout.
    """
    length = input_ids.shape[1]
    lengths = (input_ids != 0).sum(1)
    index = (torch.arange(length, device=input_ids.device)[None, :] + (length - lengths)[:, None]) % length
    return index, lengths


class GRU4RecPreTrainedModel(CFBackbonePreTrainedModel):
    config_class = GRU4RecConfig
    base_model_prefix = "gru4rec"


class GRU4RecModel(GRU4RecPreTrainedModel):
    """GRU4Rec as an A-LLMRec backbone: ``x_u`` is the GRU state after the last item."""

    def __init__(self, config: GRU4RecConfig):
        super().__init__(config)
        self.item_embedding = nn.Embedding(config.num_items + 1, config.hidden_size, padding_idx=0)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(
            config.hidden_size,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.output_dropout = nn.Dropout(config.dropout)
        self.post_init()

    def sequence_representations(self, input_ids, user_ids=None):
        input_ids = input_ids[:, -self.config.max_sequence_length :]
        # Packing keeps left padding from moving the GRU state before the first real item.
        index, lengths = right_align(input_ids)
        embedded = self.embedding_dropout(self.item_embedding(input_ids.gather(1, index)))
        packed = nn.utils.rnn.pack_padded_sequence(
            embedded, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        output, _ = self.gru(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=input_ids.shape[1])
        left_padded = torch.empty_like(output).scatter_(1, index.unsqueeze(-1).expand_as(output), output)
        return self.output_dropout(left_padded)
