"""SASRec (Kang and McAuley, ICDM 2018): causal self-attention over the item sequence.

Block layout of the A-LLMRec reference and SASRec.pytorch: the query is layer-normalised before attention, keys and
values are the raw block input, the residual is added to the normalised query (``attention_residual="query"``), then
a layer-normalised point-wise feed-forward with its own residual; a final LayerNorm closes the stack. Attention runs
through `scaled_dot_product_attention` with one boolean mask for causality and padding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_sasrec import SASRecConfig
from .modeling_recommender import CFBackbonePreTrainedModel


class SASRecAttention(nn.Module):
    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.dropout = config.dropout
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, query_states, key_value_states, allowed):
        batch, length, _ = query_states.shape

        def heads(states):
            return states.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)

        attended = F.scaled_dot_product_attention(
            heads(self.query(query_states)),
            heads(self.key(key_value_states)),
            heads(self.value(key_value_states)),
            attn_mask=allowed,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.output(attended.transpose(1, 2).reshape(batch, length, -1))


class SASRecFeedForward(nn.Module):
    """Point-wise feed-forward with its residual (two width-preserving layers, as the reference's 1x1 convolutions)."""

    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.dense_in = nn.Linear(config.hidden_size, config.hidden_size)
        self.dense_out = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states):
        return hidden_states + self.dropout(self.dense_out(self.dropout(F.relu(self.dense_in(hidden_states)))))


class SASRecBlock(nn.Module):
    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.residual_from_query = config.attention_residual == "query"
        self.attention_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = SASRecAttention(config)
        self.feed_forward_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = SASRecFeedForward(config)

    def forward(self, hidden_states, allowed, real):
        query = self.attention_layer_norm(hidden_states)
        attended = self.attention(query, hidden_states, allowed)
        hidden_states = (query if self.residual_from_query else hidden_states) + attended
        hidden_states = self.feed_forward(self.feed_forward_layer_norm(hidden_states))
        return hidden_states * real


class SASRecPreTrainedModel(CFBackbonePreTrainedModel):
    config_class = SASRecConfig
    base_model_prefix = "sasrec"
    _no_split_modules = ["SASRecBlock"]


class SASRecModel(SASRecPreTrainedModel):
    """SASRec as an A-LLMRec backbone: ``E`` is the item embedding matrix (unscaled) and ``x_u`` the final
    representation of the last position.

    Example:

    ```python
    >>> import torch
    >>> from allmrec_hf import SASRecConfig, SASRecModel
    >>> model = SASRecModel(SASRecConfig(num_items=100, hidden_size=16, max_sequence_length=8)).eval()
    >>> history = torch.tensor([[0, 0, 0, 0, 0, 3, 17, 42]])
    >>> model.user_representation(history).shape
    torch.Size([1, 16])
    >>> model.score_candidates(history, torch.tensor([[5, 42, 99]])).shape
    torch.Size([1, 3])
    ```
    """

    def __init__(self, config: SASRecConfig):
        super().__init__(config)
        self.item_embedding = nn.Embedding(config.num_items + 1, config.hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(config.max_sequence_length, config.hidden_size)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(SASRecBlock(config) for _ in range(config.num_blocks))
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.embedding_scale = math.sqrt(config.hidden_size) if config.scale_item_embeddings else 1.0
        self.post_init()

    def sequence_representations(self, input_ids, user_ids=None):
        window = self.config.max_sequence_length
        input_ids = input_ids[:, -window:]
        returned = input_ids.shape[1]
        if not self.config.mask_padding_keys:
            # Items that attend to padding read as much of it as the input carries, so a row would score differently
            # in a batch padded to another width; the reference's full window makes every row's output its own.
            input_ids = F.pad(input_ids, (window - returned, 0))
        length = input_ids.shape[1]
        real = (input_ids != 0).unsqueeze(-1)
        # Positions count within the fixed window, so the most recent item always has the last position.
        positions = torch.arange(window - length, window, device=input_ids.device)
        hidden_states = self.item_embedding(input_ids) * self.embedding_scale + self.position_embedding(positions)
        hidden_states = self.embedding_dropout(hidden_states) * real
        allowed = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()
        if self.config.mask_padding_keys:
            # Padding queries may still attend to themselves, so no row of the mask is empty.
            diagonal = torch.eye(length, dtype=torch.bool, device=input_ids.device)
            allowed = allowed & (real.transpose(1, 2) | diagonal)
            allowed = allowed.unsqueeze(1)
        for block in self.blocks:
            hidden_states = block(hidden_states, allowed, real)
        return self.final_layer_norm(hidden_states[:, length - returned :])
