"""Preparing an LLM tokenizer for A-LLMRec prompts."""

from __future__ import annotations

from .prompts import CANDIDATE_TOKEN, HISTORY_TOKEN, USER_TOKEN


def prepare_tokenizer(tokenizer) -> dict[str, int]:
    """Add the placeholder tokens as special tokens (so they are never split or merged), make sure a padding token
    exists (GPT-2 and Llama have none: EOS serves), pad on the left; return the ids `ALLMRecConfig` records."""
    tokenizer.add_tokens([USER_TOKEN, HISTORY_TOKEN, CANDIDATE_TOKEN], special_tokens=True)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{type(tokenizer).__name__} has no end-of-sequence token; A-LLMRec answers end with one")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    ids = tokenizer.convert_tokens_to_ids([USER_TOKEN, HISTORY_TOKEN, CANDIDATE_TOKEN])
    return {
        "user_token_id": ids[0],
        "history_token_id": ids[1],
        "candidate_token_id": ids[2],
        "llm_pad_token_id": tokenizer.pad_token_id,
        "llm_eos_token_id": tokenizer.eos_token_id,
    }
