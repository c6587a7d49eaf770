"""How an LLM recommender answers on the stored candidates: the answering modes, as a registry (`DECODINGS`).

- ``score``: the log-likelihood of every candidate's answer after the prompt (the prompt read once, all answers in
  one more pass), summed or length-normalised: a full ranking, so Hit@1/5/10 and NDCG@5/10 (the reference cannot
  rank: its issue #11). The normalisation is picked on the validation split.
- ``generate``: greedy decoding as in the paper; the answer is matched to a candidate by exact normalised title
  (``hit@1``) and by the reference's lenient substring rule (``hit@1_lenient``). No ranking, so Hit@1 only.
- ``constrained``: greedy decoding restricted to the candidates' answers by a prefix trie; it always names a
  candidate.

Adding a mode is one function ``(model, tokenizer, dataset, split, **its options) -> metrics`` and one entry in
`DECODINGS`; `evaluate_recommender` passes each mode the options it takes.
"""

from __future__ import annotations

import functools
import inspect
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from .collators import RecommendationBatcher
from .evaluation import per_user_record, popularity_breakdown, protocol_metrics, target_groups
from .prompts import exact_hit, lenient_hit, named_candidates


def timing(seconds: float, users: int, batch_size: int) -> dict:
    batches = max(1, -(-users // batch_size))
    return {"seconds": round(seconds, 2), "seconds_per_batch": round(seconds / batches, 4), "batch_size": batch_size}


def prompt_batches(model, rows, batcher: RecommendationBatcher, batch_size: int, description: str, prompt_inputs=None):
    """``(features, batch)`` of ``rows`` in order, on the LLM's device, each batch with ``prompt_inputs`` added (extra
    `embed_prompt` inputs: ``item_embedding_path``, another catalog's ``item_table``, ``user_representations``)."""
    device = model.llm.get_input_embeddings().weight.device
    model.eval()
    for start in tqdm(range(0, len(rows), batch_size), desc=description, disable=len(rows) <= batch_size):
        features = rows.select(range(start, min(start + batch_size, len(rows)))).to_list()
        batch = {name: value.to(device) for name, value in batcher(features).items()}
        yield features, {**batch, **(prompt_inputs or {})}


def path_inputs(item_embedding_path: str | None) -> dict | None:
    """The prompt inputs that make a model read ``item_embedding_path`` (``"text"``: A-LLMRec (SBERT))."""
    return {"item_embedding_path": item_embedding_path} if item_embedding_path else None


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


def swap_candidate_tokens(candidate_item_ids: torch.LongTensor, generator: torch.Generator) -> torch.LongTensor:
    """Each row's candidate ids rotated by a random shift in ``1 .. candidates - 1``: every candidate's soft token then
    belongs to another candidate of the row while the titles stay in place (the swap test of the soft tokens)."""
    rows, candidates = candidate_item_ids.shape
    shifts = torch.randint(1, candidates, (rows, 1), generator=generator).to(candidate_item_ids.device)
    columns = (torch.arange(candidates, device=candidate_item_ids.device) + shifts) % candidates
    return candidate_item_ids.gather(1, columns)


def candidate_scores(
    model,
    tokenizer,
    dataset,
    split: str,
    batch_size: int = 8,
    max_users=None,
    prompt_inputs=None,
    swap_soft_tokens: bool = False,
):
    """Summed answer log-likelihoods and answer lengths of every candidate, ``(users, candidates)`` each, and the
    rows scored; with ``swap_soft_tokens``, every candidate's soft token is another candidate's of the same row
    (`swap_candidate_tokens`, seeded)."""
    rows = dataset.sample_rows(split, max_users)
    batcher = RecommendationBatcher.for_model(
        model, tokenizer, dataset.titles, with_answers=False, with_candidate_answers=True
    )
    generator = torch.Generator().manual_seed(0)
    sums, counts = [], []
    for _, batch in prompt_batches(model, rows, batcher, batch_size, f"scoring {split}", prompt_inputs):
        if swap_soft_tokens:
            batch["candidate_item_ids"] = swap_candidate_tokens(batch["candidate_item_ids"], generator)
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
    prompt_inputs=None,
    validation_users=None,
    per_user=False,
    swap_soft_tokens=False,
) -> dict:
    """Rank the candidates by answer likelihood, summed or length-normalised (``normalization``).

    ``normalization`` defaults to the model's ``config.score_normalization``. When that is unset, the one with the
    better NDCG@10 on the validation split (``validation_users`` of them, default ``max_users``) is picked and
    stored in the config, so that a saved model, its pipeline and its reported metrics rank alike.
    ``swap_soft_tokens`` scores with the candidates' soft tokens swapped among them (see `candidate_scores`)."""
    normalization = normalization or model.config.score_normalization
    if normalization is None:
        validation_sums, validation_counts, validation_rows = candidate_scores(
            model, tokenizer, dataset, "validation", batch_size, validation_users or max_users, prompt_inputs
        )
        quality = {
            name: protocol_metrics(scores, validation_rows["candidates"], validation_rows["target"])["ndcg@10"]
            for name, scores in (("sum", validation_sums), ("mean", validation_sums / validation_counts))
        }
        normalization = max(quality, key=lambda name: (quality[name], name == "sum"))
        model.config.score_normalization = normalization
    started = time.perf_counter()
    sums, counts, rows = candidate_scores(
        model, tokenizer, dataset, split, batch_size, max_users, prompt_inputs, swap_soft_tokens
    )
    seconds = time.perf_counter() - started
    scores = sums if normalization == "sum" else sums / counts
    users = rows["user_id"] if per_user else None
    results = protocol_metrics(scores, rows["candidates"], rows["target"], dataset.popularity, user_ids=users)
    results["score_normalization"] = normalization
    if swap_soft_tokens:
        results["swapped_soft_tokens"] = True
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
    prompt_inputs=None,
    keep_predictions=False,
    per_user=False,
) -> dict:
    """Hit@1 of greedy (optionally trie-constrained) generation, exact and lenient, overall and cold/warm; with
    ``per_user`` each user's exact and lenient Hit@1 too, with ``keep_predictions`` each answer."""
    rows = dataset.sample_rows(split, max_users)
    batcher = RecommendationBatcher.for_model(model, tokenizer, dataset.titles, with_answers=False)
    eos, pad = model.config.llm_eos_token_id, model.config.llm_pad_token_id
    started = time.perf_counter()
    exact, lenient, named, predictions = [], [], [], []
    for features, batch in prompt_batches(model, rows, batcher, batch_size, f"generating {split}", prompt_inputs):
        options = {}
        if constrained:
            tries = [AnswerTrie([batcher.answer_ids[item] for item in f["candidates"]]) for f in features]
            # Enough steps to finish the longest candidate answer, so the trie always completes one.
            options["prefix_allowed_tokens_fn"] = lambda row, prefix, tries=tries: tries[row].allowed(
                prefix.tolist(), pad
            )
            options["max_new_tokens"] = max(len(answer) for trie in tries for answer in trie.answers)
        generated = model.generate_answers(batch, **options).cpu().tolist()
        for feature, tokens in zip(features, generated):
            tokens = tokens[: tokens.index(eos) + 1] if eos in tokens else tokens
            answer = tokenizer.decode(tokens, skip_special_tokens=True)
            candidate_titles = [batcher.titles[item] for item in feature["candidates"]]
            target = list(feature["candidates"]).index(feature["target"])
            # One rule for free and constrained decoding: the answer's text names candidates (see `exact_hit`).
            hit = exact_hit(answer, candidate_titles, target)
            exact.append(hit)
            named.append(bool(named_candidates(answer, candidate_titles)))
            lenient.append(float(lenient_hit(answer, candidate_titles[target])))
            if keep_predictions:
                predictions.append(
                    {"user_id": feature["user_id"], "answer": answer, "target": candidate_titles[target], "hit": hit}
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
    if per_user:
        metrics = {"hit@1": exact, "hit@1_lenient": lenient}
        results["per_user"] = per_user_record(rows["user_id"], metrics, target_groups(targets, dataset.popularity))
    if keep_predictions:
        results["predictions"] = predictions
    return results


DECODINGS = {
    "score": evaluate_scoring,
    "generate": evaluate_generation,
    "constrained": functools.partial(evaluate_generation, constrained=True),
}


def evaluate_recommender(model, tokenizer, dataset, decoding: str, split: str = "test", **options) -> dict:
    """Score ``split`` with the answering mode ``decoding``, passing it the ``options`` it takes (``batch_size``,
    ``max_users``, ``prompt_inputs``, ``per_user``; ``normalization`` and ``validation_users`` for scoring,
    ``keep_predictions`` for generation)."""
    if decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {list(DECODINGS)}, got {decoding!r}")
    mode = DECODINGS[decoding]
    taken = inspect.signature(mode).parameters
    return {
        "decoding": decoding,
        **mode(model, tokenizer, dataset, split, **{k: v for k, v in options.items() if k in taken}),
    }
