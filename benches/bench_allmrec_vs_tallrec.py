"""A-LLMRec vs TALLRec with the same real LLM, batch and candidates: training time per step and inference time per
batch (the paper's Table 8 reports 2.53x and 1.71x with OPT-6.7B on a GPU).

    python benches/bench_allmrec_vs_tallrec.py                        # SmolLM2-135M-Instruct on Scientific

A-LLMRec trains its two projectors through the frozen LLM (soft-token prompt); TALLRec trains LoRA adapters (rank 8
on the attention query and value projections, as its code) on the text-only prompt, as a `PeftModel` trained on
causal-LM labels. TALLRec's code prepares the LLM with peft's k-bit preparation, which turns gradient checkpointing
on; it is timed both with and without it. Inference: candidate scoring of the same batch. The stage-1 model is
random (timings do not depend on its weights). Prints one JSON object.
"""

import time

import torch
from common import benchmark_arguments, parse_benchmark_arguments, print_result

from allmrec_hf import ALLMRecForRecommendation, TextOnlyRecommender
from allmrec_hf.collators import RecommendationBatcher
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.experiments.reading import random_aligner
from allmrec_hf.llm_reference import load_causal_lm, load_llm_tokenizer


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def training_step(model, batch):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()

    return step


def main():
    parser = benchmark_arguments(__doc__, "amazon_scientific_2018")
    parser.add_argument("--llm", default="smollm2-135m-instruct")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max_title_tokens", type=int, default=16)
    args = parse_benchmark_arguments(parser)
    dataset = prepare_dataset(DataArguments(source="generic", data_dir=args.data_dir, few_shot_sizes=[]))
    rows = dataset.splits["train"].select(range(args.batch_size)).to_list()
    llm = load_causal_lm(args.llm, dtype=torch.float32)
    prompt = {"max_title_tokens": args.max_title_tokens}
    allmrec, tokenizer = ALLMRecForRecommendation.from_stage1(
        random_aligner(dataset.num_items), args.llm, llm=llm, tokenizer=load_llm_tokenizer(args.llm), **prompt
    )
    tallrec, tallrec_tokenizer = TextOnlyRecommender.from_llm(
        args.llm, "tallrec", llm=load_causal_lm(args.llm, dtype=torch.float32), **prompt
    )
    timings = {}
    for name, model, trained, words in (
        ("allmrec", allmrec, allmrec, tokenizer),
        ("tallrec", tallrec, tallrec.llm, tallrec_tokenizer),
    ):
        causal = name == "tallrec"  # a PeftModel computes its own causal-LM loss
        training_batch = RecommendationBatcher.for_model(model, words, dataset.titles, causal_lm_labels=causal)(rows)
        scoring_batch = RecommendationBatcher.for_model(
            model, words, dataset.titles, with_answers=False, with_candidate_answers=True
        )(rows)
        answers, lengths = scoring_batch.pop("candidate_answer_ids"), scoring_batch.pop("candidate_answer_lengths")
        trained.train()
        timings[f"{name}_train_step_s"] = median_seconds(training_step(trained, training_batch), args.repeats)
        if name == "tallrec":
            trained.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            trained.enable_input_require_grads()
            timings["tallrec_checkpointed_train_step_s"] = median_seconds(
                training_step(trained, training_batch), args.repeats
            )
            trained.gradient_checkpointing_disable()
        model.eval()
        with torch.no_grad():
            timings[f"{name}_inference_s_per_batch"] = median_seconds(
                lambda m=model, b=scoring_batch, a=answers, n=lengths: m.score_answers(b, a, n), args.repeats
            )
        timings[f"{name}_prompt_tokens"] = float(scoring_batch["attention_mask"].sum(1).float().mean())
        timings[f"{name}_trainable_parameters"] = model.num_trainable_parameters()
    return {
        "benchmark": "allmrec_vs_tallrec",
        "llm": args.llm,
        "batch_size": args.batch_size,
        "max_title_tokens": args.max_title_tokens,
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


if __name__ == "__main__":
    print_result(main)
