"""What the training stages share: their `TrainingArguments` defaults and how Trainer reports."""

from .arguments import StageTrainingArguments
from .callbacks import report_quietly


__all__ = ["StageTrainingArguments", "report_quietly"]
