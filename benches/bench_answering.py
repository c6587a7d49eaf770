"""Stage 2 with a real LLM against its floors, side by side in one process: per training sample and per scored user.

    python benches/bench_answering.py                       # SmolLM2-135M-Instruct on Scientific, 2 threads
    python benches/bench_answering.py --llm gemma-3-270m --max_title_tokens 12 16 24 none

- training: one A-LLMRec step on one user (forward, loss, backward into the projectors; batch 1, as gradient
  accumulation runs it on a CPU), against its floor: the bare LLM's forward + backward to its input embeddings over
  the same tokens, keeping the logits of the same positions;
- scoring: `score_answers` for one user (the prompt and all 20 candidate answers in one forward pass), against its
  floor: one plain forward over as many tokens, keeping the logits of as many positions;
- generation: greedy decoding of the longest candidate answer's length after the prompt (for scale);
- for each ``--max_title_tokens`` cap: prompt and answer lengths and the timings above.

The stage-1 model is randomly initialised (timings do not depend on its weights; the LLM's do not either, but it is
the real one). Prints one JSON object.
"""

import time

import torch
from common import benchmark_arguments, parse_benchmark_arguments, print_result

from allmrec_hf import ALLMRecForRecommendation
from allmrec_hf.collators import RecommendationBatcher
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.experiments.reading import random_aligner
from allmrec_hf.llm_reference import load_causal_lm, load_llm_tokenizer


def seconds(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def paired_seconds(measured, floor, repeats: int) -> tuple[float, float]:
    """Median seconds of ``measured`` and of ``floor``, run alternately (after one warm-up each), so that whatever
    else the machine does weighs on both alike."""
    measured(), floor()
    pairs = [(seconds(measured), seconds(floor)) for _ in range(repeats)]
    middle = len(pairs) // 2
    return sorted(p[0] for p in pairs)[middle], sorted(p[1] for p in pairs)[middle]


def time_one_user(model, training, scoring, row, repeats: int) -> dict:
    """Seconds of each measured operation for one user, and the token counts behind them."""
    llm = model.llm
    batch = training([row])
    answer_length = batch["labels"].shape[1]
    embedding = llm.get_input_embeddings()
    ids = batch["input_ids"].masked_fill(batch["input_ids"] >= embedding.num_embeddings, 0)  # the placeholders
    inputs = embedding(ids).detach().requires_grad_(True)

    def train_floor():
        outputs = llm(inputs_embeds=inputs, logits_to_keep=answer_length + 1, use_cache=False)
        outputs.logits.float().logsumexp(-1).sum().backward()

    model.train()
    train, train_floor_seconds = paired_seconds(lambda: model(**batch).loss.backward(), train_floor, repeats)
    model.eval()
    prompts = scoring([row])
    answers, lengths = prompts.pop("candidate_answer_ids"), prompts.pop("candidate_answer_lengths")
    total, longest = int(lengths.sum()), int(lengths.max())
    plain = torch.randint(3, 1000, (1, prompts["input_ids"].shape[1] + total))
    with torch.no_grad():
        score, score_floor = paired_seconds(
            lambda: model.score_answers(prompts, answers, lengths),
            lambda: llm(input_ids=plain, logits_to_keep=total + 1),
            repeats,
        )
        generate = seconds(lambda: model.generate_answers(prompts, max_new_tokens=longest, min_new_tokens=longest))
    return {
        "train": train,
        "train_floor": train_floor_seconds,
        "score": score,
        "score_floor": score_floor,
        "generate": generate,
        "prompt_tokens": prompts["input_ids"].shape[1],
        "answer_tokens": total,
        "target_answer_tokens": answer_length,
    }


def measure(model, tokenizer, dataset, rows, repeats: int) -> dict:
    training = RecommendationBatcher.for_model(model, tokenizer, dataset.titles)
    scoring = RecommendationBatcher.for_model(
        model, tokenizer, dataset.titles, with_answers=False, with_candidate_answers=True
    )
    figures = [time_one_user(model, training, scoring, row, repeats) for row in rows]
    mean = {name: sum(figure[name] for figure in figures) / len(figures) for name in figures[0]}
    return {
        "mean_prompt_tokens": round(mean["prompt_tokens"], 1),
        "mean_candidate_answer_tokens": round(mean["answer_tokens"], 1),
        "seconds_per_training_sample": round(mean["train"], 3),
        "training_floor_seconds": round(mean["train_floor"], 3),
        "training_over_floor": round(mean["train"] / mean["train_floor"], 3),
        "training_tokens_per_second": round((mean["prompt_tokens"] + mean["target_answer_tokens"]) / mean["train"], 1),
        "seconds_per_scored_user": round(mean["score"], 3),
        "scoring_floor_seconds": round(mean["score_floor"], 3),
        "scoring_over_floor": round(mean["score"] / mean["score_floor"], 3),
        "scoring_tokens_per_second": round((mean["prompt_tokens"] + mean["answer_tokens"]) / mean["score"], 1),
        "seconds_per_generated_answer": round(mean["generate"], 3),
    }


def main():
    parser = benchmark_arguments(__doc__, "amazon_scientific_2018")
    parser.add_argument("--llm", default="smollm2-135m-instruct")
    parser.add_argument("--users", type=int, default=4, help="Users timed (each alone: batch 1).")
    parser.add_argument("--repeats", type=int, default=5, help="Timed repeats per user (the median counts).")
    parser.add_argument(
        "--max_title_tokens", nargs="+", default=["16", "none"], help="Title caps to time ('none': no cap)."
    )
    args = parse_benchmark_arguments(parser)
    dataset = prepare_dataset(DataArguments(source="generic", data_dir=args.data_dir, few_shot_sizes=[]))
    rows = dataset.splits["test"].select(range(args.users)).to_list()
    llm = load_causal_lm(args.llm, dtype=torch.float32)
    tokenizer = load_llm_tokenizer(args.llm)
    stage1 = random_aligner(dataset.num_items)
    results = {}
    for cap in args.max_title_tokens:
        model, tokenizer = ALLMRecForRecommendation.from_stage1(
            stage1, args.llm, llm=llm, tokenizer=tokenizer, max_title_tokens=None if cap == "none" else int(cap)
        )
        results[f"max_title_tokens={cap}"] = measure(model, tokenizer, dataset, rows, args.repeats)
    return {
        "benchmark": "stage2_real_llm_against_floors",
        "llm": args.llm,
        "llm_parameters_millions": round(sum(p.numel() for p in llm.parameters()) / 1e6, 1),
        "data_dir": args.data_dir,
        "users": args.users,
        "threads": args.threads,
        "dtype": "float32",
        "results": results,
    }


if __name__ == "__main__":
    print_result(main)
