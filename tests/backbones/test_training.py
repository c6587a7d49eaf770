import json

import numpy as np
import pytest
import torch
from transformers import AutoModel

from allmrec_hf import SASRecConfig, SASRecModel
from allmrec_hf.collators import BackboneCollator, TensorRows, collate_rows, pad
from allmrec_hf.data.negatives import EpochCandidates, EpochNegatives, interaction_keys
from allmrec_hf.training.cf import (
    CFTrainingArguments,
    backbone_training_rows,
    build_backbone_trainer,
    evaluate_backbone,
    full_catalog_metrics,
)


def test_left_pad_keeps_the_most_recent_items():
    padded = pad([[1, 2, 3, 4], [5], []], 0, "left", 3)
    assert padded.tolist() == [[2, 3, 4], [0, 0, 5], [0, 0, 0]]


def test_rows_are_trimmed_and_batches_left_padded_to_their_longest_row():
    rows = TensorRows(
        ("input_ids",), input_ids=pad([[1, 2, 3], [4], []], 0, "left", 5), user_ids=torch.tensor([1, 2, 3])
    )
    assert rows.lengths() == [3, 1, 1]
    assert rows[0]["input_ids"].tolist() == [1, 2, 3]
    assert rows[2]["input_ids"].tolist() == [0]
    batch = collate_rows([rows[0], rows[1]])
    assert batch["input_ids"].tolist() == [[1, 2, 3], [0, 0, 4]]
    assert batch["user_ids"].tolist() == [1, 2]


def test_epoch_negatives_avoid_each_users_items_and_depend_only_on_seed_epoch_and_row():
    sequences = [list(range(1, 19)), [19, 20], [1]]  # row 0 owns 18 of 20 items: only 19 and 20 are negatives
    keys = interaction_keys(sequences, num_items=20)
    negatives = EpochNegatives(20, keys, num_rows=3, width=400, seed=5)
    table = negatives(torch.tensor([0, 1, 2]))
    assert set(table[0].tolist()) <= {19, 20}
    assert not set(table[1].tolist()) & {19, 20}
    # A row's draws do not depend on which rows share its batch, nor on who asks.
    assert torch.equal(negatives(torch.tensor([2]))[0], table[2])
    assert torch.equal(EpochNegatives(20, keys, 3, 400, seed=5)(torch.tensor([1]))[0], table[1])
    assert negatives(torch.tensor([0]), width=3).shape == (1, 3)
    negatives.set_epoch(1)
    assert not torch.equal(negatives(torch.tensor([2]))[0], table[2])
    negatives.set_epoch(0)
    assert torch.equal(negatives(torch.tensor([0, 1, 2])), table)
    with pytest.raises(RuntimeError, match="could not draw negatives"):
        EpochNegatives(2, interaction_keys([[1, 2]], 2), 1, 4, seed=0, max_rounds=3)


def test_collator_adds_negatives_only_at_real_positions(sample_dataset):
    rows, keys = backbone_training_rows(sample_dataset.splits["train"], 8, sample_dataset.num_items)
    negatives = EpochNegatives(sample_dataset.num_items, keys, len(rows), 8, seed=0)
    batch = BackboneCollator(negatives)([rows[i] for i in range(16)])
    assert "row" not in batch
    assert torch.equal(batch["negative_ids"] == 0, batch["positive_ids"] == 0)
    # At every real position, the positive is the item the next position reads.
    real = batch["input_ids"][:, :-1] != 0
    assert torch.equal(batch["input_ids"][:, 1:][real], batch["positive_ids"][:, :-1][real])
    for index in range(16):
        owned = set(sample_dataset.splits["train"][index]["history"]) | {
            sample_dataset.splits["train"][index]["target"]
        }
        assert not set(batch["negative_ids"][index].tolist()) & owned


@pytest.fixture(scope="module")
def trained_sasrec(sample_dataset, tmp_path_factory):
    torch.manual_seed(0)
    model = SASRecModel(
        SASRecConfig(num_items=sample_dataset.num_items, hidden_size=16, max_sequence_length=10, dropout=0.2)
    )
    args = CFTrainingArguments(
        output_dir=str(tmp_path_factory.mktemp("cf")),
        num_train_epochs=8,
        learning_rate=5e-3,
        per_device_train_batch_size=32,
        disable_tqdm=True,
        early_stopping_patience=0,
        seed=0,
    )
    trainer = build_backbone_trainer(model, sample_dataset, args)
    trainer.train()
    return trainer


def test_trainer_learns_and_keeps_the_best_validation_checkpoint(trained_sasrec, sample_dataset):
    history = trained_sasrec.state.log_history
    losses = [entry["loss"] for entry in history if "loss" in entry]
    scores = [entry["eval_ndcg@10"] for entry in history if "eval_ndcg@10" in entry]
    assert losses[-1] < losses[0]
    assert trained_sasrec.state.best_metric == pytest.approx(max(scores))
    validation = evaluate_backbone(trained_sasrec.model, sample_dataset, "validation")
    assert validation["ndcg@10"] == pytest.approx(max(scores), abs=1e-6)
    assert validation["hit@10"] > 0.5 + 0.1  # chance is 10/20


def test_test_metrics_and_full_catalog_ranking(trained_sasrec, sample_dataset):
    model = trained_sasrec.model
    results = evaluate_backbone(model, sample_dataset, "test", full_catalog=True)
    for key in (
        "hit@1",
        "hit@5",
        "hit@10",
        "ndcg@5",
        "ndcg@10",
        "hit@1_cold",
        "hit@1_warm",
        "full_hit@10",
        "full_ndcg@10",
    ):
        assert key in results
    assert results["full_hit@10"] < results["hit@10"]  # ranking every item is harder than ranking 20

    # Full ranking by brute force: the user's earlier items are excluded, except the target.
    split = sample_dataset.splits["test"]
    hits = []
    with torch.no_grad():
        for row in split:
            scores = model.score_all_items(pad([row["history"]], 0, "left", 10), None)[0].numpy()
            scores[[item for item in row["history"] if item != row["target"]]] = -np.inf
            hits.append(float((scores > scores[row["target"]]).sum() < 10))
    assert full_catalog_metrics(model, split, 10)["full_hit@10"] == pytest.approx(np.mean(hits))


def test_train_cf_script_writes_a_loadable_model_and_results(sample_dataset, sample_dataset_dir, tmp_path):
    import train_cf

    output = tmp_path / "sasrec"
    train_cf.main(
        ["--data_dir", str(sample_dataset_dir), "--output_dir", str(output), "--num_train_epochs", "2", "--hidden_size", "8",
         "--max_sequence_length", "8", "--disable_tqdm", "true", "--backbone", "gru4rec",
         "--metric_for_best_model", "hit@1"]
    )  # fmt: skip
    assert sorted(path.name for path in output.iterdir()) == [
        "README.md",
        "card_data.json",
        "config.json",
        "eval_results.json",
        "model.safetensors",
        "run_settings.json",
    ]
    results = json.loads((output / "eval_results.json").read_text())
    model = AutoModel.from_pretrained(output)
    assert type(model).__name__ == "GRU4RecModel"
    # The figures are those of the saved model: the epoch of the best validation Hit@1, scored on the test users.
    assert evaluate_backbone(model, sample_dataset, "validation")["hit@1"] == results["best_validation_hit@1"]
    assert results["best_epoch"] in (1.0, 2.0)
    test = evaluate_backbone(model, sample_dataset, "test")
    for key in ("hit@1", "hit@5", "hit@10", "ndcg@5", "ndcg@10", "hit@1_cold", "hit@1_warm"):
        assert results[key] == pytest.approx(test[key]), key
    cold_users = evaluate_backbone(model, sample_dataset, "cold_users")
    assert results["cold_users_hit@1"] == pytest.approx(cold_users["hit@1"])
    card = (output / "README.md").read_text()
    assert card.startswith("---\n") and "\nlibrary_name: allmrec_hf\n" in card.split("\n---\n")[0]
    assert "| hit@1 |" in card and "Leave-one-out" in card


def test_epoch_candidates_are_distinct_fresh_and_hold_the_target():
    sequences = [[1, 2, 3], [4, 5], [6]]
    keys = interaction_keys(sequences, num_items=30)
    candidates = EpochCandidates(30, keys, num_rows=3, num_negatives=19, seed=3)
    rows, targets = torch.tensor([0, 1, 2]), torch.tensor([3, 5, 6])
    first = candidates.candidates(rows, targets)
    assert first.shape == (3, 20)
    for row, target, sequence in zip(first.tolist(), targets.tolist(), sequences):
        assert len(set(row)) == 20 and row.count(target) == 1
        assert not (set(row) - {target}) & set(sequence)  # negatives lie outside the user's items
    assert torch.equal(EpochCandidates(30, keys, 3, 19, seed=3).candidates(rows, targets), first)
    candidates.set_epoch(1)
    second = candidates.candidates(rows, targets)
    assert not torch.equal(second, first)
    candidates.set_epoch(0)
    assert torch.equal(candidates.candidates(rows, targets), first)
    # The target's position is spread over the 20 slots, not always the same one.
    many = EpochCandidates(30, interaction_keys([[1]] * 400, 30), 400, 19, seed=0)
    slots = (many.candidates(torch.arange(400), torch.ones(400, dtype=torch.long)) == 1).long().argmax(1)
    assert len(set(slots.tolist())) == 20


def test_weighted_negatives_follow_the_weights_and_still_avoid_the_users_items():
    sequences = [[1, 2], [3]]
    keys = interaction_keys(sequences, num_items=30)
    weights = torch.zeros(31)
    weights[[1, 2, 3, 4, 5]] = 1.0  # only items 1-5 may be drawn
    weights[5] = 50.0  # and item 5 far more often than the others
    negatives = EpochNegatives(30, keys, num_rows=2, width=200, seed=0, weights=weights)
    table = negatives(torch.tensor([0, 1]))
    assert set(table[0].tolist()) <= {3, 4, 5} and set(table[1].tolist()) <= {1, 2, 4, 5}
    assert (table == 5).float().mean() > 0.8
    candidates = EpochCandidates(30, keys, 2, num_negatives=3, seed=0, weights=weights)
    rows = candidates.candidates(torch.tensor([0, 1]), torch.tensor([2, 3])).tolist()
    assert sorted(rows[0]) == [2, 3, 4, 5]  # the target and the only three items row 0 may be given
    assert rows[1].count(3) == 1 and len(set(rows[1])) == 4 and set(rows[1]) - {3} <= {1, 2, 4, 5}
    with pytest.raises(ValueError, match="one per item id"):
        EpochNegatives(30, keys, 2, 3, seed=0, weights=torch.ones(30))
    with pytest.raises(ValueError, match="all zero"):
        EpochNegatives(30, keys, 2, 3, seed=0, weights=torch.zeros(31))


def test_persistent_workers_are_refused_because_they_would_keep_the_first_epochs_negatives(sample_dataset, tmp_path):
    model = SASRecModel(SASRecConfig(num_items=sample_dataset.num_items, hidden_size=8, max_sequence_length=8))
    args = CFTrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=1, dataloader_num_workers=1, dataloader_persistent_workers=True,
        save_strategy="no", eval_strategy="no", load_best_model_at_end=False, report_to=[], disable_tqdm=True,
    )  # fmt: skip
    with pytest.raises(ValueError, match="persistent_workers"):
        build_backbone_trainer(model, sample_dataset, args).train()
