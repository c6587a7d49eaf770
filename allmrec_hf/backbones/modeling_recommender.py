"""What every collaborative-filtering backbone shares: the interface A-LLMRec needs, the BCE training loss and
candidate scoring.

A-LLMRec only needs two things from a frozen CF model (paper section 4): item embeddings ``E`` and user
representations ``x_u``, with ``x_u · E_i`` as the model's score. Every backbone implements
`sequence_representations` (one vector per input position) and inherits the rest.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..configuration_utils import ConfigFileErrorsMixin, checked_types
from ..model_card import ModelCardMixin
from ..modeling_utils import CheckpointErrorsMixin


@dataclass
class RecommenderOutput(ModelOutput):
    """Output of a CF backbone's ``forward``.

    Args:
        loss (`torch.FloatTensor`, *optional*):
            Training: the BCE loss of positives against sampled negatives. Scoring with ``labels``: the cross-entropy
            of the candidate scores against the target's position (a validation loss).
        logits (`torch.FloatTensor` of shape `(batch_size, num_candidates)`, *optional*):
            Scores ``x_u · E_i`` of the candidates, when ``candidate_ids`` were given.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


class CFBackboneConfig(ConfigFileErrorsMixin, PreTrainedConfig):
    """Fields every backbone shares.

    Args:
        num_items (`int`): Catalog size; item ids run from 1 to ``num_items`` and 0 is padding.
        num_users (`int`, *optional*, defaults to 0): Users of the training data (ids 1..num_users), for the models
            that embed users (NCF); every backbone is built with it, so none needs a case of its own.
        hidden_size (`int`, *optional*, defaults to 50): Width ``d`` of ``E`` and ``x_u`` (50 in the paper).
        max_sequence_length (`int`, *optional*, defaults to 50): Most recent items a sequence model reads.
        dropout (`float`, *optional*, defaults to 0.5): Dropout rate.
    """

    @checked_types
    def __init__(
        self,
        num_items: int = 1,
        num_users: int = 0,
        hidden_size: int = 50,
        max_sequence_length: int = 50,
        dropout: float = 0.5,
        **kwargs,
    ):
        if num_items < 1 or num_users < 0:
            raise ValueError(f"num_items must be at least 1 and num_users not negative, got {num_items}, {num_users}")
        if hidden_size < 1 or max_sequence_length < 1:
            raise ValueError("hidden_size and max_sequence_length must be positive")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_items = num_items
        self.num_users = num_users
        self.hidden_size = hidden_size
        self.max_sequence_length = max_sequence_length
        self.dropout = dropout
        super().__init__(**kwargs)


class CFBackbonePreTrainedModel(CheckpointErrorsMixin, ModelCardMixin, PreTrainedModel):
    """Base class of the backbones: the A-LLMRec interface, the training loss and scoring.

    Inputs are left-padded item-id sequences ``input_ids`` of shape ``(batch, length)`` whose last column is the most
    recent item; ``user_ids`` (1-based) are read by user-id models (NCF) and ignored by sequence models.
    """

    main_input_name = "input_ids"

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        # Loaded tensors point into the memory-mapped safetensors file at arbitrary byte offsets, and CPU kernels
        # choose their vectorised path by alignment: a GRU over unaligned weights rounds differently (~1e-9) from the
        # model that was saved. Copying into owned memory (CF models are a few MB) makes a loaded model score
        # bit-for-bit like the one that was trained, so metrics after reloading match metrics after training.
        with torch.no_grad():
            for tensor in itertools.chain(model.parameters(), model.buffers()):
                tensor.data = tensor.data.clone()
        return model

    def _init_weights(self, module):
        # Xavier-normal matrices as the reference SASRec code initialises every weight, zero biases, LayerNorms at
        # identity; the padding row of an item embedding stays zero.
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Embedding)):
            init.xavier_normal_(module.weight)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
            if getattr(module, "padding_idx", None) is not None and not getattr(
                module.weight, "_is_hf_initialized", False
            ):
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.GRU):
            for name, parameter in module.named_parameters():
                (init.xavier_uniform_ if "weight" in name else init.zeros_)(parameter)

    def sequence_representations(self, input_ids: torch.LongTensor, user_ids: torch.LongTensor | None = None):
        """One representation per position, ``(batch, length, hidden_size)``; position ``t`` has read items up to
        ``t``."""
        raise NotImplementedError

    def item_embeddings(self) -> torch.Tensor:
        """The item embedding matrix ``E`` of shape ``(num_items + 1, hidden_size)``; row 0 is padding."""
        return self.item_embedding.weight

    def user_representation(self, input_ids: torch.LongTensor, user_ids: torch.LongTensor | None = None):
        """The user representation ``x_u`` of shape ``(batch, hidden_size)``: the representation after the last
        item of ``input_ids``."""
        return self.sequence_representations(input_ids, user_ids)[:, -1]

    def register_training_users(self, user_ids: torch.Tensor) -> None:
        """Record the users of the training split. Sequence models read histories and need nothing; user-id models
        (NCF) use it to recognise users they never trained on."""

    def check_item_ids(self, name: str, ids: torch.Tensor) -> None:
        if ids.numel() and (int(ids.max()) > self.config.num_items or int(ids.min()) < 0):
            raise ValueError(
                f"{name} holds item id {int(ids.max()) if int(ids.max()) > self.config.num_items else int(ids.min())} "
                f"outside 0..{self.config.num_items} (num_items of this model; 0 is padding)"
            )

    def score_candidates(self, input_ids, candidate_ids, user_ids=None) -> torch.Tensor:
        """Scores ``x_u · E_i`` of each row's candidates, ``(batch, num_candidates)``."""
        self.check_item_ids("candidate_ids", candidate_ids)
        users = self.user_representation(input_ids, user_ids)
        return torch.einsum("bd,bcd->bc", users, self.item_embeddings()[candidate_ids])

    def score_all_items(self, input_ids, user_ids=None) -> torch.Tensor:
        """Scores of the whole catalog, ``(batch, num_items + 1)``; column 0 (padding) is ``-inf``."""
        scores = self.user_representation(input_ids, user_ids) @ self.item_embeddings().T
        scores[:, 0] = float("-inf")
        return scores

    def forward(
        self,
        input_ids: torch.LongTensor,
        user_ids: torch.LongTensor | None = None,
        positive_ids: torch.LongTensor | None = None,
        negative_ids: torch.LongTensor | None = None,
        candidate_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs,
    ) -> RecommenderOutput:
        """Train (``positive_ids`` and ``negative_ids``) or score candidates (``candidate_ids``).

        Args:
            input_ids (`torch.LongTensor` of shape `(batch, length)`): Left-padded item histories.
            user_ids (`torch.LongTensor` of shape `(batch,)`, *optional*): User ids, for user-id models.
            positive_ids / negative_ids (`torch.LongTensor` of shape `(batch, length)`, *optional*):
                The next item at every position and one sampled negative per position; padding positions (0 in
                ``positive_ids``) do not count. The loss is the BCE of positives against negatives (SASRec).
            candidate_ids (`torch.LongTensor` of shape `(batch, num_candidates)`, *optional*): Items to score.
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*): Index of the target in ``candidate_ids``.
        """
        self.check_item_ids("input_ids", input_ids)
        if positive_ids is not None:
            if negative_ids is None:
                raise ValueError("training needs negative_ids together with positive_ids")
            self.check_item_ids("positive_ids", positive_ids)
            self.check_item_ids("negative_ids", negative_ids)
            hidden = self.sequence_representations(input_ids, user_ids)
            items = self.item_embeddings()
            positive_logits = (hidden * items[positive_ids]).sum(-1)
            negative_logits = (hidden * items[negative_ids]).sum(-1)
            real = positive_ids != 0
            loss = F.binary_cross_entropy_with_logits(
                positive_logits[real], torch.ones_like(positive_logits[real])
            ) + F.binary_cross_entropy_with_logits(negative_logits[real], torch.zeros_like(negative_logits[real]))
            return RecommenderOutput(loss=loss)
        if candidate_ids is None:
            raise ValueError("pass positive_ids and negative_ids to train, or candidate_ids to score")
        logits = self.score_candidates(input_ids, candidate_ids, user_ids)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return RecommenderOutput(loss=loss, logits=logits)
