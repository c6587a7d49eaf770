"""Stage 2 of A-LLMRec (paper section 4.2): a frozen LLM that recommends through soft tokens.

Two small MLPs are the only trainable parts: ``F_U`` projects the CF user representation ``x_u`` and ``F_I`` the
joint item embedding ``e_i`` into the LLM's token-embedding space (eq. 7). The projections replace the input
embeddings of placeholder tokens in the prompt (user token first, then one token after each history and candidate
title); the loss is the LM loss of the target title only (eq. 8). The LLM is referenced by the config and loaded
by `from_pretrained`, never saved with the model (as a PEFT adapter references its base model).

Batches lay out every row as ``[left padding][prompt][answer][right padding]``: all answers start at the same
column, so the logits of the answer tokens are the last ``answer_length + 1`` positions (``logits_to_keep``) and
the prompt's key-value cache can be shared by every candidate answer.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForCausalLM, DynamicCache, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, cached_file

from .configuration_allmrec import ALLMRecConfig
from .llm_reference import describe_reference, llm_reference, load_causal_lm, load_llm_tokenizer
from .model_card import ModelCardMixin
from .modeling_aligner import ALLMRecAlignerModel
from .modeling_utils import damaged_weights


LLM_PREFIX = "llm."
HUB_ARGUMENTS = ("revision", "subfolder", "token", "cache_dir", "local_files_only", "force_download", "proxies")
LLM_LOADING_ARGUMENTS = ("attn_implementation", "max_memory", "offload_folder", "low_cpu_mem_usage")
ADAPTER_MARK = ".lora_"


def is_frozen_llm_weight(name: str) -> bool:
    """LLM tensors are referenced, not saved; LoRA adapter weights (TALLRec) are saved."""
    return name.startswith(LLM_PREFIX) and ADAPTER_MARK not in name


def add_lora_adapters(llm, config: ALLMRecConfig):
    """Wrap the frozen LLM with trainable LoRA adapters (peft), as TALLRec fine-tunes it."""
    from peft import LoraConfig, get_peft_model

    adapters = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(llm, adapters)


@dataclass
class ALLMRecOutput(ModelOutput):
    """Output of `ALLMRecForRecommendation.forward`.

    Args:
        loss (`torch.FloatTensor`, *optional*): Mean cross-entropy of the answer tokens, when ``labels`` are given.
        logits (`torch.FloatTensor` of shape `(batch, answer_length, vocab)`): Logits predicting each answer token.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


class ALLMRecUserProjector(nn.Module):
    """``F_U``: Linear -> LayerNorm -> LeakyReLU -> Linear, from ``x_u`` to the LLM's token space."""

    def __init__(self, input_size: int, token_size: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_size, token_size),
            nn.LayerNorm(token_size),
            nn.LeakyReLU(),
            nn.Linear(token_size, token_size),
        )

    def forward(self, user_representations):
        return self.layers(user_representations)


class ALLMRecItemProjector(nn.Module):
    """``F_I``: Linear -> LayerNorm -> GELU -> Linear, from a joint item embedding to the LLM's token space."""

    def __init__(self, input_size: int, token_size: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_size, token_size), nn.LayerNorm(token_size), nn.GELU(), nn.Linear(token_size, token_size)
        )

    def forward(self, item_embeddings):
        return self.layers(item_embeddings)


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


class ALLMRecForRecommendation(ALLMRecPreTrainedModel):
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
        item_size = (
            config.aligner_config.cf_config.hidden_size
            if config.item_embeddings == "cf"
            else config.aligner_config.latent_size
        )
        self.user_projector = ALLMRecUserProjector(config.aligner_config.cf_config.hidden_size, token_size)
        self.item_projector = ALLMRecItemProjector(item_size, token_size)
        if config.item_embeddings == "random":
            # Table 7 row 4: item tokens without collaborative knowledge, fixed (seeded) and saved with the model.
            generator = torch.Generator().manual_seed(0)
            table = torch.rand(config.aligner_config.cf_config.num_items + 1, item_size, generator=generator)
            self.register_buffer("random_item_embeddings", table)
        self.post_init()
        self.aligner = aligner
        self.aligner.requires_grad_(False)
        llm.requires_grad_(False)
        self.llm = add_lora_adapters(llm, config) if config.llm_adapter == "lora" else llm
        self.user_projector.requires_grad_(config.use_user_token)
        self.item_projector.requires_grad_(config.item_tokens)
        self.user_projector.float()
        self.item_projector.float()
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
            config_kwargs: `ALLMRecConfig` fields (``prompt_domain``, ``max_title_tokens``, ...).

        The tokenizer gains the three placeholder tokens (the LLM's embedding table is not resized: placeholder
        embeddings are always replaced).

        Example:

        ```python
        >>> model, tokenizer = ALLMRecForRecommendation.from_stage1("runs/sci-stage1", "smollm2-135m-instruct")
        ```
        """
        from .prompts import prepare_tokenizer

        dtype = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
        aligner = (
            stage1_name_or_path
            if isinstance(stage1_name_or_path, ALLMRecAlignerModel)
            else ALLMRecAlignerModel.from_pretrained(stage1_name_or_path)
        )
        if llm_name_or_path is None:
            if llm is None:
                raise ValueError("pass llm_name_or_path or a loaded llm")
            llm_name_or_path = llm.name_or_path
        reference, gguf_file = llm_reference(llm_name_or_path, gguf_file)
        if llm is None:
            llm = load_causal_lm(reference, gguf_file, llm_revision, dtype, quantization, device_map)
        llm.requires_grad_(False)
        if tokenizer is None:
            tokenizer = load_llm_tokenizer(reference, gguf_file, llm_revision)
        special_ids = prepare_tokenizer(tokenizer)
        if soft_token_scale == "text":
            soft_token_scale = text_token_scale(llm)
        config = ALLMRecConfig(
            aligner_config=aligner.config,
            llm_config=llm.config,
            llm_name_or_path=reference,
            llm_gguf_file=gguf_file,
            llm_revision=llm_revision,
            llm_dtype=dtype,
            llm_quantization=quantization,
            soft_token_scale=float(soft_token_scale),
            **special_ids,
            **config_kwargs,
        )
        model = cls(config, llm=llm, aligner=aligner)
        model.place_like_llm()
        return model, tokenizer

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
        """Everything but the LLM's own weights (referenced by the config); LoRA adapters, if any, are kept."""
        state = super().state_dict(*args, **kwargs)
        return type(state)((name, tensor) for name, tensor in state.items() if not is_frozen_llm_weight(name))

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
        if model_args:
            raise TypeError(f"{cls.__name__}.from_pretrained takes no positional model arguments, got {model_args}")
        # Markers transformers adds on its way here (`_from_auto`, `_from_pipeline`, ...) and the hub arguments of a
        # PEFT adapter that AutoModel looked for and did not find.
        kwargs = {name: value for name, value in kwargs.items() if not name.startswith("_")}
        kwargs.pop("adapter_kwargs", None)
        kwargs.pop("trust_remote_code", None)  # every class here ships with the package: no remote code runs
        hub = {name: kwargs.pop(name) for name in HUB_ARGUMENTS if name in kwargs}
        llm_options = {name: kwargs.pop(name) for name in LLM_LOADING_ARGUMENTS if name in kwargs}
        if kwargs:
            raise TypeError(
                f"{cls.__name__}.from_pretrained got unexpected arguments {sorted(kwargs)}; it takes "
                f"{sorted(['llm', 'dtype', 'quantization', 'device_map', *HUB_ARGUMENTS, *LLM_LOADING_ARGUMENTS])}"
            )
        if config is None:
            config = ALLMRecConfig.from_pretrained(pretrained_model_name_or_path, **hub)
        # AutoModel reads `attn_implementation` into the config it builds; it is meant for the LLM.
        chosen = getattr(config, "_attn_implementation_internal", None)
        if chosen is not None and isinstance(chosen, str):
            llm_options.setdefault("attn_implementation", chosen)
        if llm is None:
            if not config.llm_name_or_path:
                raise ValueError(f"{pretrained_model_name_or_path} names no LLM (llm_name_or_path); pass llm=...")
            shared = {name: value for name, value in hub.items() if name not in ("revision", "subfolder")}
            try:
                llm = load_causal_lm(
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
                    f"{pretrained_model_name_or_path} references the LLM {reference}, which cannot be loaded here "
                    f"({error}). Pass the LLM yourself: from_pretrained(..., llm=AutoModelForCausalLM.from_pretrained"
                    "(<where it is>)), or fix llm_name_or_path in its config.json."
                ) from error
        model = cls(config, llm=llm)
        weights = cached_file(pretrained_model_name_or_path, "model.safetensors", **hub)
        try:
            state = load_file(weights)
        except SafetensorError as error:
            raise damaged_weights(weights, error) from error
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [name for name in missing if not is_frozen_llm_weight(name)]
        if missing or unexpected:
            raise ValueError(f"{weights} does not fit the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
        model.place_like_llm()
        model.name_or_path = str(pretrained_model_name_or_path)
        return model.eval()

    def train(self, mode: bool = True):
        # Only the projectors train: the frozen LLM, the CF backbone and the stage-1 model stay in eval mode. An
        # LLM with LoRA adapters (TALLRec) is being fine-tuned and follows ``mode`` like any fine-tuned model.
        super().train(mode)
        if hasattr(self, "llm"):
            self.llm.train(mode and self.config.llm_adapter is not None)
            self.aligner.eval()
        return self

    # -- soft tokens -------------------------------------------------------------------------------------------

    def attach_foreign_catalog(self, joint_embeddings: torch.Tensor) -> None:
        """Score another dataset's items (the cross-domain scenario): ``joint_embeddings`` holds their ``q_i``
        (computed from their text by the stage-1 text path), read through ``item_embedding_path="foreign"``."""
        self.foreign_item_embeddings = joint_embeddings.to(self.aligner.device)

    def item_representations(self, item_ids: torch.LongTensor, path: str | None = None) -> torch.Tensor:
        """What ``F_I`` projects for each item, by ``path`` (default ``config.item_embeddings``; see the config;
        ``"foreign"``: a catalog attached with `attach_foreign_catalog`)."""
        path = path or self.config.item_embeddings
        if path == "foreign":
            return self.foreign_item_embeddings[item_ids]
        if path in ("joint", "text"):
            return self.aligner.catalog_embeddings(item_ids, path)
        if path == "cf":
            return self.aligner.cf_backbone.item_embeddings()[item_ids]
        if path == "random":
            return self.random_item_embeddings[item_ids]
        raise ValueError(f"no item representation for path {path!r}")

    def user_representations(self, cf_input_ids=None, user_ids=None, user_representations=None) -> torch.Tensor:
        if user_representations is not None:
            return user_representations
        with torch.no_grad():
            return self.aligner.cf_backbone.user_representation(cf_input_ids, user_ids)

    def embed_prompt(
        self,
        input_ids: torch.LongTensor,
        history_item_ids: torch.LongTensor | None = None,
        candidate_item_ids: torch.LongTensor | None = None,
        cf_input_ids: torch.LongTensor | None = None,
        user_ids: torch.LongTensor | None = None,
        user_representations: torch.Tensor | None = None,
        item_embedding_path: str | None = None,
    ) -> torch.Tensor:
        """Token embeddings of ``input_ids`` with every placeholder replaced by its soft token.

        The ``k``-th ``[HistoryEmb]`` of a row receives the ``k``-th non-zero entry of that row's
        ``history_item_ids`` (likewise for candidates); ``[UserRep]`` receives ``F_U(x_u)``.
        """
        config = self.config
        embedding = self.llm.get_input_embeddings()
        placeholders = {
            "user": input_ids == config.user_token_id,
            "history": input_ids == config.history_token_id,
            "candidate": input_ids == config.candidate_token_id,
        }
        any_placeholder = placeholders["user"] | placeholders["history"] | placeholders["candidate"]
        embeds = embedding(input_ids.masked_fill(any_placeholder, config.llm_pad_token_id))
        tokens = {}
        if placeholders["user"].any():
            users = self.user_representations(cf_input_ids, user_ids, user_representations)
            tokens["user"] = self.user_projector(users.float())
        for name, item_ids in (("history", history_item_ids), ("candidate", candidate_item_ids)):
            if placeholders[name].any():
                real = item_ids[item_ids != 0]
                tokens[name] = self.item_projector(self.item_representations(real, item_embedding_path).float())
        for name, projected in tokens.items():
            projected = projected * config.soft_token_scale
            expected = int(placeholders[name].sum())
            if len(projected) != expected:
                raise ValueError(
                    f"the prompts hold {expected} {name} placeholders but {len(projected)} {name} vectors were given"
                )
            embeds = embeds.masked_scatter(placeholders[name].unsqueeze(-1), projected.to(embeds.dtype))
        return embeds

    def embed_batch(self, batch: dict) -> torch.Tensor:
        """`embed_prompt` for a batch dict as `RecommendationBatcher` builds it."""
        return self.embed_prompt(
            batch["input_ids"],
            batch.get("history_item_ids"),
            batch.get("candidate_item_ids"),
            batch.get("cf_input_ids"),
            batch.get("user_ids"),
            batch.get("user_representations"),
            batch.get("item_embedding_path"),
        )

    # -- training and scoring ----------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.LongTensor,
        labels: torch.LongTensor | None = None,
        history_item_ids: torch.LongTensor | None = None,
        candidate_item_ids: torch.LongTensor | None = None,
        cf_input_ids: torch.LongTensor | None = None,
        user_ids: torch.LongTensor | None = None,
        user_representations: torch.Tensor | None = None,
        item_embedding_path: str | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs,
    ) -> ALLMRecOutput:
        """The LM loss of the answer (eq. 8).

        Args:
            input_ids (`torch.LongTensor` of shape `(batch, length)`):
                ``[left padding][prompt][answer][right padding]``; placeholders mark the soft tokens.
            attention_mask (`torch.LongTensor` of shape `(batch, length)`): 1 on prompt and answer tokens.
            labels (`torch.LongTensor` of shape `(batch, answer_length)`, *optional*):
                The answer tokens aligned with the last ``answer_length`` columns, -100 on padding.
            history_item_ids / candidate_item_ids (`torch.LongTensor`): Item ids of the soft tokens, 0-padded.
            cf_input_ids / user_ids (*optional*): The CF history window (and user ids) giving ``x_u``.
            user_representations (`torch.Tensor` of shape `(batch, d)`, *optional*): ``x_u`` precomputed.
            num_items_in_batch (`int`, *optional*):
                Answer tokens of the whole step (all devices and accumulation steps), given by Trainer: the loss is
                then their sum divided by it, a per-token mean that does not depend on how the step was split.
        """
        embeds = self.embed_prompt(
            input_ids,
            history_item_ids,
            candidate_item_ids,
            cf_input_ids,
            user_ids,
            user_representations,
            item_embedding_path,
        )
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
        """Log-likelihood of every candidate answer after each prompt: the prompt is read once, then all answers
        in ONE more forward pass.

        The answers of a row are packed one after another behind the prompt's cache; each attends to the prompt and
        to its own earlier tokens only, and its positions continue from the prompt's end, so it is read exactly as
        if it alone followed the prompt (a tree-shaped attention mask, as in tree-attention speculative decoding).
        The cache keeps every prompt position whatever the architecture's windows (the mask applies them), and it is
        only appended to, never cropped, so sliding-window layers (Gemma) need nothing special. The cost is one
        forward pass over the prompt plus all answers, without attending across answers.

        Args:
            batch (`dict`): Left-padded prompt batch (as `RecommendationBatcher` builds it without answers).
            answer_ids (`torch.LongTensor` of shape `(batch, candidates, answer_length)`): Right-padded answers.
            answer_lengths (`torch.LongTensor` of shape `(batch, candidates)`): Real tokens per answer.

        Returns:
            ``(sum, count)``: summed token log-likelihoods and token counts, each `(batch, candidates)`; the mean
            is ``sum / count``.
        """
        prompt_mask = batch["attention_mask"]
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
            inputs_embeds=self.embed_batch(batch),
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
        sums = torch.zeros(rows, candidates, device=device)
        for index in range(rows):  # one row's logits at a time: with a large vocabulary they are big
            chosen = row == index
            tokens, after = packed_ids[index, packed[chosen]], packed[chosen] - 1
            first = offset[chosen] == 0
            logits = answers.logits[index, after.clamp(min=0)].float()
            logits[first] = prompt.logits[index, -1].float()
            token_log_probs = logits.gather(1, tokens.unsqueeze(1)).squeeze(1) - logits.logsumexp(-1)
            sums[index].index_add_(0, candidate[chosen], token_log_probs)
        return sums, answer_lengths.float()

    @torch.no_grad()
    def generate_answers(self, batch: dict, prefix_allowed_tokens_fn=None, **generate_kwargs) -> torch.LongTensor:
        """Greedy decoding after left-padded prompts (``max_new_tokens`` and ``repetition_penalty`` from the
        config unless given); returns the generated token ids only. The prompt is given as embeddings, so the
        repetition penalty covers the generated tokens only, as in the reference implementation."""
        embeds = self.embed_batch(batch)
        options = {
            "max_new_tokens": self.config.generation_max_new_tokens,
            "do_sample": False,
            "num_beams": 1,
            "pad_token_id": self.config.llm_pad_token_id,
            "eos_token_id": self.config.llm_eos_token_id,
        }
        if prefix_allowed_tokens_fn is None:
            options["repetition_penalty"] = self.config.generation_repetition_penalty
        options.update(generate_kwargs)
        with warnings.catch_warnings():
            # The penalty then covers the generated tokens only, as in the reference (which also generates from
            # embeddings): said once in this docstring rather than warned at every batch.
            warnings.filterwarnings("ignore", message="Passing `repetition_penalty` with `inputs_embeds`")
            return self.llm.generate(
                inputs_embeds=embeds,
                attention_mask=batch["attention_mask"],
                prefix_allowed_tokens_fn=prefix_allowed_tokens_fn,
                **options,
            )

    def num_trainable_parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters() if parameter.requires_grad)
