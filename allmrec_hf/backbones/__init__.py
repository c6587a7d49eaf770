"""Collaborative-filtering backbones as `PreTrainedModel`s sharing one interface: `item_embeddings()` gives ``E`` and
`user_representation(input_ids, user_ids)` gives ``x_u``. `BACKBONES` is the registry every stage reads: adding a
backbone is a configuration and a model file here and one entry below."""

from .configuration_gru4rec import GRU4RecConfig
from .configuration_ncf import NCFConfig
from .configuration_nextitnet import NextItNetConfig
from .configuration_sasrec import SASRecConfig
from .modeling_gru4rec import GRU4RecModel
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

__all__ = [
    "BACKBONES",
    "BACKBONE_NAMES",
    "CFBackboneConfig",
    "CFBackbonePreTrainedModel",
    "GRU4RecConfig",
    "GRU4RecModel",
    "NCFConfig",
    "NCFModel",
    "NextItNetConfig",
    "NextItNetModel",
    "RecommenderOutput",
    "SASRecConfig",
    "SASRecModel",
]
