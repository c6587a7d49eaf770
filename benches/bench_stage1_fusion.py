"""How much a scorer that reads both of stage 1's paths could gain on cold items, without an LLM: the joint scorer
(``x_u · f_dec(e_i)``) and the text path (``x_u · f_dec(q_i)``) mixed as ``w · log_softmax(joint) + (1 - w) ·
log_softmax(text)`` over each row's candidates, the weight picked on validation users, scored on test users.

    python benches/bench_stage1_fusion.py --model runs/real-llm/beauty/stage1 --data_dir runs/real-llm/beauty/data

It bounds what `item_token_conditioning="user+text"` hands the LLM: item tokens that carry both fits can at most
rank like the best mixture of the two (plus what the LLM reads in the titles). The users are
`PreparedDataset.sample_rows`' seeded draws, the same as every results/ row of the same size.
"""

import torch
from common import benchmark_arguments, parse_benchmark_arguments, print_result

from allmrec_hf import ALLMRecAlignerModel
from allmrec_hf.data import PreparedDataset
from allmrec_hf.evaluation import protocol_metrics
from allmrec_hf.training.cf import user_representations


WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@torch.no_grad()
def path_log_probabilities(model, dataset, split: str, max_users: int):
    """Each path's log-softmax over the candidates of ``split``'s seeded users, with the rows' candidates and
    targets."""
    rows = dataset.sample_rows(split, max_users)
    users = user_representations(model.cf_backbone, rows)
    candidates = torch.tensor(rows["candidates"])
    paths = {path: model.score_candidates(users, candidates, path).log_softmax(-1) for path in ("joint", "text")}
    return paths, candidates, rows["target"]


def main():
    parser = benchmark_arguments(__doc__, None)
    parser.add_argument("--model", required=True, help="a trained stage-1 folder (examples/train_stage1.py)")
    parser.add_argument("--data_dir", required=True, help="its prepared dataset (examples/prepare_data.py)")
    parser.add_argument("--validation_users", type=int, default=500)
    parser.add_argument("--test_users", type=int, default=500)
    args = parse_benchmark_arguments(parser)
    model = ALLMRecAlignerModel.from_pretrained(args.model).eval()
    dataset = PreparedDataset.load(args.data_dir)
    result = {"model": args.model, "data_dir": args.data_dir, "validation": {}, "test": {}}
    for split, users in (("validation", args.validation_users), ("test", args.test_users)):
        paths, candidates, targets = path_log_probabilities(model, dataset, split, users)
        for weight in WEIGHTS:
            scores = weight * paths["joint"] + (1 - weight) * paths["text"]
            metrics = protocol_metrics(scores, candidates, targets, dataset.popularity)
            result[split][str(weight)] = {key: round(value, 4) for key, value in metrics.items()}
    best = max(WEIGHTS, key=lambda weight: result["validation"][str(weight)]["hit@1"])
    result["joint_weight_picked_on_validation"] = best
    result["test_at_picked_weight"] = result["test"][str(best)]
    return result


if __name__ == "__main__":
    print_result(main)
