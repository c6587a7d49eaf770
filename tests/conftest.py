import os
import sys
from pathlib import Path

import pytest
import torch

from allmrec_hf.collators import RecommendationBatcher
from allmrec_hf.data import DataArguments, prepare_dataset
from allmrec_hf.testing_utils import (
    TINY_ARCHITECTURES,
    build_tiny_sentence_transformer,
    save_tiny_allmrec,
    save_tiny_llm,
    save_tiny_stage1,
    tiny_allmrec,
)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
SAMPLE_DATA_ARGS = {
    "source": "synthetic",
    "synthetic_users": 240,
    "synthetic_items_per_category": 12,
    "min_user_interactions": 3,
    "min_item_interactions": 1,
    "few_shot_sizes": [32, 64],
    "seed": 7,
}

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def shared_dataset(name: str) -> Path:
    path = SHARED_DATA / name
    if not (path / "sequences.jsonl").exists():
        pytest.skip(f"real data {path} is not available")
    return path


# Session fixtures build models through library calls, untrained: a test that needs a trained model trains it itself,
# and the one end-to-end test (test_examples.py) runs the example scripts.


@pytest.fixture(scope="session")
def sample_dataset():
    """A small prepared synthetic dataset shared by the tests (do not modify it)."""
    return prepare_dataset(DataArguments(**SAMPLE_DATA_ARGS))


@pytest.fixture(scope="session")
def sample_dataset_dir(sample_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("prepared") / "sample"
    sample_dataset.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_sentence_transformer_dir(tmp_path_factory):
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny_st") / "model")


@pytest.fixture(scope="session")
def tiny_stage1_dirs(sample_dataset, tiny_sentence_transformer_dir, tmp_path_factory):
    return save_tiny_stage1(tmp_path_factory.mktemp("stage1"), tiny_sentence_transformer_dir, sample_dataset)


@pytest.fixture(scope="session")
def cf_dir(tiny_stage1_dirs):
    """A random seeded SASRec over the sample's catalog (hidden size 16, window 10), saved."""
    return tiny_stage1_dirs[0]


@pytest.fixture(scope="session")
def stage1_dir(tiny_stage1_dirs):
    """An untrained stage-1 model around `cf_dir` and the tiny sentence encoder, its catalog filled, saved with its
    sentence tokenizer."""
    return tiny_stage1_dirs[1]


@pytest.fixture(scope="session")
def tiny_llm_dirs(sample_dataset, tmp_path_factory):
    """``architecture -> folder`` of the tiny random LLMs, each built once per session."""
    built = {}

    def folder(architecture):
        if architecture not in built:
            path = tmp_path_factory.mktemp(f"tiny_{architecture}") / "llm"
            built[architecture] = save_tiny_llm(path, architecture, sample_dataset)
        return built[architecture]

    return folder


@pytest.fixture(scope="session", params=TINY_ARCHITECTURES)
def tiny_llm_dir(request, tiny_llm_dirs):
    """A tiny random causal LLM of each architecture of `TINY_LLM_CONFIGS` (OPT, Llama, Gemma3) with a tokenizer
    trained on the sample."""
    return tiny_llm_dirs(request.param)


@pytest.fixture(scope="session")
def opt_llm_dir(tiny_llm_dirs):
    """The tiny random OPT alone, for tests whose subject does not depend on the LLM's architecture."""
    return tiny_llm_dirs("opt")


@pytest.fixture(scope="session")
def stage2_dir(sample_dataset, stage1_dir, opt_llm_dir, tmp_path_factory):
    """An untrained A-LLMRec over `stage1_dir` and the tiny random OPT, saved with the files train_stage2.py writes
    beside it (its answers are noise)."""
    return save_tiny_allmrec(tmp_path_factory.mktemp("stage2") / "model", stage1_dir, opt_llm_dir, sample_dataset)


class ALLMRecTester:
    """A-LLMRec around the session's stage-1 model and one tiny random LLM: models, batches, and answers computed
    the slow way (no cache, one user at a time) to compare the model's own with."""

    def __init__(self, stage1_dir, llm_dir, dataset):
        self.stage1_dir, self.llm_dir, self.dataset = stage1_dir, llm_dir, dataset

    def build(self, **config_kwargs):
        return tiny_allmrec(self.stage1_dir, self.llm_dir, **config_kwargs)

    def rows(self, split="test", count=4):
        return [self.dataset.splits[split][i] for i in range(count)]

    def batch(self, model, tokenizer, features, **options):
        return RecommendationBatcher.for_model(model, tokenizer, self.dataset.titles, **options)(features)

    def scores(self, model, tokenizer, features):
        """``(sums, counts)`` of every candidate's answer log-likelihood, through the shared prompt cache."""
        batch = self.batch(model, tokenizer, features, with_answers=False, with_candidate_answers=True)
        return model.score_answers(batch, batch.pop("candidate_answer_ids"), batch.pop("candidate_answer_lengths"))

    @torch.no_grad()
    def next_token_logits(self, model, tokenizer, feature, answer_prefix):
        """The LLM's logits after one user's prompt (no padding) and ``answer_prefix``, in one uncached pass."""
        batch = self.batch(model, tokenizer, [feature], with_answers=False)
        embeds = model.embed_prompt(**{name: value for name, value in batch.items() if name != "attention_mask"})
        if answer_prefix:
            embeds = torch.cat([embeds, model.llm.get_input_embeddings()(torch.tensor([answer_prefix]))], 1)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long)
        return model.llm(inputs_embeds=embeds, attention_mask=mask).logits[0, -1].float()

    def greedy_answer(self, model, tokenizer, feature, max_new_tokens, repetition_penalty=1.0, answers=None):
        """Greedy decoding token by token, the generated tokens penalised as transformers' repetition penalty does;
        with ``answers``, restricted to the tokens that continue one of them."""
        tokens = []
        while len(tokens) < max_new_tokens and model.config.llm_eos_token_id not in tokens:
            logits = self.next_token_logits(model, tokenizer, feature, tokens)
            seen = torch.tensor(sorted(set(tokens)), dtype=torch.long)
            logits[seen] = torch.where(
                logits[seen] < 0, logits[seen] * repetition_penalty, logits[seen] / repetition_penalty
            )
            if answers is not None:
                allowed = torch.tensor(sorted({a[len(tokens)] for a in answers if a[: len(tokens)] == tokens}))
                logits = torch.full_like(logits, -torch.inf).index_copy(0, allowed, logits[allowed])
            tokens.append(int(logits.argmax()))
        return tokens


@pytest.fixture
def tester(stage1_dir, tiny_llm_dir, sample_dataset):
    return ALLMRecTester(stage1_dir, tiny_llm_dir, sample_dataset)


@pytest.fixture
def opt_tester(stage1_dir, opt_llm_dir, sample_dataset):
    return ALLMRecTester(stage1_dir, opt_llm_dir, sample_dataset)


def snapshot(module):
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}
