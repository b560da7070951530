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
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

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


def env_value(
    seed: str,
    test_id: str,
    folder: Path,
    derived: Mapping[str, str] | None = None,
    *,
    replay: bool = False,
) -> str:
    """The ``WANDB_CASSETTES_CHILD`` value for children of one cassette: its id seed, and
    what the SDK derived from the machine (:mod:`._derived`), to replay or to record."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"seed": seed, "test": test_id, "dir": str(folder)}
    return json.dumps({**spec, "derived": dict(derived or {}), "replay": replay})


def child_key(name: str, number: int) -> str:
    """A child's key for a derived value: ``project@child-0`` (children are numbered in
    the order they start; each has its own program, so its own derived project)."""
    return f"{name}@child-{number}"


def derived_values(folder: Path) -> dict[str, str]:
    """What children of a cassette derived while recording (``derived-<n>.json`` each)."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for path in sorted(folder.glob("derived-*.json")):
            with contextlib.suppress(OSError, ValueError):
                values = json.loads(path.read_text("utf-8"))
                if isinstance(values, dict):
                    found.update({str(k): str(v) for k, v in values.items()})
    return found


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
    seeder = _Seeder(str(spec["seed"]), test_id, record)
    derive = _Deriver(spec.get("derived") or {}, bool(spec.get("replay")), folder, number)
    sys.meta_path.insert(0, _AfterImport({seeder.TARGET: seeder, derive.TARGET: derive}))


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


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``then[name](module)`` right after each module ``name`` is imported, then
    steps aside (once every one was)."""

    def __init__(self, then: dict[str, Callable[[ModuleType], None]]) -> None:
        self.then = dict(then)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        after = self.then.pop(fullname, None)
        if after is None:
            return None
        if not self.then:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module  # type: ignore[attr-defined]

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            after(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


class _Seeder:
    """Seeds ``wandb.sdk.lib.runid`` with the cassette's ids once it is imported."""

    TARGET = "wandb.sdk.lib.runid"

    def __init__(self, seed: str, test_id: str, record: Path) -> None:
        self.seed, self.test_id, self.record = seed, test_id, record

    def __call__(self, runid: Any) -> None:
        from . import _ids as ids  # in every child's start-up (.pth): only when turned on

        generator = ids.Generators(self.seed, self.test_id)
        record = self.record

        def generate_id(length: int = 8) -> str:
            value = generator.run_id(length)
            with record.open("a", encoding="utf-8") as fh:
                fh.write(value + "\n")
            return value

        runid.generate_id = generate_id
        runid._random.seed(generator.fast_seed)


class _Deriver:
    """Hands the child's SDK the values it derived from the machine when the cassette was
    recorded (:mod:`._derived`), once ``wandb.util`` is imported; while recording, writes
    what it derives for the parent (``derived-<n>.json``)."""

    TARGET = "wandb.util"

    def __init__(self, derived: dict[str, str], replay: bool, folder: Path, number: int) -> None:
        self.replay, self.folder, self.number = replay, folder, number
        mine = {k: derived.get(child_key(k, number)) for k in ("project",)}
        self.values = {k: v for k, v in mine.items() if v}

    def __call__(self, util: Any) -> None:
        from . import _derived as derived

        derived.install()
        derived.begin(self.values, replay=self.replay, on_derive=self._write)

    def _write(self, values: dict[str, str]) -> None:
        keyed = {child_key(k, self.number): v for k, v in values.items()}
        with contextlib.suppress(OSError):
            (self.folder / f"derived-{self.number}.json").write_text(json.dumps(keyed), "utf-8")


@contextlib.contextmanager
def child_env(
    seed: str,
    test_id: str,
    folder: Path,
    derived: Mapping[str, str] | None = None,
    *,
    replay: bool = False,
) -> Iterator[None]:
    """Within the block, children get the cassette's ids and derived values
    (``WANDB_CASSETTES_CHILD``)."""
    before = os.environ.get(ENV)
    os.environ[ENV] = env_value(seed, test_id, folder, derived, replay=replay)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
