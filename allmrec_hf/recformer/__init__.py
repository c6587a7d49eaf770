"""RECFORMER (Li et al., KDD 2023), a modality-aware baseline of the A-LLMRec paper (appendix C): a language model
that encodes items as key-value sentences and users as the sentences of their items, with its two training stages
(contrastive pre-training, fine-tuning against the whole catalog). It has the CF backbone interface, so it trains
through ``examples/train_cf.py --backbone recformer`` and scores through `evaluate_backbone`."""

from .configuration_recformer import RecformerConfig
from .modeling_recformer import RecformerModel


__all__ = ["RecformerConfig", "RecformerModel"]
