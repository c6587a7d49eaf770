"""Scripts report bad input as one ``error:`` line with exit status 2; ``--debug`` shows the traceback."""

import json
import re
from pathlib import Path

import prepare_data
import pytest

from allmrec_hf.commands.cli import run_script
from allmrec_hf.data import DataFormatError

from .conftest import EXAMPLES


@pytest.fixture
def generic_files(tmp_path, monkeypatch):
    """A sequences.jsonl whose second line is cut short, its items.jsonl, and prepare_data's flags to read them."""
    monkeypatch.setattr(prepare_data, "setup_logging", lambda: None)  # keep the test session's logging as it is
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"item_id": item}) + "\n" for item in "abcd"))
    sequences = tmp_path / "sequences.jsonl"
    sequences.write_text(
        json.dumps({"user_id": "u1", "item_ids": ["a", "b", "c"]}) + '\n{"user_id": "u2", "item_ids": [\n'
    )
    flags = ["--source", "generic", "--sequences_file", str(sequences), "--items_file", str(items)]
    return sequences, items, [*flags, "--output_dir", str(tmp_path / "out")]


def _run(argv, capsys) -> str:
    """Run prepare_data through `run_script`; return its single ``error:`` line."""
    with pytest.raises(SystemExit) as stopped:
        run_script(prepare_data.main, argv)
    assert stopped.value.code == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert "='" not in errors[0], "hints name command-line flags, not Python keyword arguments"
    return errors[0]


def test_a_bad_record_is_one_error_line_with_its_location_and_a_flag_hint(generic_files, capsys):
    sequences, _, argv = generic_files
    assert _run(argv, capsys) == (
        f"error: {sequences}, line 2: malformed JSON: Expecting value at the end of the line (column 32) "
        "(hint: --on_error skip)"
    )


def test_an_unknown_item_hint_names_the_unknown_items_flag(generic_files, capsys):
    sequences, _, argv = generic_files
    sequences.write_text(json.dumps({"user_id": "u1", "item_ids": ["a", "zzz"]}) + "\n")
    assert re.fullmatch(
        rf"error: {re.escape(str(sequences))}, line 1, field 'item_ids': item 'zzz' is not in .*"
        r"\(hint: --unknown_items skip drops such interactions, --unknown_items keep .*\)",
        _run(argv, capsys),
    )


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda argv: argv[:-2], "error: --output_dir is required"),
        (lambda argv: [*argv[:3], "missing.jsonl", *argv[4:]], "error: missing.jsonl: no such file"),
        (lambda argv: argv[:4] + argv[6:], "error: --source generic needs --items_file and one of"),
    ],
    ids=["missing-flag", "missing-file", "bad-setting"],
)
def test_other_input_errors_are_one_line_too(generic_files, capsys, change, expected):
    assert _run(change(generic_files[2]), capsys).startswith(expected)


def test_a_malformed_config_names_its_file_line_and_column(generic_files, tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text('{"data": {\n  "seed": 1,\n}}\n')
    message = _run([*generic_files[2], "--config", str(config)], capsys)
    assert message.startswith(f"error: {config}, line 3, column 1: malformed JSON")


def test_debug_flag_or_variable_shows_the_traceback(generic_files, monkeypatch):
    argv = generic_files[2]
    with pytest.raises(DataFormatError, match="malformed JSON"):
        run_script(prepare_data.main, [*argv, "--debug"])
    monkeypatch.setenv("ALLMREC_DEBUG", "1")
    with pytest.raises(DataFormatError, match="malformed JSON"):
        run_script(prepare_data.main, argv)


def test_a_bug_keeps_its_traceback_and_a_debug_value_is_left_to_training_arguments():
    def broken(argv):
        assert argv == ["--debug", "underflow_overflow"]
        raise KeyError("internal")

    with pytest.raises(KeyError):
        run_script(broken, ["--debug", "underflow_overflow"])


@pytest.mark.parametrize("script", sorted(path.name for path in Path(EXAMPLES).glob("*.py")))
def test_every_example_script_runs_its_main_through_run_script(script):
    text = (Path(EXAMPLES) / script).read_text()
    block = text.split('if __name__ == "__main__":', 1)[1]
    assert "run_script(main)" in block


ARGUMENT_DATACLASSES = ("allmrec_hf.commands.cf", "allmrec_hf.commands.stage1", "allmrec_hf.commands.stage2")


@pytest.mark.parametrize("module_name", ARGUMENT_DATACLASSES)
def test_every_flag_keeps_its_help_and_aliases(module_name):
    """A dataclass decorated twice loses its fields' metadata: every flag's help and old-name alias silently vanish."""
    import dataclasses
    import importlib

    module = importlib.import_module(module_name)
    classes = [
        value for value in vars(module).values() if dataclasses.is_dataclass(value) and value.__module__ == module_name
    ]
    assert classes
    for cls in classes:
        for field in dataclasses.fields(cls):
            if not field.name.startswith("_"):
                assert field.metadata.get("help"), f"{cls.__name__}.{field.name} has no help"


def test_a_renamed_flag_still_parses_under_its_old_name():
    from allmrec_hf.commands.cli import parse_script_arguments
    from allmrec_hf.commands.stage1 import AlignerArguments

    (arguments,) = parse_script_arguments((AlignerArguments,), (), ["--text_encoder_training", "frozen"])
    assert arguments.sentence_encoder_training == "frozen"
