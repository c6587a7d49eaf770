"""Configuration of stage 2 (paper section 4.2): `ALLMRecForRecommendation`, over the fields every LLM recommender of
this package shares with the text-only baselines (`LLMPromptConfig`)."""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig

from .configuration_aligner import ALLMRecAlignerConfig, sub_config
from .configuration_utils import ConfigFileErrorsMixin, checked_types
from .prompts import PROMPT_DOMAINS, SoftTokenLayout


ITEM_EMBEDDINGS = ("joint", "text", "cf", "random", "none")
LLM_DTYPES = ("auto", "float32", "float16", "bfloat16")
DISTILLATION_TEACHERS = ("joint", "text", "both")  # the stage-1 scorers the LLM can be distilled from
ITEM_TOKEN_CONDITIONING = ("none", "user", "user+text")
QUANTIZATIONS = (None, "8bit", "4bit")
SCORE_NORMALIZATIONS = ("sum", "mean")


class LLMPromptConfig(ConfigFileErrorsMixin, PreTrainedConfig):
    """What an LLM that answers the recommendation prompt needs: the LLM by reference and the prompt.

    The frozen LLM is referenced, never stored: ``llm_name_or_path`` (a Hub id, an absolute folder or a packaged name
    such as ``smollm2-135m-instruct``), ``llm_gguf_file``, ``llm_revision``, ``llm_dtype`` and ``llm_quantization``
    say how `from_pretrained` fetches it (see `allmrec_hf.llm_reference`); ``llm_config`` records its architecture.
    Generation settings live in the model's `GenerationConfig` (``generation_config.json``).

    Args:
        llm_config (`PreTrainedConfig` or `dict`): Config of the causal LLM.
        llm_name_or_path (`str`, *optional*): Where `from_pretrained` loads the LLM from.
        llm_gguf_file (`str`, *optional*): The GGUF file inside ``llm_name_or_path`` (a folder or Hub repository).
        llm_revision (`str`, *optional*): Hub revision of the LLM.
        llm_dtype (`str`, *optional*, defaults to `"auto"`): ``auto``, ``float32``, ``float16`` or ``bfloat16``.
        llm_quantization (`str`, *optional*): ``"8bit"`` or ``"4bit"`` (bitsandbytes), as the paper runs OPT-6.7B.
        prompt_domain (`str`, *optional*, defaults to `"item"`):
            Prompt wording: ``movie`` (watched), ``game`` (played) or ``item`` (bought).
        history_length (`int`, *optional*, defaults to 10): History titles in the prompt.
        max_title_tokens (`int`, *optional*): Longest title, in LLM tokens, written in the prompt and expected as the
            answer: longer titles are cut at the last word boundary within the cap. Candidate titles dominate the
            prompt (20 of them), so the cap sets the prompt length and with it the cost of every step.
        missing_title (`str`, *optional*, defaults to `"No Title"`): Written for an item without a title.
        num_candidates (`int`, *optional*, defaults to 20): Candidate titles in the prompt.
        score_normalization (`str`, *optional*):
            Candidate scoring by the ``sum`` or the length-normalised ``mean`` of the answer's token log-likelihoods;
            unset until evaluation picks one on the validation split and stores it here (the pipeline then ranks as
            the reported metrics did; ``sum`` while unset).
        llm_pad_token_id / llm_eos_token_id (`int`): The tokenizer's padding and end-of-sequence ids.
    """

    @checked_types
    def __init__(
        self,
        llm_config=None,
        llm_name_or_path: str | None = None,
        llm_gguf_file: str | None = None,
        llm_revision: str | None = None,
        llm_dtype: str = "auto",
        llm_quantization: str | None = None,
        prompt_domain: str = "item",
        history_length: int = 10,
        max_title_tokens: int | None = None,
        missing_title: str = "No Title",
        num_candidates: int = 20,
        score_normalization: str | None = None,
        llm_pad_token_id: int | None = None,
        llm_eos_token_id: int | None = None,
        **kwargs,
    ):
        if prompt_domain not in PROMPT_DOMAINS:
            raise ValueError(f"prompt_domain must be one of {sorted(PROMPT_DOMAINS)}, got {prompt_domain!r}")
        if llm_dtype not in LLM_DTYPES:
            raise ValueError(f"llm_dtype must be one of {LLM_DTYPES}, got {llm_dtype!r}")
        if llm_quantization not in QUANTIZATIONS:
            raise ValueError(f"llm_quantization must be one of {QUANTIZATIONS}, got {llm_quantization!r}")
        if score_normalization not in (None, *SCORE_NORMALIZATIONS):
            raise ValueError(f"score_normalization must be 'sum' or 'mean', got {score_normalization!r}")
        if history_length < 1 or num_candidates < 2:
            raise ValueError("history_length must be >= 1 and num_candidates >= 2")
        if max_title_tokens is not None and max_title_tokens < 1:
            raise ValueError(f"max_title_tokens must be >= 1 (or None: no cap), got {max_title_tokens}")
        self.llm_config = sub_config(llm_config)
        self.llm_name_or_path = llm_name_or_path
        self.llm_gguf_file = llm_gguf_file
        self.llm_revision = llm_revision
        self.llm_dtype = llm_dtype
        self.llm_quantization = llm_quantization
        self.prompt_domain = prompt_domain
        self.history_length = history_length
        self.max_title_tokens = max_title_tokens
        self.missing_title = missing_title
        self.num_candidates = num_candidates
        self.score_normalization = score_normalization
        self.llm_pad_token_id = llm_pad_token_id
        self.llm_eos_token_id = llm_eos_token_id
        # The standard fields mirror the LLM tokenizer's, so `Trainer` (which aligns them to the tokenizer) finds
        # nothing to change and warns about nothing.
        kwargs.setdefault("pad_token_id", llm_pad_token_id)
        kwargs.setdefault("eos_token_id", llm_eos_token_id)
        super().__init__(**kwargs)

    # What the prompt holds besides text (A-LLMRec overrides these).
    use_user_token = False
    item_tokens = False
    user_token_placement = "first"
    item_token_placement = "after_title"

    @property
    def llm_hidden_size(self) -> int:
        return self.llm_config.get_text_config().hidden_size


class ALLMRecConfig(LLMPromptConfig):
    """Configuration of `ALLMRecForRecommendation`: the fields of `LLMPromptConfig` and those of A-LLMRec.

    Args:
        aligner_config (`ALLMRecAlignerConfig` or `dict`): The stage-1 model (CF backbone, autoencoders, sentence
            encoder).
        item_embeddings (`str`, *optional*, defaults to `"joint"`):
            The item soft tokens: ``joint`` (``e_i``, and ``q_i`` for items without interactions; the paper),
            ``text`` (``q_i`` for every item: A-LLMRec (SBERT)), ``cf`` (the CF embeddings ``E_i`` projected
            directly: MLP-LLM), ``random`` (a fixed random table: Table 7 row 4) or ``none`` (no item soft tokens:
            Table 7 row 3).
        use_user_token (`bool`, *optional*, defaults to `True`): Put the user soft token first (Table 7 row 2: off).
        user_projector_activation / item_projector_activation (`str`, *optional*, defaults to `"leaky_relu"` /
            `"gelu"`): The activations of ``F_U`` and ``F_I``, as in the reference implementation.
        soft_token_scale (`float`, *optional*, defaults to 1.0):
            Multiplier of the projector outputs before they enter the LLM. 1.0 is the paper (the projectors learn
            the scale); `from_stage1(soft_token_scale="text")` sets the RMS of the LLM's own input token
            embeddings, so soft tokens start at the scale of text tokens (Gemma's embedding layer multiplies text
            embeddings by sqrt(hidden); OPT's and Llama's do not).
        normalize_soft_tokens (`bool`, *optional*, defaults to `False`):
            Scale every soft token to unit RMS before ``soft_token_scale``: with ``soft_token_scale`` at the text
            RMS, soft tokens then stay at the scale of text tokens throughout training (the paper: off).
        standardize_soft_token_inputs (`bool`, *optional*, defaults to `False`):
            ``F_U`` and ``F_I`` read their inputs standardised per dimension (by the catalog's item statistics and
            the training users'; see `fit_input_statistics`). Stage-1 ``e_i`` are sigmoid outputs around a shared
            mean, so without it different items' soft tokens start almost parallel (the paper: off).
        item_token_init_text (`str`, *optional*): Start ``F_I`` at the LLM's embedding of these words (the mean over
            their tokens; its output layer's weights shrunk to 5%), so that every item token begins as words the
            frozen LLM already reads and training moves each item from there. With ``" [recommended]"`` before the
            titles, the reading test rose from Hit@1 0.04 to 0.48 after 100 samples (README, "Making the LLM half
            learn"). `None` (the paper): PyTorch's initialisation. Used by `from_stage1` only (a trained model
            keeps its weights).
        item_token_conditioning (`str`, *optional*, defaults to `"none"`): ``none`` (the paper: ``F_I`` reads the
            item alone) or ``user`` (beyond the paper): ``F_I`` also reads ``x_u ⊙ f_I^dec(e_i)``, the per-dimension
            products whose sum is stage 1's recommendation logit (eq. 5), so each item token can say how well the
            item fits this user, a signal a small frozen LLM reads like a word beside the title, instead of having
            to compute the user-item match in its own attention. ``user+text`` adds ``x_u ⊙ f_I^dec(q_i)``, the
            text path's products, which rank cold items better where the joint ``e_i`` is weak on them (Beauty).
        user_token_placement (`str`, *optional*, defaults to `"first"`): ``first`` (the paper) or ``after_text``
            (a sentence's words before it; see `allmrec_hf.prompts.SoftTokenLayout`).
        item_token_placement (`str`, *optional*, defaults to `"after_title"`): ``after_title`` (the paper) or
            ``before_title``.
        lm_loss_weight / ranking_loss_weight / distillation_loss_weight (`float`, *optional*, defaults to 1 / 0 /
            0): The training objective, a weighted sum. ``lm``: the LM loss of the target's answer (eq. 8, the
            paper). ``ranking``: cross-entropy of the target among the softmax of every candidate's answer
            log-likelihood (``score_normalization``, the mean per token by default) divided by
            ``ranking_temperature``; the model then ranks by that normalisation. ``distillation``: KL divergence
            from a stage-1 scorer's softmax over the candidates (its logits divided by
            ``distillation_temperature``) to the same softmax of the LLM's. Either of the last two reads all the
            candidates' answers in one tree-masked pass (see `score_answers`).
        ranking_temperature / distillation_temperature (`float`, *optional*, defaults to 1.0): See above.
        distillation_teacher (`str`, *optional*, defaults to `"joint"`): The stage-1 scorer distilled: ``joint``
            (``x_u · f_I^dec(e_i)``, CF-side item embeddings), ``text`` (the same on the text path's ``q_i``,
            which ranks cold items better: README, stage 1's tables) or ``both``: the two paths' logits mixed,
            ``w · joint + (1 - w) · text`` (their softmaxes multiplied as ``p_joint^w · p_text^(1-w)``, as
            benches/bench_stage1_fusion.py scores it), ``w`` = ``distillation_joint_weight``.
        distillation_joint_weight (`float`, *optional*, defaults to 0.5): ``w`` of the ``both`` teacher, in [0, 1].
        user_token_id / history_token_id / candidate_token_id (`int`): Ids of the placeholder tokens.
        kwargs: The fields of `LLMPromptConfig`.
    """

    model_type = "allmrec"
    sub_configs = {"aligner_config": ALLMRecAlignerConfig, "llm_config": AutoConfig}

    @checked_types
    def __init__(
        self,
        aligner_config=None,
        item_embeddings: str = "joint",
        use_user_token: bool = True,
        user_projector_activation: str = "leaky_relu",
        item_projector_activation: str = "gelu",
        soft_token_scale: float = 1.0,
        normalize_soft_tokens: bool = False,
        standardize_soft_token_inputs: bool = False,
        item_token_init_text: str | None = None,
        item_token_conditioning: str = "none",
        user_token_placement: str = "first",
        item_token_placement: str = "after_title",
        lm_loss_weight: float = 1.0,
        ranking_loss_weight: float = 0.0,
        distillation_loss_weight: float = 0.0,
        ranking_temperature: float = 1.0,
        distillation_temperature: float = 1.0,
        distillation_teacher: str = "joint",
        distillation_joint_weight: float = 0.5,
        user_token_id: int | None = None,
        history_token_id: int | None = None,
        candidate_token_id: int | None = None,
        **kwargs,
    ):
        if item_embeddings not in ITEM_EMBEDDINGS:
            raise ValueError(f"item_embeddings must be one of {ITEM_EMBEDDINGS}, got {item_embeddings!r}")
        if not soft_token_scale > 0:
            raise ValueError(f"soft_token_scale must be positive, got {soft_token_scale}")
        SoftTokenLayout(user_token_placement=user_token_placement, item_token_placement=item_token_placement)
        weights = {"lm_loss_weight": lm_loss_weight, "ranking_loss_weight": ranking_loss_weight,
                   "distillation_loss_weight": distillation_loss_weight}  # fmt: skip
        if any(weight < 0 for weight in weights.values()) or not any(weights.values()):
            raise ValueError(f"the loss weights must be >= 0 and not all 0, got {weights}")
        if not (ranking_temperature > 0 and distillation_temperature > 0):
            raise ValueError("ranking_temperature and distillation_temperature must be positive")
        if item_token_conditioning not in ITEM_TOKEN_CONDITIONING:
            raise ValueError(
                f"item_token_conditioning must be one of {ITEM_TOKEN_CONDITIONING}, got {item_token_conditioning!r}"
            )
        if distillation_teacher not in DISTILLATION_TEACHERS:
            raise ValueError(
                f"distillation_teacher must be one of {DISTILLATION_TEACHERS}, got {distillation_teacher!r}"
            )
        if not 0.0 <= distillation_joint_weight <= 1.0:
            raise ValueError(f"distillation_joint_weight must be in [0, 1], got {distillation_joint_weight}")
        self.aligner_config = sub_config(aligner_config, ALLMRecAlignerConfig)
        self.item_embeddings = item_embeddings
        self.use_user_token = use_user_token
        self.user_projector_activation = user_projector_activation
        self.item_projector_activation = item_projector_activation
        self.soft_token_scale = soft_token_scale
        self.normalize_soft_tokens = normalize_soft_tokens
        self.standardize_soft_token_inputs = standardize_soft_token_inputs
        self.item_token_init_text = item_token_init_text or None  # "" (a command line's "no words"): none
        self.item_token_conditioning = item_token_conditioning
        self.user_token_placement = user_token_placement
        self.item_token_placement = item_token_placement
        self.lm_loss_weight = lm_loss_weight
        self.ranking_loss_weight = ranking_loss_weight
        self.distillation_loss_weight = distillation_loss_weight
        self.ranking_temperature = ranking_temperature
        self.distillation_temperature = distillation_temperature
        self.distillation_teacher = distillation_teacher
        self.distillation_joint_weight = distillation_joint_weight
        self.user_token_id = user_token_id
        self.history_token_id = history_token_id
        self.candidate_token_id = candidate_token_id
        super().__init__(**kwargs)
        if self.ranks_candidates and self.score_normalization is None:
            self.score_normalization = "mean"  # what the ranking objectives train is how the model ranks

    @property
    def item_tokens(self) -> bool:
        return self.item_embeddings != "none"

    @property
    def ranks_candidates(self) -> bool:
        """Whether training reads every candidate's answer (the ranking or distillation objective)."""
        return self.ranking_loss_weight > 0 or self.distillation_loss_weight > 0
