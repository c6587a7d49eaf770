"""The reading test: can a frozen LLM be taught to choose a candidate by its soft token alone?

A synthetic catalog whose titles carry no signal (random letter codes), and hidden item vectors that stand where
stage 1's joint embeddings ``e_i`` stand (sigmoid outputs around a shared mean, as theirs are). Two tasks:

- ``item``: the target is the candidate with the largest hidden score (a fixed direction of its vector): only the
  item soft tokens tell it, the same for every user (as a popularity prior would be).
- ``user``: items fall into clusters; the user vector (in ``x_u``'s place) names one cluster and the target is the
  only candidate from it: the LLM must match the user token with the item tokens (as collaborative filtering does).

Only A-LLMRec's projectors train, through the model's own forward (any objective of `ALLMRecConfig`); chance is
1/20. `run_reading_test` returns the learning curve: validation Hit@1 (and the swap test) against samples seen.
"""

from __future__ import annotations

import string
import time
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset

from ..collators import RecommendationBatcher
from ..decoding import swap_candidate_tokens
from ..evaluation import ranking_metrics


READING_TASKS = ("item", "user")


@dataclass
class ReadingTask:
    """A synthetic catalog with hidden item and user vectors and the rows of one task.

    Args:
        titles (`list[str]`): Title per item id (index 0 is padding).
        item_vectors (`torch.Tensor` of shape `(items + 1, latent)`): What ``F_I`` reads (row 0 unused).
        user_vectors (`torch.Tensor` of shape `(users, cf_hidden)`): What ``F_U`` reads, per row's ``user_id``.
        train / validation (`Dataset`): Rows with ``history`` (empty), ``candidates``, ``target`` and ``user_id``.
    """

    titles: list[str]
    item_vectors: torch.Tensor
    user_vectors: torch.Tensor
    train: Dataset
    validation: Dataset


def build_reading_task(
    task: str = "item",
    num_items: int = 400,
    num_users: int = 4000,
    num_candidates: int = 20,
    latent_size: int = 128,
    user_size: int = 50,
    num_clusters: int = 4,
    validation_users: int = 100,
    seed: int = 0,
) -> ReadingTask:
    """The synthetic catalog and rows of ``task`` (see the module docstring), every draw from ``seed``."""
    if task not in READING_TASKS:
        raise ValueError(f"task must be one of {READING_TASKS}, got {task!r}")
    rng = np.random.default_rng(seed)
    letters = np.array(list(string.ascii_uppercase))
    titles = [""] + ["".join(rng.choice(letters, 4)) + f" {rng.integers(100, 999)}" for _ in range(num_items)]
    cluster = rng.integers(0, num_clusters, num_items + 1)
    centers = rng.normal(0, 1, (num_clusters, latent_size))
    # Shared offset + a cluster part + item noise, squashed as stage 1's sigmoid encoder squashes e_i.
    logits = 1.0 + 0.8 * centers[cluster] + rng.normal(0, 1, (num_items + 1, latent_size))
    item_vectors = 1 / (1 + np.exp(-logits))
    direction = rng.normal(0, 1, latent_size)
    hidden_score = (logits - logits.mean(0)) @ direction
    user_cluster = rng.integers(0, num_clusters, num_users)
    cluster_codes = rng.normal(0, 1, (num_clusters, user_size))
    user_vectors = cluster_codes[user_cluster] + 0.3 * rng.normal(0, 1, (num_users, user_size))
    items = np.arange(1, num_items + 1)
    rows = []
    for user in range(num_users):
        if task == "item":
            candidates = rng.choice(items, num_candidates, replace=False)
            target = int(candidates[np.argmax(hidden_score[candidates])])
        else:
            inside = items[cluster[items] == user_cluster[user]]
            outside = items[cluster[items] != user_cluster[user]]
            target = int(rng.choice(inside))
            candidates = np.append(rng.choice(outside, num_candidates - 1, replace=False), target)
            rng.shuffle(candidates)
        rows.append({"user_id": user, "history": [], "candidates": candidates.tolist(), "target": target})
    return ReadingTask(
        titles=titles,
        item_vectors=torch.tensor(item_vectors, dtype=torch.float32),
        user_vectors=torch.tensor(user_vectors, dtype=torch.float32),
        train=Dataset.from_list(rows[validation_users:]),
        validation=Dataset.from_list(rows[:validation_users]),
    )


def task_inputs(task: ReadingTask, batch: dict) -> dict:
    """The batch with the task's hidden vectors as the soft tokens' inputs."""
    batch = dict(batch)
    batch["user_representations"] = task.user_vectors[batch.pop("user_ids")]
    batch.pop("cf_input_ids", None)
    batch["item_table"] = task.item_vectors
    return batch


@torch.no_grad()
def reading_metrics(model, tokenizer, task: ReadingTask, batch_size: int = 4) -> dict:
    """Validation Hit@1 and NDCG@10 of the task, and Hit@1 with the candidates' soft tokens swapped among them."""
    model.eval()
    batcher = RecommendationBatcher.for_model(
        model, tokenizer, task.titles, with_answers=False, with_candidate_answers=True
    )
    generator = torch.Generator().manual_seed(0)
    scores, swapped, targets = [], [], []
    for start in range(0, len(task.validation), batch_size):
        batch = task_inputs(
            task,
            batcher(task.validation.select(range(start, min(start + batch_size, len(task.validation)))).to_list()),
        )
        answers = batch.pop("candidate_answer_ids"), batch.pop("candidate_answer_lengths")
        targets.append(batch["labels"])
        for output, swap in ((scores, False), (swapped, True)):
            inputs = dict(batch)
            if swap:
                inputs["candidate_item_ids"] = swap_candidate_tokens(inputs["candidate_item_ids"], generator)
            sums, counts = model.score_answers(inputs, *answers)
            output.append(sums / counts if (model.config.score_normalization or "mean") == "mean" else sums)
    targets = torch.cat(targets)
    plain, permuted = ranking_metrics(torch.cat(scores), targets), ranking_metrics(torch.cat(swapped), targets)
    return {"hit@1": plain["hit@1"], "ndcg@10": plain["ndcg@10"], "swapped_hit@1": permuted["hit@1"]}


def run_reading_test(
    model,
    tokenizer,
    task: ReadingTask,
    samples: list[int],
    learning_rate: float = 1e-3,
    batch_size: int = 1,
    seed: int = 0,
    report=None,
) -> list[dict]:
    """Train ``model``'s projectors on the task's rows (Adam, betas 0.9/0.98, the objective its config weighs) and
    evaluate at each number of ``samples`` seen (0: untrained); returns the curve's points, each also passed to
    ``report`` as it is measured."""
    if model.config.standardize_soft_token_inputs:
        model.fit_statistics_of(task.user_vectors, task.item_vectors)
    batcher = RecommendationBatcher.for_model(
        model,
        tokenizer,
        task.titles,
        with_answers=not model.config.ranks_candidates,
        with_candidate_answers=model.config.ranks_candidates,
    )
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=learning_rate, betas=(0.9, 0.98))
    order = np.random.default_rng(seed).permutation(len(task.train))
    points, seen, started, losses = [], 0, time.perf_counter(), []
    for target in sorted(set(samples)):
        model.train()
        while seen < target:
            rows = task.train.select(order[seen % len(order) : seen % len(order) + batch_size]).to_list()
            loss = model(**task_inputs(task, batcher(rows))).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            seen += len(rows)
        point = {"samples": seen, **reading_metrics(model, tokenizer, task)}
        point["train_loss"] = float(np.mean(losses[-50:])) if losses else None
        point["seconds"] = round(time.perf_counter() - started, 1)
        points.append(point)
        if report is not None:
            report(point)
    return points


def random_aligner(num_items: int, seed: int = 0):
    """A randomly initialised stage-1 model with the paper's sizes (SASRec hidden 50, latent 128) and a tiny sentence
    encoder: for runs whose item and user vectors come from elsewhere (this test), or whose timings do not depend on
    its weights (benchmarks)."""
    from transformers import BertConfig

    from ..backbones import SASRecConfig
    from ..configuration_aligner import ALLMRecAlignerConfig
    from ..modeling_aligner import ALLMRecAlignerModel

    torch.manual_seed(seed)
    text_config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=1, intermediate_size=32
    )
    return ALLMRecAlignerModel(
        ALLMRecAlignerConfig(
            cf_config=SASRecConfig(num_items=num_items, hidden_size=50),
            sentence_encoder_config=text_config,
            sentence_encoder_modules=[
                {"type": "Pooling", "config": {"embedding_dimension": 32, "pooling_mode": "mean"}}
            ],
            latent_size=128,
        )
    )


def reading_model(llm: str, num_items: int = 400, seed: int = 0, **config_kwargs):
    """A-LLMRec for the reading test around ``llm``: a `random_aligner` of the task's catalog (the task's vectors stand
    in for everything stage 1 would give), projectors initialised from ``seed``; returns ``(model, tokenizer)``."""
    from ..modeling_allmrec import ALLMRecForRecommendation

    aligner = random_aligner(num_items, seed)
    torch.manual_seed(seed)
    return ALLMRecForRecommendation.from_stage1(aligner, llm, **config_kwargs)
