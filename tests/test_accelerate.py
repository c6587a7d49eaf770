"""Stage 1 and stage 2 on two CPU processes match a single-process run.

Two processes with half the per-device batch see the same global batches as one process (accelerate shards one
seeded permutation) and the same negatives (drawn per epoch and row, not per process), and DDP averages their
gradients: the trained weights agree up to floating-point summation order.

``accelerate launch --cpu --num_processes 2`` starts several CPU processes only through mpirun; without MPI it
silently runs one process. The torchrun launcher with ``ACCELERATE_USE_CPU=true`` runs real 2-process CPU DDP
(gloo), and the test checks from the log that the two processes shared each batch.
"""

import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoModel

from .conftest import EXAMPLES


def launch(script: str, arguments: list[str], processes: int) -> None:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    if processes == 1:
        command = [sys.executable, str(EXAMPLES / script), *arguments]
    else:
        environment["ACCELERATE_USE_CPU"] = "true"
        command = [
            sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(EXAMPLES / script), *arguments,
        ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=900)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed.stdout + completed.stderr


def parameters(folder, prefixes):
    model = AutoModel.from_pretrained(folder)
    return {name: tensor for name, tensor in model.state_dict().items() if name.startswith(prefixes)}


def assert_same_training(single, double, prefixes):
    """Adam divides by the root of the squared gradients, so summation-order noise in a near-zero gradient (a
    rarely seen embedding row) can move a weight by up to one learning-rate step (1e-3 here): half a step of
    absolute tolerance, on top of a relative one."""
    first, second = parameters(single, prefixes), parameters(double, prefixes)
    assert first and first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(
            first[name], second[name], rtol=1e-3, atol=5e-4, msg=lambda report, name=name: f"{name}: {report}"
        )


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_two_processes_match_one(
    stage, sample_dataset_dir, cf_dir, stage1_dir, opt_llm_dir, tiny_sentence_transformer_dir, tmp_path
):
    common = [
        "--data_dir",
        str(sample_dataset_dir),
        "--num_train_epochs",
        "1",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "true",
        "--seed",
        "3",
    ]
    if stage == "stage1":
        script, trained = (
            "train_stage1.py",
            ("item_encoder", "item_decoder", "text_encoder", "text_decoder", "sentence_encoder"),
        )
        common += ["--cf_model", str(cf_dir), "--sentence_encoder", str(tiny_sentence_transformer_dir),
                   "--max_text_length", "32", "--learning_rate", "1e-3"]  # fmt: skip
    else:
        script, trained = "train_stage2.py", ("user_projector", "item_projector")
        common += [
            "--stage1_model",
            str(stage1_dir),
            "--llm",
            str(opt_llm_dir),
            "--learning_rate",
            "1e-3",
            "--evaluation_decoding",
            "none",
        ]
    launch(
        script, [*common, "--output_dir", str(tmp_path / "one"), "--per_device_train_batch_size", "16"], processes=1
    )
    launch(script, [*common, "--output_dir", str(tmp_path / "two"), "--per_device_train_batch_size", "8"], processes=2)
    assert_same_training(tmp_path / "one", tmp_path / "two", trained)
