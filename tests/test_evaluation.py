import math

import numpy as np
import pytest
import torch

from allmrec_hf.evaluation import (
    per_user_metrics,
    protocol_metrics,
    ranking_metrics,
    target_positions,
)


def test_metrics_by_hand():
    scores = np.array([[0.9, 0.1, 0.5, 0.3], [0.2, 0.1, 0.5, 0.3]])
    # Row 0: target first (rank 0). Row 1: target index 0 has score 0.2, two candidates above it (rank 2).
    metrics = ranking_metrics(scores, np.array([0, 0]), cutoffs=(1, 3))
    assert metrics["hit@1"] == pytest.approx(0.5)
    assert metrics["hit@3"] == pytest.approx(1.0)
    assert metrics["ndcg@3"] == pytest.approx((1.0 + 1.0 / math.log2(4)) / 2)
    assert "ndcg@1" not in metrics


def test_ties_are_scored_by_their_expectation():
    # Target tied with two others at the top: ranks 0, 1, 2 each with probability 1/3.
    per_user = per_user_metrics(np.array([[1.0, 1.0, 1.0, 0.0]]), np.array([0]), cutoffs=(1, 2, 5))
    assert per_user["hit@1"][0] == pytest.approx(1 / 3)
    assert per_user["hit@2"][0] == pytest.approx(2 / 3)
    assert per_user["ndcg@5"][0] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(4)) / 3)
    # A constant scorer gets chance level, never a perfect score.
    constant = ranking_metrics(np.zeros((5, 20)), np.arange(5), cutoffs=(1, 10))
    assert constant["hit@1"] == pytest.approx(1 / 20)
    assert constant["hit@10"] == pytest.approx(10 / 20)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="NaN"):
        ranking_metrics(np.array([[np.nan, 1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="row 1: target 9 is not among its candidates"):
        target_positions(np.array([[1, 2], [3, 4]]), np.array([2, 9]))
    assert target_positions(torch.tensor([[5, 7, 9]]), torch.tensor([9])).tolist() == [2]


def test_protocol_metrics_split_cold_and_warm_targets():
    popularity = np.array(["", "cold", "warm", "middle", "warm"], dtype=object)
    candidates = np.array([[1, 2, 3], [2, 3, 4], [4, 1, 2]])
    targets = np.array([1, 2, 4])
    scores = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    results = protocol_metrics(scores, candidates, targets, popularity, cutoffs=(1,))
    assert results["hit@1"] == pytest.approx(2 / 3)
    assert results["hit@1_cold"] == 1.0 and results["num_cold_targets"] == 1
    assert results["hit@1_warm"] == 0.5 and results["num_warm_targets"] == 2
    assert results["num_users"] == 3
    per_user = protocol_metrics(scores, candidates, targets, popularity, cutoffs=(1, 10), user_ids=[7, 8, 9])
    assert per_user["per_user"] == {
        "user_id": [7, 8, 9],
        "hit@1": [1.0, 0.0, 1.0],
        "ndcg@10": [1.0, pytest.approx(0.5), 1.0],
        "target_group": ["cold", "warm", "warm"],
    }
