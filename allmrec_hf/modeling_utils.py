"""What every model of this package does with a damaged checkpoint: name the file."""

from __future__ import annotations

from safetensors import SafetensorError


def damaged_weights(path, error: Exception) -> OSError:
    """The error for weights that safetensors cannot read (cut short, overwritten, not safetensors at all)."""
    return OSError(f"{path} is damaged or not a safetensors file ({error}); save or download the model again")


class CheckpointErrorsMixin:
    """`from_pretrained` of a folder whose ``model.safetensors`` is damaged raises an error naming that file."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except SafetensorError as error:
            raise damaged_weights(f"{pretrained_model_name_or_path}/model.safetensors", error) from error
