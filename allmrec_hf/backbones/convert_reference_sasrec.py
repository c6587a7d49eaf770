"""Convert a SASRec checkpoint of the A-LLMRec reference code into a `SASRecModel` saved as safetensors.

The reference saves ``torch.save([args_or_kwargs, state_dict], path)``: a pickle, whose first element is an
``argparse.Namespace`` (or a dict holding one under ``"args"``). Reading it means unpickling, so conversion refuses
unless the caller passes ``allow_unpickle=True``; even then the file is read with torch's restricted
``weights_only`` unpickler, which builds tensors, plain containers and ``argparse.Namespace`` and nothing else (a
pickle that names any other global is rejected instead of executed).

The converted model reproduces the reference exactly: ``attention_residual="query"`` and
``mask_padding_keys=False``.

    python examples/convert_reference_sasrec.py --checkpoint SASRec.epoch=200.pth --output_dir sasrec --allow_unpickle
"""

from __future__ import annotations

import argparse
import re

import torch

from .configuration_sasrec import SASRecConfig
from .modeling_sasrec import SASRecModel


class UnpickleRefused(RuntimeError):
    pass


def load_reference_checkpoint(path: str, allow_unpickle: bool = False) -> tuple[dict, dict]:
    """Return ``(hyper_parameters, state_dict)`` of a reference checkpoint (see the module docstring)."""
    if not allow_unpickle:
        raise UnpickleRefused(
            f"{path} is a pickle ([args, state_dict] written by torch.save). Reading it unpickles the file; pass "
            "allow_unpickle=True (--allow_unpickle) if you trust where it comes from. It is then read with torch's "
            "restricted weights_only unpickler."
        )
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError or RuntimeError with the blocked global's name
        raise UnpickleRefused(f"{path}: the restricted unpickler refused the file: {error}") from error
    if not (isinstance(payload, (list, tuple)) and len(payload) == 2 and isinstance(payload[1], dict)):
        raise ValueError(f"{path}: expected [args, state_dict], got {type(payload).__name__}")
    settings, state_dict = payload
    if isinstance(settings, dict):
        settings = settings.get("args", settings)
    hyper_parameters = vars(settings) if isinstance(settings, argparse.Namespace) else dict(settings)
    return hyper_parameters, state_dict


def reference_to_sasrec_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename (and split or squeeze) the reference's tensors into `SASRecModel`'s layout."""
    converted = {
        "item_embedding.weight": state_dict["item_emb.weight"],
        "position_embedding.weight": state_dict["pos_emb.weight"],
        "final_layer_norm.weight": state_dict["last_layernorm.weight"],
        "final_layer_norm.bias": state_dict["last_layernorm.bias"],
    }
    blocks = sorted(
        {int(match.group(1)) for key in state_dict if (match := re.match(r"attention_layers\.(\d+)\.", key))}
    )
    for block in blocks:
        ours = f"blocks.{block}"
        for kind in ("weight", "bias"):
            converted[f"{ours}.attention_layer_norm.{kind}"] = state_dict[f"attention_layernorms.{block}.{kind}"]
            converted[f"{ours}.feed_forward_layer_norm.{kind}"] = state_dict[f"forward_layernorms.{block}.{kind}"]
            query, key, value = state_dict[f"attention_layers.{block}.in_proj_{kind}"].chunk(3)
            converted[f"{ours}.attention.query.{kind}"] = query
            converted[f"{ours}.attention.key.{kind}"] = key
            converted[f"{ours}.attention.value.{kind}"] = value
            converted[f"{ours}.attention.output.{kind}"] = state_dict[f"attention_layers.{block}.out_proj.{kind}"]
        for reference, target in (("conv1", "dense_in"), ("conv2", "dense_out")):
            # A kernel-size-1 Conv1d is a Linear layer with a trailing singleton dimension.
            converted[f"{ours}.feed_forward.{target}.weight"] = state_dict[
                f"forward_layers.{block}.{reference}.weight"
            ].squeeze(-1)
            converted[f"{ours}.feed_forward.{target}.bias"] = state_dict[f"forward_layers.{block}.{reference}.bias"]
    return {name: tensor.detach().clone().contiguous() for name, tensor in converted.items()}


def convert_reference_sasrec(path: str, allow_unpickle: bool = False) -> SASRecModel:
    """Build a `SASRecModel` that computes exactly what the reference checkpoint computes."""
    hyper_parameters, state_dict = load_reference_checkpoint(path, allow_unpickle)
    missing = [key for key in ("item_emb.weight", "pos_emb.weight", "last_layernorm.weight") if key not in state_dict]
    if missing:
        raise ValueError(f"{path}: not a reference SASRec state dict (missing {missing})")
    num_items_plus_padding, hidden_size = state_dict["item_emb.weight"].shape
    converted = reference_to_sasrec_state_dict(state_dict)
    config = SASRecConfig(
        num_items=num_items_plus_padding - 1,
        hidden_size=hidden_size,
        num_blocks=len([key for key in converted if key.endswith("attention.query.weight")]),
        num_attention_heads=int(hyper_parameters.get("num_heads", 1)),
        dropout=float(hyper_parameters.get("dropout_rate", 0.5)),
        max_sequence_length=state_dict["pos_emb.weight"].shape[0],
        attention_residual="query",
        mask_padding_keys=False,
    )
    model = SASRecModel(config)
    model.load_state_dict(converted, strict=True)
    return model.eval()
