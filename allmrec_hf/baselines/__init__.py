"""The LLM baselines of the paper (appendix C), scored like A-LLMRec on the same stored candidates:

- LLM-Only and TALLRec: `TextOnlyRecommender` (the text-only prompt; TALLRec a PEFT LoRA adapter over the LLM);
- MLP-LLM: A-LLMRec without stage 1, the CF embeddings ``E_i`` projected straight into the LLM, i.e. an
  `ALLMRecForRecommendation` with ``item_embeddings="cf"`` (``examples/train_stage2.py --method mlp_llm``).
"""

from .text_only import TEXT_ONLY_METHODS, TextOnlyConfig, TextOnlyRecommender, lora_config


__all__ = ["TEXT_ONLY_METHODS", "TextOnlyConfig", "TextOnlyRecommender", "lora_config"]
