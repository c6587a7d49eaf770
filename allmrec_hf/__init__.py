"""allmrec_hf: A-LLMRec (KDD 2024) as Hugging Face models, datasets and Trainer scripts.

Importing the package registers every model type with the Auto classes, so ``AutoModel.from_pretrained(path)``
returns the right class without ``trust_remote_code``, and the ``"recommendation"`` pipeline task. It costs little
beyond ``import torch, transformers.modeling_utils``: the pipeline, the Trainer and `datasets` are imported when used
(the task is registered as soon as anything imports ``transformers.pipelines``, as ``pipeline(...)`` does).
"""

import importlib

from transformers import AutoConfig, AutoModel

from .backbones import (
    BACKBONES,
    MODALITY_AWARE_BACKBONES,
    CTRLRecConfig,
    CTRLRecModel,
    GRU4RecConfig,
    GRU4RecModel,
    MoRecConfig,
    MoRecModel,
    NCFConfig,
    NCFModel,
    NextItNetConfig,
    NextItNetModel,
    RecformerConfig,
    RecformerModel,
    SASRecConfig,
    SASRecModel,
)
from .baselines import TextOnlyConfig, TextOnlyRecommender
from .configuration_aligner import ALLMRecAlignerConfig
from .configuration_allmrec import ALLMRecConfig
from .modeling_aligner import ALLMRecAlignerModel
from .modeling_allmrec import ALLMRecForRecommendation
from .utils import after_import, lazy_exports


__version__ = "0.1.0"


def _register(config_class, model_class) -> None:
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)


for _config_class, _model_class in [
    *BACKBONES.values(),
    *MODALITY_AWARE_BACKBONES.values(),
    (ALLMRecAlignerConfig, ALLMRecAlignerModel),
    (ALLMRecConfig, ALLMRecForRecommendation),
    (TextOnlyConfig, TextOnlyRecommender),
]:
    _register(_config_class, _model_class)


# The pipeline module registers its task when it is imported; it needs transformers.pipelines, so it is imported
# right after that (if it is itself what imports transformers.pipelines, it is left to finish and register).
after_import("transformers.pipelines", lambda: importlib.import_module(".pipeline_recommendation", __name__))
__getattr__ = lazy_exports(__name__, {"RecommendationPipeline": "pipeline_recommendation"})

__all__ = [
    "ALLMRecAlignerConfig",
    "ALLMRecAlignerModel",
    "ALLMRecConfig",
    "ALLMRecForRecommendation",
    "CTRLRecConfig",
    "CTRLRecModel",
    "GRU4RecConfig",
    "GRU4RecModel",
    "MoRecConfig",
    "MoRecModel",
    "NCFConfig",
    "NCFModel",
    "NextItNetConfig",
    "NextItNetModel",
    "RecformerConfig",
    "RecformerModel",
    "RecommendationPipeline",
    "SASRecConfig",
    "SASRecModel",
    "TextOnlyConfig",
    "TextOnlyRecommender",
]
