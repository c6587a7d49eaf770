"""Score a trained model on a prepared dataset's stored candidates and write the metrics as JSON.

    python examples/evaluate.py --data_dir data/beauty --model runs/beauty-allmrec --decoding score --output_file m.json
    python examples/evaluate.py --data_dir data/beauty-99neg --model runs/beauty-sasrec --output_file sasrec-99.json

A-LLMRec models answer by --decoding generate (greedy, as the paper; Hit@1 exact and lenient), score (candidate
log-likelihoods with a shared prompt cache; a full ranking) or constrained (generation restricted to the candidates).
CF backbones and stage-1 models are scored by their own scorers (--decoding is ignored).
"""

from dataclasses import dataclass, field

from transformers import AutoConfig, AutoModel, AutoTokenizer

from allmrec_hf.commands.cli import parse_script_arguments, setup_logging
from allmrec_hf.data import PreparedDataset
from allmrec_hf.decoding import DECODINGS, evaluate_recommender, path_inputs
from allmrec_hf.training.cf import evaluate_backbone
from allmrec_hf.training.stage1 import evaluate_aligner
from allmrec_hf.utils import provenance, weights_fingerprint, write_json_atomic


# Models that answer by prompting an LLM (A-LLMRec, MLP-LLM, and the text-only LLM-Only and TALLRec).
LLM_RECOMMENDERS = ("allmrec", "allmrec_text_only")


@dataclass
class EvaluationArguments:
    _argument_group_name = "evaluation"

    data_dir: str = field(default=None, metadata={"help": "A prepared dataset."})
    model: str = field(default=None, metadata={"help": "A trained model folder or Hub repository."})
    output_file: str = field(default=None, metadata={"help": "Where the metrics are written (JSON)."})
    decoding: str = field(
        default="score", metadata={"help": "How an A-LLMRec model answers.", "choices": list(DECODINGS)}
    )
    split: str = field(default="test", metadata={"help": "Split to score (test, validation, cold_users, ...)."})
    item_embedding_path: str | None = field(
        default=None, metadata={"help": "text: the A-LLMRec (SBERT) variant.", "choices": ["joint", "text"]}
    )
    normalization: str | None = field(
        default=None,
        metadata={"help": "score: sum or mean (default: best on validation).", "choices": ["sum", "mean"]},
    )
    batch_size: int = field(default=8, metadata={"help": "Users per batch."})
    max_users: int | None = field(
        default=None, metadata={"help": "Score a fixed seeded sample of this many users (the same for every model)."}
    )
    max_validation_users: int | None = field(
        default=None, metadata={"help": "score: validation users that pick sum or mean (default: --max_users)."}
    )
    full_catalog: bool = field(default=False, metadata={"help": "CF backbones: also rank the whole catalog."})
    dtype: str | None = field(default=None, metadata={"help": "Override the LLM dtype."})
    quantization: str | None = field(
        default=None, metadata={"help": "Load the LLM in 8bit or 4bit.", "choices": ["8bit", "4bit"]}
    )
    device_map: str | None = field(default=None, metadata={"help": "device_map for the LLM, e.g. auto."})
    keep_predictions: bool = field(default=False, metadata={"help": "generate/constrained: store each user's answer."})
    swap_soft_tokens: bool = field(
        default=False,
        metadata={"help": "score: the swap test, every candidate's soft token swapped with another candidate's."},
    )
    per_user: bool = field(
        default=False, metadata={"help": "Store each user's Hit@1 and NDCG@10 (paired comparisons of models)."}
    )


def cf_backbone_of(model, model_type: str):
    """The frozen CF backbone a model ranks with: the model itself for a backbone, stage 1's for stage 1 and A-LLMRec,
    none for the text-only baselines (whose rows therefore pair with any SASRec)."""
    if model_type in LLM_RECOMMENDERS:
        aligner = getattr(model, "aligner", None)
        return None if aligner is None else aligner.cf_backbone
    return model.cf_backbone if model_type == "allmrec_aligner" else model


def main(argv=None):
    setup_logging()
    (args,) = parse_script_arguments((EvaluationArguments,), ("evaluate",), argv)
    if not (args.data_dir and args.model and args.output_file):
        raise SystemExit("--data_dir, --model and --output_file are required")
    dataset = PreparedDataset.load(args.data_dir)
    model_type = AutoConfig.from_pretrained(args.model).model_type
    if model_type in LLM_RECOMMENDERS:
        model = AutoModel.from_pretrained(
            args.model, dtype=args.dtype, quantization=args.quantization, device_map=args.device_map
        )
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        options = {
            "batch_size": args.batch_size,
            "max_users": args.max_users,
            "prompt_inputs": path_inputs(args.item_embedding_path),
            "per_user": args.per_user,
            "normalization": args.normalization,
            "validation_users": args.max_validation_users,
            "keep_predictions": args.keep_predictions,
            "swap_soft_tokens": args.swap_soft_tokens,
        }
        results = evaluate_recommender(model, tokenizer, dataset, args.decoding, args.split, **options)
    elif model_type == "allmrec_aligner":
        model = AutoModel.from_pretrained(args.model)
        results = evaluate_aligner(model, dataset, args.split, max_users=args.max_users, per_user=args.per_user)
    else:
        model = AutoModel.from_pretrained(args.model)
        results = evaluate_backbone(
            model, dataset, args.split, args.full_catalog, max_users=args.max_users, per_user=args.per_user
        )
    results.update({"model": args.model, "data_dir": args.data_dir, "split": args.split, "provenance": provenance()})
    backbone = cf_backbone_of(model, model_type)
    if backbone is not None:
        results["cf_backbone_weights"] = weights_fingerprint(backbone)
    write_json_atomic(args.output_file, results)
    print({name: value for name, value in results.items() if name.startswith(("hit@", "ndcg@"))})


if __name__ == "__main__":
    from allmrec_hf.commands.cli import run_script

    run_script(main)
