"""Whether a stage-2 run's soft tokens can be read, measured while it trains.

- Every log: the soft tokens' scale against the LLM's text tokens and how alike different items' (and users') tokens
  are (`soft_token_statistics`); they are added to Trainer's log entry, so they land in the training JSON.
- At scheduled numbers of training samples: validation Hit@1/NDCG@10 and the **swap test**, the same users scored
  with the candidates' soft tokens swapped among them. A model that reads its item tokens drops; one that ignores
  them scores alike. Each point keeps every user's figures, so runs on the same users pair up. The points form the
  learning curve, kept in Trainer's state (so a resumed run continues it) and written to a JSON file after each
  point (so a figure survives an interrupted run).
"""

from __future__ import annotations

import logging
import time

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from ..collators import pad
from ..decoding import evaluate_scoring
from ..modeling_allmrec import text_token_scale
from ..utils import provenance, weights_fingerprint, write_json_atomic


logger = logging.getLogger("allmrec_hf.training")

CURVE_KEY = "learning_curve"


def mean_pairwise_cosine(vectors: torch.Tensor) -> float:
    """Mean cosine similarity over the distinct pairs of rows of ``vectors``."""
    unit = F.normalize(vectors.float(), dim=-1)
    similarity = unit @ unit.T
    count = len(unit)
    return float((similarity.sum() - similarity.diagonal().sum()) / (count * (count - 1)))


def root_mean_square(vectors: torch.Tensor) -> float:
    return float(vectors.float().pow(2).mean().sqrt())


@torch.no_grad()
def soft_token_statistics(model, item_ids: torch.LongTensor, cf_input_ids=None, user_ids=None) -> dict:
    """RMS and mean pairwise cosine of the item soft tokens of ``item_ids`` (and of the user tokens of the given
    history windows), beside the RMS of the LLM's own input token embeddings."""
    statistics = {"text_token_rms": round(text_token_scale(model.llm), 4)}
    user_representations = None if cf_input_ids is None else model.cf_user_representations(cf_input_ids, user_ids)
    if model.config.item_tokens and (model.config.item_token_conditioning == "none" or cf_input_ids is not None):
        # User-conditioned item tokens are measured as the first user's prompt would hold them.
        users = None if user_representations is None else user_representations[:1].expand(len(item_ids), -1)
        inputs = model.item_token_inputs(item_ids, users)
        items = model.soft_tokens(model.item_projector, inputs)
        statistics["item_token_rms"] = round(root_mean_square(items), 4)
        statistics["item_token_cosine"] = round(mean_pairwise_cosine(items), 4)
    if model.config.use_user_token and user_representations is not None:
        users = model.soft_tokens(model.user_projector, user_representations)
        statistics["user_token_rms"] = round(root_mean_square(users), 4)
        statistics["user_token_cosine"] = round(mean_pairwise_cosine(users), 4)
    return statistics


def swap_test(
    model, tokenizer, dataset, split: str, max_users: int | None, batch_size: int = 1, per_user: bool = False
) -> dict:
    """Hit@1 and NDCG@10 of ``split`` as the model answers, and Hit@1 with the candidates' soft tokens swapped among
    them (`allmrec_hf.decoding.swap_candidate_tokens`): ``swap_drop`` is how much the item tokens decide. With
    ``per_user``, each user's figures of both (``per_user``, ``swapped_per_user``), so that two runs scored on the
    same users can be compared pair by pair (results/tables.py's ablation table)."""
    normalization = model.config.score_normalization or "mean"
    options = {"normalization": normalization, "batch_size": batch_size, "max_users": max_users, "per_user": per_user}
    plain = evaluate_scoring(model, tokenizer, dataset, split, **options)
    results = {key: plain[key] for key in ("hit@1", "ndcg@10", "hit@1_cold", "hit@1_warm", "num_users")}
    if per_user:
        results["per_user"] = plain["per_user"]
    if model.config.item_tokens:
        swapped = evaluate_scoring(model, tokenizer, dataset, split, swap_soft_tokens=True, **options)
        results["swapped_hit@1"] = swapped["hit@1"]
        results["swap_drop"] = plain["hit@1"] - swapped["hit@1"]
        if per_user:
            results["swapped_per_user"] = swapped["per_user"]
    return results


class LearningCurveCallback(TrainerCallback):
    """Adds `soft_token_statistics` to every log entry and, when the samples seen reach each of ``samples`` (0: before
    the first step), runs the `swap_test` on ``users`` seeded validation users; the points are kept in Trainer's
    state and written to ``output_file`` (JSON) after each one.

    Args:
        model / tokenizer / dataset: The A-LLMRec model in training, its tokenizer and the prepared dataset.
        samples (`list[int]`): Training samples (users) seen at which to evaluate.
        users (`int`, *optional*, defaults to 100): Validation users of every point (the same ones).
        output_file (`str`, *optional*): Where the curve is written.
        settings (`dict`, *optional*): What the run trains with, written beside the points.
    """

    def __init__(self, model, tokenizer, dataset, samples, users: int = 100, output_file=None, settings=None):
        self.model, self.tokenizer, self.dataset = model, tokenizer, dataset
        self.samples = sorted(set(samples))
        self.users, self.output_file, self.settings = users, output_file, settings or {}
        # Which SASRec the curve is built on: results/tables.py projects it to that SASRec's validation Hit@1.
        self.cf_backbone_weights = weights_fingerprint(model.aligner.cf_backbone)
        catalog = dataset.num_items
        self.item_ids = torch.linspace(1, catalog, min(256, catalog)).long().unique()
        rows = dataset.splits["train"].select(range(min(256, len(dataset.splits["train"]))))
        self.cf_input_ids = pad(rows["history"], 0, "left", model.cf_window)
        self.user_ids = torch.tensor(rows["user_id"], dtype=torch.long)

    @staticmethod
    def samples_per_step(args) -> int:
        return args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size

    def points(self, state) -> list[dict]:
        return [entry[CURVE_KEY] for entry in state.log_history if CURVE_KEY in entry]

    def statistics(self) -> dict:
        device = self.model.llm.get_input_embeddings().weight.device
        return soft_token_statistics(
            self.model, self.item_ids.to(device), self.cf_input_ids.to(device), self.user_ids.to(device)
        )

    def evaluate(self, args, state) -> None:
        seen = state.global_step * self.samples_per_step(args)
        started = time.perf_counter()
        was_training = self.model.training
        results = swap_test(self.model, self.tokenizer, self.dataset, "validation", self.users, per_user=True)
        self.model.train(was_training)
        point = {"samples": seen, "step": state.global_step, **results, **self.statistics()}
        point["seconds"] = round(time.perf_counter() - started, 1)
        state.log_history.append({CURVE_KEY: point, "step": state.global_step})
        summary = {key: value for key, value in point.items() if not key.endswith("per_user")}
        logger.info("learning curve at %d samples: %s", seen, summary)
        if self.output_file and state.is_world_process_zero:
            curve = {
                "points": self.points(state),
                "settings": self.settings,
                "cf_backbone_weights": self.cf_backbone_weights,
                "provenance": provenance(),
            }
            write_json_atomic(self.output_file, curve)

    def due(self, args, state) -> bool:
        seen = state.global_step * self.samples_per_step(args)
        done = max((point["samples"] for point in self.points(state)), default=-1)
        return any(done < target <= seen for target in self.samples)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step == 0 and 0 in self.samples and not self.points(state):
            self.evaluate(args, state)

    def on_step_end(self, args, state, control, **kwargs):
        if self.due(args, state):
            self.evaluate(args, state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        # Trainer has just appended this log entry to its history: the statistics join it there.
        if state.log_history and "loss" in state.log_history[-1]:
            state.log_history[-1].update(self.statistics())
