"""The reference SASRec loop (benches/reference_sasrec.py) stopped between epochs and resumed from its saved state
reaches the very weights of an unbroken run: the benchmark's 200-epoch reference runs outlast a sitting."""

import os
import sys

import numpy as np
import torch


sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benches"))
from reference_sasrec import (  # noqa: E402
    ReferenceLayoutSASRec,
    load_training_state,
    reference_initialization,
    save_training_state,
    train_epoch,
)


NUM_ITEMS = 40
USERS = {user: [(user * 7 + step * 3) % NUM_ITEMS + 1 for step in range(3 + user % 6)] for user in range(24)}


def fresh(seed=0):
    torch.manual_seed(seed)
    # Dropout on: the torch generator's state is part of what a resume must restore.
    model = reference_initialization(
        ReferenceLayoutSASRec(NUM_ITEMS, hidden=8, blocks=2, heads=2, maxlen=6, dropout=0.3)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.98))
    return model, optimizer, np.random.default_rng(seed)


def epochs(model, optimizer, rng, count):
    return [train_epoch(model, optimizer, rng, USERS, NUM_ITEMS, batch_size=8, maxlen=6) for _ in range(count)]


def test_a_resumed_run_ends_where_an_unbroken_one_does(tmp_path):
    model, optimizer, rng = fresh()
    unbroken_losses = epochs(model, optimizer, rng, 4)

    first, first_optimizer, first_rng = fresh()
    losses = epochs(first, first_optimizer, first_rng, 2)
    save_training_state(tmp_path / "state", first, first_optimizer, first_rng, 2, 1.5)
    del first, first_optimizer, first_rng

    resumed, resumed_optimizer, resumed_rng = fresh(seed=99)  # other weights and draws, all overwritten by the load
    assert load_training_state(tmp_path / "state", resumed, resumed_optimizer, resumed_rng) == (2, 1.5)
    losses += epochs(resumed, resumed_optimizer, resumed_rng, 2)

    assert losses == unbroken_losses
    for (name, expected), actual in zip(model.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(expected, actual), name
    expected_state = optimizer.state_dict()["state"]
    for index, state in resumed_optimizer.state_dict()["state"].items():
        for key, value in state.items():
            assert torch.equal(value, expected_state[index][key]), (index, key)


def test_saving_again_replaces_the_state_whole(tmp_path):
    model, optimizer, rng = fresh()
    epochs(model, optimizer, rng, 1)
    save_training_state(tmp_path / "state", model, optimizer, rng, 1, 1.0)
    epochs(model, optimizer, rng, 1)
    save_training_state(tmp_path / "state", model, optimizer, rng, 2, 2.0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state"]
    assert load_training_state(tmp_path / "state", *fresh()) == (2, 2.0)
