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

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForCausalLM, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, cached_file

from .configuration_allmrec import ALLMRecConfig
from .model_card import ModelCardMixin
from .modeling_aligner import ALLMRecAlignerModel


LLM_PREFIX = "llm."
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


def load_causal_lm(name_or_path: str, revision=None, dtype="auto", quantization=None, device_map=None, **kwargs):
    """Load a frozen causal LLM by reference: bf16/fp16/fp32 or 8-bit/4-bit (bitsandbytes), any ``device_map``.

    Remote code is never trusted; bitsandbytes is imported only when quantisation is asked for.
    """
    options = {"revision": revision, "dtype": dtype, **kwargs}
    if quantization is not None:
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if dtype == "bfloat16" else torch.float16
        options["quantization_config"] = (
            BitsAndBytesConfig(load_in_8bit=True)
            if quantization == "8bit"
            else BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=compute, bnb_4bit_quant_type="nf4")
        )
    if device_map is not None:
        options["device_map"] = device_map
    llm = AutoModelForCausalLM.from_pretrained(name_or_path, trust_remote_code=False, **options)
    llm.requires_grad_(False)
    return llm.eval()


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
        llm=None,
        tokenizer=None,
        llm_revision: str | None = None,
        dtype: str = "auto",
        quantization: str | None = None,
        device_map=None,
        **config_kwargs,
    ):
        """A new stage-2 model around a trained stage-1 folder (or model) and an LLM; returns ``(model, tokenizer)``.

        ``dtype`` is a name (``"bfloat16"``) or a ``torch.dtype``. ``llm``/``tokenizer`` may be passed already
        loaded; otherwise both come from ``llm_name_or_path``. The
        tokenizer gains the three placeholder tokens (the LLM's embedding table is not resized: placeholder
        embeddings are always replaced). ``config_kwargs`` go to `ALLMRecConfig` (``prompt_domain``, ...).
        """
        from transformers import AutoTokenizer

        from .tokenization import prepare_tokenizer

        dtype = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
        aligner = (
            stage1_name_or_path
            if isinstance(stage1_name_or_path, ALLMRecAlignerModel)
            else ALLMRecAlignerModel.from_pretrained(stage1_name_or_path)
        )
        if llm is None:
            if llm_name_or_path is None:
                raise ValueError("pass llm_name_or_path or a loaded llm")
            llm = load_causal_lm(llm_name_or_path, llm_revision, dtype, quantization, device_map)
        llm.requires_grad_(False)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(llm_name_or_path or llm.name_or_path, revision=llm_revision)
        special_ids = prepare_tokenizer(tokenizer)
        config = ALLMRecConfig(
            aligner_config=aligner.config,
            llm_config=llm.config,
            llm_name_or_path=llm_name_or_path or llm.name_or_path,
            llm_revision=llm_revision,
            llm_dtype=dtype,
            llm_quantization=quantization,
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
        revision: str | None = None,
        token=None,
        cache_dir=None,
        local_files_only: bool = False,
        **kwargs,
    ):
        """Load a saved A-LLMRec model and re-attach its LLM by reference.

        Args:
            pretrained_model_name_or_path (`str`): A folder written by `save_pretrained` or a Hub repository.
            llm (*optional*): An already loaded LLM to attach instead of loading ``config.llm_name_or_path``.
            dtype / quantization / device_map (*optional*): Override how the LLM is loaded (default: the config's
                ``llm_dtype`` and ``llm_quantization``).
        """
        hub = {"revision": revision, "token": token, "cache_dir": cache_dir, "local_files_only": local_files_only}
        if config is None:
            config = ALLMRecConfig.from_pretrained(pretrained_model_name_or_path, **hub)
        if llm is None:
            if not config.llm_name_or_path:
                raise ValueError(f"{pretrained_model_name_or_path} names no LLM (llm_name_or_path); pass llm=...")
            llm = load_causal_lm(
                config.llm_name_or_path,
                config.llm_revision,
                dtype or config.llm_dtype,
                quantization if quantization is not None else config.llm_quantization,
                device_map,
                token=token,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
            )
        model = cls(config, llm=llm)
        weights = cached_file(pretrained_model_name_or_path, "model.safetensors", **hub)
        missing, unexpected = model.load_state_dict(load_file(weights), strict=False)
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
    def encode_prompt(self, batch: dict) -> tuple[torch.Tensor, object]:
        """One forward pass over left-padded prompts: the next-token log-probabilities after each prompt and the
        key-value cache (the floor every answering mode pays)."""
        embeds = self.embed_batch(batch)
        outputs = self.llm(
            inputs_embeds=embeds,
            attention_mask=batch["attention_mask"],
            position_ids=position_ids_from_mask(batch["attention_mask"]),
            logits_to_keep=1,
            use_cache=True,
        )
        return outputs.logits[:, -1].float().log_softmax(-1), outputs.cache

    @torch.no_grad()
    def score_answers(self, batch: dict, answer_ids: torch.LongTensor, answer_lengths: torch.LongTensor):
        """Log-likelihood of every candidate answer after each prompt, computing the prompt once.

        Args:
            batch (`dict`): Left-padded prompt batch (as `encode_prompt` takes).
            answer_ids (`torch.LongTensor` of shape `(batch, candidates, answer_length)`): Right-padded answers.
            answer_lengths (`torch.LongTensor` of shape `(batch, candidates)`): Real tokens per answer.

        Returns:
            ``(sum, count)``: summed token log-likelihoods and token counts, each `(batch, candidates)`; the mean
            is ``sum / count``.
        """
        first_log_probs, cache = self.encode_prompt(batch)
        rows, candidates, _ = answer_ids.shape
        chunk = min(self.config.score_chunk_size, candidates)
        prompt_mask = batch["attention_mask"]
        device = prompt_mask.device
        # Each row's answers are continued longest first, so every chunk is padded only to its own longest answer
        # rather than the batch's (titles vary from a few tokens to dozens); scores go back to candidate order.
        order = answer_lengths.argsort(dim=1, descending=True, stable=True)
        sorted_ids = answer_ids.gather(1, order.unsqueeze(-1).expand_as(answer_ids))
        sorted_lengths = answer_lengths.gather(1, order)
        cache.batch_repeat_interleave(chunk)
        sums = torch.zeros(rows, candidates, device=device)
        for start in range(0, candidates, chunk):
            lengths = sorted_lengths[:, start : start + chunk].to(device)
            width = int(lengths.max())
            ids = sorted_ids[:, start : start + chunk, :width].to(device)
            size = ids.shape[1]
            if size < chunk:  # the shared cache is sized for a full chunk: pad the last one with copies
                ids = torch.cat([ids, ids[:, -1:].expand(-1, chunk - size, -1)], 1)
                lengths = torch.cat([lengths, lengths[:, -1:].expand(-1, chunk - size)], 1)
            flat_ids, flat_lengths = ids.reshape(rows * chunk, width), lengths.reshape(rows * chunk)
            answer_mask = (torch.arange(width, device=device)[None, :] < flat_lengths[:, None]).long()
            mask = torch.cat([prompt_mask.repeat_interleave(chunk, 0), answer_mask], 1)
            outputs = self.llm(
                input_ids=flat_ids.masked_fill(answer_mask == 0, self.config.llm_pad_token_id),
                attention_mask=mask,
                position_ids=position_ids_from_mask(mask, prompt_mask.shape[1]),
                cache=cache,
                use_cache=True,
            )
            cache.crop(-width)
            following = outputs.logits[:, :-1].float().log_softmax(-1)
            first = first_log_probs.repeat_interleave(chunk, 0).gather(1, flat_ids[:, :1])
            rest = following.gather(2, flat_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            token_log_probs = torch.cat([first, rest], 1) * answer_mask
            positions = order[:, start : start + size].to(device)  # back to candidate order
            sums.scatter_(1, positions, token_log_probs.sum(1).view(rows, chunk)[:, :size])
        return sums, answer_lengths.to(device).float()

    @torch.no_grad()
    def generate_answers(self, batch: dict, prefix_allowed_tokens_fn=None, **generate_kwargs) -> torch.LongTensor:
        """Greedy decoding after left-padded prompts (``max_new_tokens`` and ``repetition_penalty`` from the
        config unless given); returns the generated token ids only."""
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
        return self.llm.generate(
            inputs_embeds=embeds,
            attention_mask=batch["attention_mask"],
            prefix_allowed_tokens_fn=prefix_allowed_tokens_fn,
            **options,
        )

    def num_trainable_parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters() if parameter.requires_grad)
