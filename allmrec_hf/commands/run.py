"""The run every stage script shares: one skeleton, each stage giving how it builds its model and Trainer and how it
scores the result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from transformers import Trainer, set_seed

from ..data.prepared import PreparedDataset
from ..model_card import protocol_card_data
from ..training.runs import checkpoint_dir, save_run, train_resuming


@dataclass
class Built:
    """What a stage's ``build`` returns.

    Args:
        model: The model the run saves.
        trainer (`Trainer`, *optional*): What trains it (None: nothing to train, e.g. LLM-Only).
        save_files (*optional*): Called with the output folder to write what else the saved model needs (tokenizers,
            the catalog).
        tokenizer (*optional*): The model's tokenizer, for the stages that score by prompting.
    """

    model: object
    trainer: Trainer | None = None
    save_files: Callable | None = None
    tokenizer: object = None

    @property
    def main_process(self) -> bool:
        return self.trainer is None or self.trainer.is_world_process_zero()


def run_stage(args, training_args, build: Callable, evaluate: Callable) -> dict:
    """Seed, load ``args.data_dir``, ``build(args, training_args, dataset) -> Built``, train (resuming the run an
    interruption left in the output folder), ``evaluate(built, args, training_args, dataset, seconds) -> metrics``,
    then write the model, ``eval_results.json`` and ``run_settings.json`` atomically to ``training_args.output_dir``
    (Trainer's checkpoints are dropped unless ``args.keep_checkpoints``). Returns the metrics."""
    if not (args.data_dir and training_args.output_dir):
        raise ValueError("--data_dir and --output_dir are required")
    output_dir = training_args.output_dir
    training_args.output_dir = checkpoint_dir(output_dir)
    set_seed(training_args.seed)
    dataset = PreparedDataset.load(args.data_dir)
    built = build(args, training_args, dataset)
    seconds = 0.0
    if built.trainer is not None:
        started = time.perf_counter()
        train_resuming(built.trainer)
        seconds = time.perf_counter() - started
    if not built.main_process:
        return {}
    results = evaluate(built, args, training_args, dataset, seconds)
    epochs = results.get("epochs", training_args.num_train_epochs if built.trainer is not None else 0)
    built.model.card_data = protocol_card_data(dataset, args.data_dir, results, {"epochs": epochs})
    settings = {"model": vars(args), "training": training_args.to_dict()}
    save_run(output_dir, built.model, results, settings, args.keep_checkpoints, extra=built.save_files)
    return results


def with_cold_users(score: Callable, dataset) -> dict:
    """``score(split)`` on the test split, and on the cold users (``cold_users_`` keys) when the data has some."""
    results = score("test")
    if len(dataset.splits["cold_users"]):
        results.update({f"cold_users_{name}": value for name, value in score("cold_users").items()})
    return results
