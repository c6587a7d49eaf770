"""The SASRec module layout and training loop of the A-LLMRec reference / SASRec.pytorch, re-implemented from their
documented behaviour (REFERENCE.md) so benchmarks and tests can run them side by side with ours.

Layout: ``nn.MultiheadAttention`` with a packed in-projection, 1x1 ``Conv1d`` feed-forward layers, the timeline mask,
the residual added to the normalised query, positions 0..maxlen-1. Training loop: every batch samples users with
replacement and builds their fixed-length windows and ``random_neq`` negatives in Python, as SASRec.pytorch's
``WarpSampler`` does (in-process here). ``save_training_state`` / ``load_training_state`` let a run of that loop stop
between epochs and go on exactly where it stopped (SASRec.pytorch has no such thing: its 200 epochs take longer than
a sitting on Beauty here).
"""

import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from allmrec_hf.utils import atomic_directory, read_json, write_json_atomic


class ReferenceLayoutSASRec(nn.Module):
    def __init__(self, num_items, hidden, blocks, heads, maxlen, dropout=0.0):
        super().__init__()
        self.item_emb = nn.Embedding(num_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(maxlen, hidden)
        self.emb_dropout = nn.Dropout(dropout)
        self.attention_layernorms = nn.ModuleList(nn.LayerNorm(hidden, eps=1e-8) for _ in range(blocks))
        self.attention_layers = nn.ModuleList(nn.MultiheadAttention(hidden, heads, dropout) for _ in range(blocks))
        self.forward_layernorms = nn.ModuleList(nn.LayerNorm(hidden, eps=1e-8) for _ in range(blocks))
        self.forward_layers = nn.ModuleList(
            nn.ModuleDict({"conv1": nn.Conv1d(hidden, hidden, 1), "conv2": nn.Conv1d(hidden, hidden, 1)})
            for _ in range(blocks)
        )
        self.dropout = nn.Dropout(dropout)
        self.last_layernorm = nn.LayerNorm(hidden, eps=1e-8)

    def log2feats(self, log_seqs):
        seqs = self.item_emb(log_seqs) * math.sqrt(self.item_emb.embedding_dim)
        seqs = self.emb_dropout(seqs + self.pos_emb(torch.arange(log_seqs.shape[1]).expand_as(log_seqs)))
        keep = (log_seqs != 0).unsqueeze(-1)
        seqs = seqs * keep
        length = log_seqs.shape[1]
        blocked = ~torch.tril(torch.ones(length, length, dtype=torch.bool))
        for index in range(len(self.attention_layers)):
            seqs = seqs.transpose(0, 1)
            query = self.attention_layernorms[index](seqs)
            attended, _ = self.attention_layers[index](query, seqs, seqs, attn_mask=blocked)
            seqs = (query + attended).transpose(0, 1)
            seqs = self.forward_layernorms[index](seqs)
            layers = self.forward_layers[index]
            hidden = layers["conv1"](seqs.transpose(-1, -2))
            hidden = self.dropout(layers["conv2"](torch.relu(self.dropout(hidden)))).transpose(-1, -2)
            seqs = (hidden + seqs) * keep
        return self.last_layernorm(seqs)

    def forward(self, log_seqs, pos_seqs, neg_seqs):
        features = self.log2feats(log_seqs)
        pos_logits = (features * self.item_emb(pos_seqs)).sum(-1)
        neg_logits = (features * self.item_emb(neg_seqs)).sum(-1)
        real = pos_seqs != 0
        bce = nn.functional.binary_cross_entropy_with_logits
        return bce(pos_logits[real], torch.ones_like(pos_logits[real])) + bce(
            neg_logits[real], torch.zeros_like(neg_logits[real])
        )


def reference_initialization(model: nn.Module) -> nn.Module:
    """Initialise as SASRec.pytorch's main.py does: ``xavier_normal_`` on every parameter, inside a try/except that
    skips the 1-D ones. So matrices (the packed 3d x d attention in-projection as one matrix, the padding embedding
    row included) are Xavier-normal, and biases and LayerNorms keep PyTorch's defaults (the Conv1d biases uniform in
    +-1/sqrt(d), the attention biases zero)."""
    for parameter in model.parameters():
        if parameter.dim() > 1:
            nn.init.xavier_normal_(parameter.data)
    return model


def random_neq(rng, low, high, excluded):
    item = rng.integers(low, high)
    while item in excluded:
        item = rng.integers(low, high)
    return item


def sample_batch(rng, user_train, num_items, batch_size, maxlen):
    """One batch as SASRec.pytorch's sampler builds it: users with replacement, windows filled backwards."""
    users = list(user_train)
    seqs, poss, negs = (np.zeros((batch_size, maxlen), dtype=np.int64) for _ in range(3))
    for row in range(batch_size):
        user = users[rng.integers(len(users))]
        while len(user_train[user]) <= 1:
            user = users[rng.integers(len(users))]
        sequence = user_train[user]
        owned = set(sequence)
        next_item, index = sequence[-1], maxlen - 1
        for item in reversed(sequence[:-1]):
            seqs[row, index], poss[row, index] = item, next_item
            negs[row, index] = random_neq(rng, 1, num_items + 1, owned)
            next_item, index = item, index - 1
            if index == -1:
                break
    return torch.from_numpy(seqs), torch.from_numpy(poss), torch.from_numpy(negs)


def train_epoch(model, optimizer, rng, user_train, num_items, batch_size=128, maxlen=50):
    """One epoch of the reference loop: ceil(users / batch) batches; returns the mean loss."""
    model.train()
    batches = (len(user_train) - 1) // batch_size + 1
    total = 0.0
    for _ in range(batches):
        seqs, poss, negs = sample_batch(rng, user_train, num_items, batch_size, maxlen)
        loss = model(seqs, poss, negs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / batches


def save_training_state(folder: Path, model: nn.Module, optimizer, rng, epochs_done: int, seconds: float) -> None:
    """Everything the loop's next epoch depends on, in safe formats and atomically (the folder is replaced whole):
    weights, Adam's moments and steps and torch's generator (dropout) in safetensors; the NumPy sampler's state,
    the optimizer's settings, the epochs done and the training seconds so far in JSON."""
    optimizer_state = optimizer.state_dict()
    tensors = {f"model.{name}": value.contiguous() for name, value in model.state_dict().items()}
    for index, state in optimizer_state["state"].items():
        tensors.update({f"optimizer.{index}.{key}": value for key, value in state.items()})
    tensors["torch_rng_state"] = torch.get_rng_state()
    with atomic_directory(folder) as temporary:
        save_file(tensors, temporary / "state.safetensors")
        write_json_atomic(
            temporary / "state.json",
            {
                "epochs_done": epochs_done,
                "seconds": seconds,
                "sampler": rng.bit_generator.state,
                "param_groups": optimizer_state["param_groups"],
            },
        )


def load_training_state(folder: Path, model: nn.Module, optimizer, rng) -> tuple[int, float]:
    """Restore what ``save_training_state`` wrote into a freshly built model, optimizer and sampler; returns the
    epochs done and the training seconds so far."""
    tensors = load_file(folder / "state.safetensors")
    meta = read_json(folder / "state.json")
    model.load_state_dict(
        {name.removeprefix("model."): value for name, value in tensors.items() if name.startswith("model.")},
        strict=True,
    )
    state = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["torch_rng_state"])
    rng.bit_generator.state = meta["sampler"]
    return meta["epochs_done"], meta["seconds"]
