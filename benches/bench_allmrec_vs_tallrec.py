"""A-LLMRec vs TALLRec with the same LLM, batch and candidates: training time per step and inference time per batch
(the paper's Table 8 reports 2.53x and 1.71x).

    python benches/bench_allmrec_vs_tallrec.py --data_dir ../shared/data/amazon_beauty_2014

Both models wrap the same randomly initialised LLM with OPT-125m's dimensions (timings do not depend on the
weights). A-LLMRec trains its two projectors through the frozen LLM (soft-token prompt); TALLRec trains LoRA
adapters (rank 8 on the attention query and value projections, as its code) on the text-only prompt. TALLRec's code
prepares the LLM with peft's k-bit preparation, which turns gradient checkpointing on; it is timed both with and
without it. Inference: candidate scoring of the same batch. Prints one JSON object.
"""

import sys
import tempfile
from pathlib import Path

import torch
from common import benchmark_arguments, parse_benchmark_arguments, print_result

from allmrec_hf import ALLMRecForRecommendation
from allmrec_hf.collators import RecommendationBatcher
from allmrec_hf.data import DataArguments, prepare_dataset


sys.path.insert(0, str(Path(__file__).parent))
from bench_answering import build_model, seconds  # noqa: E402


def training_step(model, batch):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()

    return step


def main():
    parser = benchmark_arguments(__doc__, "amazon_beauty_2014")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    args = parse_benchmark_arguments(parser)
    dataset = prepare_dataset(DataArguments(source="generic", data_dir=args.data_dir, few_shot_sizes=[]))
    rows = dataset.splits["train"].select(range(args.batch_size)).to_list()
    timings = {}
    with tempfile.TemporaryDirectory() as folder:
        allmrec, tokenizer = build_model(dataset, Path(folder), args.width, args.layers)
        tallrec, _ = ALLMRecForRecommendation.from_stage1(
            allmrec.aligner,
            folder,
            llm_adapter="lora",
            item_embeddings="none",
            use_user_token=False,
            prompt_domain="item",
        )
        cf_length = allmrec.aligner.cf_backbone.config.max_sequence_length
        for name, model in (("allmrec", allmrec), ("tallrec", tallrec)):
            training_batch = RecommendationBatcher(tokenizer, dataset.titles, model.config, cf_length)(rows)
            scoring_batch = RecommendationBatcher(
                tokenizer, dataset.titles, model.config, cf_length, with_answers=False, with_candidate_answers=True
            )(rows)
            answers, lengths = scoring_batch.pop("candidate_answer_ids"), scoring_batch.pop("candidate_answer_lengths")
            model.train()
            timings[f"{name}_train_step_s"] = seconds(training_step(model, training_batch), args.repeats)
            if name == "tallrec":
                model.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
                model.llm.enable_input_require_grads()
                timings["tallrec_checkpointed_train_step_s"] = seconds(
                    training_step(model, training_batch), args.repeats
                )
                model.llm.gradient_checkpointing_disable()
            model.eval()
            with torch.no_grad():
                timings[f"{name}_inference_s_per_batch"] = seconds(
                    lambda m=model, b=scoring_batch, a=answers, n=lengths: m.score_answers(b, a, n), args.repeats
                )
            timings[f"{name}_prompt_tokens"] = float(training_batch["attention_mask"].sum(1).float().mean())
            timings[f"{name}_trainable_parameters"] = model.num_trainable_parameters()
    result = {
        "benchmark": "allmrec_vs_tallrec",
        "llm": f"random OPT, width {args.width}, {args.layers} layers",
        "batch_size": args.batch_size,
        "threads": args.threads,
        **{name: round(value, 4) if isinstance(value, float) else value for name, value in timings.items()},
        "train_speedup_vs_tallrec": round(timings["tallrec_train_step_s"] / timings["allmrec_train_step_s"], 2),
        "train_speedup_vs_tallrec_as_in_its_code": round(
            timings["tallrec_checkpointed_train_step_s"] / timings["allmrec_train_step_s"], 2
        ),
        "inference_speedup_vs_tallrec": round(
            timings["tallrec_inference_s_per_batch"] / timings["allmrec_inference_s_per_batch"], 2
        ),
    }
    return result


if __name__ == "__main__":
    print_result(main)
