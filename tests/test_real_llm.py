"""The real-checkpoint path: a pretrained causal LLM (bf16, optionally 8-bit) through stage 2.

Slow and skipped unless ``ALLMREC_REAL_LLM`` names a checkpoint that can be loaded here (a Hub id with network
access or a local folder), e.g. ``ALLMREC_REAL_LLM=facebook/opt-125m python -m pytest -m slow tests/test_real_llm.py``.
8-bit runs when ``ALLMREC_REAL_LLM_8BIT=1`` and a CUDA device and bitsandbytes are present.
"""

import os

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from allmrec_hf import ALLMRecForRecommendation
from allmrec_hf.llm_evaluation import evaluate_generation, evaluate_scoring


pytestmark = pytest.mark.slow
REAL_LLM = os.environ.get("ALLMREC_REAL_LLM")


@pytest.fixture(scope="module")
def real_llm():
    if not REAL_LLM:
        pytest.skip("set ALLMREC_REAL_LLM to a loadable causal LLM id or folder")
    try:
        AutoTokenizer.from_pretrained(REAL_LLM)
    except OSError as error:
        pytest.skip(f"{REAL_LLM} cannot be loaded here: {error}")
    return REAL_LLM


@pytest.mark.parametrize("quantization", [None, "8bit"])
def test_stage2_with_a_real_llm(real_llm, quantization, stage1_dir, sample_dataset, tmp_path):
    if quantization and not (os.environ.get("ALLMREC_REAL_LLM_8BIT") and torch.cuda.is_available()):
        pytest.skip("8-bit needs ALLMREC_REAL_LLM_8BIT=1, CUDA and bitsandbytes")
    dtype = "bfloat16" if torch.cuda.is_available() else "float32"
    device_map = "auto" if torch.cuda.is_available() else None
    model, tokenizer = ALLMRecForRecommendation.from_stage1(
        str(stage1_dir), real_llm, dtype=dtype, quantization=quantization, device_map=device_map, prompt_domain="item"
    )
    assert (
        model.user_projector.layers[0].weight.dtype == torch.float32
    )  # projectors stay fp32 whatever the LLM's dtype
    ranked = evaluate_scoring(model, tokenizer, sample_dataset, normalization="mean", max_users=8, batch_size=4)
    generated = evaluate_generation(model, tokenizer, sample_dataset, max_users=4, batch_size=4)
    assert ranked["num_users"] == 8 and generated["num_users"] == 4
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path, dtype=dtype, device_map=device_map, quantization=quantization)
    again = evaluate_scoring(loaded, tokenizer, sample_dataset, normalization="mean", max_users=8, batch_size=4)
    assert again["hit@1"] == ranked["hit@1"]
