"""Train a collaborative-filtering backbone (SASRec, GRU4Rec, NextItNet, NCF) with Trainer and score it on the
stored test candidates.

    python examples/train_cf.py --data_dir data/beauty --backbone sasrec --output_dir runs/beauty-sasrec
    accelerate launch examples/train_cf.py --config hub_configs/beauty.json --data_dir data/beauty --output_dir ...

OUT loads with ``AutoModel.from_pretrained(OUT)``; OUT/eval_results.json holds hit@1/5/10, ndcg@5/10, hit@1_cold and
hit@1_warm on the test split (and full-catalog metrics with --full_catalog).
"""

import json

from allmrec_hf.commands.cli import parse_script_arguments, setup_logging
from allmrec_hf.training.cf import BackboneArguments, CFTrainingArguments, run_backbone_training


def main(argv=None):
    setup_logging()
    args, training_args = parse_script_arguments((BackboneArguments, CFTrainingArguments), ("cf",), argv)
    results = run_backbone_training(args, training_args)
    print(
        json.dumps(
            {
                key: results[key]
                for key in ("hit@1", "hit@5", "hit@10", "ndcg@5", "ndcg@10", "hit@1_cold", "hit@1_warm")
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    from allmrec_hf.commands.cli import run_script

    run_script(main)
