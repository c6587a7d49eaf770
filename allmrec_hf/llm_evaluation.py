"""Scoring A-LLMRec on the stored candidates, three ways.

- ``generate``: greedy decoding as in the paper; the answer is matched to a candidate by exact normalised title
  (``hit@1``) and by the reference's lenient substring rule (``hit@1_lenient``). No ranking, so Hit@1 only.
- ``score``: the log-likelihood of every candidate's answer after the prompt (the prompt is encoded once and its
  cache shared by all candidates), summed or length-normalised: a full ranking, so Hit@1/5/10 and NDCG@5/10 (the
  reference cannot rank: its issue #11). The normalisation is picked on the validation split.
- ``constrained``: greedy decoding restricted to the candidates' answers by a prefix trie; it always names a
  candidate.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from .evaluation import first_quoted, lenient_hit, normalize_title, popularity_breakdown, protocol_metrics
from .recommendation_batches import RecommendationBatcher


DECODINGS = ("generate", "score", "constrained")


def timing(seconds: float, users: int, batch_size: int) -> dict:
    batches = max(1, -(-users // batch_size))
    return {"seconds": round(seconds, 2), "seconds_per_batch": round(seconds / batches, 4), "batch_size": batch_size}


def evaluation_rows(dataset, split: str, max_users: int | None = None, seed: int = 0):
    """The rows of a split, or a seeded sample of ``max_users`` of them (the reference scores at most 10,000)."""
    rows = dataset.splits[split]
    if max_users is not None and max_users < len(rows):
        rows = rows.select(np.sort(np.random.default_rng(seed).choice(len(rows), max_users, replace=False)))
    return rows


def _batches(model, rows, batcher: RecommendationBatcher, batch_size: int, description: str):
    device = model.llm.get_input_embeddings().weight.device
    for start in tqdm(range(0, len(rows), batch_size), desc=description, disable=len(rows) <= batch_size):
        features = rows.select(range(start, min(start + batch_size, len(rows)))).to_list()
        batch = {name: value.to(device) for name, value in batcher(features).items()}
        yield features, batch


def _batcher(model, tokenizer, dataset, **options) -> RecommendationBatcher:
    return RecommendationBatcher(
        tokenizer,
        dataset.titles,
        model.config,
        model.aligner.cf_backbone.config.max_sequence_length,
        with_answers=False,
        missing_title=model.config.aligner_config.missing_title,
        **options,
    )


class AnswerTrie:
    """The candidates' answers of one user as a prefix tree over token ids."""

    def __init__(self, answers: list[list[int]]):
        self.root: dict = {}
        self.answers = answers
        for index, answer in enumerate(answers):
            node = self.root
            for token in answer:
                node = node.setdefault(token, {})
            node.setdefault(None, index)

    def allowed(self, prefix: list[int], fallback: int) -> list[int]:
        node = self.root
        for token in prefix:
            if token not in node:
                return [fallback]
            node = node[token]
        tokens = [token for token in node if token is not None]
        return tokens or [fallback]

    def match(self, generated: list[int]) -> int | None:
        node = self.root
        for token in generated:
            if None in node and token not in node:
                break
            if token not in node:
                return None
            node = node[token]
        return node.get(None)


def candidate_scores(
    model,
    tokenizer,
    dataset,
    split: str,
    batch_size: int = 8,
    max_users=None,
    item_embedding_path=None,
    user_representation=None,
):
    """Summed answer log-likelihoods and answer lengths of every candidate, ``(users, candidates)`` each.

    ``user_representation`` (shape ``(d,)``), when given, stands in for every user's ``x_u`` (cross-domain)."""
    rows = evaluation_rows(dataset, split, max_users)
    batcher = _batcher(model, tokenizer, dataset, with_candidate_answers=True)
    sums, counts = [], []
    model.eval()
    for _, batch in _batches(model, rows, batcher, batch_size, f"scoring {split}"):
        batch["item_embedding_path"] = item_embedding_path
        if user_representation is not None:
            batch["user_representations"] = user_representation.to(batch["input_ids"].device).expand(
                len(batch["input_ids"]), -1
            )
        total, length = model.score_answers(
            batch, batch.pop("candidate_answer_ids"), batch.pop("candidate_answer_lengths")
        )
        sums.append(total.cpu())
        counts.append(length.cpu())
    return torch.cat(sums).numpy(), torch.cat(counts).numpy(), rows


def evaluate_scoring(
    model,
    tokenizer,
    dataset,
    split="test",
    normalization=None,
    batch_size=8,
    max_users=None,
    item_embedding_path=None,
    user_representation=None,
) -> dict:
    """Rank the candidates by answer likelihood. ``normalization`` (``sum`` or ``mean``) defaults to the one with
    the better validation NDCG@10 (ties: the config's ``score_normalization``)."""
    if normalization is None:
        validation_sums, validation_counts, validation_rows = candidate_scores(
            model, tokenizer, dataset, "validation", batch_size, max_users, item_embedding_path, user_representation
        )
        quality = {
            name: protocol_metrics(scores, validation_rows["candidates"], validation_rows["target"])["ndcg@10"]
            for name, scores in (("sum", validation_sums), ("mean", validation_sums / validation_counts))
        }
        normalization = max(quality, key=lambda name: (quality[name], name == model.config.score_normalization))
    started = time.perf_counter()
    sums, counts, rows = candidate_scores(
        model, tokenizer, dataset, split, batch_size, max_users, item_embedding_path, user_representation
    )
    seconds = time.perf_counter() - started
    scores = sums if normalization == "sum" else sums / counts
    results = protocol_metrics(scores, rows["candidates"], rows["target"], dataset.popularity)
    results["score_normalization"] = normalization
    results.update(timing(seconds, len(rows), batch_size))
    return results


def evaluate_generation(
    model,
    tokenizer,
    dataset,
    split="test",
    constrained=False,
    batch_size=8,
    max_users=None,
    item_embedding_path=None,
    keep_predictions=False,
) -> dict:
    """Hit@1 of greedy (optionally trie-constrained) generation, exact and lenient, overall and cold/warm."""
    rows = evaluation_rows(dataset, split, max_users)
    batcher = _batcher(model, tokenizer, dataset)
    eos, pad = model.config.llm_eos_token_id, model.config.llm_pad_token_id
    started = time.perf_counter()
    exact, lenient, named, predictions = [], [], [], []
    model.eval()
    for features, batch in _batches(model, rows, batcher, batch_size, f"generating {split}"):
        batch["item_embedding_path"] = item_embedding_path
        tries = [AnswerTrie([batcher.answer_ids[item] for item in feature["candidates"]]) for feature in features]
        options = {}
        if constrained:
            # Enough steps to finish the longest candidate answer, so the trie always completes one.
            options["prefix_allowed_tokens_fn"] = lambda row, prefix, tries=tries: tries[row].allowed(
                prefix.tolist(), pad
            )
            options["max_new_tokens"] = max(len(answer) for trie in tries for answer in trie.answers)
        generated = model.generate_answers(batch, **options).cpu().tolist()
        for feature, trie, tokens in zip(features, tries, generated):
            tokens = tokens[: tokens.index(eos) + 1] if eos in tokens else tokens
            answer = tokenizer.decode(tokens, skip_special_tokens=True)
            candidate_titles = [batcher.titles[item] for item in feature["candidates"]]
            target_title = batcher.titles[feature["target"]]
            if constrained:
                chosen = trie.match(tokens)
                hit = chosen is not None and normalize_title(candidate_titles[chosen]) == normalize_title(target_title)
                named.append(chosen is not None)
            else:
                hit = normalize_title(first_quoted(answer)) == normalize_title(target_title)
                named.append(
                    any(normalize_title(first_quoted(answer)) == normalize_title(t) for t in candidate_titles)
                )
            exact.append(float(hit))
            lenient.append(float(lenient_hit(answer, target_title)))
            if keep_predictions:
                predictions.append(
                    {"user_id": feature["user_id"], "answer": answer, "target": target_title, "hit": bool(hit)}
                )
    targets = rows["target"]
    results = {
        **timing(time.perf_counter() - started, len(rows), batch_size),
        "hit@1": float(np.mean(exact)),
        "hit@1_lenient": float(np.mean(lenient)),
        "named_a_candidate": float(np.mean(named)),
        "num_users": len(exact),
    }
    results.update(popularity_breakdown(exact, targets, dataset.popularity))
    results.update(popularity_breakdown(lenient, targets, dataset.popularity, name="hit@1_lenient"))
    if keep_predictions:
        results["predictions"] = predictions
    return results


def evaluate_recommender(model, tokenizer, dataset, decoding: str, split: str = "test", **options) -> dict:
    """Dispatch to the three answering modes."""
    if decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}")
    if decoding == "score":
        options.pop("keep_predictions", None)
        return {"decoding": decoding, **evaluate_scoring(model, tokenizer, dataset, split, **options)}
    return {
        "decoding": decoding,
        **evaluate_generation(model, tokenizer, dataset, split, decoding == "constrained", **options),
    }
