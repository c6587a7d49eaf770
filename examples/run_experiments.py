"""The paper's experiments on your data: every baseline, ablation and scenario scored on the same stored candidates.

    python examples/run_experiments.py --config hub_configs/experiments_sample.json --output_dir runs/experiments
    python examples/run_experiments.py --config hub_configs/experiments_scientific.json --output_dir runs/sci  # no LLM

Writes OUT/results.json (every figure), OUT/tables.md (Tables 1-9 and the favourite-category answers) and
OUT/plots/*.png (Hit@1 on cold vs warm items, few-shot curves). Resumable: finished steps are skipped.
"""

import argparse
import logging
import os

from allmrec_hf.commands.cli import setup_logging
from allmrec_hf.experiments import ExperimentRunner, all_tables, write_plots
from allmrec_hf.utils import read_json, write_text_atomic


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="A hub_configs/*.json file with an 'experiments' section.")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--llm", default=None, help="Causal LLM id or folder (overrides experiments.llm).")
    args = parser.parse_args(argv)
    setup_logging(logging.WARNING)
    config = read_json(args.config)
    results = ExperimentRunner(config, args.output_dir, args.config, llm=args.llm).run()
    tables = all_tables(results, config.get("name", "dataset"))
    write_text_atomic(os.path.join(args.output_dir, "tables.md"), tables)
    plots = write_plots(results, os.path.join(args.output_dir, "plots"))
    print(tables)
    print("plots:", ", ".join(plots))


if __name__ == "__main__":
    from allmrec_hf.commands.cli import run_script

    run_script(main)
