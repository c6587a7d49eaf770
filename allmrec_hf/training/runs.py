"""Writing the result of a training run: one atomic folder with the model, its metrics and its settings."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from transformers.trainer_utils import get_last_checkpoint

from ..utils import atomic_directory, provenance, write_json_atomic


logger = logging.getLogger(__name__)


CHECKPOINTS_DIR = "checkpoints"
RESULTS_FILE = "eval_results.json"


def checkpoint_dir(output_dir: str) -> str:
    """Where Trainer keeps its resumable checkpoints during a run (inside the output folder)."""
    return os.path.join(output_dir, CHECKPOINTS_DIR)


def save_run(
    output_dir: str, model, results: dict, settings: dict, keep_checkpoints: bool = False, extra=None
) -> None:
    """Replace ``output_dir`` atomically with the trained model, ``eval_results.json`` and ``run_settings.json``.

    Trainer's resumable checkpoints hold pickled optimizer and RNG states; they are dropped unless
    ``keep_checkpoints``, so the final folder holds only safetensors and JSON. ``extra`` is called with the new folder
    to write anything else that belongs to the model (a sentence encoder, a tokenizer...).
    """
    with atomic_directory(output_dir) as temporary:
        model.save_pretrained(str(temporary))
        write_json_atomic(temporary / RESULTS_FILE, {**results, "provenance": provenance()})
        write_json_atomic(temporary / "run_settings.json", settings)
        if extra is not None:
            extra(temporary)
        checkpoints = Path(checkpoint_dir(output_dir))
        if keep_checkpoints and checkpoints.exists():
            shutil.move(str(checkpoints), str(temporary / CHECKPOINTS_DIR))


def train_resuming(trainer) -> None:
    """Train, resuming from the newest checkpoint that an interrupted run left in the checkpoint folder (as
    transformers' example scripts do; ``--resume_from_checkpoint`` names another one). Delete the output folder to
    start afresh."""
    checkpoint = trainer.args.resume_from_checkpoint
    if checkpoint is None and os.path.isdir(trainer.args.output_dir):
        checkpoint = get_last_checkpoint(trainer.args.output_dir)
        if checkpoint is not None:
            logger.warning("an interrupted run left %s: resuming from it", checkpoint)
    trainer.train(resume_from_checkpoint=checkpoint)
