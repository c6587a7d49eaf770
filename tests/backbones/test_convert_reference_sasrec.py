import argparse
import os
import subprocess
import sys

import pytest
import torch

from allmrec_hf.backbones.convert_reference_sasrec import UnpickleRefused, convert_reference_sasrec


sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benches"))
from reference_sasrec import ReferenceLayoutSASRec  # noqa: E402  (the reference layout, shared with the benchmarks)


@pytest.fixture
def reference_checkpoint(tmp_path):
    torch.manual_seed(3)
    reference = ReferenceLayoutSASRec(num_items=30, hidden=8, blocks=2, heads=2, maxlen=7).eval()
    with torch.no_grad():  # random LayerNorm and bias values make the comparison non-trivial
        for parameter in reference.parameters():
            parameter.normal_(0, 0.3)
    args = argparse.Namespace(hidden_units=8, num_blocks=2, num_heads=2, dropout_rate=0.25, maxlen=7, device="cpu")
    path = tmp_path / "SASRec.epoch=200.lr=0.001.layer=2.head=2.hidden=8.maxlen=7.pth"
    torch.save([args, reference.state_dict()], path)
    return reference, path


def test_converted_model_computes_what_the_reference_computes(reference_checkpoint, tmp_path):
    reference, path = reference_checkpoint
    model = convert_reference_sasrec(str(path), allow_unpickle=True)
    assert model.config.num_attention_heads == 2 and model.config.dropout == 0.25
    assert model.config.max_sequence_length == 7 and not model.config.mask_padding_keys
    history = torch.tensor([[0, 0, 0, 5, 9, 2, 30], [1, 2, 3, 4, 5, 6, 7]])
    with torch.no_grad():
        expected = reference.log2feats(history)[:, -1]
        torch.testing.assert_close(model.user_representation(history), expected, rtol=1e-5, atol=1e-5)
        # A batch trimmed to its longest row (as evaluation batches are) still reads the reference's full window.
        torch.testing.assert_close(model.user_representation(history[:1, 3:]), expected[:1], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.item_embeddings(), reference.item_emb.weight)
    model.save_pretrained(tmp_path / "converted")
    assert sorted(p.name for p in (tmp_path / "converted").iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]


def test_kwargs_dict_layout_is_accepted(reference_checkpoint, tmp_path):
    reference, _ = reference_checkpoint
    args = argparse.Namespace(num_heads=2, dropout_rate=0.5)
    path = tmp_path / "kwargs.pth"
    torch.save([{"user_num": 3, "item_num": 30, "args": args}, reference.state_dict()], path)
    assert convert_reference_sasrec(str(path), allow_unpickle=True).config.num_items == 30


def test_refuses_without_the_flag_and_never_runs_foreign_globals(reference_checkpoint, tmp_path):
    _, path = reference_checkpoint
    with pytest.raises(UnpickleRefused, match="allow_unpickle"):
        convert_reference_sasrec(str(path))

    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pth"
    torch.save([Payload(), {}], evil)
    with pytest.raises(UnpickleRefused, match="restricted unpickler refused"):
        convert_reference_sasrec(str(evil), allow_unpickle=True)
    assert not marker.exists()


def test_script_refuses_by_default(reference_checkpoint, tmp_path):
    _, path = reference_checkpoint
    script = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "convert_reference_sasrec.py")
    refused = subprocess.run(
        [sys.executable, script, "--checkpoint", str(path), "--output_dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "allow_unpickle" in refused.stderr
    assert not (tmp_path / "out").exists()
