"""The stages' Trainer callbacks: per-epoch negatives, and reporting (progress bars on stderr, figures to the logger,
nothing on stdout)."""

from __future__ import annotations

import logging

from transformers import PrinterCallback, ProgressCallback, TrainerCallback

from ..data.negatives import EpochNegatives


logger = logging.getLogger("allmrec_hf.training")


class LogsToLogger(TrainerCallback):
    """Trainer's logs (loss, learning rate, validation metrics) go to the ``allmrec_hf.training`` logger at INFO: the
    scripts show them, the quickstart (warnings only) does not, and stdout keeps only what a script prints itself."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            figures = {name: round(value, 4) if isinstance(value, float) else value for name, value in logs.items()}
            figures.pop("total_flos", None)
            logger.info("step %d: %s", state.global_step, figures)


class ProgressBars(ProgressCallback):
    """Trainer's progress bars without the log lines it writes beside them (`LogsToLogger` reports those)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


def report_quietly(trainer):
    """Replace Trainer's printing callbacks (a dict on stdout per log, or a bar with the dicts written into it) by
    `ProgressBars` (unless ``disable_tqdm``) and `LogsToLogger`; returns the trainer."""
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if not trainer.args.disable_tqdm:
        trainer.add_callback(ProgressBars())
    trainer.add_callback(LogsToLogger())
    return trainer


class EpochNegativesCallback(TrainerCallback):
    """Moves the negatives to the epoch Trainer is starting (also right after a resume)."""

    def __init__(self, negatives: EpochNegatives):
        self.negatives = negatives

    def on_train_begin(self, args, state, control, **kwargs):
        # A persistent worker keeps the copy of the collator it was given, so it would draw epoch 0's negatives
        # forever; workers that are started anew every epoch copy the current epoch.
        if args.dataloader_persistent_workers and args.dataloader_num_workers > 0:
            raise ValueError(
                "--dataloader_persistent_workers true would keep every data-loading worker at the first epoch's "
                "negatives: leave it false (workers then restart each epoch and draw that epoch's negatives)"
            )

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.negatives.set_epoch(int(state.epoch or 0))
