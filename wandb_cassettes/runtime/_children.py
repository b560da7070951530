"""Child processes of a cassette: their W&B client ids are deterministic too.

A test that runs ``python train.py`` reaches the relay through the
inherited environment (``WANDB_BASE_URL``), but the child draws its run ids
and artifact client ids at random, so its recording would never replay. The
way coverage.py measures subprocesses is the known way to reach a child
before its code runs (https://coverage.readthedocs.io/en/latest/subprocess.html):
a ``.pth`` file in site-packages, which every Python start-up executes, and
an environment variable that turns it on. While a cassette is in use:

* :func:`install_pth` has written ``wandb_cassettes_child_<pid>.pth`` into
  the interpreter's site-packages (removed at the end of the session; the
  reaper's watchdog removes it if the session is killed, and the next session
  removes any a dead session left);
* ``WANDB_CASSETTES_CHILD`` holds the cassette's seed, its test id and a
  folder in which each child takes the next number (``O_EXCL`` files).

A child with the variable set seeds the SDK's id generators from
``(seed, test id, "child", number)`` as soon as ``wandb.sdk.lib.runid`` is
imported, and writes each run id it draws into its number's file, where the
parent's ledger finds it (ownership of runs whose answer was lost).
Children numbered by start order: sequential children replay; children
started concurrently with the same code may swap numbers.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import json
import os
import site
import sys
import sysconfig
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import compat

ENV = "WANDB_CASSETTES_CHILD"
_PTH_NAME = "wandb_cassettes_child_{pid}.pth"
# One line, starting with "import" so that site.py executes it; it does nothing unless the
# variable is set (site.py reports an exception in it and goes on starting the interpreter).
_PTH_TEXT = (
    f"import os; os.environ.get({ENV!r}) and "
    "__import__('wandb_cassettes.runtime._children').runtime._children.start_child()\n"
)


def site_dirs() -> list[Path]:
    """Where a ``.pth`` reaches every child of this interpreter (purelib first)."""
    dirs = [sysconfig.get_path("purelib"), *site.getsitepackages()]
    return [Path(d) for d in dict.fromkeys(dirs) if d]


def install_pth(pid: int | None = None) -> list[Path]:
    """Write this session's ``.pth`` file wherever it can; returns the files written.

    The files of sessions that are gone (killed before they could remove theirs)
    are removed first.
    """
    written = []
    for directory in site_dirs():
        _remove_stale(directory)
        path = directory / _PTH_NAME.format(pid=pid or os.getpid())
        try:
            path.write_text(_PTH_TEXT, encoding="utf-8")
        except OSError:
            continue
        written.append(path)
    return written


def _remove_stale(directory: Path) -> None:
    """Remove the ``.pth`` files in ``directory`` whose session process no longer runs."""
    with contextlib.suppress(OSError):
        for path in directory.glob(_PTH_NAME.format(pid="*")):
            pid = path.stem.rsplit("_", 1)[-1]
            if pid.isdigit() and not _running(int(pid)):
                with contextlib.suppress(OSError):
                    path.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def remove_pth(pid: int | None = None) -> None:
    """Remove the ``.pth`` files of session ``pid`` (this one by default)."""
    for directory in site_dirs():
        with contextlib.suppress(OSError):
            (directory / _PTH_NAME.format(pid=pid or os.getpid())).unlink()


def env_value(seed: str, test_id: str, folder: Path) -> str:
    """The ``WANDB_CASSETTES_CHILD`` value for children of one cassette."""
    folder.mkdir(parents=True, exist_ok=True)
    return json.dumps({"seed": seed, "test": test_id, "dir": str(folder)})


def drawn_run_ids(folder: Path) -> set[str]:
    """Run ids that children of a cassette drew (one file per child, one id per line)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for path in folder.glob("child-*"):
            with contextlib.suppress(OSError):
                found.update(line for line in path.read_text("utf-8").split() if line)
    return found


# -- in the child ---------------------------------------------------------------------------


_started = False


def start_child() -> None:
    """Called by the ``.pth`` line when ``WANDB_CASSETTES_CHILD`` is set (once per process:
    sessions running side by side, e.g. xdist workers, each leave a ``.pth``)."""
    global _started
    if _started:
        return
    _started = True
    spec = json.loads(os.environ[ENV])
    folder = Path(spec["dir"])
    number, record = _take_number(folder)
    test_id = f"{spec['test']}\0child\0{number}"
    sys.meta_path.insert(0, _SeedOnImport(str(spec["seed"]), test_id, record))


def _take_number(folder: Path) -> tuple[int, Path]:
    number = 0
    while True:
        path = folder / f"child-{number}"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            number += 1
            continue
        os.close(fd)
        return number, path


class _SeedOnImport(importlib.abc.MetaPathFinder):
    """Seeds ``wandb.sdk.lib.runid`` right after it is imported, then steps aside."""

    TARGET = compat.RUNID_MODULE

    def __init__(self, seed: str, test_id: str, record: Path) -> None:
        self.seed, self.test_id, self.record = seed, test_id, record

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module  # type: ignore[attr-defined]

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            self._seed(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec

    def _seed(self, runid: Any) -> None:
        from . import _ids as ids  # in every child's start-up (.pth): only when turned on

        generator = ids.Generators(self.seed, self.test_id)
        record = self.record

        def generate_id(length: int = 8) -> str:
            value = generator.run_id(length)
            with record.open("a", encoding="utf-8") as fh:
                fh.write(value + "\n")
            return value

        runid.generate_id = generate_id
        compat.fast_random(runid).seed(generator.fast_seed)


@contextlib.contextmanager
def child_env(seed: str, test_id: str, folder: Path) -> Iterator[None]:
    """Within the block, children get the cassette's ids (``WANDB_CASSETTES_CHILD``)."""
    before = os.environ.get(ENV)
    os.environ[ENV] = env_value(seed, test_id, folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
