"""allmrec_hf: A-LLMRec (KDD 2024) as Hugging Face models, datasets and Trainer scripts.

Importing the package registers every model type with the Auto classes, so ``AutoModel.from_pretrained(path)``
returns the right class without ``trust_remote_code``.
"""

from transformers import AutoConfig, AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .backbones import (
    BACKBONES,
    GRU4RecConfig,
    GRU4RecModel,
    NCFConfig,
    NCFModel,
    NextItNetConfig,
    NextItNetModel,
    SASRecConfig,
    SASRecModel,
)
from .configuration_aligner import ALLMRecAlignerConfig
from .configuration_allmrec import ALLMRecConfig
from .modeling_aligner import ALLMRecAlignerModel
from .modeling_allmrec import ALLMRecForRecommendation
from .recommendation_pipeline import RecommendationPipeline


__version__ = "0.1.0"


def _register(config_class, model_class) -> None:
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)


for _config_class, _model_class in [
    *BACKBONES.values(),
    (ALLMRecAlignerConfig, ALLMRecAlignerModel),
    (ALLMRecConfig, ALLMRecForRecommendation),
]:
    _register(_config_class, _model_class)
PIPELINE_REGISTRY.register_pipeline(
    "recommendation", pipeline_class=RecommendationPipeline, pt_model=ALLMRecForRecommendation
)

__all__ = [
    "ALLMRecAlignerConfig",
    "ALLMRecAlignerModel",
    "ALLMRecConfig",
    "ALLMRecForRecommendation",
    "GRU4RecConfig",
    "GRU4RecModel",
    "NCFConfig",
    "RecommendationPipeline",
    "NCFModel",
    "NextItNetConfig",
    "NextItNetModel",
    "SASRecConfig",
    "SASRecModel",
]
