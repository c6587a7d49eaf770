"""Metrics of the fixed protocol: Hit@k and NDCG@k over candidate scores, and their cold/warm breakdown.

Ties are scored by their expectation under random tie-breaking: a model that gives the target and two negatives the
same top score gets Hit@1 = 1/3, not 1 (optimistic ties would let a constant scorer reach Hit@1 = 1).
"""

from __future__ import annotations

import numpy as np


DEFAULT_CUTOFFS = (1, 5, 10)


def _numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values)


def target_positions(candidates, targets) -> np.ndarray:
    """Index of each row's target inside its candidate list; raises if a row's candidates miss its target."""
    candidates, targets = _numpy(candidates), _numpy(targets)
    found = candidates == targets[:, None]
    missing = ~found.any(axis=1)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"row {row}: target {int(targets[row])} is not among its candidates {candidates[row].tolist()}"
        )
    return found.argmax(axis=1)


def per_user_metrics(scores, target_index, cutoffs=DEFAULT_CUTOFFS) -> dict[str, np.ndarray]:
    """Hit@k and NDCG@k of every row of a ``(users, candidates)`` score matrix (higher is better)."""
    scores, target_index = _numpy(scores).astype(np.float64), _numpy(target_index).astype(np.int64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (users, candidates), got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError(f"scores contain NaN in {int(np.isnan(scores).any(axis=1).sum())} rows")
    rows = scores.shape[0]
    target = scores[np.arange(rows), target_index][:, None]
    higher = (scores > target).sum(axis=1)
    tied = (scores == target).sum(axis=1) - 1
    # The target's rank is uniform over higher .. higher + tied; average each metric over those ranks.
    offsets = np.arange(int(tied.max()) + 1)
    ranks = higher[:, None] + offsets[None, :]
    weights = (offsets[None, :] <= tied[:, None]) / (tied[:, None] + 1)
    discounts = 1.0 / np.log2(ranks + 2)
    metrics = {}
    for k in cutoffs:
        inside = (ranks < k) * weights
        metrics[f"hit@{k}"] = inside.sum(axis=1)
        if k > 1:
            metrics[f"ndcg@{k}"] = (inside * discounts).sum(axis=1)
    return metrics


def ranking_metrics(scores, target_index, cutoffs=DEFAULT_CUTOFFS) -> dict[str, float]:
    """Mean Hit@k and NDCG@k (NDCG@1 equals Hit@1 and is not repeated)."""
    return {name: float(values.mean()) for name, values in per_user_metrics(scores, target_index, cutoffs).items()}


def target_groups(targets, popularity) -> np.ndarray:
    """The popularity group of each user's target item ("cold", "middle" or "warm", `data.protocol`)."""
    return np.asarray(popularity, dtype=object)[_numpy(targets)]


def popularity_breakdown(values, targets, popularity, name: str = "hit@1", prefix: str = "") -> dict:
    """Mean of a per-user metric over users whose target is cold and over users whose target is warm, with the
    number of users behind each figure (NaN when a group is empty)."""
    groups = target_groups(targets, popularity)
    values = np.asarray(values, dtype=np.float64)
    results = {}
    for group in ("cold", "warm"):
        chosen = groups == group
        results[f"{prefix}{name}_{group}"] = float(values[chosen].mean()) if chosen.any() else float("nan")
        results[f"{prefix}num_{group}_targets"] = int(chosen.sum())
    return results


def protocol_metrics(
    scores, candidates, targets, popularity=None, cutoffs=DEFAULT_CUTOFFS, prefix: str = "", user_ids=None
) -> dict:
    """Every metric of the protocol for one split: Hit@k, NDCG@k and, given item ``popularity`` groups (indexed by
    item id), Hit@1 on cold and on warm targets, with the number of users behind each figure. Given ``user_ids``,
    ``per_user`` also holds each user's Hit@1 and NDCG@10 (for paired comparisons of models on the same users) and,
    given ``popularity``, the group of each user's target (for paired comparisons on cold or warm targets alone)."""
    per_user = per_user_metrics(scores, target_positions(candidates, targets), cutoffs)
    results = {f"{prefix}{name}": float(values.mean()) for name, values in per_user.items()}
    results[f"{prefix}num_users"] = int(len(_numpy(targets)))
    if popularity is not None:
        results.update(popularity_breakdown(per_user["hit@1"], targets, popularity, prefix=prefix))
    if user_ids is not None:
        groups = None if popularity is None else target_groups(targets, popularity)
        metrics = {name: per_user[name] for name in PER_USER_METRICS}
        results[f"{prefix}per_user"] = per_user_record(user_ids, metrics, groups)
    return results


PER_USER_METRICS = ("hit@1", "ndcg@10")


def per_user_record(user_ids, metrics: dict, groups=None) -> dict:
    """``{"user_id": [...], <metric>: [...], "target_group": [...]}`` as JSON-ready lists, rounded (one figure per
    user); ``target_group`` (each user's target's `target_groups`) only when ``groups`` are given."""
    record = {"user_id": [int(user) for user in _numpy(user_ids)]}
    record.update({name: [round(float(value), 6) for value in values] for name, values in metrics.items()})
    if groups is not None:
        record["target_group"] = [str(group) for group in groups]
    return record
