r"""Stage 1's LLM-free text path on cold targets against SASRec's, over seeds and datasets (issue 20): how much
better (or worse) text alone ranks items the CF model has barely seen, and what drives it.

    python benches/bench_stage1_cold.py --threads 2 --output_json results/benches/stage1_cold.json
    python benches/bench_stage1_cold.py --threads 2 --datasets amazon_scientific_2018 --seeds 0 \
        --settings rows epochs_5 --cf_epochs 2 --output_json /tmp/pilot.json          # a pilot

For each dataset and seed: our SASRec (examples/train_cf.py with the dataset's hub config and that seed: the "ours"
variant of bench_sasrec_quality.py), then stage 1 on it once per setting (examples/train_stage1.py, the same seed).
Every setting departs from ``rows`` in one thing:

    rows        what the real-LLM rows train (results/run_real_llm.sh prepare): MiniLM frozen, 20 epochs, the item
                text cut at 128 tokens on Scientific and 64 on Beauty, fp32
    short_text  half those tokens
    long_text   twice those tokens
    epochs_5    5 epochs
    epochs_40   40 epochs
    tuned_top2  MiniLM's top 2 layers fine-tuned at the hub config's 1e-4 (the rest frozen), 5 epochs: compare it
                with epochs_5, the same epochs frozen (20 tuned epochs would cost ~45 min a run here)

Prints one JSON object: per dataset and setting the mean and sample standard deviation over seeds of the text
path's cold Hit@1, SASRec's cold Hit@1 and their ratio (each seed's own ratio), the joint scorer's cold Hit@1 and
every scorer's overall Hit@1; every run's figures and flags. ``--output_json`` also writes it after every run;
rerunning with the same file skips the (dataset, setting, seed) runs it holds with the same flags. A seed's SASRec
is kept under ``--work_dir`` (runs/, which git ignores) until its settings have all run, so an interrupted benchmark
neither trains it twice nor loses its partial training (it resumes from its checkpoints); on a machine without it, it
is trained again: seeded, it gives the same weights on the same machine, and every run records their fingerprint
(``sasrec_weights``) to show it.
"""

import itertools
import json
import shutil
import sys
import tempfile
from pathlib import Path

from transformers import AutoModel

from allmrec_hf.commands.cf import run_backbone_training
from allmrec_hf.commands.cli import parse_script_arguments
from allmrec_hf.commands.stage1 import AlignerArguments, run_stage1
from allmrec_hf.training.stage1 import AlignerTrainingArguments
from allmrec_hf.utils import provenance, weights_fingerprint


sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    BENCH_RUNS,
    CONFIG_OF_DATASET,
    HUB_CONFIGS,
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


# The item-text length of the rows' stage 1 (results/run_real_llm.sh's CONFIGS).
ROWS_TEXT_LENGTH = {"amazon_scientific_2018": 128, "amazon_beauty_2014": 64}
ROWS = ["--sentence_encoder_training", "frozen", "--num_train_epochs", "20", "--bf16", "false"]
# Each setting: examples/train_stage1.py flags after the rows' (a repeated flag: the later one counts), given the
# rows' text length.
SETTINGS = {
    "rows": lambda length: [],
    "short_text": lambda length: ["--max_text_length", str(length // 2)],
    "long_text": lambda length: ["--max_text_length", str(length * 2)],
    "epochs_5": lambda length: ["--num_train_epochs", "5"],
    "epochs_40": lambda length: ["--num_train_epochs", "40"],
    "tuned_top2": lambda length: [
        *("--sentence_encoder_training", "top_layers", "--sentence_encoder_trainable_layers", "2"),
        *("--num_train_epochs", "5"),
    ],
}
SCORERS = {"text": "text_hit@1", "joint": "hit@1", "sasrec": "cf_hit@1"}


def setting_flags(dataset_name: str, setting: str) -> list[str]:
    """examples/train_stage1.py's flags of a setting on a dataset, on top of its hub config."""
    length = ROWS_TEXT_LENGTH[dataset_name]
    return [*ROWS, "--max_text_length", str(length), *SETTINGS[setting](length)]


def train_stage1(dataset_name: str, prepared_dir: str, cf_dir: str, seed: int, setting: str) -> dict:
    """Stage 1 of one setting on the seed's SASRec, scored; its folder (MiniLM's weights included) is removed."""
    with tempfile.TemporaryDirectory() as output_dir:
        argv = ["--config", str(HUB_CONFIGS / CONFIG_OF_DATASET[dataset_name]), "--data_dir", prepared_dir]
        argv += ["--cf_model", cf_dir, "--output_dir", output_dir, "--seed", str(seed), "--disable_tqdm", "true"]
        argv += setting_flags(dataset_name, setting)
        args, training_args = parse_script_arguments((AlignerArguments, AlignerTrainingArguments), ("stage1",), argv)
        results = run_stage1(args, training_args)
    run = {}
    for scorer, key in SCORERS.items():
        run[f"{scorer}_hit@1"], run[f"{scorer}_hit@1_cold"] = results[key], results[f"{key}_cold"]
    cold = run["sasrec_hit@1_cold"]
    run["text_over_sasrec_cold"] = run["text_hit@1_cold"] / cold if cold else None
    run["train_seconds"] = results["train_seconds"]
    run["flags"] = setting_flags(dataset_name, setting)
    return run


def summarize(runs: dict, settings: list[str], seeds: list[int]) -> dict:
    """Per dataset and setting: mean and spread over the finished seeds of every figure of a run."""
    summary = {}
    for dataset_name, by_setting in runs.items():
        table = {}
        for setting, finished in finished_by_seed(by_setting, settings, seeds).items():
            names = [
                name
                for name in finished[0]
                if isinstance(finished[0][name], float | int) and all(run[name] is not None for run in finished)
            ]
            table[setting] = {name: spread([run[name] for run in finished]) for name in names}
        summary[dataset_name] = table
    return summary


def main():
    parser = seeded_arguments(__doc__, "settings", SETTINGS)
    parser.add_argument("--cf_epochs", type=int, default=None, help="SASRec's epoch budget (default: the config's).")
    parser.add_argument(
        "--work_dir",
        default=str(BENCH_RUNS / "stage1_cold"),
        help="Where each seed's SASRec trains (resuming from its checkpoints after an interruption) and stays until "
        "every setting of that seed has run.",
    )
    args = parse_benchmark_arguments(parser)
    result = {
        "benchmark": "stage1_cold",
        "cf_epochs": args.cf_epochs,
        "threads": args.threads,
        "provenance": provenance(),  # at the start: the code this command loaded
        "runs": {},
    }
    if args.output_json and Path(args.output_json).exists():
        result["runs"] = finished_runs([args.output_json], {"cf_epochs": args.cf_epochs})

    def record():
        record_progress(result, summarize(result["runs"], args.settings, args.seeds), args.output_json)

    with tempfile.TemporaryDirectory() as folder:
        for dataset_name, seed in itertools.product(args.datasets, args.seeds):
            runs = result["runs"].setdefault(dataset_name, {})
            # A run made with other flags (the settings changed since) is run again, not kept.
            left = [
                setting
                for setting in args.settings
                if runs.get(setting, {}).get(str(seed), {}).get("flags") != setting_flags(dataset_name, setting)
            ]
            if not left:
                continue
            prepared = Path(folder) / dataset_name
            if not prepared.exists():
                prepare_shared_dataset(dataset_name, Path(folder))
            cf_dir = Path(args.work_dir) / f"{dataset_name}-sasrec-seed{seed}-epochs{args.cf_epochs or 'default'}"
            if not (cf_dir / "config.json").exists():  # kept from an interrupted run of this seed's settings
                run_backbone_training(
                    *training_arguments(dataset_name, str(prepared), seed, [], args.cf_epochs, str(cf_dir))
                )
            # Seeded, SASRec gives the same weights again on this machine: the fingerprint shows whether it did.
            sasrec_weights = weights_fingerprint(AutoModel.from_pretrained(cf_dir))
            for setting in left:
                run = train_stage1(dataset_name, str(prepared), str(cf_dir), seed, setting)
                run["sasrec_weights"] = sasrec_weights
                runs.setdefault(setting, {})[str(seed)] = run
                print(f"[stage1_cold] {dataset_name} {setting} seed {seed}: {json.dumps(run)}", file=sys.stderr)
                record()
            shutil.rmtree(cf_dir, ignore_errors=True)  # every setting of this seed is in the JSON now
    record()
    return result


if __name__ == "__main__":
    print_result(main)
