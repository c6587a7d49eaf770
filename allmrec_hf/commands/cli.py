"""What the example scripts share: `HfArgumentParser` dataclasses whose defaults may come from a
``hub_configs/*.json`` file (one section per stage) and are overridden by command-line flags, logging, and
`run_script`, which turns an input error into one ``error:`` line."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable

from transformers import HfArgumentParser

from ..utils import read_json


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


DEBUG_FLAG = "--debug"
DEBUG_ENVIRONMENT_VARIABLE = "ALLMREC_DEBUG"
# What bad input raises: a malformed record (`DataFormatError` is a ValueError), a bad setting, a missing or
# unreadable path. Anything else is a bug and keeps its traceback.
INPUT_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def _take_debug_flag(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether a bare ``--debug`` is in ``argv``, and ``argv`` without it.

    ``--debug VALUE`` is left in place: that is `TrainingArguments.debug` (e.g. ``underflow_overflow``).
    """
    for position, arg in enumerate(argv):
        if arg == DEBUG_FLAG and (position + 1 == len(argv) or argv[position + 1].startswith("-")):
            return True, argv[:position] + argv[position + 1 :]
    return False, argv


def run_script(main: Callable, argv: list[str] | None = None) -> None:
    """Run an example script's ``main(argv)`` the way a user should see it fail.

    An input error prints ``error: <file>, line N, field F: <what> (hint: --flag value)`` on stderr and exits with
    status 2 (as argparse does for a bad flag); ``--debug`` or ``ALLMREC_DEBUG=1`` re-raises it with its traceback.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug, argv = _take_debug_flag(argv)
    debug = debug or os.environ.get(DEBUG_ENVIRONMENT_VARIABLE, "") not in ("", "0")
    try:
        main(argv)
    except INPUT_ERRORS as error:
        if debug:
            raise
        message = re.sub(r"\s*\n\s*", " ", str(error).strip()) or type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    _leave_process_group()


def _leave_process_group() -> None:
    """End a multi-process run together: without it a rank that finishes first exits while gloo's threads still
    run, and the C++ runtime aborts it ("terminate called without an active exception"), failing the launch."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
