"""Stage 2 of A-LLMRec: train the user and item projectors into a frozen LLM (paper section 4.2).

    python examples/train_stage2.py --data_dir data/beauty --stage1_model runs/beauty-stage1 \
        --llm facebook/opt-6.7b --dtype bfloat16 --device_map auto --output_dir runs/beauty-allmrec

OUT holds config.json (the LLM by reference), model.safetensors (no LLM tensors), the tokenizer, README.md and
eval_results.json (test metrics of --evaluation_decoding, candidate scoring by default).
"""

import json

from allmrec_hf.commands.cli import parse_script_arguments, run_script, setup_logging
from allmrec_hf.commands.stage2 import RecommenderArguments, run_stage2
from allmrec_hf.training.stage2 import RecommenderTrainingArguments


def main(argv=None):
    setup_logging()
    args, training_args = parse_script_arguments(
        (RecommenderArguments, RecommenderTrainingArguments), ("stage2",), argv
    )
    # A transformers.Trainer (training/stage2.py: build_recommender_trainer) trains A-LLMRec's projectors through the
    # frozen LLM on eq. 8's answer loss, or TALLRec's PEFT adapters; candidates are drawn afresh every epoch.
    results = run_stage2(args, training_args)
    if results:  # the main process of a multi-process run
        print(json.dumps({name: value for name, value in results.items() if name not in ("loss_history",)}, indent=2))


if __name__ == "__main__":
    run_script(main)
