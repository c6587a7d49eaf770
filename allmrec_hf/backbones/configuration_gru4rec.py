"""GRU4Rec configuration."""

from ..configuration_utils import checked_types
from .modeling_recommender import CFBackboneConfig


class GRU4RecConfig(CFBackboneConfig):
    """Configuration of `GRU4RecModel` (Hidasi et al., ICLR 2016), trained with the same per-position BCE loss as
    SASRec so every backbone is compared under one objective.

    Args:
        num_items (`int`): Catalog size (ids 1..num_items; 0 is padding).
        hidden_size (`int`, *optional*, defaults to 50): Embedding and GRU width.
        num_layers (`int`, *optional*, defaults to 1): Stacked GRU layers.
        dropout (`float`, *optional*, defaults to 0.2): Dropout on embeddings and GRU outputs.
        max_sequence_length (`int`, *optional*, defaults to 50): Most recent items read.
    """

    model_type = "gru4rec"

    @checked_types
    def __init__(self, num_items=1, hidden_size=50, num_layers=1, dropout=0.2, max_sequence_length=50, **kwargs):
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.num_layers = num_layers
        super().__init__(
            num_items=num_items,
            hidden_size=hidden_size,
            max_sequence_length=max_sequence_length,
            dropout=dropout,
            **kwargs,
        )
