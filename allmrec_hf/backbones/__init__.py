"""Collaborative-filtering backbones as `PreTrainedModel`s sharing one interface: `item_embeddings()` gives ``E`` and
`user_representation(input_ids, user_ids)` gives ``x_u``. `BACKBONES` is the registry every stage reads: adding a
backbone is a configuration and a model file here and one entry below.

`MODALITY_AWARE_BACKBONES` are the paper's modality-aware baselines (appendix C), which read item text besides the
interactions: MoRec and CTRL (SASRec reading item text, here) and RECFORMER (a language model, in
``allmrec_hf.recformer``). They have the same interface, so they train and score as the backbones do, but they are
not frozen inside A-LLMRec, and every stage iterating `BACKBONES` leaves them out.
"""

# RECFORMER lives with its training stages, in its own sub-package.
from ..recformer import RecformerConfig, RecformerModel
from .configuration_ctrl import CTRLRecConfig
from .configuration_gru4rec import GRU4RecConfig
from .configuration_morec import MoRecConfig
from .configuration_ncf import NCFConfig
from .configuration_nextitnet import NextItNetConfig
from .configuration_sasrec import SASRecConfig
from .modeling_ctrl import CTRLRecModel
from .modeling_gru4rec import GRU4RecModel
from .modeling_item_text import ItemTextModelMixin
from .modeling_morec import MoRecModel
from .modeling_ncf import NCFModel
from .modeling_nextitnet import NextItNetModel
from .modeling_recommender import CFBackboneConfig, CFBackbonePreTrainedModel, RecommenderOutput
from .modeling_sasrec import SASRecModel


BACKBONES = {
    "sasrec": (SASRecConfig, SASRecModel),
    "gru4rec": (GRU4RecConfig, GRU4RecModel),
    "nextitnet": (NextItNetConfig, NextItNetModel),
    "ncf": (NCFConfig, NCFModel),
}
# How tables name each backbone: its model class without "Model" (SASRecModel -> "SASRec").
BACKBONE_NAMES = {key: model.__name__.removesuffix("Model") for key, (_, model) in BACKBONES.items()}


MODALITY_AWARE_BACKBONES = {
    "morec": (MoRecConfig, MoRecModel),
    "ctrl": (CTRLRecConfig, CTRLRecModel),
    "recformer": (RecformerConfig, RecformerModel),
}
# The paper's spelling of each.
MODALITY_AWARE_NAMES = {"morec": "MoRec", "ctrl": "CTRL", "recformer": "RECFORMER"}

__all__ = [
    "BACKBONES",
    "BACKBONE_NAMES",
    "MODALITY_AWARE_BACKBONES",
    "MODALITY_AWARE_NAMES",
    "CFBackboneConfig",
    "CFBackbonePreTrainedModel",
    "CTRLRecConfig",
    "CTRLRecModel",
    "GRU4RecConfig",
    "GRU4RecModel",
    "ItemTextModelMixin",
    "MoRecConfig",
    "MoRecModel",
    "NCFConfig",
    "NCFModel",
    "NextItNetConfig",
    "NextItNetModel",
    "RecformerConfig",
    "RecformerModel",
    "RecommenderOutput",
    "SASRecConfig",
    "SASRecModel",
]
