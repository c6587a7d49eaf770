"""Stage 2 of A-LLMRec (paper section 4.2): a frozen LLM that recommends through soft tokens.

Two small MLPs are the only trainable parts: ``F_U`` projects the CF user representation ``x_u`` and ``F_I`` the
joint item embedding ``e_i`` into the LLM's token-embedding space (eq. 7). The projections replace the input
embeddings of placeholder tokens in the prompt (user token first, then one token after each history and candidate
title); the loss is the LM loss of the target title only (eq. 8). The LLM is referenced by the config and loaded
by `from_pretrained`, never saved with the model (as a PEFT adapter references its base model).

`LLMAnsweringMixin` holds what every recommender built on a causal LLM shares (the text-only baselines of
`allmrec_hf.baselines` too): loading the LLM by reference, the answer loss, candidate scoring and generation.
Training batches lay out every row as ``[left padding][prompt][answer][right padding]``: all answers start at the
same column, so the logits of the answer tokens are the last ``answer_length + 1`` positions (``logits_to_keep``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    DynamicCache,
    GenerationConfig,
    LogitsProcessorList,
    PreTrainedModel,
    RepetitionPenaltyLogitsProcessor,
)
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.utils import ModelOutput, cached_file

from .configuration_allmrec import ALLMRecConfig
from .llm_reference import describe_reference, llm_reference, load_causal_lm, load_llm_tokenizer
from .model_card import ModelCardMixin
from .modeling_aligner import ALLMRecAlignerModel
from .modeling_utils import damaged_weights


logger = logging.getLogger(__name__)

LLM_PREFIX = "llm."
HUB_ARGUMENTS = ("revision", "subfolder", "token", "cache_dir", "local_files_only", "force_download", "proxies")
LLM_LOADING_ARGUMENTS = ("attn_implementation", "max_memory", "offload_folder", "low_cpu_mem_usage")
# The reference implementation's generation: greedy, repetition penalty 1.5, 64 new tokens at most.
DEFAULT_GENERATION = {"max_new_tokens": 64, "repetition_penalty": 1.5, "do_sample": False, "num_beams": 1}


@dataclass
class ALLMRecOutput(ModelOutput):
    """Output of `forward` of the LLM recommenders.

    Args:
        loss (`torch.FloatTensor`, *optional*): Mean cross-entropy of the answer tokens, when ``labels`` are given.
        logits (`torch.FloatTensor` of shape `(batch, answer_length, vocab)`): Logits predicting each answer token.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


class ALLMRecProjector(nn.Module):
    """``F_U`` or ``F_I`` (eq. 7): Linear -> LayerNorm -> activation -> Linear, into the LLM's token space (the
    reference uses LeakyReLU for the user, GELU for items; the config names them). With ``standardize_inputs`` the
    inputs are first standardised per dimension by statistics stored with the model (`fit_input_statistics`)."""

    def __init__(self, input_size: int, token_size: int, activation: str, standardize_inputs: bool = False):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_size, token_size),
            nn.LayerNorm(token_size),
            ACT2FN[activation],
            nn.Linear(token_size, token_size),
        )
        self.standardize_inputs = standardize_inputs
        if standardize_inputs:
            self.register_buffer("input_mean", torch.zeros(input_size))
            self.register_buffer("input_std", torch.ones(input_size))

    @torch.no_grad()
    def fit_input_statistics(self, samples: torch.Tensor) -> None:
        """Standardise inputs by the per-dimension mean and standard deviation of ``samples`` `(n, input_size)`."""
        samples = samples.float()
        self.input_mean.copy_(samples.mean(0))
        self.input_std.copy_(samples.std(0).clamp(min=1e-6))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.standardize_inputs:
            inputs = (inputs - self.input_mean) / self.input_std
        return self.layers(inputs)


def position_ids_from_mask(attention_mask: torch.Tensor, past_length: int = 0) -> torch.LongTensor:
    """Positions that count only real tokens (what OPT derives itself), for any architecture and any padding."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions[:, past_length:].clamp(min=0)


@torch.no_grad()
def text_token_scale(llm) -> float:
    """RMS of the LLM's input token embeddings as its embedding layer delivers them (Gemma's sqrt(hidden) scaling
    included), over up to 8,192 evenly spread token ids."""
    embedding = llm.get_input_embeddings()
    ids = torch.linspace(0, embedding.num_embeddings - 1, min(8192, embedding.num_embeddings))
    return float(embedding(ids.long().to(embedding.weight.device)).float().pow(2).mean().sqrt())


def prompt_inputs(batch: dict) -> dict:
    """The `embed_prompt` inputs of a batch (everything but the attention mask and the answers)."""
    return {name: value for name, value in batch.items() if name not in ("attention_mask", "labels")}


def generation_config_for(config, **settings) -> GenerationConfig:
    """The model's `GenerationConfig`: the reference's greedy decoding unless ``settings`` say otherwise."""
    return GenerationConfig(
        **{**DEFAULT_GENERATION, **settings},
        pad_token_id=config.llm_pad_token_id,
        eos_token_id=config.llm_eos_token_id,
        bos_token_id=getattr(config, "bos_token_id", None),
    )


# Who a key or query of a scored row belongs to: the prompt, padding, or else the index of its candidate answer.
PROMPT_TOKEN = -1
NOT_A_TOKEN = -2


def tree_attention_mask(
    query_owner: torch.LongTensor,
    query_positions: torch.LongTensor,
    key_owner: torch.LongTensor,
    key_positions: torch.LongTensor,
    llm_config,
    dtype: torch.dtype,
):
    """Additive 4-D attention masks that let several candidate answers follow one prompt (see `score_answers`).

    A query attends to a key that is a real token at an earlier or equal position and belongs to the prompt or to
    the query's own answer; in sliding-window layers the key must also lie within the window. Queries that are
    padding see the key at their own index past the prompt (so that no softmax row is empty). Returns one mask, or
    a dict by layer type for LLMs that mix full and sliding-window layers (Gemma 2/3, as their ``forward`` takes).
    """
    config = llm_config.get_text_config()
    queries, keys = query_owner.unsqueeze(2), key_owner.unsqueeze(1)
    distance = query_positions.unsqueeze(2) - key_positions.unsqueeze(1)
    allowed = (keys != NOT_A_TOKEN) & (distance >= 0) & ((keys == PROMPT_TOKEN) | (keys == queries))
    query_index = torch.arange(query_owner.shape[1], device=keys.device) + key_owner.shape[1] - query_owner.shape[1]
    allowed |= query_index.unsqueeze(1) == torch.arange(key_owner.shape[1], device=keys.device)
    window = getattr(config, "sliding_window", None)

    def additive(keep):
        mask = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
        return mask.masked_fill(~keep, torch.finfo(dtype).min).unsqueeze(1)

    layer_types = getattr(config, "layer_types", None)
    if not layer_types:
        sliding = window is not None and getattr(config, "use_sliding_window", True)
        return additive(allowed & (distance < window) if sliding else allowed)
    masks = {}
    for kind in set(layer_types):
        if kind == "full_attention":
            masks[kind] = additive(allowed)
        elif kind == "sliding_attention":
            masks[kind] = additive(allowed & (distance < window))
        else:
            raise NotImplementedError(f"candidate scoring cannot mask attention layers of type {kind!r}")
    return masks["full_attention"] if set(masks) == {"full_attention"} else masks


class LLMAnsweringMixin:
    """What a recommender built on a causal LLM shares: the LLM loaded by reference, its `GenerationConfig`, the
    answer loss (eq. 8) and the three ways of answering (candidate scoring, greedy and constrained generation).

    A class using it has ``self.llm``, a ``config`` with the fields of `LLMPromptConfig` and an ``embed_prompt``
    that turns a batch's inputs into the LLM's input embeddings.
    """

    @staticmethod
    def loading_arguments(model_args, kwargs: dict) -> tuple[dict, dict]:
        """``(hub, llm)`` arguments of `from_pretrained`; positional model arguments and unknown names are refused
        rather than dropped in silence."""
        if model_args:
            raise TypeError(f"from_pretrained takes no positional model arguments, got {model_args}")
        # Markers transformers adds on its way here (`_from_auto`, `_from_pipeline`, ...) and the hub arguments of a
        # PEFT adapter that AutoModel looked for.
        kwargs = {name: value for name, value in kwargs.items() if not name.startswith("_")}
        kwargs.pop("adapter_kwargs", None)
        kwargs.pop("trust_remote_code", None)  # every class here ships with the package: no remote code runs
        hub = {name: kwargs.pop(name) for name in HUB_ARGUMENTS if name in kwargs}
        llm = {name: kwargs.pop(name) for name in LLM_LOADING_ARGUMENTS if name in kwargs}
        if kwargs:
            accepted = sorted(["llm", "dtype", "quantization", "device_map", *HUB_ARGUMENTS, *LLM_LOADING_ARGUMENTS])
            raise TypeError(f"from_pretrained got unexpected arguments {sorted(kwargs)}; it takes {accepted}")
        return hub, llm

    @staticmethod
    def load_llm(config, where, dtype=None, quantization=None, device_map=None, hub=None, **llm_options):
        """The LLM ``config`` references, loaded as ``dtype``/``quantization`` say (the config's by default); an
        LLM that cannot be loaded is an error naming the reference and how to pass one."""
        hub = hub or {}
        # AutoModel reads `attn_implementation` into the config it builds; it is meant for the LLM.
        chosen = getattr(config, "_attn_implementation_internal", None)
        if isinstance(chosen, str):
            llm_options.setdefault("attn_implementation", chosen)
        if not config.llm_name_or_path:
            raise ValueError(f"{where} names no LLM (llm_name_or_path); pass llm=...")
        shared = {name: value for name, value in hub.items() if name not in ("revision", "subfolder")}
        try:
            return load_causal_lm(
                config.llm_name_or_path,
                config.llm_gguf_file,
                config.llm_revision,
                dtype or config.llm_dtype,
                quantization if quantization is not None else config.llm_quantization,
                device_map,
                **shared,
                **llm_options,
            )
        except OSError as error:
            reference = describe_reference(config.llm_name_or_path, config.llm_gguf_file)
            raise OSError(
                f"{where} references the LLM {reference}, which cannot be loaded here ({error}). Pass the LLM "
                "yourself: from_pretrained(..., llm=AutoModelForCausalLM.from_pretrained(<where it is>)), or fix "
                "llm_name_or_path in its config.json."
            ) from error

    def load_generation_config(self, where, **hub) -> None:
        """The saved `GenerationConfig`, or the reference's for checkpoints saved before it was one."""
        try:
            self.generation_config = GenerationConfig.from_pretrained(where, **hub)
        except OSError:
            self.generation_config = generation_config_for(self.config)

    def save_generation_config(self, folder) -> None:
        self.generation_config.save_pretrained(folder)

    def answer_loss(self, embeds, attention_mask, labels=None, num_items_in_batch=None) -> ALLMRecOutput:
        """The LM loss of the answer tokens (eq. 8) of a ``[prompt][answer]`` batch given as embeddings; without
        ``labels``, the logits after the last position only.

        ``num_items_in_batch`` (answer tokens of the whole step, over devices and accumulated batches, given by
        Trainer) makes the loss their sum divided by it: a per-token mean whatever the split of the step."""
        keep = labels.shape[1] + 1 if labels is not None else 1
        outputs = self.llm(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            position_ids=position_ids_from_mask(attention_mask),
            logits_to_keep=keep,
            use_cache=False,
        )
        logits = outputs.logits[:, :-1] if labels is not None else outputs.logits
        loss = None
        if labels is not None:
            flat_logits, flat_labels = (
                logits.float().reshape(-1, logits.shape[-1]),
                labels.reshape(-1).to(logits.device),
            )
            if num_items_in_batch is None:
                loss = F.cross_entropy(flat_logits, flat_labels)
            else:
                loss = F.cross_entropy(flat_logits, flat_labels, reduction="sum") / num_items_in_batch
        return ALLMRecOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def score_answers(self, batch: dict, answer_ids: torch.LongTensor, answer_lengths: torch.LongTensor):
        """Log-likelihood of every candidate answer after each prompt (`answer_log_likelihoods` without gradients).

        Args:
            batch (`dict`): Left-padded prompt batch (as `RecommendationBatcher` builds it without answers), with
                the `embed_prompt` inputs.
            answer_ids / answer_lengths: See `answer_log_likelihoods`.
        """
        return self.answer_log_likelihoods(
            self.embed_prompt(**prompt_inputs(batch)), batch["attention_mask"], answer_ids, answer_lengths
        )

    def answer_log_likelihoods(
        self,
        prompt_embeds: torch.Tensor,
        prompt_mask: torch.LongTensor,
        answer_ids: torch.LongTensor,
        answer_lengths: torch.LongTensor,
    ):
        """Log-likelihood of every candidate answer after each prompt: the prompt is read once, then all answers
        in ONE more forward pass (differentiable: the ranking objectives train through it).

        The answers of a row are packed one after another behind the prompt's cache; each attends to the prompt and
        to its own earlier tokens only, and its positions continue from the prompt's end, so it is read exactly as
        if it alone followed the prompt (a tree-shaped attention mask, as in tree-attention speculative decoding).
        The cache keeps every prompt position whatever the architecture's windows (the mask applies them), and it is
        only appended to, never cropped, so sliding-window layers (Gemma) need nothing special. The cost is one
        forward pass over the prompt plus all answers, without attending across answers.

        Args:
            prompt_embeds (`torch.Tensor` of shape `(batch, length, hidden)`): The left-padded prompts' input
                embeddings (`embed_prompt`).
            prompt_mask (`torch.LongTensor` of shape `(batch, length)`): Their attention mask.
            answer_ids (`torch.LongTensor` of shape `(batch, candidates, answer_length)`): Right-padded answers.
            answer_lengths (`torch.LongTensor` of shape `(batch, candidates)`): Real tokens per answer.

        Returns:
            ``(sum, count)``: summed token log-likelihoods and token counts, each `(batch, candidates)`; the mean
            is ``sum / count``.
        """
        device = prompt_mask.device
        answer_ids, answer_lengths = answer_ids.to(device), answer_lengths.to(device)
        rows, candidates, width = answer_ids.shape
        # Pack each row's answers one after another: token j of candidate c sits at starts[c] + j.
        real = torch.arange(width, device=device) < answer_lengths.unsqueeze(-1)
        row, candidate, offset = real.nonzero(as_tuple=True)
        packed = (answer_lengths.cumsum(1) - answer_lengths)[row, candidate] + offset
        total = int(answer_lengths.sum(1).max())
        packed_ids = torch.full((rows, total), self.config.llm_pad_token_id, dtype=torch.long, device=device)
        packed_ids[row, packed] = answer_ids[row, candidate, offset]
        owner = torch.full((rows, total), NOT_A_TOKEN, dtype=torch.long, device=device)
        owner[row, packed] = candidate
        packed_offset = torch.zeros(rows, total, dtype=torch.long, device=device)
        packed_offset[row, packed] = offset

        prompt_positions = position_ids_from_mask(prompt_mask)
        cache = DynamicCache()  # plain layers: every prompt position is kept, the masks below apply any window
        prompt = self.llm(
            inputs_embeds=prompt_embeds,
            attention_mask=prompt_mask,
            position_ids=prompt_positions,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        answer_positions = prompt_mask.sum(1, keepdim=True) + packed_offset
        embeds = self.llm.get_input_embeddings()(packed_ids)
        mask = tree_attention_mask(
            owner,
            answer_positions,
            torch.cat([torch.where(prompt_mask.bool(), PROMPT_TOKEN, NOT_A_TOKEN), owner], 1),
            torch.cat([prompt_positions, answer_positions], 1),
            self.llm.config,
            embeds.dtype,
        )
        answers = self.llm(
            inputs_embeds=embeds, attention_mask=mask, position_ids=answer_positions, cache=cache, use_cache=True
        )
        # An answer's first token follows the prompt's last; its token j > 0 follows its token j - 1.
        sums = []
        for index in range(rows):  # one row's logits at a time: with a large vocabulary they are big
            chosen = row == index
            tokens, after = packed_ids[index, packed[chosen]], packed[chosen] - 1
            first = (offset[chosen] == 0).unsqueeze(1)
            logits = torch.where(first, prompt.logits[index, -1:], answers.logits[index, after.clamp(min=0)]).float()
            token_log_probs = logits.gather(1, tokens.unsqueeze(1)).squeeze(1) - logits.logsumexp(-1)
            sums.append(token_log_probs.new_zeros(candidates).index_add(0, candidate[chosen], token_log_probs))
        return torch.stack(sums), answer_lengths.float()

    @torch.no_grad()
    def generate_answers(self, batch: dict, prefix_allowed_tokens_fn=None, **generate_kwargs) -> torch.LongTensor:
        """Decoding after left-padded prompts with the model's `GenerationConfig` (greedy, repetition penalty 1.5,
        as the reference; ``generate_kwargs`` override it); returns the generated token ids only. The prompt is
        given as embeddings, so the repetition penalty covers the generated tokens only, as in the reference."""
        if prefix_allowed_tokens_fn is not None:
            generate_kwargs.setdefault("repetition_penalty", 1.0)  # the allowed tokens already decide
        penalty = generate_kwargs.pop("repetition_penalty", self.generation_config.repetition_penalty)
        processors = generate_kwargs.pop("logits_processor", None) or LogitsProcessorList()
        if penalty not in (None, 1.0):
            # Our own processor, not generate's: generate skips each row's left-padding length of `input_ids` as
            # prompt, but after `inputs_embeds` they hold the generated tokens only, so a padded row's first tokens
            # would escape the penalty and a user's answer would depend on the batch.
            processors.append(RepetitionPenaltyLogitsProcessor(penalty))
        # generate's own penalty off; the call's settings go into a copy of the config (generate deprecates
        # passing both a config and settings).
        generation_config = copy.deepcopy(self.generation_config)
        other_kwargs = generation_config.update(repetition_penalty=1.0, **generate_kwargs)
        return self.llm.generate(
            inputs_embeds=self.embed_prompt(**prompt_inputs(batch)),
            attention_mask=batch["attention_mask"],
            generation_config=generation_config,
            prefix_allowed_tokens_fn=prefix_allowed_tokens_fn,
            logits_processor=processors,
            **other_kwargs,
        )

    def num_trainable_parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters() if parameter.requires_grad)


class ALLMRecPreTrainedModel(ModelCardMixin, PreTrainedModel):
    config_class = ALLMRecConfig
    base_model_prefix = "allmrec"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _keep_in_fp32_modules = ["user_projector", "item_projector"]

    def _init_weights(self, module):
        # Xavier-normal projector weights, as the reference; the LLM and the stage-1 model are attached only after
        # post_init, so their loaded weights are never touched here.
        if isinstance(module, nn.Linear):
            init.xavier_normal_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class ALLMRecForRecommendation(LLMAnsweringMixin, ALLMRecPreTrainedModel):
    """A-LLMRec: a frozen CF model and stage-1 aligner, a frozen causal LLM, and trainable projectors.

    Build it for training with `from_stage1`; load a trained one with ``AutoModel.from_pretrained(path_or_repo)``,
    which re-attaches the LLM from ``config.llm_name_or_path`` (``dtype``, ``device_map`` and ``quantization`` are
    passed through).

    Example:

    ```python
    >>> from allmrec_hf import ALLMRecForRecommendation
    >>> model, tokenizer = ALLMRecForRecommendation.from_stage1(
    ...     "runs/beauty-stage1", "facebook/opt-6.7b", dtype="bfloat16", device_map="auto", prompt_domain="item"
    ... )
    ```
    """

    def __init__(self, config: ALLMRecConfig, llm=None, aligner: ALLMRecAlignerModel | None = None):
        super().__init__(config)
        llm = llm if llm is not None else AutoModelForCausalLM.from_config(config.llm_config)
        aligner = aligner if aligner is not None else ALLMRecAlignerModel(config.aligner_config)
        token_size = llm.get_input_embeddings().embedding_dim
        cf_size = config.aligner_config.cf_config.hidden_size
        item_size = cf_size if config.item_embeddings == "cf" else config.aligner_config.latent_size
        if config.item_token_conditioning != "none":
            # F_I also reads x_u ⊙ f_I^dec(e_i), and with "user+text" x_u ⊙ f_I^dec(q_i) (see `item_token_inputs`)
            item_size += cf_size * len(config.item_token_conditioning.split("+"))
        standardize = config.standardize_soft_token_inputs
        self.user_projector = ALLMRecProjector(cf_size, token_size, config.user_projector_activation, standardize)
        self.item_projector = ALLMRecProjector(item_size, token_size, config.item_projector_activation, standardize)
        if config.item_embeddings == "random":
            # Table 7 row 4: item tokens without collaborative knowledge, fixed (seeded) and saved with the model.
            generator = torch.Generator().manual_seed(0)
            table = torch.rand(config.aligner_config.cf_config.num_items + 1, item_size, generator=generator)
            self.register_buffer("random_item_embeddings", table)
        self.post_init()
        self.aligner = aligner.requires_grad_(False)
        self.llm = llm.requires_grad_(False)
        self.user_projector.requires_grad_(config.use_user_token)
        self.item_projector.requires_grad_(config.item_tokens)
        self.user_projector.float()
        self.item_projector.float()
        self.generation_config = generation_config_for(config)
        self.train(False)

    # -- construction and persistence ---------------------------------------------------------------------------

    @classmethod
    def from_stage1(
        cls,
        stage1_name_or_path,
        llm_name_or_path: str | None = None,
        *,
        gguf_file: str | None = None,
        llm=None,
        tokenizer=None,
        llm_revision: str | None = None,
        dtype: str = "auto",
        quantization: str | None = None,
        device_map=None,
        soft_token_scale: float | str = 1.0,
        generation: dict | None = None,
        user_rows=None,
        **config_kwargs,
    ):
        """A new stage-2 model around a trained stage-1 folder (or model) and an LLM; returns ``(model, tokenizer)``.

        Args:
            stage1_name_or_path: A stage-1 folder, Hub id or `ALLMRecAlignerModel`.
            llm_name_or_path (`str`, *optional*): The LLM: a Hub id, a folder, a ``.gguf`` file or a packaged name
                (``"smollm2-135m-instruct"``, ``"gemma-3-270m"``; see `llm_reference`). Recorded in the config so
                that `from_pretrained` re-attaches it from any working directory.
            gguf_file (`str`, *optional*): With a Hub id or folder: the GGUF file inside it.
            llm / tokenizer (*optional*): Already loaded; otherwise both come from ``llm_name_or_path``.
            dtype (`str` or `torch.dtype`, *optional*, defaults to `"auto"`): The LLM's weights dtype.
            quantization (`str`, *optional*): ``"8bit"`` or ``"4bit"`` (bitsandbytes), as the paper runs OPT-6.7B.
            soft_token_scale (`float` or `"text"`, *optional*, defaults to 1.0): Multiplier of the projector
                outputs; ``"text"`` sets it to the RMS of the LLM's own input token embeddings (see `ALLMRecConfig`).
            generation (`dict`, *optional*): `GenerationConfig` settings (``max_new_tokens``, ``repetition_penalty``)
                other than the reference's.
            user_rows (*optional*): Rows with ``history`` and ``user_id`` (the training split) whose ``x_u``
                standardise ``F_U``'s inputs, with ``standardize_soft_token_inputs=True`` (see
                `fit_input_statistics`).
            config_kwargs: `ALLMRecConfig` fields (``prompt_domain``, ``max_title_tokens``, ...).

        The tokenizer gains the three placeholder tokens (the LLM's embedding table is not resized: placeholder
        embeddings are always replaced).

        Example:

        ```python
        >>> model, tokenizer = ALLMRecForRecommendation.from_stage1("runs/sci-stage1", "smollm2-135m-instruct")
        ```
        """
        aligner = (
            stage1_name_or_path
            if isinstance(stage1_name_or_path, ALLMRecAlignerModel)
            else ALLMRecAlignerModel.from_pretrained(stage1_name_or_path)
        )
        llm, tokenizer, llm_fields = attach_llm(llm_name_or_path, gguf_file, llm, tokenizer, llm_revision, dtype,
                                                quantization, device_map)  # fmt: skip
        if soft_token_scale == "text":
            soft_token_scale = text_token_scale(llm)
        config = ALLMRecConfig(
            aligner_config=aligner.config, soft_token_scale=float(soft_token_scale), **llm_fields, **config_kwargs
        )
        model = cls(config, llm=llm, aligner=aligner)
        model.generation_config = generation_config_for(config, **(generation or {}))
        model.place_like_llm()
        if config.item_token_init_text:
            model.initialize_item_tokens_at_text(tokenizer, config.item_token_init_text)
        if config.standardize_soft_token_inputs:
            if user_rows is not None:
                model.fit_input_statistics(user_rows)
            else:
                logger.warning(
                    "standardize_soft_token_inputs without user_rows: the projectors' inputs stay unstandardised until "
                    "fit_input_statistics (or each projector's own) is called"
                )
        return model, tokenizer

    @torch.no_grad()
    def initialize_item_tokens_at_text(self, tokenizer, text: str, weight_scale: float = 0.05) -> None:
        """Make every item token start near the LLM's input embedding of ``text`` (mean over its tokens): the output
        layer of ``F_I`` gets that embedding as its bias (divided by ``soft_token_scale``, which `soft_tokens`
        multiplies back) and its weights shrunk by ``weight_scale``, leaving each item a small learnable
        departure. A frozen small LLM ignores arbitrary vectors but reads its own words: this is what lets the
        ranking objective's gradient reach the choice from the first steps."""
        token_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not token_ids:
            raise ValueError(f"item_token_init_text {text!r} has no tokens in this LLM's tokenizer")
        input_embeddings = self.llm.get_input_embeddings()  # its forward: Gemma's sqrt(hidden) scaling included
        embedding = input_embeddings(torch.tensor(token_ids, device=input_embeddings.weight.device)).float().mean(0)
        if self.config.normalize_soft_tokens:
            embedding = embedding / embedding.pow(2).mean().sqrt()
        else:
            embedding = embedding / self.config.soft_token_scale
        output_layer = self.item_projector.layers[-1]
        output_layer.weight.mul_(weight_scale)
        output_layer.bias.copy_(embedding.to(output_layer.bias.device))

    @torch.no_grad()
    def fit_input_statistics(self, user_rows, max_users: int = 4096) -> None:
        """Standardise the projectors' inputs: ``F_I``'s by the statistics of every catalog item's representation,
        ``F_U``'s by those of ``x_u`` over the first ``max_users`` of ``user_rows`` (rows with ``history`` and
        ``user_id``)."""
        from .collators import pad  # the collators import this module's config users; no cycle at call time

        device = self.user_projector.input_mean.device
        rows = user_rows.select(range(min(max_users, len(user_rows))))
        windows = pad(rows["history"], 0, "left", self.cf_window).to(device)
        users = self.cf_user_representations(windows, torch.tensor(rows["user_id"], dtype=torch.long, device=device))
        self.fit_statistics_of(users)

    @torch.no_grad()
    def fit_statistics_of(self, users: torch.Tensor, item_table: torch.Tensor | None = None) -> None:
        """`fit_input_statistics` from ``x_u`` given directly (and, given ``item_table``, its rows as the items'
        representations, as `embed_prompt` reads them): ``F_U`` over ``users``; ``F_I`` over every catalog item,
        each beside one of ``users`` (a seeded draw) when item tokens are user-conditioned."""
        self.user_projector.fit_input_statistics(users)
        count = len(item_table) - 1 if item_table is not None else self.config.aligner_config.cf_config.num_items
        items = torch.arange(1, count + 1, device=users.device)
        paired = None
        if self.config.item_token_conditioning != "none":
            pairing = torch.randint(len(users), (count,), generator=torch.Generator().manual_seed(0))
            paired = users[pairing.to(users.device)]
        self.item_projector.fit_input_statistics(self.item_token_inputs(items, paired, item_table=item_table))

    def place_like_llm(self) -> None:
        """Put the aligner and projectors (fp32) on the device of the LLM's input embeddings."""
        device = self.llm.get_input_embeddings().weight.device
        self.aligner.to(device)
        for name, buffer in list(self._buffers.items()):  # the random-embedding ablation's table
            self._buffers[name] = buffer.to(device)
        self.user_projector.to(device=device, dtype=torch.float32)
        self.item_projector.to(device=device, dtype=torch.float32)
        if getattr(self.llm, "hf_device_map", None) is not None:
            # Trainer must not move a model the LLM's device map already placed (and cannot move 8-bit weights).
            self.hf_device_map = self.llm.hf_device_map

    def state_dict(self, *args, **kwargs):
        """Everything but the LLM, which the config references."""
        state = super().state_dict(*args, **kwargs)
        return type(state)((name, tensor) for name, tensor in state.items() if not name.startswith(LLM_PREFIX))

    def save_pretrained(self, save_directory, *args, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            self.save_generation_config(save_directory)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path,
        *model_args,
        config: ALLMRecConfig | None = None,
        llm=None,
        dtype: str | None = None,
        quantization: str | None = None,
        device_map=None,
        **kwargs,
    ):
        """Load a saved A-LLMRec model and re-attach its LLM by reference.

        Args:
            pretrained_model_name_or_path (`str`): A folder written by `save_pretrained` or a Hub repository.
            llm (*optional*): An already loaded LLM to attach instead of the one ``config.llm_name_or_path`` names.
            dtype / quantization / device_map (*optional*): Override how the LLM is loaded (default: the config's
                ``llm_dtype`` and ``llm_quantization``).
            kwargs: Hub arguments for this model's files (``revision``, ``subfolder``, ``token``, ``cache_dir``,
                ``local_files_only``, ``force_download``, ``proxies``; all but ``revision`` and ``subfolder`` also
                reach the LLM's download) and LLM loading arguments (``attn_implementation``, ``max_memory``,
                ``offload_folder``, ``low_cpu_mem_usage``). Anything else is refused.
        """
        hub, llm_options = cls.loading_arguments(model_args, kwargs)
        if config is None:
            config = ALLMRecConfig.from_pretrained(pretrained_model_name_or_path, **hub)
        if llm is None:
            llm = cls.load_llm(
                config, pretrained_model_name_or_path, dtype, quantization, device_map, hub, **llm_options
            )
        model = cls(config, llm=llm)
        weights = cached_file(pretrained_model_name_or_path, "model.safetensors", **hub)
        try:
            state = load_file(weights)
        except SafetensorError as error:
            raise damaged_weights(weights, error) from error
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [name for name in missing if not name.startswith(LLM_PREFIX)]
        if missing or unexpected:
            raise ValueError(f"{weights} does not fit the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
        model.load_generation_config(pretrained_model_name_or_path, **hub)
        model.load_card_data(pretrained_model_name_or_path, **hub)
        model.place_like_llm()
        model.name_or_path = str(pretrained_model_name_or_path)
        return model.eval()

    def train(self, mode: bool = True):
        # Only the projectors train: the frozen LLM, the CF backbone and the stage-1 model stay in eval mode.
        super().train(mode)
        if hasattr(self, "llm"):
            self.llm.eval()
            self.aligner.eval()
        return self

    # -- soft tokens -------------------------------------------------------------------------------------------

    @property
    def cf_window(self) -> int:
        """How many recent history items the CF backbone reads for ``x_u``."""
        return self.aligner.cf_backbone.config.max_sequence_length

    @torch.no_grad()
    def cf_user_representations(self, cf_input_ids: torch.LongTensor, user_ids: torch.LongTensor | None = None):
        """``x_u`` of the frozen CF backbone for each history window."""
        return self.aligner.cf_backbone.user_representation(cf_input_ids, user_ids)

    def item_representations(self, item_ids: torch.LongTensor, path: str | None = None) -> torch.Tensor:
        """What ``F_I`` projects for each item, by ``path`` (default ``config.item_embeddings``; see the config)."""
        path = path or self.config.item_embeddings
        if path in ("joint", "text"):
            return self.aligner.catalog_embeddings(item_ids, path)
        if path == "cf":
            return self.aligner.cf_backbone.item_embeddings()[item_ids]
        if path == "random":
            return self.random_item_embeddings[item_ids]
        raise ValueError(f"no item representation for path {path!r}")

    def item_token_inputs(
        self,
        item_ids: torch.LongTensor,
        users: torch.Tensor | None,
        path: str | None = None,
        item_table: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """What ``F_I`` reads for each of ``item_ids``: its representation (from ``path``, default
        ``config.item_embeddings``, or the rows of ``item_table``: another catalog's ``q_i``) and, with
        ``item_token_conditioning="user"``, the products ``x_u ⊙ f_I^dec(e_i)`` with the user of its prompt
        (``users``, one row per item), whose sum is stage 1's logit; with ``"user+text"`` also ``x_u ⊙
        f_I^dec(q_i)``, whose sum is the text path's logit (better on cold items)."""
        items = item_table[item_ids] if item_table is not None else self.item_representations(item_ids, path)
        conditioning = self.config.item_token_conditioning
        if conditioning == "none":
            return items
        if users is None:
            raise ValueError(
                f"item_token_conditioning={conditioning!r} needs the user (cf_input_ids or user_representations)"
            )
        path = "text" if item_table is not None else path or self.config.item_embeddings
        inputs = [items.float(), users.float() * (items if path == "cf" else self.decode_items(items))]
        if conditioning == "user+text":
            texts = items if path == "text" else self.aligner.catalog_embeddings(item_ids, "text")
            inputs.append(users.float() * self.decode_items(texts))
        return torch.cat(inputs, -1)

    def decode_items(self, latents: torch.Tensor) -> torch.Tensor:
        """``f_I^dec`` of latent item embeddings, in fp32 (what the dot product with ``x_u`` reads)."""
        return self.aligner.item_decoder(latents.to(self.aligner.item_decoder.weight.dtype)).float()

    def embed_prompt(
        self,
        input_ids: torch.LongTensor,
        history_item_ids: torch.LongTensor | None = None,
        candidate_item_ids: torch.LongTensor | None = None,
        cf_input_ids: torch.LongTensor | None = None,
        user_ids: torch.LongTensor | None = None,
        user_representations: torch.Tensor | None = None,
        item_embedding_path: str | None = None,
        item_table: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Token embeddings of ``input_ids`` with every placeholder replaced by its soft token.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch, length)`): The prompt; placeholders mark soft tokens.
            history_item_ids / candidate_item_ids (`torch.LongTensor`): Item ids of the ``[HistoryEmb]`` and
                ``[CandidateEmb]`` soft tokens, 0-padded: the ``k``-th placeholder of a row receives the ``k``-th
                non-zero id of the row.
            cf_input_ids / user_ids (*optional*): The CF history window (and user ids) giving ``x_u`` for
                ``[UserRep]``; or ``user_representations``, ``x_u`` given directly (`(batch, d)`, or `(d,)` for
                every row).
            item_embedding_path (`str`, *optional*): Which item representations ``F_I`` reads (default
                ``config.item_embeddings``; ``"text"``: A-LLMRec (SBERT)).
            item_table (`torch.Tensor` of shape `(items + 1, d')`, *optional*): Item representations to read instead
                of the model's own: another catalog's ``q_i`` (the cross-domain scenario).
        """
        config = self.config
        placeholders = {
            "user": input_ids == config.user_token_id,
            "history": input_ids == config.history_token_id,
            "candidate": input_ids == config.candidate_token_id,
        }
        any_placeholder = placeholders["user"] | placeholders["history"] | placeholders["candidate"]
        embeds = self.llm.get_input_embeddings()(input_ids.masked_fill(any_placeholder, config.llm_pad_token_id))
        tokens = {}
        conditioned = config.item_token_conditioning != "none"
        if placeholders["user"].any() or (conditioned and any_placeholder.any()):
            if user_representations is None and (cf_input_ids is not None or user_ids is not None):
                user_representations = self.cf_user_representations(cf_input_ids, user_ids)
            elif user_representations is not None and user_representations.dim() == 1:  # one x_u for every row
                user_representations = user_representations.expand(len(input_ids), -1)
        if placeholders["user"].any():
            if user_representations is None:
                raise ValueError("the prompts hold [UserRep] but neither cf_input_ids nor user_representations came")
            tokens["user"] = self.soft_tokens(self.user_projector, user_representations)
        for name, item_ids in (("history", history_item_ids), ("candidate", candidate_item_ids)):
            if placeholders[name].any():
                present = item_ids != 0
                # Each item's user is its prompt's: the rows of the non-zero ids, in the same (row-major) order.
                users = None if user_representations is None else user_representations[present.nonzero()[:, 0]]
                inputs = self.item_token_inputs(item_ids[present], users, item_embedding_path, item_table)
                tokens[name] = self.soft_tokens(self.item_projector, inputs)
        for name, projected in tokens.items():
            expected = int(placeholders[name].sum())
            if len(projected) != expected:
                raise ValueError(
                    f"the prompts hold {expected} {name} placeholders but {len(projected)} {name} vectors were given"
                )
            embeds = embeds.masked_scatter(placeholders[name].unsqueeze(-1), projected.to(embeds.dtype))
        return embeds

    def soft_tokens(self, projector: ALLMRecProjector, inputs: torch.Tensor) -> torch.Tensor:
        """The soft tokens ``projector`` makes of ``inputs``, as they enter the LLM (normalised and scaled as the
        config says)."""
        tokens = projector(inputs.float())
        if self.config.normalize_soft_tokens:
            tokens = tokens * tokens.pow(2).mean(-1, keepdim=True).add(1e-12).rsqrt()
        return tokens * self.config.soft_token_scale

    # -- training --------------------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.LongTensor,
        labels: torch.LongTensor | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        candidate_answer_ids: torch.LongTensor | None = None,
        candidate_answer_lengths: torch.LongTensor | None = None,
        **soft_token_inputs,
    ) -> ALLMRecOutput:
        """The training loss: the LM loss of the answer (eq. 8) or, given every candidate's answer, the objective
        the config weighs (LM, ranking and distillation losses; see `ALLMRecConfig`).

        Args:
            input_ids (`torch.LongTensor` of shape `(batch, length)`):
                ``[left padding][prompt][answer][right padding]`` (eq. 8 alone), or the left-padded prompt (with
                ``candidate_answer_ids``); placeholders mark the soft tokens.
            attention_mask (`torch.LongTensor` of shape `(batch, length)`): 1 on prompt and answer tokens.
            labels (`torch.LongTensor`, *optional*): Eq. 8 alone: the answer tokens aligned with the last
                ``answer_length`` columns, -100 on padding, `(batch, answer_length)`. With candidate answers: the
                index of each row's target among its candidates, `(batch,)`.
            num_items_in_batch (`int`, *optional*): Answer tokens (rows, with candidate answers) of the whole step
                (see `answer_loss`).
            candidate_answer_ids / candidate_answer_lengths (`torch.LongTensor`, *optional*): Every candidate's
                answer, `(batch, candidates, answer_length)` right-padded, and its length `(batch, candidates)`.
            soft_token_inputs: The other inputs of `embed_prompt` (item ids, the CF window...).
        """
        if candidate_answer_ids is None:
            embeds = self.embed_prompt(input_ids, **soft_token_inputs)
            return self.answer_loss(embeds, attention_mask, labels, num_items_in_batch)
        if soft_token_inputs.get("user_representations") is None and "cf_input_ids" in soft_token_inputs:
            soft_token_inputs["user_representations"] = self.cf_user_representations(
                soft_token_inputs.pop("cf_input_ids"), soft_token_inputs.pop("user_ids", None)
            )
        sums, counts = self.answer_log_likelihoods(
            self.embed_prompt(input_ids, **soft_token_inputs), attention_mask, candidate_answer_ids,
            candidate_answer_lengths,
        )  # fmt: skip
        scores = sums / counts if (self.config.score_normalization or "mean") == "mean" else sums
        loss = None
        if labels is not None:
            losses = self.ranking_losses(sums / counts, scores, labels, soft_token_inputs)
            total = sum(weight * losses[name].sum() for name, weight in self.loss_weights().items() if weight)
            loss = total / (num_items_in_batch if num_items_in_batch is not None else len(labels))
        return ALLMRecOutput(loss=loss, logits=scores)

    def loss_weights(self) -> dict[str, float]:
        config = self.config
        return {
            "lm": config.lm_loss_weight,
            "ranking": config.ranking_loss_weight,
            "distillation": config.distillation_loss_weight,
        }

    def ranking_losses(self, mean_log_likelihoods, scores, target_index, soft_token_inputs) -> dict[str, torch.Tensor]:
        """Each row's loss of each objective the config weighs: ``lm`` (the target answer's mean token negative
        log-likelihood: eq. 8 for one row), ``ranking`` (cross-entropy of the target among the candidates' scores)
        and ``distillation`` (KL divergence from the stage-1 scorer's candidate distribution:
        `teacher_log_probabilities`)."""
        config, weights = self.config, self.loss_weights()
        target_index = target_index.to(scores.device)
        losses = {}
        if weights["lm"]:
            losses["lm"] = -mean_log_likelihoods.gather(1, target_index.unsqueeze(1)).squeeze(1)
        student = F.log_softmax(scores / config.ranking_temperature, dim=-1)
        if weights["ranking"]:
            losses["ranking"] = F.nll_loss(student, target_index, reduction="none")
        if weights["distillation"]:
            users, candidates = soft_token_inputs.get("user_representations"), soft_token_inputs["candidate_item_ids"]
            if users is None:
                raise ValueError("the distillation loss needs the user (cf_input_ids or user_representations)")
            if users.dim() == 1:
                users = users.expand(len(candidates), -1)
            teacher = self.teacher_log_probabilities(users, candidates)
            losses["distillation"] = F.kl_div(student, teacher, log_target=True, reduction="none").sum(-1)
        return losses

    def teacher_log_probabilities(self, users: torch.Tensor, candidates: torch.LongTensor) -> torch.Tensor:
        """The distillation target: the stage-1 scorer's log-softmax over each row's candidates (logits divided by
        ``distillation_temperature``). ``both`` scores with ``w · joint + (1 - w) · text`` (``w`` =
        ``distillation_joint_weight``), which is the two paths' distributions multiplied, ``p_joint^w · p_text^(1-w)``
        renormalised, as benches/bench_stage1_fusion.py mixes them: an item keeps weight only where neither path
        rules it out, and each path is weak where the other is strong (cold items for the joint path)."""
        config = self.config
        paths = ("joint", "text") if config.distillation_teacher == "both" else (config.distillation_teacher,)
        logits = {path: self.aligner.score_candidates(users, candidates, path).float() for path in paths}
        if config.distillation_teacher == "both":
            weight = config.distillation_joint_weight
            logits = {"both": weight * logits["joint"] + (1 - weight) * logits["text"]}
        return F.log_softmax(logits[config.distillation_teacher] / config.distillation_temperature, dim=-1)


def attach_llm(name_or_path, gguf_file, llm, tokenizer, revision, dtype, quantization, device_map, placeholders=True):
    """The LLM and tokenizer a new recommender is built around (loaded from ``name_or_path`` unless given), the
    tokenizer prepared for the prompts (with the soft-token placeholders unless ``placeholders`` is false), and the
    config fields that reference the LLM: ``(llm, tokenizer, fields)``."""
    from .prompts import prepare_tokenizer

    dtype = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    if name_or_path is None:
        if llm is None:
            raise ValueError("pass llm_name_or_path or a loaded llm")
        name_or_path = llm.name_or_path
    reference, gguf_file = llm_reference(name_or_path, gguf_file)
    if llm is None:
        llm = load_causal_lm(reference, gguf_file, revision, dtype, quantization, device_map)
    llm.requires_grad_(False)
    if tokenizer is None:
        tokenizer = load_llm_tokenizer(reference, gguf_file, revision)
    fields = {
        "llm_config": llm.config,
        "llm_name_or_path": reference,
        "llm_gguf_file": gguf_file,
        "llm_revision": revision,
        "llm_dtype": dtype,
        "llm_quantization": quantization,
        **prepare_tokenizer(tokenizer, placeholders),
    }
    return llm, tokenizer, fields
