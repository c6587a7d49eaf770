"""SASRec configuration."""

from ..configuration_utils import checked_types
from .modeling_recommender import CFBackboneConfig


class SASRecConfig(CFBackboneConfig):
    """Configuration of `SASRecModel` (Kang and McAuley, ICDM 2018), defaults as in the A-LLMRec reference.

    Args:
        num_items (`int`): Catalog size (ids 1..num_items; 0 is padding).
        hidden_size (`int`, *optional*, defaults to 50): Embedding and model width.
        num_blocks (`int`, *optional*, defaults to 2): Self-attention blocks.
        num_attention_heads (`int`, *optional*, defaults to 1): Heads per block.
        dropout (`float`, *optional*, defaults to 0.5): Dropout on embeddings, attention weights and feed-forward.
        max_sequence_length (`int`, *optional*, defaults to 50): Most recent items read; one learned position each.
        layer_norm_eps (`float`, *optional*, defaults to 1e-8): LayerNorm epsilon.
        scale_item_embeddings (`bool`, *optional*, defaults to `True`):
            Multiply input item embeddings by ``sqrt(hidden_size)`` (``E`` itself, used by A-LLMRec, is unscaled).
        attention_residual (`str`, *optional*, defaults to `"query"`):
            ``"query"`` adds the attention output to the layer-normalised query, as the reference and
            SASRec.pytorch do; ``"input"`` adds it to the block input (textbook pre-LN).
        mask_padding_keys (`bool`, *optional*, defaults to `True`):
            Keep real items from attending to left padding. The reference lets them attend to it (padding outputs
            are zeroed, but still dilute attention); `False` reproduces that, on its full window of
            ``max_sequence_length`` positions whatever padding the input carries (so batches cannot skip padding).
    """

    model_type = "sasrec"

    @checked_types
    def __init__(
        self,
        num_items: int = 1,
        hidden_size: int = 50,
        num_blocks: int = 2,
        num_attention_heads: int = 1,
        dropout: float = 0.5,
        max_sequence_length: int = 50,
        layer_norm_eps: float = 1e-8,
        scale_item_embeddings: bool = True,
        attention_residual: str = "query",
        mask_padding_keys: bool = True,
        **kwargs,
    ):
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be at least 1, got {num_blocks}")
        if num_attention_heads < 1 or hidden_size % num_attention_heads:
            raise ValueError(
                f"hidden_size {hidden_size} must be divisible by num_attention_heads {num_attention_heads}"
            )
        if attention_residual not in ("query", "input"):
            raise ValueError(f"attention_residual must be 'query' or 'input', got {attention_residual!r}")
        self.num_blocks = num_blocks
        self.num_attention_heads = num_attention_heads
        self.layer_norm_eps = layer_norm_eps
        self.scale_item_embeddings = scale_item_embeddings
        self.attention_residual = attention_residual
        self.mask_padding_keys = mask_padding_keys
        super().__init__(
            num_items=num_items,
            hidden_size=hidden_size,
            max_sequence_length=max_sequence_length,
            dropout=dropout,
            **kwargs,
        )
