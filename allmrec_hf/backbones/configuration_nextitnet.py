"""NextItNet configuration."""

from ..configuration_utils import checked_types
from .modeling_recommender import CFBackboneConfig


class NextItNetConfig(CFBackboneConfig):
    """Configuration of `NextItNetModel` (Yuan et al., WSDM 2019).

    Args:
        num_items (`int`): Catalog size (ids 1..num_items; 0 is padding).
        hidden_size (`int`, *optional*, defaults to 50): Embedding and channel width.
        kernel_size (`int`, *optional*, defaults to 3): Width of the causal convolutions.
        dilations (`list[int]`, *optional*, defaults to `[1, 2, 4, 8]`):
            One residual block per entry; a block stacks two causal convolutions dilated ``d`` and ``2d``.
        dropout (`float`, *optional*, defaults to 0.2): Dropout on the embeddings.
        max_sequence_length (`int`, *optional*, defaults to 50): Most recent items read.
    """

    model_type = "nextitnet"

    @checked_types
    def __init__(
        self, num_items=1, hidden_size=50, kernel_size=3, dilations=None, dropout=0.2, max_sequence_length=50, **kwargs
    ):
        dilations = [1, 2, 4, 8] if dilations is None else list(dilations)
        if kernel_size < 2 or not dilations or min(dilations) < 1:
            raise ValueError(f"kernel_size must be >= 2 and dilations positive, got {kernel_size} and {dilations}")
        self.kernel_size = kernel_size
        self.dilations = dilations
        super().__init__(
            num_items=num_items,
            hidden_size=hidden_size,
            max_sequence_length=max_sequence_length,
            dropout=dropout,
            **kwargs,
        )
