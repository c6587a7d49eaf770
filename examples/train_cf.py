"""Train a collaborative-filtering backbone (SASRec, GRU4Rec, NextItNet, NCF) with Trainer and score it on the
stored test candidates.

    python examples/train_cf.py --data_dir data/beauty --backbone sasrec --output_dir runs/beauty-sasrec
    accelerate launch examples/train_cf.py --config hub_configs/beauty.json --data_dir data/beauty --output_dir ...

OUT loads with ``AutoModel.from_pretrained(OUT)``; OUT/eval_results.json holds hit@1/5/10, ndcg@5/10, hit@1_cold and
hit@1_warm on the test split (and full-catalog metrics with --full_catalog).
"""

import json

from allmrec_hf.commands.cf import BackboneArguments, run_backbone_training
from allmrec_hf.commands.cli import parse_script_arguments, run_script, setup_logging
from allmrec_hf.training.cf import CFTrainingArguments


SUMMARY = ("hit@1", "hit@5", "hit@10", "ndcg@5", "ndcg@10", "hit@1_cold", "hit@1_warm")


def main(argv=None):
    setup_logging()
    args, training_args = parse_script_arguments((BackboneArguments, CFTrainingArguments), ("cf",), argv)
    # A transformers.Trainer (training/cf.py: build_backbone_trainer) trains the backbone on next-item BCE with
    # per-epoch negatives, validating every epoch on the stored candidates; the best epoch is kept and scored.
    results = run_backbone_training(args, training_args)
    if results:  # the main process of a multi-process run
        print(json.dumps({key: results[key] for key in SUMMARY}, indent=2))


if __name__ == "__main__":
    run_script(main)
