"""NCF (He et al., WWW 2017) in the two-tower form the paper uses (appendix C: separate user and item components).

A user tower maps a user-id embedding to ``x_u`` and an item tower maps an item-id embedding to ``E_i``; the score is
``x_u · E_i``, the same scoring rule as the sequence backbones, so A-LLMRec treats all of them alike.

Users the model never trained on (ids outside ``1..num_users``, id 0, or users absent from the training split, such
as the held-out cold users) get the mean representation of the trained users: a popularity-like fallback, since an
ID model knows nothing else about them.
"""

from __future__ import annotations

import torch
from torch import nn

from .configuration_ncf import NCFConfig
from .modeling_recommender import CFBackbonePreTrainedModel


class NCFTower(nn.Module):
    def __init__(self, config: NCFConfig):
        super().__init__()
        layers = []
        for _ in range(config.tower_layers):
            layers += [nn.Linear(config.hidden_size, config.hidden_size), nn.ReLU(), nn.Dropout(config.dropout)]
        layers.append(nn.Linear(config.hidden_size, config.hidden_size))
        self.layers = nn.Sequential(*layers)

    def forward(self, embeddings):
        return self.layers(embeddings)


class NCFPreTrainedModel(CFBackbonePreTrainedModel):
    config_class = NCFConfig
    base_model_prefix = "ncf"


class NCFModel(NCFPreTrainedModel):
    """Two-tower NCF as an A-LLMRec backbone: ``x_u`` comes from ``user_ids``; ``input_ids`` are not read."""

    def __init__(self, config: NCFConfig):
        super().__init__(config)
        self.user_embedding = nn.Embedding(config.num_users + 1, config.hidden_size)
        self.item_embedding = nn.Embedding(config.num_items + 1, config.hidden_size, padding_idx=0)
        self.user_tower = NCFTower(config)
        self.item_tower = NCFTower(config)
        self.register_buffer("trained_users", torch.zeros(config.num_users + 1, dtype=torch.bool))
        self.post_init()

    def register_training_users(self, user_ids: torch.Tensor) -> None:
        """Record which users the training split holds (the others fall back to the mean user)."""
        user_ids = torch.as_tensor(user_ids, dtype=torch.long, device=self.trained_users.device)
        if user_ids.numel() and (int(user_ids.min()) < 1 or int(user_ids.max()) > self.config.num_users):
            raise ValueError(f"user ids must lie in 1..{self.config.num_users}")
        self.trained_users[user_ids] = True

    def item_embeddings(self) -> torch.Tensor:
        return self.item_tower(self.item_embedding.weight)

    def user_representation(self, input_ids, user_ids=None):
        if user_ids is None:
            raise ValueError("NCF scores users by id: pass user_ids")
        user_ids = torch.as_tensor(user_ids, device=self.user_embedding.weight.device).long()
        in_range = (user_ids >= 1) & (user_ids <= self.config.num_users)
        safe = torch.where(in_range, user_ids, torch.zeros_like(user_ids))
        known = in_range & self.trained_users[safe]
        users = self.user_tower(self.user_embedding(safe))
        if not bool(known.all()):
            trained = self.trained_users.nonzero().squeeze(-1)
            if trained.numel() == 0:
                raise ValueError("no user has been registered as trained; call register_training_users first")
            mean_user = self.user_tower(self.user_embedding(trained)).mean(0)
            users = torch.where(known.unsqueeze(-1), users, mean_user)
        return users

    def sequence_representations(self, input_ids, user_ids=None):
        # The same x_u at every position: each training item of the user is a positive.
        users = self.user_representation(input_ids, user_ids)
        return users.unsqueeze(1).expand(-1, input_ids.shape[1], -1)
