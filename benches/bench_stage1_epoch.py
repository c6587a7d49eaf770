"""Seconds per stage-1 epoch on real data, side by side: the paper's setting (sentence encoder fully fine-tuned, 128
text tokens, fp32), the same fine-tuning on 64 tokens in bf16 autocast, the top 2 layers fine-tuned (64 tokens, bf16),
and the frozen sentence encoder (Table 6's ablation, catalog encoded once). The autoencoders train at 1e-3 and the
sentence encoder at 1e-4 where it trains, except in the paper's setting (1e-4 for all).

    python benches/bench_stage1_epoch.py --data_dir ../shared/data/amazon_scientific_2018

Trains a SASRec backbone briefly (the timing of stage 1 does not depend on its quality), then times ``--steps``
stage-1 steps of each setting with the offline all-MiniLM-L6-v2 and extrapolates to one epoch
(ceil(users / 32) steps). Also times the one-off work before training (user representations, catalog tokenisation).
Prints one JSON object.
"""

import math
import tempfile
import time

from common import benchmark_arguments, parse_benchmark_arguments, print_result
from transformers import TrainerCallback, set_seed

from allmrec_hf import SASRecConfig, SASRecModel
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.modeling_aligner import ALLMRecAlignerModel, load_sentence_transformer
from allmrec_hf.training.stage1 import AlignerTrainingArguments, build_aligner_trainer


SETTINGS = {
    "paper_full_finetuning": {"model": {"max_text_length": 128}, "training": {}},
    "full_finetuning_bf16_64_tokens": {
        "model": {"max_text_length": 64},
        "training": {"bf16": True, "use_cpu": True, "learning_rate": 1e-3, "sentence_encoder_learning_rate": 1e-4},
    },
    "top2_layers_bf16_64_tokens": {
        "model": {
            "max_text_length": 64,
            "sentence_encoder_training": "top_layers",
            "sentence_encoder_trainable_layers": 2,
        },
        "training": {"bf16": True, "use_cpu": True, "learning_rate": 1e-3, "sentence_encoder_learning_rate": 1e-4},
    },
    # Table 6's "w/o SBERT fine-tuning": the catalog is encoded once before training (counted in setup_seconds).
    "frozen_text_encoder": {
        "model": {"max_text_length": 128, "sentence_encoder_training": "frozen"},
        "training": {"learning_rate": 1e-3},
    },
}


class StepClock(TrainerCallback):
    """Times training steps after the first (which includes warm-up)."""

    def __init__(self):
        self.started = None
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        if self.started is None:
            self.started = time.perf_counter()
        else:
            self.steps += 1

    def seconds_per_step(self) -> float:
        return (time.perf_counter() - self.started) / self.steps


def main():
    parser = benchmark_arguments(__doc__, "amazon_scientific_2018")
    parser.add_argument("--steps", type=int, default=20)
    args = parse_benchmark_arguments(parser)
    dataset = prepare_dataset(DataArguments(source="generic", data_dir=args.data_dir, few_shot_sizes=[]))
    set_seed(0)
    cf = SASRecModel(SASRecConfig(num_items=dataset.num_items)).eval()
    sentence_transformer = load_sentence_transformer()
    steps_per_epoch = math.ceil(len(dataset.splits["train"]) / 32)
    results = {"benchmark": "stage1_seconds_per_epoch", "data_dir": args.data_dir, "steps_per_epoch": steps_per_epoch,
               "steps_timed": args.steps, "threads": args.threads}  # fmt: skip
    for name, setting in SETTINGS.items():
        model = ALLMRecAlignerModel.from_components(cf, sentence_transformer, **setting["model"])
        with tempfile.TemporaryDirectory() as folder:
            training = AlignerTrainingArguments(
                output_dir=folder, max_steps=args.steps + 1, save_strategy="no", eval_strategy="no",
                logging_strategy="no", disable_tqdm=True, per_device_train_batch_size=32, **setting["training"],
            )  # fmt: skip
            prepared = time.perf_counter()
            trainer = build_aligner_trainer(model, dataset, sentence_transformer.tokenizer, training)
            setup = time.perf_counter() - prepared
            clock = StepClock()
            trainer.add_callback(clock)
            trainer.train()
        step = clock.seconds_per_step()
        results[name] = {
            "seconds_per_step": round(step, 3),
            "seconds_per_epoch": round(step * steps_per_epoch, 1),
            "minutes_per_epoch": round(step * steps_per_epoch / 60, 2),
            "setup_seconds": round(setup, 1),
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        }
    paper = results["paper_full_finetuning"]["seconds_per_step"]
    results["speedup"] = {name: round(paper / results[name]["seconds_per_step"], 2) for name in SETTINGS}
    return results


if __name__ == "__main__":
    print_result(main)
