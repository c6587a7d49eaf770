"""Model cards written on every ``save_pretrained`` (and so on ``push_to_hub``), from the config and the training
metadata the scripts set as ``model.card_data`` (kept in ``card_data.json`` beside the weights, not in the config)."""

from __future__ import annotations

import os
import tempfile

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers.utils import cached_file

from .llm_reference import base_model_of, describe_reference
from .utils import read_json, write_json_atomic, write_text_atomic


CARD_DATA_FILE = "card_data.json"


CITATION = """@inproceedings{kim2024allmrec,
  title     = {Large Language Models meet Collaborative Filtering: An Efficient All-round LLM-based Recommender System},
  author    = {Kim, Sein and Kang, Hongseok and Choi, Seungyoon and Kim, Donghyun and Yang, Minchul and Park, Chanyoung},
  booktitle = {Proceedings of the 30th ACM SIGKDD Conference on Knowledge Discovery and Data Mining},
  year      = {2024}
}"""

DESCRIPTIONS = {
    "allmrec": "A-LLMRec (KDD 2024): a frozen LLM recommending through soft tokens projected from a frozen CF model "
    "and the stage-1 joint collaborative-text embeddings. Only the two projectors were trained; the LLM is not "
    "stored here and is loaded by reference from `{llm}`.",
    "allmrec_text_only": "A text-only LLM recommender, a baseline of A-LLMRec (KDD 2024): {method}. The prompt lists "
    "the user's history and the candidate titles without soft tokens; the LLM is loaded by reference from `{llm}`.",
    "allmrec_aligner": "Stage 1 of A-LLMRec (KDD 2024): item and text autoencoders aligning a frozen {cf} with item "
    "text encoded by `{text}`. Holds the joint embeddings of the catalog and scores candidates without an LLM.",
}
BACKBONE_DESCRIPTION = "A {name} collaborative-filtering model, usable as the frozen CF backbone of A-LLMRec."
# The modality-aware baselines of A-LLMRec's comparison (its appendix C): they read item text, so they score items
# they never saw in training.
MODALITY_AWARE_DESCRIPTIONS = {
    "morec": "MoRec (Yuan et al., 2023), a baseline of A-LLMRec (KDD 2024): SASRec whose item embeddings are written "
    "from each item's text by a sentence encoder instead of an ID table, so unseen items are scored from their text.",
    "ctrl_rec": "CTRL (Li et al., 2023), a baseline of A-LLMRec (KDD 2024): SASRec contrastively pre-trained against a "
    "text encoder over the same items and users, then fine-tuned for next-item recommendation.",
    "recformer": "RECFORMER (Li et al., 2023), a baseline of A-LLMRec (KDD 2024): items as key-value sentences and a "
    "user as the sentence of their items, encoded by one Transformer language model (MiniLM here, where the "
    "original uses Longformer); next-item prediction as sentence matching, after contrastive pre-training.",
}
TEXT_ONLY_METHODS = {
    "llm_only": "LLM-Only, the frozen LLM as it is (nothing trained)",
    "tallrec": "TALLRec, the LLM fine-tuned through LoRA adapters (a PEFT adapter folder: "
    "`PeftModel.from_pretrained(llm, folder)` loads it)",
}


def _llm_components(config) -> dict[str, str]:
    """The rows every LLM recommender's card shares: the LLM and the prompt."""
    return {
        "LLM (frozen, by reference)": f"`{describe_reference(config.llm_name_or_path, config.llm_gguf_file)}` "
        f"({config.llm_dtype}" + (f", {config.llm_quantization}" if config.llm_quantization else "") + ")",
        "Prompt domain": config.prompt_domain,
        "History / candidates in the prompt": f"{config.history_length} / {config.num_candidates}",
        "Title cap (LLM tokens)": str(config.max_title_tokens or "none"),
        "Candidate scoring": f"{config.score_normalization or 'sum'} of the answer's token log-likelihoods",
        "Training candidates": "the target and fresh negatives drawn per (seed, epoch, user); evaluation uses the "
        "candidates stored with the data",
    }


def _components(config) -> dict[str, str]:
    model_type = config.model_type
    if model_type == "allmrec_text_only":
        return {"Method": config.method, **_llm_components(config)}
    if model_type == "allmrec":
        aligner = config.aligner_config
        return {
            **_llm_components(config),
            "CF backbone (frozen)": aligner.cf_config.model_type,
            "Sentence encoder": f"`{aligner.sentence_encoder_name_or_path}`",
            "Item soft tokens": config.item_embeddings,
            "User soft token": str(config.use_user_token),
            "Soft-token scale": f"{config.soft_token_scale:.4g}",
        }
    if model_type == "allmrec_aligner":
        return {
            "CF backbone (frozen)": config.cf_config.model_type,
            "Sentence encoder": f"`{config.sentence_encoder_name_or_path}` ({config.sentence_encoder_training})",
            "Joint embedding size d'": str(config.latent_size),
            "alpha / beta": f"{config.alpha} / {config.beta}",
            "Preset": str(config.preset),
        }
    return {
        "Items": str(config.num_items),
        "Hidden size": str(config.hidden_size),
        "Max sequence length": str(config.max_sequence_length),
    }


# Results worth a model-index entry on the Hub (the card's table lists every figure).
HEADLINE_METRICS = ("hit@1", "hit@5", "hit@10", "ndcg@5", "ndcg@10", "hit@1_cold", "hit@1_warm")


def card_metadata(config, card: dict) -> ModelCardData:
    """The card's Hub metadata: library, licence, tags, base model, dataset and the headline test metrics."""
    model_type = config.model_type
    dataset = card.get("dataset")
    results = card.get("results") or {}
    evaluations = [
        EvalResult(
            task_type="recommendation",
            task_name="Sequential recommendation (1 target + negatives stored with the data)",
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split="test",
            metric_type=name,
            metric_value=results[name],
        )
        for name in HEADLINE_METRICS
        if dataset and isinstance(results.get(name), (int, float))
    ]
    base_model = base_model_of(getattr(config, "llm_name_or_path", None))
    return ModelCardData(
        library_name="allmrec_hf",
        license=card.get("license", "apache-2.0"),
        tags=["recommendation", "sequential-recommendation", "a-llmrec", model_type],
        base_model=base_model,
        datasets=[dataset] if dataset else None,
        model_name=card.get("title", model_type),
        eval_results=evaluations or None,
    )


def render_model_card(config, card: dict | None = None) -> ModelCard:
    """The README.md of a saved model: Hub metadata, what the model is, its data, protocol and results (``card``:
    the training metadata of `protocol_card_data`)."""
    card = dict(card or {})
    model_type = config.model_type
    if model_type in ("allmrec", "allmrec_text_only"):
        description = DESCRIPTIONS[model_type].format(
            llm=describe_reference(config.llm_name_or_path, config.llm_gguf_file),
            method=TEXT_ONLY_METHODS.get(getattr(config, "method", None), ""),
        )
    elif model_type == "allmrec_aligner":
        description = DESCRIPTIONS[model_type].format(
            cf=config.cf_config.model_type, text=config.sentence_encoder_name_or_path
        )
    elif model_type in MODALITY_AWARE_DESCRIPTIONS:
        description = MODALITY_AWARE_DESCRIPTIONS[model_type]
    else:
        description = BACKBONE_DESCRIPTION.format(name=model_type.upper())
    lines = [
        f"# {card.get('title', model_type)}",
        "",
        description,
        "",
        "## Model",
        "",
        "| component | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value} |" for name, value in _components(config).items()]
    if card.get("dataset"):
        lines += ["", "## Data and protocol", "", f"Trained on `{card['dataset']}`."]
        statistics = card.get("dataset_statistics") or {}
        if statistics:
            lines += [
                "",
                "| " + " | ".join(statistics) + " |",
                "|" + "---|" * len(statistics),
                "| " + " | ".join(str(v) for v in statistics.values()) + " |",
            ]
        if card.get("protocol"):
            lines += ["", card["protocol"]]
    results = card.get("results") or {}
    if results:
        lines += ["", "## Results", "", "| metric | value |", "|---|---|"]
        lines += [
            f"| {name} | {value:.4f} |" if isinstance(value, float) else f"| {name} | {value} |"
            for name, value in results.items()
        ]
    loader = {"allmrec": "ALLMRecForRecommendation", "allmrec_text_only": "TextOnlyRecommender"}.get(
        model_type, "AutoModel"
    )
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "import allmrec_hf  # registers the model types with the Auto classes",
        "from transformers import AutoModel",
        "",
        'model = AutoModel.from_pretrained("<this repository or folder>")',
        "```",
        "",
        f"`{loader}` needs no `trust_remote_code`: `pip install allmrec_hf`.",
        "",
        "## Citation",
        "",
        "```bibtex",
        CITATION,
        "```",
        "",
    ]
    return ModelCard(f"---\n{card_metadata(config, card).to_yaml()}\n---\n\n" + "\n".join(lines))


def protocol_card_data(dataset, data_dir: str, results: dict, training: dict | None = None) -> dict:
    """Card metadata of a run on a prepared dataset: its name, statistics, the protocol and the headline metrics."""
    report = dataset.report
    protocol = report["protocol"]
    headline = {
        name: value
        for name, value in results.items()
        if not name.startswith("num_") and isinstance(value, (int, float))
    }
    return {
        "dataset": os.path.basename(os.path.normpath(str(data_dir))),
        "dataset_statistics": {
            name: report[name] for name in ("num_users", "num_items", "num_interactions", "avg_seq_len")
        },
        "protocol": f"Leave-one-out; each test user's target ranked against {protocol['num_negatives']} negatives the user "
        f"never interacted with, drawn once (seed {protocol['seed']}) and stored with the data. Cold/warm: bottom/top "
        f"{int(protocol['cold_item_fraction'] * 100)}% of items by training interactions.",
        "results": headline,
        "training": training or {},
    }


class ModelCardMixin:
    """Writes the generated card as ``README.md`` (and its metadata as ``card_data.json``) next to the weights on every
    ``save_pretrained``, reads the metadata back in ``from_pretrained``, and uploads the card on ``push_to_hub``
    (transformers' own upload would replace it with a generic card, as sentence-transformers also avoids)."""

    card_data: dict = {}

    def save_pretrained(self, save_directory, *args, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            self.save_card(save_directory)

    def save_card(self, folder) -> None:
        if self.card_data:
            write_json_atomic(os.path.join(folder, CARD_DATA_FILE), self.card_data)
        write_text_atomic(os.path.join(folder, "README.md"), str(render_model_card(self.config, self.card_data)))

    def load_card_data(self, name_or_path, **hub_kwargs) -> None:
        path = cached_file(name_or_path, CARD_DATA_FILE, _raise_exceptions_for_missing_entries=False, **hub_kwargs)
        self.card_data = read_json(path) if path else {}

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        hub = {name: kwargs[name] for name in ("revision", "subfolder", "token", "cache_dir") if name in kwargs}
        model.load_card_data(pretrained_model_name_or_path, **hub)
        return model

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        **save_kwargs,
    ):
        """Upload what `save_pretrained` writes (weights, config and the generated card) to ``repo_id``."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo = api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder, **save_kwargs)
            return api.upload_folder(
                repo_id=repo.repo_id,
                folder_path=folder,
                commit_message=commit_message or f"Upload {type(self).__name__}",
                revision=revision,
                create_pr=create_pr,
            )
