"""A training run killed between two checkpoints resumes from the last one and ends as an uninterrupted run does,
in every stage."""

import pytest
from transformers import TrainerCallback

from allmrec_hf.commands.cf import BackboneArguments, run_backbone_training
from allmrec_hf.commands.stage1 import AlignerArguments, run_stage1
from allmrec_hf.commands.stage2 import RecommenderArguments, run_stage2
from allmrec_hf.training import cf as cf_training
from allmrec_hf.training import stage1 as stage1_training
from allmrec_hf.training import stage2 as stage2_training
from allmrec_hf.training.cf import CFTrainingArguments
from allmrec_hf.training.stage1 import AlignerTrainingArguments
from allmrec_hf.training.stage2 import RecommenderTrainingArguments


class Killed(Exception):
    pass


class CountSteps(TrainerCallback):
    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


class KillAtStep(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed(f"killed at step {self.step}")


def cf_run(paths, output):
    arguments = BackboneArguments(data_dir=str(paths["data"]), hidden_size=16, max_sequence_length=10)
    training = CFTrainingArguments(
        output_dir=str(output), num_train_epochs=2, save_strategy="steps", save_steps=2, eval_strategy="no",
        load_best_model_at_end=False, early_stopping_patience=0, logging_strategy="no", report_to=[],
        disable_tqdm=True, seed=1,
    )  # fmt: skip
    return run_backbone_training(arguments, training)


def stage1_run(paths, output):
    arguments = AlignerArguments(
        data_dir=str(paths["data"]), cf_model=str(paths["cf"]), sentence_encoder=str(paths["sentence_encoder"]),
        max_text_length=16,
    )  # fmt: skip
    training = AlignerTrainingArguments(
        output_dir=str(output), num_train_epochs=1, save_strategy="steps", save_steps=2, eval_strategy="no",
        logging_strategy="no", learning_rate=1e-3, report_to=[], disable_tqdm=True, seed=1,
    )  # fmt: skip
    return run_stage1(arguments, training)


def stage2_run(paths, output):
    arguments = RecommenderArguments(
        data_dir=str(paths["data"]), stage1_model=str(paths["stage1"]), llm=str(paths["llm"]), max_train_users=12,
        max_eval_users=6, eval_batch_size=6, evaluation_decoding="score",
    )  # fmt: skip
    training = RecommenderTrainingArguments(
        output_dir=str(output), num_train_epochs=1, per_device_train_batch_size=2, save_strategy="steps", save_steps=2,
        logging_strategy="no", learning_rate=1e-3, report_to=[], disable_tqdm=True, seed=1,
    )  # fmt: skip
    return run_stage2(arguments, training)


STAGES = {
    "cf": (cf_training, cf_run),
    "stage1": (stage1_training, stage1_run),
    "stage2": (stage2_training, stage2_run),
}
FIGURES = ("hit@1", "hit@5", "ndcg@10", "text_hit@1")


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(
    stage, sample_dataset_dir, cf_dir, stage1_dir, tiny_sentence_transformer_dir, opt_llm_dir, tmp_path, monkeypatch
):
    module, run = STAGES[stage]
    paths = {"data": sample_dataset_dir, "cf": cf_dir, "stage1": stage1_dir, "llm": opt_llm_dir,
             "sentence_encoder": tiny_sentence_transformer_dir}  # fmt: skip
    quietly = module.report_quietly

    def run_with(callback, output):
        monkeypatch.setattr(
            module, "report_quietly", lambda trainer: quietly(trainer).add_callback(callback) or trainer
        )
        return run(paths, output)

    straight_steps = CountSteps()
    straight = run_with(straight_steps, tmp_path / "straight")
    with pytest.raises(Killed):
        run_with(KillAtStep(3), tmp_path / "resumed")
    assert (tmp_path / "resumed" / "checkpoints" / "checkpoint-2").is_dir()
    resumed_steps = CountSteps()
    resumed = run_with(resumed_steps, tmp_path / "resumed")
    assert resumed_steps.steps == straight_steps.steps - 2  # it went on from checkpoint-2
    assert {name: resumed[name] for name in FIGURES if name in straight} == {
        name: straight[name] for name in FIGURES if name in straight
    }
