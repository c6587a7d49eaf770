"""What every benchmark shares: its command line (a dataset of ``../shared/data``, the thread count) and its output,
one JSON object alone on stdout."""

import argparse
import contextlib
import json
import statistics
import sys
from pathlib import Path

import torch

from allmrec_hf.commands.cf import BackboneArguments
from allmrec_hf.commands.cli import parse_script_arguments
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.training.cf import CFTrainingArguments
from allmrec_hf.utils import provenance, read_json, write_json_atomic


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HUB_CONFIGS = Path(__file__).resolve().parents[1] / "hub_configs"
# Where long benchmarks keep what lets an interrupted run go on (git ignores runs/).
BENCH_RUNS = Path(__file__).resolve().parents[1] / "runs" / "benches"
# The shared datasets that benchmarks over seeds train on, with the hub config that prepares and trains each.
CONFIG_OF_DATASET = {"amazon_beauty_2014": "beauty_2014.json", "amazon_scientific_2018": "scientific_2018.json"}


def benchmark_arguments(description: str, dataset: str | None) -> argparse.ArgumentParser:
    """A parser with ``--threads`` and ``--data_dir`` (default: ``dataset`` in ``../shared/data``; no ``--data_dir``
    for a benchmark that reads several datasets, ``dataset=None``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    if dataset is not None:
        parser.add_argument("--data_dir", default=str(SHARED_DATA / dataset))
    parser.add_argument("--threads", type=int, default=2)
    return parser


def parse_benchmark_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line and apply ``--threads`` before anything is timed."""
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def print_result(main) -> None:
    """Run a benchmark's ``main`` and print the dict it returns as the only output on stdout (Trainer prints its
    logs there, so they go to stderr), with its provenance (command, commit, versions, threads, date) so a figure
    committed under results/benches can be traced."""
    with contextlib.redirect_stdout(sys.stderr):
        result = main()
    result.setdefault("provenance", provenance())
    print(json.dumps(result, indent=2))


def spread(values: list[float]) -> dict:
    """Mean and sample standard deviation over seeds (None for one seed), and how many seeds they rest on."""
    return {
        "mean": round(statistics.fmean(values), 4),
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else None,
        "seeds": len(values),
    }


def finished_runs(paths: list[str], settings: dict) -> dict:
    """The runs held by earlier outputs of a seeded benchmark, as ``{dataset: {variant: {seed: run}}}``; each output
    must have been made with the same ``settings`` (say, an epoch budget), or its runs would not compare."""
    runs = {}
    for path in paths:
        previous = read_json(path)
        for name, value in settings.items():
            if previous.get(name) != value:
                raise SystemExit(f"{path} holds runs of {name}={previous.get(name)}, not {value}")
        for dataset_name, by_variant in previous["runs"].items():
            for variant, by_seed in by_variant.items():
                runs.setdefault(dataset_name, {}).setdefault(variant, {}).update(by_seed)
    return runs


def prepare_shared_dataset(dataset_name: str, folder: Path) -> str:
    """The dataset as the hub config prepares it (from ../shared/data), saved where run_backbone_training reads it."""
    data = read_json(HUB_CONFIGS / CONFIG_OF_DATASET[dataset_name])["data"]
    prepared = prepare_dataset(DataArguments(**{**data, "data_dir": str(SHARED_DATA / dataset_name)}))
    prepared.save(folder / dataset_name)
    return str(folder / dataset_name)


def seeded_arguments(description: str, kind: str, choices) -> argparse.ArgumentParser:
    """The command line of a benchmark over seeds and shared datasets: ``--threads``, ``--datasets``, ``--seeds``,
    ``--<kind>`` (the variants or settings it compares, all by default) and ``--output_json``."""
    parser = benchmark_arguments(description, None)
    parser.add_argument("--datasets", nargs="+", default=list(CONFIG_OF_DATASET), choices=list(CONFIG_OF_DATASET))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(f"--{kind}", nargs="+", default=list(choices), choices=list(choices))
    parser.add_argument("--output_json", default=None, help="Also write the result here after every run; resumes.")
    return parser


def finished_by_seed(by_variant: dict, variants: list[str], seeds: list[int]) -> dict[str, list[dict]]:
    """Per variant of one dataset, its finished runs among ``seeds`` (variants with none are left out)."""
    finished = {}
    for variant in variants:
        runs = [by_variant[variant][str(seed)] for seed in seeds if str(seed) in by_variant.get(variant, {})]
        if runs:
            finished[variant] = runs
    return finished


def record_progress(result: dict, summary: dict, output_json: str | None) -> None:
    """Attach the summary to a seeded benchmark's result and write it (atomically) after each run, so that an
    interrupted benchmark resumes from its file. The provenance is the one the result was given when the command
    started (the code it loaded then, not the working tree at this write), or else this moment's."""
    result["summary"] = summary
    result.setdefault("provenance", provenance())
    if output_json:
        write_json_atomic(output_json, result)


def training_arguments(dataset_name: str, prepared_dir: str, seed: int, flags, max_epochs, output_dir=None):
    """What examples/train_cf.py parses from the dataset's hub config, the run's seed and a variant's flags."""
    argv = ["--config", str(HUB_CONFIGS / CONFIG_OF_DATASET[dataset_name]), "--data_dir", prepared_dir]
    argv += ["--seed", str(seed), "--disable_tqdm", "true", *flags]
    if output_dir is not None:
        argv += ["--output_dir", output_dir]
    if max_epochs is not None:
        argv += ["--num_train_epochs", str(max_epochs)]
    return parse_script_arguments((BackboneArguments, CFTrainingArguments), ("cf",), argv)
