"""LLM-Only and TALLRec (paper appendix C): an LLM answering the text-only prompt of Figure 5, the user's history and
the candidate titles without soft tokens.

- LLM-Only: the frozen LLM as it is; its folder holds the config (the LLM by reference) and the tokenizer.
- TALLRec: the LLM fine-tuned through LoRA adapters (``LoraConfig`` + ``get_peft_model``, rank 8 on the attention
  query and value projections, as TALLRec's code); its folder is a PEFT adapter folder (``adapter_config.json`` with
  ``base_model_name_or_path``, ``adapter_model.safetensors``), so ``PeftModel.from_pretrained(llm, folder)`` loads it,
  plus the same config. Neither carries a CF model or a stage-1 model.

Both answer like A-LLMRec (candidate scoring, greedy and constrained generation: `LLMAnsweringMixin`) and load with
``AutoModel.from_pretrained(folder)``.
"""

from __future__ import annotations

import os

from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

from ..configuration_allmrec import LLMPromptConfig
from ..configuration_utils import checked_types
from ..model_card import ModelCardMixin
from ..modeling_allmrec import LLMAnsweringMixin, attach_llm, generation_config_for


TEXT_ONLY_METHODS = ("llm_only", "tallrec")
ADAPTER_CONFIG_FILE = "adapter_config.json"


class TextOnlyConfig(LLMPromptConfig):
    """Configuration of `TextOnlyRecommender`: the fields of `LLMPromptConfig` and the method.

    Args:
        method (`str`, *optional*, defaults to `"llm_only"`): ``"llm_only"`` or ``"tallrec"`` (LoRA adapters, stored
            as a PEFT adapter beside this config).
        kwargs: The fields of `LLMPromptConfig`.
    """

    model_type = "allmrec_text_only"
    sub_configs = {"llm_config": AutoConfig}

    @checked_types
    def __init__(self, method: str = "llm_only", **kwargs):
        if method not in TEXT_ONLY_METHODS:
            raise ValueError(f"method must be one of {TEXT_ONLY_METHODS}, got {method!r}")
        self.method = method
        super().__init__(**kwargs)


def peft():
    """The `peft` package, which only TALLRec needs (``pip install "allmrec_hf[baselines]"``)."""
    try:
        import peft
    except ImportError as error:
        raise ImportError('TALLRec needs peft: pip install "allmrec_hf[baselines]" (or pip install peft)') from error
    return peft


def lora_config(rank: int = 8, alpha: int = 16, dropout: float = 0.05, target_modules=("q_proj", "v_proj")):
    """TALLRec's adapters: LoRA of rank 8 (alpha 16, dropout 0.05) on the attention query and value projections."""
    LoraConfig = peft().LoraConfig

    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


class TextOnlyRecommender(LLMAnsweringMixin, ModelCardMixin, PreTrainedModel):
    """An LLM answering the text-only recommendation prompt: LLM-Only, or TALLRec when ``llm`` is a `PeftModel`.

    Build one with `from_llm`; load a saved one with ``AutoModel.from_pretrained(folder)`` (the LLM is re-attached by
    reference, TALLRec's adapters with ``PeftModel.from_pretrained``).
    """

    config_class = TextOnlyConfig
    main_input_name = "input_ids"

    def __init__(self, config: TextOnlyConfig, llm=None):
        super().__init__(config)
        self.post_init()  # before the LLM is attached, so its loaded weights are never touched
        self.llm = llm if llm is not None else AutoModelForCausalLM.from_config(config.llm_config)
        self.generation_config = generation_config_for(config)
        self.eval()

    cf_window = None  # no user token: the CF history window is never read

    @classmethod
    def from_llm(
        cls,
        llm_name_or_path: str | None = None,
        method: str = "llm_only",
        *,
        gguf_file: str | None = None,
        llm=None,
        tokenizer=None,
        llm_revision: str | None = None,
        dtype: str = "auto",
        quantization: str | None = None,
        device_map=None,
        lora=None,
        generation: dict | None = None,
        **config_kwargs,
    ):
        """A new LLM-Only or TALLRec model around an LLM (a reference as `ALLMRecForRecommendation.from_stage1` takes
        one, or ``llm``); ``lora`` (a `LoraConfig`, default `lora_config()`) wraps it for TALLRec. Returns
        ``(model, tokenizer)``; ``config_kwargs`` are `TextOnlyConfig` fields (``prompt_domain``, ...)."""
        llm, tokenizer, fields = attach_llm(
            llm_name_or_path,
            gguf_file,
            llm,
            tokenizer,
            llm_revision,
            dtype,
            quantization,
            device_map,
            placeholders=False,
        )
        config = TextOnlyConfig(method=method, **fields, **config_kwargs)
        if method == "tallrec":
            adapters = lora or lora_config()
            adapters.base_model_name_or_path = config.llm_name_or_path  # the reference, as the config records it
            llm = peft().get_peft_model(llm, adapters)
        model = cls(config, llm=llm)
        model.generation_config = generation_config_for(config, **(generation or {}))
        return model, tokenizer

    def embed_prompt(self, input_ids):
        return self.llm.get_input_embeddings()(input_ids)

    def save_pretrained(self, save_directory, is_main_process: bool = True, **kwargs):
        """The config, the generation config, the card and, for TALLRec, the PEFT adapter (never the LLM)."""
        if not is_main_process:
            return
        os.makedirs(save_directory, exist_ok=True)
        self.config.save_pretrained(save_directory)
        self.save_generation_config(save_directory)
        if self.config.method == "tallrec":
            self.llm.save_pretrained(save_directory)
        self.save_card(save_directory)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path, *model_args, config=None, llm=None, dtype=None, quantization=None,
        device_map=None, **kwargs,
    ):  # fmt: skip
        """Load a saved LLM-Only or TALLRec model, re-attaching its LLM by reference (arguments as
        `ALLMRecForRecommendation.from_pretrained` takes them)."""
        hub, llm_options = cls.loading_arguments(model_args, kwargs)
        if config is None:
            config = TextOnlyConfig.from_pretrained(pretrained_model_name_or_path, **hub)
        if llm is None:
            llm = cls.load_llm(
                config, pretrained_model_name_or_path, dtype, quantization, device_map, hub, **llm_options
            )
        if config.method == "tallrec":
            llm = peft().PeftModel.from_pretrained(llm, pretrained_model_name_or_path, **hub)
        model = cls(config, llm=llm)
        model.load_generation_config(pretrained_model_name_or_path, **hub)
        model.load_card_data(pretrained_model_name_or_path, **hub)
        model.name_or_path = str(pretrained_model_name_or_path)
        return model.eval()
