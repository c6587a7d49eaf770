"""NextItNet (Yuan et al., WSDM 2019): stacked dilated causal convolutions with residual connections."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .configuration_nextitnet import NextItNetConfig
from .modeling_recommender import CFBackbonePreTrainedModel


class NextItNetCausalConvolution(nn.Module):
    def __init__(self, hidden_size: int, kernel_size: int, dilation: int):
        super().__init__()
        self.left_padding = (kernel_size - 1) * dilation
        self.convolution = nn.Conv1d(hidden_size, hidden_size, kernel_size, dilation=dilation)

    def forward(self, hidden_states):  # (batch, channels, length)
        return self.convolution(F.pad(hidden_states, (self.left_padding, 0)))


class NextItNetResidualBlock(nn.Module):
    """Two dilated causal convolutions (dilation ``d`` then ``2d``), each followed by LayerNorm and ReLU."""

    def __init__(self, config: NextItNetConfig, dilation: int):
        super().__init__()
        self.first = NextItNetCausalConvolution(config.hidden_size, config.kernel_size, dilation)
        self.first_norm = nn.LayerNorm(config.hidden_size)
        self.second = NextItNetCausalConvolution(config.hidden_size, config.kernel_size, 2 * dilation)
        self.second_norm = nn.LayerNorm(config.hidden_size)

    def forward(self, hidden_states, real):  # (batch, length, channels)
        output = F.relu(self.first_norm(self.first(hidden_states.transpose(1, 2)).transpose(1, 2)))
        output = F.relu(self.second_norm(self.second(output.transpose(1, 2)).transpose(1, 2)))
        return (hidden_states + output) * real


class NextItNetPreTrainedModel(CFBackbonePreTrainedModel):
    config_class = NextItNetConfig
    base_model_prefix = "nextitnet"
    _no_split_modules = ["NextItNetResidualBlock"]


class NextItNetModel(NextItNetPreTrainedModel):
    """NextItNet as an A-LLMRec backbone: ``x_u`` is the output at the last position."""

    def __init__(self, config: NextItNetConfig):
        super().__init__(config)
        self.item_embedding = nn.Embedding(config.num_items + 1, config.hidden_size, padding_idx=0)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(NextItNetResidualBlock(config, dilation) for dilation in config.dilations)
        self.post_init()

    def sequence_representations(self, input_ids, user_ids=None):
        input_ids = input_ids[:, -self.config.max_sequence_length :]
        real = (input_ids != 0).unsqueeze(-1)
        hidden_states = self.embedding_dropout(self.item_embedding(input_ids))
        for block in self.blocks:
            hidden_states = block(hidden_states, real)
        return hidden_states
