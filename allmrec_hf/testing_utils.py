"""A tiny, randomly initialised causal LLM with a tokenizer trained on the dataset's own text.

No pretrained LLM can be downloaded in offline environments (this project's CI, air-gapped clusters); the quickstart
and the tests then run the whole method with such a model. It is random: its recommendations mean nothing, and every
caller says so. It is saved as an ordinary model folder, so A-LLMRec references it like any Hub LLM.
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


TINY_ARCHITECTURES = ("opt", "llama", "gemma3")


def tiny_causal_lm(architecture: str, vocab_size: int, hidden_size: int = 32, seed: int = 0):
    """A 2-layer random causal LLM of ``architecture``: ``opt`` (the paper's family), ``llama`` (SmolLM2's) or
    ``gemma3`` (one sliding-window layer with a 16-token window, then one full layer, as google/gemma-3-270m mixes
    them; prompts are longer than the window, so tests exercise it)."""
    if architecture not in TINY_ARCHITECTURES:
        raise ValueError(f"architecture must be one of {TINY_ARCHITECTURES}, got {architecture!r}")
    torch.manual_seed(seed)
    shared = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": 2048,
        "pad_token_id": 1,
        "bos_token_id": 2,
        "eos_token_id": 2,
    }
    if architecture == "opt":
        config = OPTConfig(**shared, word_embed_proj_dim=hidden_size, ffn_dim=2 * hidden_size, init_std=TINY_INIT_STD)
        return OPTForCausalLM(config)
    if architecture == "llama":
        config = LlamaConfig(
            **shared, intermediate_size=2 * hidden_size, num_key_value_heads=1, initializer_range=TINY_INIT_STD
        )
        return LlamaForCausalLM(config)
    config = Gemma3TextConfig(
        **shared,
        intermediate_size=2 * hidden_size,
        num_key_value_heads=1,
        head_dim=hidden_size // 2,
        query_pre_attn_scalar=hidden_size // 2,
        sliding_window=16,
        layer_types=["sliding_attention", "full_attention"],
        initializer_range=TINY_INIT_STD,
    )
    return Gemma3ForCausalLM(config)


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
