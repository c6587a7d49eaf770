"""Stage 1 of A-LLMRec: align a frozen CF backbone's item embeddings with item text (paper section 4.1).

    python examples/train_stage1.py --data_dir data/scientific --cf_model runs/scientific-sasrec \
        --text_encoder all-MiniLM-L6-v2 --output_dir runs/scientific-stage1

OUT loads with ``AutoModel.from_pretrained(OUT)`` (tokenizer: ``AutoTokenizer.from_pretrained(OUT)``);
OUT/eval_results.json holds the joint scorer's hit@1, hit@1_cold, hit@1_warm, the text path's text_hit@1,
text_hit@1_cold, text_hit@1_warm, and the CF backbone's own cf_* figures on the same candidates, and
validation_history: the same scorers on the validation candidates after each epoch (--eval_strategy no skips it;
--load_best_model_at_end true --metric_for_best_model text_hit@1 keeps the best epoch instead of the last).
"""

import json

from allmrec_hf.commands.cli import parse_script_arguments, run_script, setup_logging
from allmrec_hf.commands.stage1 import AlignerArguments, run_stage1
from allmrec_hf.training.stage1 import AlignerTrainingArguments


SUMMARY = ("hit@1", "hit@1_cold", "hit@1_warm", "text_hit@1", "text_hit@1_cold", "text_hit@1_warm", "cf_hit@1",
           "cf_hit@1_cold", "cf_hit@1_warm")  # fmt: skip


def main(argv=None):
    setup_logging()
    args, training_args = parse_script_arguments((AlignerArguments, AlignerTrainingArguments), ("stage1",), argv)
    # An AlignerTrainer (training/stage1.py: a transformers.Trainer that gives the sentence encoder its own learning
    # rate, validates the LLM-free scorers every epoch and fills the catalog's e_i and q_i) trains eqs. 2-6.
    results = run_stage1(args, training_args)
    if results:  # the main process of a multi-process run
        print(json.dumps({key: results[key] for key in SUMMARY}, indent=2))


if __name__ == "__main__":
    run_script(main)
