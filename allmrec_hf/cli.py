"""Argument parsing shared by the example scripts: `HfArgumentParser` dataclasses whose defaults may come from a
``hub_configs/*.json`` file (one section per stage) and are overridden by command-line flags."""

from __future__ import annotations

import logging
import sys

from transformers import HfArgumentParser

from .utils import read_json


def parse_script_arguments(dataclass_types: tuple, sections: tuple[str, ...], argv: list[str] | None = None):
    """Parse ``argv`` into instances of ``dataclass_types``.

    ``--config FILE`` names a JSON file whose ``sections`` (e.g. ``"data"``, ``"cf"``) supply defaults; a key that no
    dataclass field accepts is an error naming the file and the key, so a typo in a config never goes unnoticed.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = HfArgumentParser(dataclass_types)
    parser.add_argument("--config", default=None, help="hub_configs JSON supplying defaults; flags override it")
    config_path = None
    if "--config" in argv:
        position = argv.index("--config")
        if position + 1 >= len(argv):
            parser.error("--config needs a file name")
        config_path = argv[position + 1]
    elif any(arg.startswith("--config=") for arg in argv):
        config_path = next(arg.split("=", 1)[1] for arg in argv if arg.startswith("--config="))
    if config_path:
        config = read_json(config_path)
        accepted = {action.dest for action in parser._actions}
        defaults = {}
        for section in sections:
            values = config.get(section, {})
            unknown = sorted(set(values) - accepted)
            if unknown:
                parser.error(f"{config_path}: section {section!r} has unknown keys {unknown}")
            defaults.update(values)
        parser.set_defaults(**defaults)
    *parsed, _ = parser.parse_args_into_dataclasses(args=argv)
    return parsed


def setup_logging(level: int = logging.INFO) -> None:
    """Log what each stage is doing, in one format for the library and transformers."""
    import datasets
    import transformers

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", level=level)
    transformers.utils.logging.set_verbosity(level)
    transformers.utils.logging.enable_default_handler()
    datasets.utils.logging.set_verbosity(logging.WARNING)
