"""Seconds per SASRec training epoch on real data: our Trainer path and the reference loop, side by side.

    python benches/bench_sasrec_epoch.py --data_dir ../shared/data/amazon_beauty_2014

Prints one JSON object. Every variant trains the reference configuration (hidden 50, 2 blocks, 1 head, dropout 0.5,
maxlen 50, batch 128, Adam 1e-3) for the same number of epochs on the same training sequences; validation is off, so
the figure is training time only.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import set_seed

from allmrec_hf import SASRecConfig, SASRecModel
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.data.negatives import training_sequences
from allmrec_hf.training.cf import CFTrainingArguments, build_backbone_trainer


sys.path.insert(0, str(Path(__file__).parent))
from common import benchmark_arguments, parse_benchmark_arguments, print_result  # noqa: E402
from reference_sasrec import ReferenceLayoutSASRec, train_epoch  # noqa: E402


def ours(dataset, epochs: int, sampling: str) -> float:
    set_seed(0)
    model = SASRecModel(SASRecConfig(num_items=dataset.num_items))
    with tempfile.TemporaryDirectory() as folder:
        args = CFTrainingArguments(
            output_dir=folder,
            num_train_epochs=epochs,
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            load_best_model_at_end=False,
            early_stopping_patience=0,
            disable_tqdm=True,
            train_sampling_strategy=sampling,
        )
        trainer = build_backbone_trainer(model, dataset, args)
        started = time.perf_counter()
        trainer.train()
        return (time.perf_counter() - started) / epochs


def reference_loop(dataset, epochs: int) -> float:
    torch.manual_seed(0)
    model = ReferenceLayoutSASRec(dataset.num_items, hidden=50, blocks=2, heads=1, maxlen=50, dropout=0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
    user_train = dict(enumerate(training_sequences(dataset.splits["train"])))
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(epochs):
        train_epoch(model, optimizer, rng, user_train, dataset.num_items)
    return (time.perf_counter() - started) / epochs


def main():
    parser = benchmark_arguments(__doc__, "amazon_beauty_2014")
    parser.add_argument("--epochs", type=int, default=2)
    args = parse_benchmark_arguments(parser)
    dataset = prepare_dataset(DataArguments(source="generic", data_dir=args.data_dir))
    users = len(dataset.splits["train"])
    results = {
        "benchmark": "sasrec_seconds_per_epoch",
        "data_dir": args.data_dir,
        "users": users,
        "batches_per_epoch": -(-users // 128),
        "threads": args.threads,
        "epochs_timed": args.epochs,
        "ours_group_by_length_s": round(ours(dataset, args.epochs, "group_by_length"), 2),
        "ours_random_batches_s": round(ours(dataset, args.epochs, "random"), 2),
        "reference_loop_s": round(reference_loop(dataset, args.epochs), 2),
    }
    results["speedup_vs_reference_loop"] = round(results["reference_loop_s"] / results["ours_group_by_length_s"], 2)
    return results


if __name__ == "__main__":
    print_result(main)
