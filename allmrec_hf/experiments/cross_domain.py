"""The cross-domain scenario (paper 5.2.5): a model trained on one dataset scores another dataset's candidates.

The CF model knows none of the foreign items, so they enter through their text: ``q_i = f_T^enc(SBERT(text))``
with the source model's stage-1 text path (section 4.1.4), and the source's mean training user stands in for every
foreign user (the CF model cannot read a foreign history). A CF model alone cannot score a foreign catalog at all.

The modality-aware baselines (MoRec, CTRL, RECFORMER) write every item from its text, so they are moved to the
foreign catalog whole (`with_catalog`) and read the foreign users' histories as they read their own.
"""

from __future__ import annotations

import torch

from ..decoding import evaluate_scoring
from ..evaluation import protocol_metrics
from ..modeling_aligner import ALLMRecAlignerModel
from ..training.cf import evaluate_backbone
from ..training.stage1 import catalog_texts


@torch.no_grad()
def foreign_joint_embeddings(aligner: ALLMRecAlignerModel, sentence_tokenizer, dataset) -> torch.Tensor:
    """``q_i`` of every item of ``dataset`` (row 0 is padding), from its text alone."""
    return aligner.embed_new_items(catalog_texts(aligner, dataset), sentence_tokenizer)


@torch.no_grad()
def evaluate_text_path_cross_domain(
    aligner: ALLMRecAlignerModel, sentence_tokenizer, dataset, split: str = "test"
) -> dict:
    """The LLM-free text path on a foreign catalog: ``mean_user · f_I^dec(q_i)``."""
    joint = foreign_joint_embeddings(aligner, sentence_tokenizer, dataset)
    rows = dataset.splits[split]
    candidates = torch.tensor(rows["candidates"], device=joint.device)
    scores = aligner.score_latents(aligner.mean_user_representation.expand(len(candidates), -1), joint[candidates])
    return protocol_metrics(scores, candidates, rows["target"], dataset.popularity)


def evaluate_recommender_cross_domain(model, tokenizer, sentence_tokenizer, dataset, split="test", **options) -> dict:
    """An A-LLMRec model ranking a foreign dataset's candidates by answer likelihood, its items as ``q_i``."""
    foreign = {
        "item_table": foreign_joint_embeddings(model.aligner, sentence_tokenizer, dataset),
        "user_representations": model.aligner.mean_user_representation,
    }
    return evaluate_scoring(model, tokenizer, dataset, split, prompt_inputs=foreign, **options)


def evaluate_modality_aware_cross_domain(model, tokenizer, dataset, split: str = "test", max_users=None) -> dict:
    """A modality-aware model (MoRec, CTRL, RECFORMER) on a foreign dataset's candidates, with the foreign catalog
    written from its text (``tokenizer``: the model's sentence tokenizer, saved beside it)."""
    foreign = model.with_catalog(catalog_texts(model, dataset), tokenizer)
    return evaluate_backbone(foreign, dataset, split, max_users=max_users)
