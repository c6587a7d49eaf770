"""Stage 2 of A-LLMRec: train the user and item projectors into a frozen LLM (paper section 4.2).

    python examples/train_stage2.py --data_dir data/beauty --stage1_model runs/beauty-stage1 \
        --llm facebook/opt-6.7b --dtype bfloat16 --device_map auto --output_dir runs/beauty-allmrec

OUT holds config.json (the LLM by reference), model.safetensors (no LLM tensors), the tokenizer, README.md and
eval_results.json (test metrics of --evaluation_decoding, candidate scoring by default).
"""

import json

from allmrec_hf.commands.cli import parse_script_arguments, setup_logging
from allmrec_hf.training.stage2 import RecommenderArguments, RecommenderTrainingArguments, run_stage2


def main(argv=None):
    setup_logging()
    args, training_args = parse_script_arguments(
        (RecommenderArguments, RecommenderTrainingArguments), ("stage2",), argv
    )
    results = run_stage2(args, training_args)
    print(json.dumps({name: value for name, value in results.items() if not name.startswith("num_")}, indent=2))


if __name__ == "__main__":
    from allmrec_hf.commands.cli import run_script

    run_script(main)
