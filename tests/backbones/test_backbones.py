import pickle

import pytest
import torch
from transformers import AutoConfig, AutoModel

from allmrec_hf import GRU4RecConfig, NCFConfig, NextItNetConfig, SASRecConfig
from allmrec_hf.backbones import BACKBONES


NUM_ITEMS = 40
TINY = {
    "sasrec": {"hidden_size": 8, "num_blocks": 2, "num_attention_heads": 2, "max_sequence_length": 6},
    "gru4rec": {"hidden_size": 8, "num_layers": 2, "max_sequence_length": 6},
    "nextitnet": {"hidden_size": 8, "dilations": [1, 2], "max_sequence_length": 6},
    "ncf": {"hidden_size": 8, "num_users": 5, "tower_layers": 1, "max_sequence_length": 6},
}
HISTORY = torch.tensor([[0, 0, 3, 4, 5, 6], [0, 0, 0, 0, 1, 2], [7, 8, 9, 10, 11, 12]])
USERS = torch.tensor([1, 2, 3])
CANDIDATES = torch.tensor([[1, 2, 3, 40], [4, 5, 6, 7], [8, 9, 10, 11]])


def tiny_model(name, **overrides):
    torch.manual_seed(0)
    config_class, model_class = BACKBONES[name]
    model = model_class(config_class(num_items=NUM_ITEMS, **{**TINY[name], **overrides}))
    model.register_training_users(USERS)
    return model.eval()


@pytest.mark.parametrize("name", list(BACKBONES))
def test_interface_shapes_and_scores(name):
    model = tiny_model(name)
    items = model.item_embeddings()
    assert items.shape == (NUM_ITEMS + 1, 8)
    users = model.user_representation(HISTORY, USERS)
    assert users.shape == (3, 8)
    scores = model.score_candidates(HISTORY, CANDIDATES, USERS)
    torch.testing.assert_close(scores, torch.einsum("bd,bcd->bc", users, items[CANDIDATES]))
    full = model.score_all_items(HISTORY, USERS)
    assert full.shape == (3, NUM_ITEMS + 1) and torch.isinf(full[:, 0]).all()
    torch.testing.assert_close(full[:, 1:], users @ items[1:].T)
    labels = torch.tensor([0, 1, 2])
    output = model(HISTORY, USERS, candidate_ids=CANDIDATES, labels=labels)
    torch.testing.assert_close(output.logits, scores)
    # Cross-entropy of the target among the candidates: -log softmax(scores)[target], averaged over users.
    expected = (scores.logsumexp(1) - scores[torch.arange(3), labels]).mean()
    torch.testing.assert_close(output.loss, expected)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_save_then_auto_load_gives_identical_scores_without_unpickling(name, tmp_path, monkeypatch):
    model = tiny_model(name)
    model.save_pretrained(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]

    def refuse(*args, **kwargs):
        raise AssertionError("loading must not unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert AutoConfig.from_pretrained(tmp_path).model_type == name
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    assert torch.equal(
        loaded.score_candidates(HISTORY, CANDIDATES, USERS), model.score_candidates(HISTORY, CANDIDATES, USERS)
    )


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("sasrec", {}), ("sasrec", {"mask_padding_keys": False}), ("gru4rec", {}), ("nextitnet", {})],
)
def test_more_left_padding_does_not_change_the_user(name, overrides):
    model = tiny_model(name, max_sequence_length=10, **overrides)
    short = torch.tensor([[0, 3, 4, 5]])
    long = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 3, 4, 5]])
    torch.testing.assert_close(model.user_representation(short), model.user_representation(long))


def test_sasrec_reference_mode_lets_items_attend_to_padding():
    masked = tiny_model("sasrec", max_sequence_length=6)
    reference = tiny_model("sasrec", max_sequence_length=6, mask_padding_keys=False)
    reference.load_state_dict(masked.state_dict())
    history = torch.tensor([[0, 0, 0, 3, 4, 5]])
    assert not torch.allclose(masked.user_representation(history), reference.user_representation(history))
    full = torch.tensor([[1, 2, 3, 4, 5, 6]])  # no padding: the two modes agree
    torch.testing.assert_close(masked.user_representation(full), reference.user_representation(full))


@pytest.mark.parametrize("name", list(BACKBONES))
def test_training_loss_and_gradients(name):
    """SASRec's loss: -log sigmoid of every real position's positive logit and -log(1 - sigmoid) of its negative's,
    each averaged over real positions; the gradient reaches exactly the items that the batch reads."""
    model = tiny_model(name).train()
    torch.manual_seed(1)
    positives = torch.tensor([[0, 0, 4, 5, 6, 7], [0, 0, 0, 0, 2, 3], [8, 9, 10, 11, 12, 13]])
    negatives = torch.randint(14, NUM_ITEMS + 1, positives.shape).masked_fill(positives == 0, 0)
    torch.manual_seed(2)  # the same dropout masks in both passes
    loss = model(HISTORY, USERS, positive_ids=positives, negative_ids=negatives).loss
    torch.manual_seed(2)
    hidden = model.sequence_representations(HISTORY, USERS)
    items = model.item_embeddings()
    real = positives != 0
    positive_logits = (hidden * items[positives]).sum(-1)[real]
    negative_logits = (hidden * items[negatives]).sum(-1)[real]
    expected = -torch.sigmoid(positive_logits).log().mean() - (1 - torch.sigmoid(negative_logits)).log().mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    touched = set(torch.nonzero(model.item_embedding.weight.grad.abs().sum(1)).flatten().tolist())
    read = set(HISTORY.flatten().tolist()) | set(positives[real].tolist()) | set(negatives[real].tolist())
    assert set(positives[real].tolist()) | set(negatives[real].tolist()) <= touched <= read - {0}
    with pytest.raises(ValueError, match="negative_ids"):
        model(HISTORY, USERS, positive_ids=positives)


def test_item_ids_outside_the_catalog_are_a_clear_error():
    model = tiny_model("sasrec")
    with pytest.raises(ValueError, match=r"candidate_ids holds item id 99 outside 0..40"):
        model.score_candidates(HISTORY, torch.tensor([[1, 99]] * 3))
    with pytest.raises(ValueError, match=r"input_ids holds item id -1"):
        model(torch.tensor([[-1, 2]]), candidate_ids=torch.tensor([[1, 2]]))


def test_ncf_falls_back_to_the_mean_trained_user_for_unknown_users():
    model = tiny_model("ncf")  # users 1, 2, 3 trained; 4 and 5 exist but never trained; 0 and 9 are unknown
    known = model.user_representation(None, torch.tensor([1, 2, 3]))
    unknown = model.user_representation(None, torch.tensor([4, 0, 9]))
    for row in unknown:
        torch.testing.assert_close(row, known.mean(0))
    with pytest.raises(ValueError, match="pass user_ids"):
        model.user_representation(HISTORY)


@pytest.mark.parametrize(
    "config_class, kwargs, message",
    [
        (SASRecConfig, {"num_items": 0}, "num_items"),
        (SASRecConfig, {"num_items": 5, "hidden_size": 10, "num_attention_heads": 3}, "divisible"),
        (SASRecConfig, {"num_items": 5, "attention_residual": "sideways"}, "attention_residual"),
        (SASRecConfig, {"num_items": 5, "dropout": 1.0}, "dropout"),
        (GRU4RecConfig, {"num_items": 5, "num_layers": 0}, "num_layers"),
        (NextItNetConfig, {"num_items": 5, "dilations": []}, "dilations"),
        (NCFConfig, {"num_items": 5, "num_users": 0}, "num_users"),
    ],
)
def test_configs_validate_their_fields(config_class, kwargs, message):
    with pytest.raises(ValueError, match=message):
        config_class(**kwargs)
