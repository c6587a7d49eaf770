import os
import subprocess
import tempfile

import pytest

from allmrec_hf.utils import atomic_directory, write_text_atomic


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_outputs_get_the_permissions_of_the_umask(tmp_path, umask_022):
    write_text_atomic(tmp_path / "report.json", "{}")
    with atomic_directory(tmp_path / "prepared") as temporary:
        (temporary / "data.txt").write_text("x")
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "prepared").stat().st_mode & 0o777 == 0o755


def _finished_process_id() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_later_write_removes_what_killed_writes_left(tmp_path):
    (tmp_path / "prepared").mkdir()  # a killed write may leave the previous content aside (.old) once it is in place
    # A write of this target still in progress in this process.
    in_progress = atomic_directory(tmp_path / "prepared")
    writing = in_progress.__enter__()
    dead = _finished_process_id()
    killed = [
        tmp_path / f".prepared.{dead}.0123abcd.tmp",
        tmp_path / f".prepared.{dead}.fedcba98.old",
        tmp_path / f".report.json.{dead}.89abcdef.tmp",
    ]
    killed[0].mkdir()
    (killed[0] / "half.arrow").write_text("x")
    killed[1].mkdir()
    killed[2].write_text("{")
    # The names earlier versions gave through tempfile, without a process id.
    killed.append(tempfile.mkdtemp(dir=tmp_path, prefix=".prepared.", suffix=".tmp"))
    handle, legacy_file = tempfile.mkstemp(dir=tmp_path, prefix=".report.json.", suffix=".tmp")
    os.close(handle)
    killed.append(legacy_file)
    another_target = tmp_path / f".prepared.json.{dead}.0123abcd.tmp"
    another_target.write_text("x")

    with atomic_directory(tmp_path / "prepared") as temporary:
        (temporary / "data.txt").write_text("new")
    write_text_atomic(tmp_path / "report.json", "{}")

    assert not any(os.path.exists(path) for path in killed)
    assert writing.exists() and another_target.exists()
    assert (tmp_path / "prepared" / "data.txt").read_text() == "new"
    in_progress.__exit__(None, None, None)
