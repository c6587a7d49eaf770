"""The reading test with a real LLM: can A-LLMRec's projectors teach a frozen LLM to choose by soft tokens alone?

    python benches/bench_reading.py --task item --output results/reading/item-ranking.json \
        --ranking_loss_weight 1 --lm_loss_weight 0
    python benches/bench_reading.py --task user --item_token_placement before_title --user_token_placement after_text

The task (`allmrec_hf.experiments.reading`): titles are random codes and only the hidden item (and user) vectors
decide the target among 20 candidates, so chance is Hit@1 0.05. Any `ALLMRecConfig` objective and soft-token option
can be set from the command line. Each learning-curve point (validation Hit@1, NDCG@10 and Hit@1 with the soft tokens
swapped) is written to ``--output`` as it is measured; the whole curve is printed as JSON at the end.
"""

from common import benchmark_arguments, parse_benchmark_arguments, print_result

from allmrec_hf.experiments.reading import READING_TASKS, build_reading_task, reading_model, run_reading_test
from allmrec_hf.utils import provenance, write_json_atomic


OPTIONS = {
    "lm_loss_weight": float,
    "ranking_loss_weight": float,
    "distillation_loss_weight": float,
    "ranking_temperature": float,
    "user_token_placement": str,
    "item_token_placement": str,
    "item_token_init_text": str,
    "item_token_conditioning": str,
}
SWITCHES = ("normalize_soft_tokens", "standardize_soft_token_inputs")


def main():
    parser = benchmark_arguments(__doc__, None)
    parser.add_argument("--task", choices=READING_TASKS, default="item")
    parser.add_argument("--llm", default="smollm2-135m-instruct")
    parser.add_argument("--samples", type=int, nargs="+", default=[0, 100, 200, 400])
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--soft_token_scale", default="1.0", help="a number, or 'text' (the LLM's token RMS)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="JSON file the curve is written to after each point")
    for name, kind in OPTIONS.items():
        parser.add_argument(f"--{name}", type=kind)
    for name in SWITCHES:
        parser.add_argument(f"--{name}", action="store_true")
    args = parse_benchmark_arguments(parser)
    config = {name: getattr(args, name) for name in OPTIONS if getattr(args, name) is not None}
    config.update({name: True for name in SWITCHES if getattr(args, name)})
    scale = args.soft_token_scale if args.soft_token_scale == "text" else float(args.soft_token_scale)
    task = build_reading_task(args.task, seed=args.seed)
    model, tokenizer = reading_model(
        args.llm, len(task.titles) - 1, args.seed, soft_token_scale=scale, prompt_domain="item", **config
    )
    result = {"task": args.task, "llm": args.llm, "learning_rate": args.learning_rate, "config": config}
    result["soft_token_scale"] = model.config.soft_token_scale

    def report(point):
        result.setdefault("points", []).append(point)
        if args.output:
            write_json_atomic(args.output, {**result, "provenance": provenance()})

    run_reading_test(model, tokenizer, task, args.samples, args.learning_rate, seed=args.seed, report=report)
    return result


if __name__ == "__main__":
    print_result(main)
