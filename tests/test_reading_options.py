"""The reading test's setup with every soft-token option, on a tiny random LLM (fast; the real-LLM run is
tests/test_reading.py, slow)."""

import pytest
import torch

from allmrec_hf.experiments.reading import build_reading_task, reading_model, run_reading_test


@pytest.mark.parametrize("conditioning", ["none", "user", "user+text"])
def test_standardised_inputs_are_fitted_on_what_the_item_projector_reads(opt_llm_dir, conditioning):
    task = build_reading_task("user", num_items=40, num_users=30, validation_users=8, seed=0)
    model, tokenizer = reading_model(
        str(opt_llm_dir),
        len(task.titles) - 1,
        prompt_domain="item",
        lm_loss_weight=0.0,
        ranking_loss_weight=1.0,
        standardize_soft_token_inputs=True,
        item_token_conditioning=conditioning,
    )
    (point,) = run_reading_test(model, tokenizer, task, [2])
    # e_i (128) alone, or beside x_u ⊙ f_dec(e_i) (50) and x_u ⊙ f_dec(q_i) (50): the statistics cover every input
    # F_I reads (the task's vectors stand for both e_i and q_i).
    width = {"none": 128, "user": 178, "user+text": 228}[conditioning]
    assert model.item_projector.input_mean.shape[-1] == width
    assert torch.all(model.item_projector.input_std > 0)
    assert point["samples"] == 2 and 0.0 <= point["hit@1"] <= 1.0
