"""NCF configuration."""

from ..configuration_utils import checked_types
from .modeling_recommender import CFBackboneConfig


class NCFConfig(CFBackboneConfig):
    """Configuration of `NCFModel`, the two-tower neural collaborative filtering model of the paper's appendix C.

    Args:
        num_items (`int`): Catalog size (ids 1..num_items; 0 is padding).
        num_users (`int`): Number of users (ids 1..num_users; 0 means "unknown user").
        hidden_size (`int`, *optional*, defaults to 50): Width of the towers' outputs ``x_u`` and ``E_i``.
        tower_layers (`int`, *optional*, defaults to 1): Hidden layers (Linear + ReLU) of each tower's MLP.
        dropout (`float`, *optional*, defaults to 0.2): Dropout inside the towers.
        max_sequence_length (`int`, *optional*, defaults to 50): Most recent training items used per user and step.
    """

    model_type = "ncf"

    @checked_types
    def __init__(
        self, num_items=1, num_users=1, hidden_size=50, tower_layers=1, dropout=0.2, max_sequence_length=50, **kwargs
    ):
        if num_users < 1:
            raise ValueError(f"num_users must be at least 1, got {num_users}")
        if tower_layers < 0:
            raise ValueError(f"tower_layers must be >= 0, got {tower_layers}")
        self.tower_layers = tower_layers
        super().__init__(
            num_items=num_items,
            num_users=num_users,
            hidden_size=hidden_size,
            max_sequence_length=max_sequence_length,
            dropout=dropout,
            **kwargs,
        )
