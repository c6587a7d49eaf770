"""What a frozen small LLM can read at all: the reading test's prompts with a WORD marker beside the target's title.

    python benches/bench_reading_markers.py --markers " [recommended]" " (best)" " *" \
        --output results/reading/markers.json

The reading task's titles are random codes (`allmrec_hf.experiments.reading`), so without help the LLM ranks at chance
(Hit@1 0.05). Here no soft token is used: the prompt's text marks the target, before or after its title, and each
marker's validation Hit@1 and NDCG@10 are measured with the candidates' answers scored as A-LLMRec scores them. It
bounds what a soft token at a given place can do when it behaves like that word, and it is why the reading test's
item tokens sit before the titles and can start at the embedding of " [recommended]".
"""

import torch
from common import benchmark_arguments, parse_benchmark_arguments, print_result

from allmrec_hf.collators import RecommendationBatcher, pad
from allmrec_hf.evaluation import ranking_metrics
from allmrec_hf.experiments.reading import build_reading_task, reading_model
from allmrec_hf.utils import provenance, write_json_atomic


PLACES = ("before", "after")


@torch.no_grad()
def marked_metrics(model, tokenizer, batcher, rows, titles, marker: str, place: str) -> dict:
    scores, targets = [], []
    for row in rows:
        text = batcher.prompt_text([], row["candidates"])
        quoted = f'"{titles[row["target"]]}"'
        text = text.replace(quoted, marker + quoted if place == "before" else quoted + marker)
        input_ids = torch.tensor(tokenizer([text])["input_ids"])
        prompt = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
        answers = [batcher.answer_ids[item] for item in row["candidates"]]
        answer_ids = pad(answers, tokenizer.pad_token_id, "right").unsqueeze(0)
        sums, counts = model.score_answers(prompt, answer_ids, torch.tensor([[len(answer) for answer in answers]]))
        scores.append((sums / counts)[0])
        targets.append(row["candidates"].index(row["target"]))
    metrics = ranking_metrics(torch.stack(scores), torch.tensor(targets))
    return {"hit@1": round(float(metrics["hit@1"]), 4), "ndcg@10": round(float(metrics["ndcg@10"]), 4)}


def main():
    parser = benchmark_arguments(__doc__, None)
    parser.add_argument("--llm", default="smollm2-135m-instruct")
    parser.add_argument("--markers", nargs="+", default=[" [recommended]", " (best)", " *"])
    parser.add_argument("--users", type=int, default=100, help="Validation users of the reading task.")
    parser.add_argument("--output", help="JSON file the results are written to after each marker")
    args = parse_benchmark_arguments(parser)
    task = build_reading_task("item", seed=0)
    # No soft token anywhere: the prompt is the text the batcher writes, titles and all.
    model, tokenizer = reading_model(
        args.llm, len(task.titles) - 1, prompt_domain="item", item_embeddings="none", use_user_token=False
    )
    batcher = RecommendationBatcher.for_model(
        model, tokenizer, task.titles, with_answers=False, with_candidate_answers=True
    )
    rows = task.validation.select(range(min(args.users, len(task.validation)))).to_list()
    result = {"llm": args.llm, "users": len(rows), "markers": []}
    result["no marker"] = marked_metrics(model, tokenizer, batcher, rows, task.titles, "", "before")
    for marker in args.markers:
        for place in PLACES:
            figures = marked_metrics(model, tokenizer, batcher, rows, task.titles, marker, place)
            result["markers"].append({"marker": marker, "place": place, **figures})
            if args.output:
                write_json_atomic(args.output, {**result, "provenance": provenance()})
    return result


if __name__ == "__main__":
    print_result(main)
