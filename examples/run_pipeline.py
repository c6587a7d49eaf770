"""The whole method from one config: prepare -> CF -> stage 1 -> stage 2 -> evaluate, resumable.

    python examples/run_pipeline.py --config hub_configs/sample.json --output_dir runs/sample
    python examples/run_pipeline.py --config hub_configs/beauty.json --output_dir runs/beauty --llm facebook/opt-6.7b

Every step writes its own folder (data/, cf/, stage1/, stage2/, evaluation/) with a fingerprint of its settings;
running again skips the steps already done with the same settings, so an interrupted run resumes where it stopped.
OUT/metrics.json collects every step's metrics. Without --llm and without stage2.llm in the config, a tiny
randomly initialised LLM is built (and the run says so: its recommendations are meaningless).
"""

import argparse
import logging

from allmrec_hf.commands.cli import setup_logging
from allmrec_hf.experiments.reporting import SUMMARY_COLUMNS, SUMMARY_HEADERS, markdown_table, pipeline_summary
from allmrec_hf.experiments.workflow import run_method
from allmrec_hf.utils import read_json


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="A hub_configs/*.json file.")
    parser.add_argument("--output_dir", required=True, help="Where every step writes its folder.")
    parser.add_argument("--llm", default=None, help="Causal LLM id or folder (overrides stage2.llm).")
    args = parser.parse_args(argv)
    setup_logging(logging.INFO)
    metrics = run_method(read_json(args.config), args.output_dir, llm=args.llm, config_path=args.config)
    print(markdown_table(pipeline_summary(metrics), SUMMARY_COLUMNS, SUMMARY_HEADERS))
    return metrics


if __name__ == "__main__":
    from allmrec_hf.commands.cli import run_script

    run_script(main)
