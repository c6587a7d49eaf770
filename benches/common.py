"""What every benchmark shares: its command line (a dataset of ``../shared/data``, the thread count) and its output,
one JSON object alone on stdout."""

import argparse
import contextlib
import json
import sys
from pathlib import Path

import torch

from allmrec_hf.utils import provenance


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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
