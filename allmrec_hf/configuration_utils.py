"""What every config of this package does with bad values: name the field, and the file it came from."""

from __future__ import annotations

import functools
import inspect
import types
import typing


SCALARS = (bool, int, float, str, type(None))


def _allowed(annotation) -> tuple[type, ...] | None:
    """The scalar types an annotation admits, or None when it is not a plain scalar (lists, configs...)."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if not all(option in SCALARS for option in options):
        return None
    return options


def _matches(value, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # a bool is an int to Python, not to a config field
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    return isinstance(value, allowed)


def checked_types(init):
    """Decorate a config's ``__init__``: before it runs, every argument annotated with scalar types (``int``,
    ``float | None``...) must have one of them, so a wrong-typed value in a ``config.json`` fails naming its field
    instead of inside a validation or a model (``"hidden_size": "fifty"``)."""
    signature = inspect.signature(init)

    @functools.lru_cache(maxsize=1)
    def annotations() -> dict:
        return {name: _allowed(hint) for name, hint in typing.get_type_hints(init).items() if name != "return"}

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        expected = annotations()
        for name, value in signature.bind_partial(self, *args, **kwargs).arguments.items():
            allowed = expected.get(name)
            if allowed is not None and not _matches(value, allowed):
                names = " or ".join("null" if option is type(None) else option.__name__ for option in allowed)
                raise TypeError(f"{type(self).__name__} field {name!r} must be {names}, got {value!r}")
        return init(self, *args, **kwargs)

    return wrapper


class ConfigFileErrorsMixin:
    """A config that cannot be built from its ``config.json`` says which file (the field is in the message)."""

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        try:
            return super().from_dict(config_dict, **kwargs)
        except (TypeError, ValueError) as error:
            source = kwargs.get("name_or_path") or config_dict.get("_name_or_path")
            raise type(error)(f"{source}/config.json: {error}" if source else str(error)) from error
