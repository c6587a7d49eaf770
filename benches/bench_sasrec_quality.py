"""SASRec accuracy over seeds and datasets (issue 14): our training (examples/train_cf.py with the hub config's "cf"
section), the reference training loop, and ours with one departure from the reference reverted at a time.

    python benches/bench_sasrec_quality.py --threads 1 --output_json sasrec_quality.json
    python benches/bench_sasrec_quality.py --threads 1 --max_epochs 2 --seeds 0 --datasets amazon_scientific_2018

Prints one JSON object: per dataset and variant the mean and sample standard deviation over seeds of Hit@1, Hit@1 on
cold and on warm targets and NDCG@10 (test split, the stored 1 + 19 candidates), each variant's difference to ours and
to the reference, whether it meets issue 14's bar (mean >= the reference's mean - 1 std, overall and cold), and every
run's figures. ``--output_json`` also writes it after every finished run; rerunning with the same file skips the
(dataset, variant, seed) runs it already holds, and so do the files of ``--merge_json`` (say, from processes that ran
other seeds side by side), whose runs join the result. A reference-loop run saves its state every 10 epochs under
``--checkpoint_dir`` (runs/benches/sasrec_quality by default) and the same command, run again, goes on from there.

How ours differs from the reference loop (benches/reference_sasrec.py, after SASRec.pytorch's main.py and utils.py,
which the A-LLMRec reference's pre_train/sasrec copies), and the variant that reverts each difference:

Batches
- Users: ours visits every training user once per epoch (ceil(U / 128) steps, the last one partial); the reference
  draws the 128 users of each batch with replacement (about 37 % of users miss any given epoch), floor(U / 128)
  batches in SASRec.pytorch (ceil in reference_sasrec.train_epoch). No variant.
- Composition: ours groups users of similar history length (Trainer's group_by_length: shuffled mega-batches of
  up to 50 batches, 43 on Beauty and 16 on Scientific, each sorted longest to shortest) and pads a batch only to its
  longest row (about 4x faster per epoch on Beauty); the reference mixes lengths in every batch. The loss is a mean
  over a batch's real positions, so a batch of short histories weighs as much as one of long histories (a short
  user's positions count more than in a mixed batch), and each mega-batch ends on its shortest users. Reverted by
  ``random_batches``.
- Negatives: ours draws one table per epoch (row x position, seeded by (seed + 1, epoch)); the reference draws them
  afresh for each sampled window. Both exclude the user's whole training sequence: the same distribution. No variant.
Model
- Padding keys: ours masks them; the reference lets real items attend to the left padding of its 50-wide window
  (the keys and values of zeroed states are the projections' biases). Reverted by ``attend_padding``
  (``mask_padding_keys=False``, which reads the full 50-wide window like the reference, so every batch is 50 wide
  again and it is slower than ``random_batches``).
- Initialisation: Xavier-normal matrices in both, but the reference initialises its packed 3d x d attention
  in-projection as one matrix (Q, K and V at std sqrt(2 / 4d) against ours sqrt(2 / 2d)) and leaves 1-D tensors at
  PyTorch's defaults: its feed-forward (Conv1d) biases start uniform in +-1/sqrt(d) where ours start at zero (the
  attention biases are zero in both, the LayerNorms identity). Its padding embedding row is drawn too (never read:
  masked at the input, excluded from the loss). No variant.
- The same in both: pre-LN blocks whose attention residual is added to the normalised query, the feed-forward
  residual to its normalised input and a final LayerNorm; LayerNorm eps 1e-8; item embeddings scaled by sqrt(d) at the
  input; learned positions numbered within the 50-wide window; causal attention; dropout 0.5 on the embeddings, the
  attention weights and both feed-forward layers (ours after the ReLU, theirs before it: the same, as dropout
  commutes with a ReLU); the next item as positive at every real position of the last 50 training items; BCE of the
  positive and one negative averaged over real positions; Adam lr 1e-3, betas (0.9, 0.98), eps 1e-8, no weight decay
  (l2_emb 0), no clipping, constant learning rate; float32.
Selection
- Ours scores the stored 1 + 19 validation candidates every epoch and keeps the checkpoint of the best NDCG@10 over
  all 200 epochs. The reference trains a fixed number of epochs (``--num_epochs 201`` in both scripts; the same 200
  as ours here) and saves the last epoch's model; every 20 epochs it logs validation and test scores of at most
  10,000 sampled users on fresh random candidates, which selects nothing. Reverted by ``select_hit@1`` (best
  validation Hit@1 instead of NDCG@10) and ``last_epoch`` (200 epochs, the last kept, no validation: the reference's
  rule). ``early_stopping`` is our former default (issue 20 dropped it): stop after 20 epochs without a gain, which
  cost cold targets on Scientific (README, the SASRec seeds table); ``early_stopping_select_hit@1`` is select_hit@1
  as it was first measured, on top of that former default.
- ``reference_settings`` reverts random_batches, attend_padding and last_epoch at once: what remains between it and
  the reference is the departures without a variant (users with replacement, per-window negatives, initialisation).

Scoring: every model, the reference's converted into a `SASRecModel` (exactly, see convert_reference_sasrec), goes
through `evaluate_backbone` on the same stored test candidates. Seeds seed everything: Python, NumPy and torch
(initialisation, dropout, Trainer's sampler), our negatives (seed + 1) and the reference's sampler.
"""

import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import set_seed

from allmrec_hf import SASRecConfig, SASRecModel
from allmrec_hf.backbones.convert_reference_sasrec import reference_to_sasrec_state_dict
from allmrec_hf.commands.cf import run_backbone_training
from allmrec_hf.data import PreparedDataset
from allmrec_hf.data.negatives import training_sequences
from allmrec_hf.training.cf import evaluate_backbone
from allmrec_hf.utils import provenance


sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    BENCH_RUNS,
    finished_by_seed,
    finished_runs,
    parse_benchmark_arguments,
    prepare_shared_dataset,
    print_result,
    record_progress,
    seeded_arguments,
    spread,
    training_arguments,
)
from reference_sasrec import (  # noqa: E402
    ReferenceLayoutSASRec,
    load_training_state,
    reference_initialization,
    save_training_state,
    train_epoch,
)


METRICS = ("hit@1", "hit@1_cold", "hit@1_warm", "ndcg@10")
# Issue 14's bar: a variant's mean may not fall more than one reference standard deviation below the reference mean.
BAR_METRICS = ("hit@1", "hit@1_cold")

RANDOM_BATCHES = ["--train_sampling_strategy", "random"]
ATTEND_PADDING = ["--config_overrides", '{"mask_padding_keys": false}']
EARLY_STOPPING = ["--early_stopping_patience", "20"]  # the default until issue 20
SELECT_HIT_AT_1 = ["--metric_for_best_model", "hit@1"]
LAST_EPOCH = ["--load_best_model_at_end", "false", "--eval_strategy", "no", "--save_strategy", "no"]
# Each variant is examples/train_cf.py's flags on top of the dataset's hub config; None is the reference loop.
VARIANTS = {
    "ours": [],
    "reference": None,
    "random_batches": RANDOM_BATCHES,
    "attend_padding": ATTEND_PADDING,
    "select_hit@1": SELECT_HIT_AT_1,
    "early_stopping": EARLY_STOPPING,
    "early_stopping_select_hit@1": EARLY_STOPPING + SELECT_HIT_AT_1,
    "last_epoch": LAST_EPOCH,
    "reference_settings": RANDOM_BATCHES + ATTEND_PADDING + LAST_EPOCH,
}
# The reference loop's runs (200 epochs, 50-wide batches: 58-60 min on Beauty, 21 on Scientific here) save their
# state this often, under --checkpoint_dir (by default in runs/, which git ignores), so a sitting's end loses little.
CHECKPOINT_EVERY = 10


def train_ours(dataset_name: str, prepared_dir: str, seed: int, flags, max_epochs) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        args, training_args = training_arguments(dataset_name, prepared_dir, seed, flags, max_epochs, folder)
        results = run_backbone_training(args, training_args)
    return {name: results[name] for name in (*METRICS, "epochs", "best_epoch", "train_seconds")}


def train_reference(dataset_name: str, prepared_dir: str, seed: int, max_epochs, checkpoint: Path) -> dict:
    """The reference loop with our hyper-parameters and epoch budget, keeping the last epoch as SASRec.pytorch does.
    Its state is saved in ``checkpoint`` every CHECKPOINT_EVERY epochs and a run finds it there again: a killed run
    goes on from its last save to the same weights an unbroken one reaches."""
    args, training_args = training_arguments(dataset_name, prepared_dir, seed, [], max_epochs)
    dataset = PreparedDataset.load(prepared_dir)
    options = json.loads(args.config_overrides or "{}")
    if args.dropout is not None:
        options["dropout"] = args.dropout
    config = SASRecConfig(
        num_items=dataset.num_items,
        hidden_size=args.hidden_size,
        max_sequence_length=args.max_sequence_length,
        **options,
        mask_padding_keys=False,
    )
    set_seed(seed)
    model = ReferenceLayoutSASRec(
        dataset.num_items,
        hidden=config.hidden_size,
        blocks=config.num_blocks,
        heads=config.num_attention_heads,
        maxlen=config.max_sequence_length,
        dropout=config.dropout,
    )
    reference_initialization(model)
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=training_args.learning_rate,
        betas=(training_args.adam_beta1, training_args.adam_beta2),
        eps=training_args.adam_epsilon,
    )
    user_train = dict(enumerate(training_sequences(dataset.splits["train"])))
    sampler = np.random.default_rng(seed)
    epochs = int(training_args.num_train_epochs)
    done, seconds_before = 0, 0.0
    if (checkpoint / "state.json").exists():
        done, seconds_before = load_training_state(checkpoint, model, optimizer, sampler)
        print(f"[sasrec_quality] {dataset_name} reference seed {seed}: resumed after epoch {done}", file=sys.stderr)
    started = time.perf_counter()
    for epoch in range(done + 1, epochs + 1):
        train_epoch(
            model, optimizer, sampler, user_train, dataset.num_items, training_args.per_device_train_batch_size,
            config.max_sequence_length,
        )  # fmt: skip
        if epoch % CHECKPOINT_EVERY == 0 and epoch < epochs:
            save_training_state(
                checkpoint, model, optimizer, sampler, epoch, seconds_before + time.perf_counter() - started
            )
    seconds = seconds_before + time.perf_counter() - started
    converted = SASRecModel(config)
    converted.load_state_dict(reference_to_sasrec_state_dict(model.state_dict()), strict=True)
    results = evaluate_backbone(converted, dataset, "test")
    return {
        **{name: results[name] for name in METRICS},
        "epochs": float(epochs),
        "best_epoch": None,
        "train_seconds": round(seconds, 1),
    }


def summarize(runs: dict, variants: list[str], seeds: list[int]) -> dict:
    """Per dataset and variant: mean and spread over the finished seeds, differences to ours and the reference."""
    summary = {}
    for dataset_name, by_variant in runs.items():
        table = {
            variant: {name: spread([run[name] for run in finished]) for name in (*METRICS, "epochs", "train_seconds")}
            for variant, finished in finished_by_seed(by_variant, variants, seeds).items()
        }
        for variant, row in table.items():
            for baseline in ("ours", "reference"):
                if baseline in table and baseline != variant:
                    row[f"minus_{baseline}"] = {
                        name: round(row[name]["mean"] - table[baseline][name]["mean"], 4) for name in METRICS
                    }
            reference = table.get("reference")
            if variant != "reference" and reference and reference["hit@1"]["std"] is not None:
                row["meets_bar"] = {
                    name: row[name]["mean"] >= reference[name]["mean"] - reference[name]["std"] for name in BAR_METRICS
                }
        summary[dataset_name] = table
    return summary


def main():
    parser = seeded_arguments(__doc__, "variants", VARIANTS)
    parser.add_argument("--max_epochs", type=int, default=None, help="Epoch budget (default: the hub config's 200).")
    parser.add_argument(
        "--merge_json",
        nargs="+",
        default=[],
        help="Earlier outputs (e.g. of processes run side by side) whose runs count.",
    )
    parser.add_argument(
        "--checkpoint_dir",
        default=str(BENCH_RUNS / "sasrec_quality"),
        help="Where the reference loop's unfinished runs keep their state (one folder per dataset, seed and budget).",
    )
    args = parse_benchmark_arguments(parser)
    result = {
        "benchmark": "sasrec_quality",
        "max_epochs": args.max_epochs,
        "threads": args.threads,
        "provenance": provenance(),  # at the start: the code this command loaded
        "variant_flags": VARIANTS,  # null: the reference loop
        "runs": {},
    }
    earlier = [*args.merge_json, *([args.output_json] if args.output_json and Path(args.output_json).exists() else [])]
    result["runs"] = finished_runs(earlier, {"max_epochs": args.max_epochs})

    def record():
        # Every variant the file holds, whichever ones this command runs, so a partial command keeps the whole table.
        record_progress(result, summarize(result["runs"], list(VARIANTS), args.seeds), args.output_json)

    with tempfile.TemporaryDirectory() as folder:
        prepared = {}
        # Variant by variant, so an interrupted run already holds ours and the reference on every dataset and seed.
        for variant, dataset_name, seed in itertools.product(args.variants, args.datasets, args.seeds):
            runs = result["runs"].setdefault(dataset_name, {}).setdefault(variant, {})
            if str(seed) in runs:
                continue
            if dataset_name not in prepared:
                prepared[dataset_name] = prepare_shared_dataset(dataset_name, Path(folder))
            flags = VARIANTS[variant]
            checkpoint = Path(args.checkpoint_dir) / f"{dataset_name}-seed{seed}-epochs{args.max_epochs or 'default'}"
            if flags is None:
                runs[str(seed)] = train_reference(
                    dataset_name, prepared[dataset_name], seed, args.max_epochs, checkpoint
                )
            else:
                runs[str(seed)] = train_ours(dataset_name, prepared[dataset_name], seed, flags, args.max_epochs)
            print(
                f"[sasrec_quality] {dataset_name} {variant} seed {seed}: {json.dumps(runs[str(seed)])}",
                file=sys.stderr,
            )
            record()
            shutil.rmtree(checkpoint, ignore_errors=True)  # the run is in the JSON now
    record()
    return result


if __name__ == "__main__":
    print_result(main)
