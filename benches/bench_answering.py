"""Time per user of A-LLMRec's three answering modes, side by side with the same LLM, prompts and batches:
(a) greedy generation, (b) candidate scoring (shared prompt cache), (c) one forward pass over the prompt alone.

    python benches/bench_answering.py --data_dir ../shared/data/amazon_beauty_2014

The LLM is randomly initialised with OPT-125m's dimensions (12 layers, width 768) over a BPE tokenizer trained on
the dataset's titles: no pretrained weights are reachable offline, and timings do not depend on the weights.
Generation runs for as many new tokens as the longest candidate answer (a trained model stops at EOS around there).
Also reports the peak memory of one training step (batch 4, the paper's). Prints one JSON object.
"""

import resource
import tempfile
import time
from pathlib import Path

import torch
from common import benchmark_arguments, parse_benchmark_arguments, print_result
from transformers import BertConfig, OPTConfig, OPTForCausalLM

from allmrec_hf import ALLMRecAlignerConfig, ALLMRecAlignerModel, ALLMRecForRecommendation, SASRecConfig
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.prompts import recommendation_prompt
from allmrec_hf.recommendation_batches import RecommendationBatcher
from allmrec_hf.tiny_llm import train_tiny_tokenizer


def build_model(dataset, folder: Path, width: int, layers: int):
    texts = list(dataset.items["title"]) + [recommendation_prompt("item", ["a"], ["b"])]
    tokenizer = train_tiny_tokenizer(texts, vocab_size=8000)
    torch.manual_seed(0)
    config = OPTConfig(
        vocab_size=len(tokenizer), hidden_size=width, word_embed_proj_dim=width, ffn_dim=4 * width,
        num_hidden_layers=layers, num_attention_heads=width // 64, max_position_embeddings=2048,
        pad_token_id=1, bos_token_id=2, eos_token_id=2,
    )  # fmt: skip
    OPTForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    aligner = ALLMRecAlignerModel(
        ALLMRecAlignerConfig(
            cf_config=SASRecConfig(num_items=dataset.num_items),
            sentence_encoder_config=BertConfig(
                vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=1, intermediate_size=32
            ),
            sentence_encoder_modules=[
                {"type": "Pooling", "config": {"embedding_dimension": 32, "pooling_mode": "mean"}}
            ],
        )
    )
    return ALLMRecForRecommendation.from_stage1(aligner, str(folder), prompt_domain="item")


def seconds(function, repeats: int) -> float:
    function()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats


def main():
    parser = benchmark_arguments(__doc__, "amazon_beauty_2014")
    parser.add_argument("--users", type=int, default=8, help="Users per batch.")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    args = parse_benchmark_arguments(parser)
    dataset = prepare_dataset(DataArguments(source="generic", data_dir=args.data_dir, few_shot_sizes=[]))
    with tempfile.TemporaryDirectory() as folder:
        model, tokenizer = build_model(dataset, Path(folder), args.width, args.layers)
        rows = dataset.splits["test"].select(range(args.users)).to_list()
        cf_length = model.aligner.cf_backbone.config.max_sequence_length
        prompts = RecommendationBatcher(
            tokenizer, dataset.titles, model.config, cf_length, with_answers=False, with_candidate_answers=True
        )(rows)
        answers, lengths = prompts.pop("candidate_answer_ids"), prompts.pop("candidate_answer_lengths")
        longest = int(lengths.max())

        # The training step runs first: the process's peak RSS is a high-water mark, and scoring's logits would
        # otherwise hide what training adds on top of the loaded model.
        training = RecommendationBatcher(tokenizer, dataset.titles, model.config, cf_length)(rows[:4])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model.train()
        step = seconds(lambda: model(**training).loss.backward(), 1)
        peak_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        model.eval()
        with torch.no_grad():
            floor = seconds(lambda: model.encode_prompt(prompts), args.repeats)
            scoring = seconds(lambda: model.score_answers(prompts, answers, lengths), args.repeats)
            # All candidates in one chunk: every answer is padded to the batch's longest, as before length-sorted
            # chunks.
            chunk_size, model.config.score_chunk_size = model.config.score_chunk_size, answers.shape[1]
            one_chunk = seconds(lambda: model.score_answers(prompts, answers, lengths), args.repeats)
            model.config.score_chunk_size = chunk_size
            generation = seconds(
                lambda: model.generate_answers(prompts, max_new_tokens=longest, min_new_tokens=longest), args.repeats
            )

        parameters = sum(p.numel() for p in model.llm.parameters())
    per_user = {
        name: value / args.users
        for name, value in (
            ("generate", generation), ("score", scoring), ("score_one_chunk", one_chunk), ("prompt_forward", floor)
        )
    }  # fmt: skip
    return {
        "benchmark": "answering_modes_seconds_per_user",
        "data_dir": args.data_dir,
        "llm": f"random OPT, width {args.width}, {args.layers} layers, {parameters / 1e6:.0f}M parameters",
        "users_per_batch": args.users,
        "mean_prompt_tokens": float(prompts["attention_mask"].sum(1).float().mean()),
        "mean_answer_tokens": float(lengths.float().mean()),
        "generated_tokens": longest,
        "seconds_per_user": {name: round(value, 4) for name, value in per_user.items()},
        "score_over_prompt_forward": round(per_user["score"] / per_user["prompt_forward"], 2),
        "generate_over_score": round(per_user["generate"] / per_user["score"], 2),
        "training_step_seconds_batch_4": round(step, 2),
        "training_step_peak_rss_growth_mb": round(peak_growth / 1024, 1),
        "score_chunk_size": model.config.score_chunk_size,
        "one_chunk_over_score": round(per_user["score_one_chunk"] / per_user["score"], 2),
        "threads": args.threads,
    }


if __name__ == "__main__":
    print_result(main)
