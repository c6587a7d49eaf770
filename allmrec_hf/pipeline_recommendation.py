"""``pipeline("recommendation", model=...)``: rank items for a user history with a saved A-LLMRec model.

    >>> import allmrec_hf
    >>> from transformers import pipeline
    >>> recommend = pipeline("recommendation", model="runs/beauty-allmrec")
    >>> recommend(["Maybelline Great Lash Mascara", "B004756YJA"], top_k=5)
    [{'item_id': ..., 'item': ..., 'title': ..., 'score': ...}, ...]

A history is a list of item ids, original ids or titles (any mix), or a dict ``{"history": [...], "candidates":
[...]}``. Without candidates, the stage-1 scorer retrieves the best ``num_candidates`` items of the whole catalog
(the history excluded) and the LLM ranks them by answer likelihood. An empty history is a new user: the mean
training user stands in for ``x_u``. A history longer than the model reads keeps its most recent items.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

import torch
from transformers import Pipeline
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.utils import cached_file

from .collators import RecommendationBatcher, pad
from .modeling_allmrec import ALLMRecForRecommendation
from .prompts import normalize_title
from .utils import write_text_atomic


CATALOG_FILE = "catalog.jsonl"


@dataclass
class Catalog:
    """Items by id (index 0 is padding), with lookups from original ids and from titles."""

    items: list[str]
    titles: list[str]

    def __post_init__(self):
        self.by_key = {key: index for index, key in enumerate(self.items) if index}
        self.by_title: dict[str, int] = {}
        for index, title in enumerate(self.titles):
            if index and title:
                self.by_title.setdefault(normalize_title(title), index)

    @classmethod
    def from_dataset(cls, dataset) -> Catalog:
        return cls(items=[""] + list(dataset.items["item"]), titles=dataset.titles)

    def save(self, folder) -> None:
        lines = [
            json.dumps({"item_id": index, "item": key, "title": title}, ensure_ascii=False)
            for index, (key, title) in enumerate(zip(self.items, self.titles))
            if index
        ]
        write_text_atomic(os.path.join(folder, CATALOG_FILE), "\n".join(lines) + "\n")

    @classmethod
    def load(cls, name_or_path: str, **hub_kwargs) -> Catalog:
        path = cached_file(name_or_path, CATALOG_FILE, **hub_kwargs)
        items, titles = [""], [""]
        with open(path, encoding="utf-8") as stream:
            for expected, line in enumerate(stream, 1):
                record = json.loads(line)
                if record["item_id"] != expected:
                    raise ValueError(f"{path}, line {expected}: item ids must run 1, 2, ... in order")
                items.append(record["item"])
                titles.append(record["title"])
        return cls(items=items, titles=titles)

    def resolve(self, value) -> int | None:
        """The item id of an id, an original id or a title; ``None`` when the catalog has no such item."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value if 0 < value < len(self.items) else None
        value = str(value)
        if value in self.by_key:
            return self.by_key[value]
        return self.by_title.get(normalize_title(value))


logger = logging.getLogger(__name__)


class RecommendationPipeline(Pipeline):
    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False

    def __init__(self, *args, catalog: Catalog | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.catalog = catalog or Catalog.load(self.model.name_or_path)
        self.batcher = RecommendationBatcher.for_model(
            self.model,
            self.tokenizer,
            self.catalog.titles,
            with_answers=False,
            with_candidate_answers=True,
            strict_candidates=False,
        )

    def __call__(self, inputs, **kwargs):
        # A flat list is one history, not a batch of inputs.
        if isinstance(inputs, dict) or (
            isinstance(inputs, (list, tuple)) and not any(isinstance(x, (dict, list, tuple)) for x in inputs)
        ):
            return super().__call__([self._request(inputs)], **kwargs)[0]
        return super().__call__([self._request(request) for request in inputs], **kwargs)

    @staticmethod
    def _request(value) -> dict:
        return dict(value) if isinstance(value, dict) else {"history": list(value)}

    def _sanitize_parameters(self, candidates=None, top_k=None, unknown_items=None, **kwargs):
        preprocess = {}
        if candidates is not None:
            preprocess["candidates"] = candidates
        if unknown_items is not None:
            if unknown_items not in ("raise", "skip"):
                raise ValueError(f"unknown_items must be 'raise' or 'skip', got {unknown_items!r}")
            preprocess["unknown_items"] = unknown_items
        return preprocess, {}, ({"top_k": top_k} if top_k is not None else {})

    def _resolve(self, values, unknown_items: str, role: str) -> list[int]:
        resolved = []
        for value in values:
            item = self.catalog.resolve(value)
            if item is None:
                if unknown_items == "raise":
                    raise ValueError(
                        f"{role} item {value!r} is not in the model's catalog (ids 1..{len(self.catalog.items) - 1}, "
                        "original ids or titles); pass unknown_items='skip' to ignore it"
                    )
                logger.warning("ignoring %s item %r: not in the catalog", role, value)
                continue
            resolved.append(item)
        return resolved

    def _user(self, history: list[int]) -> torch.Tensor:
        aligner = self.model.aligner
        if not history:
            return aligner.mean_user_representation.unsqueeze(0)
        window = pad([history], 0, "left", aligner.cf_backbone.config.max_sequence_length).to(aligner.device)
        with torch.no_grad():
            return aligner.cf_backbone.user_representation(
                window, torch.zeros(1, dtype=torch.long, device=aligner.device)
            )

    def _retrieve(self, history: list[int]) -> list[int]:
        """The stage-1 joint scorer's best items of the whole catalog, the history excluded."""
        aligner = self.model.aligner
        items = torch.arange(1, len(self.catalog.items), device=aligner.device)
        scores = aligner.score_candidates(self._user(history), items.unsqueeze(0))[0]
        if history:
            scores[torch.tensor(history, device=scores.device) - 1] = float("-inf")
        count = min(self.model.config.num_candidates, int(torch.isfinite(scores).sum()))
        return (items[scores.topk(count).indices]).tolist()

    def preprocess(self, request: dict, candidates=None, unknown_items: str = "raise"):
        history = self._resolve(request.get("history") or [], unknown_items, "history")
        requested = request.get("candidates") or candidates
        chosen = self._resolve(requested, unknown_items, "candidate") if requested else self._retrieve(history)
        if len(chosen) < 1:
            raise ValueError("no candidate left to rank")
        batch = self.batcher([{"history": history, "candidates": chosen, "target": chosen[0], "user_id": 0}])
        if not history:
            batch["user_representations"] = self._user(history).cpu()
        return {"batch": batch, "candidates": chosen}

    def _forward(self, model_inputs):
        batch = dict(model_inputs["batch"])
        sums, counts = self.model.score_answers(
            batch, batch.pop("candidate_answer_ids"), batch.pop("candidate_answer_lengths")
        )
        scores = sums / counts if self.model.config.score_normalization == "mean" else sums
        return {"scores": scores[0].cpu(), "candidates": model_inputs["candidates"]}

    def postprocess(self, model_outputs, top_k: int | None = None):
        order = torch.argsort(model_outputs["scores"], descending=True, stable=True).tolist()
        ranked = [
            {
                "item_id": model_outputs["candidates"][index],
                "item": self.catalog.items[model_outputs["candidates"][index]],
                "title": self.catalog.titles[model_outputs["candidates"][index]],
                "score": float(model_outputs["scores"][index]),
            }
            for index in order
        ]
        return ranked[:top_k] if top_k else ranked


PIPELINE_REGISTRY.register_pipeline(
    "recommendation", pipeline_class=RecommendationPipeline, pt_model=ALLMRecForRecommendation
)
