"""Small helpers shared by every stage: atomic writes and JSON files."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib
import importlib.abc
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def _temporary_sibling(path: Path, suffix: str) -> Path:
    """A hidden sibling of ``path`` that names the writing process, so a later write can tell the leftover of a killed
    write (its process is gone) from a write in progress."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


def _process_is_running(pid: int) -> bool:
    if os.name != "posix":
        return True  # no harmless probe elsewhere (signal 0 is CTRL_C_EVENT on Windows): keep the file
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Remove what killed writes of ``path`` left behind: its ``.tmp`` siblings, and the ``.old`` ones once ``path``
    exists (without it, an ``.old`` folder may hold the only copy). A sibling whose process still runs is kept;
    ``.<name>.<8 characters>.tmp`` is the name earlier versions gave through `tempfile`, without a process id."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)\.[0-9a-f]{{8}}|[a-z0-9_]{{8}})\.(tmp|old)")
    for sibling in path.parent.iterdir():
        match = pattern.fullmatch(sibling.name)
        if match is None or (match[2] == "old" and not path.exists()):
            continue
        if match[1] is not None and _process_is_running(int(match[1])):
            continue
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` through a temporary file and a rename, so readers never see half a file.

    The file gets the permissions a plain ``open`` would give (the umask's), not `tempfile`'s owner-only ones.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    temporary = _temporary_sibling(path, ".tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_json_atomic(path: str | os.PathLike, payload) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as stream:
        try:
            return json.load(stream)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path}, line {error.lineno}, column {error.colno}: malformed JSON: {error.msg}"
            ) from error


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces ``path`` in one rename.

    An existing ``path`` is moved aside first and removed only once the new directory is in place, so an
    interrupted write leaves either the old or the new content, never a mix; the next write of ``path`` removes what
    a killed one left. The directory gets the umask's permissions, not `tempfile`'s owner-only ones.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    temporary = _temporary_sibling(path, ".tmp")
    temporary.mkdir()
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    previous = None
    if path.exists():
        previous = _temporary_sibling(path, ".old")
        os.replace(path, previous)
    os.replace(temporary, path)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def provenance() -> dict:
    """Where a result comes from: the command, this package's commit (and whether its code differed from it), the
    library versions, the thread count and the CPU, so a figure under ``results/`` can be traced and reproduced."""
    import torch
    import transformers

    root = Path(__file__).resolve().parents[1]

    def git(*args) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    changes = git("status", "--porcelain", "--", "allmrec_hf", "examples", "benches")
    return {
        "command": shlex.join(["python", *sys.argv]),
        "commit": git("rev-parse", "HEAD"),
        "code_modified_since_commit": bool(changes) if changes is not None else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        # The same seed can give other weights on another CPU (its kernels may round differently): name the machine.
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def cpu_model(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str | None:
    """The processor's model name (Linux's /proc/cpuinfo), or None where it cannot be read."""
    try:
        with open(cpuinfo, encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def weights_fingerprint(module) -> str:
    """A short SHA-256 of a module's weights (names, dtypes, shapes and bytes): which trained model a result came
    from. The same recipe and seeds give other weights on another machine, so a row scored there names the SASRec it
    was built on by this, not by its folder."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def lazy_exports(package: str, exports: dict[str, str]):
    """A module ``__getattr__`` (PEP 562) that imports each public name from its submodule on first use, as
    transformers and PEFT do, so that importing a package costs only what its users touch."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds ``name`` through the other finders and runs ``action`` right after the module has executed."""

    def __init__(self, name: str, action):
        self.name = name
        self.action = action

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once, and so that the lookup below finds the real module
        spec = importlib.util.find_spec(fullname)
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            self.action()

        spec.loader.exec_module = exec_module
        return spec


def after_import(name: str, action) -> None:
    """Run ``action`` once the module ``name`` is imported, by whoever imports it (now, if it already is): how the
    package registers its pipeline task without importing the heavy `transformers.pipelines` itself."""
    if name in sys.modules:
        action()
    else:
        sys.meta_path.insert(0, _AfterImport(name, action))
