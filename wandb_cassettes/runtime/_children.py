"""Child processes of the session: their W&B traffic goes through the relay, with ids
that replay.

A test that runs ``python train.py`` must reach the relay whatever its child does with
the environment (a child started with only ``PATH`` and ``HOME`` reads its server from
``~/.config/wandb/settings``), and the child draws its run ids and artifact client ids
at random, so its recording would never replay. The way coverage.py measures
subprocesses is the known way to reach a child before its code runs
(https://coverage.readthedocs.io/en/latest/subprocess.html): a ``.pth`` file in
site-packages, which every Python start-up executes. While a session runs:

* :func:`install_pth` has written ``wandb_cassettes_child_<pid>.pth`` into the
  interpreter's site-packages (removed at the end of the session; the reaper's
  watchdog removes it if the session is killed, and the next session removes any a
  dead session left). Its one line turns the hook on in a process that descends from
  the session's (its parent chain in ``/proc``, whatever its environment), or whose
  ``WANDB_CASSETTES_SESSION`` names the session's state file; in any other process it
  only reads that chain, and imports nothing;
* the session's state file (:func:`begin_session`, private to the user, beside the
  SDK's files) says where the relay is (its URL holds the session's secret) and which
  cassette is in use now, with its seed, its test id, a folder in which each child
  takes the next number (``O_EXCL`` files) and whether it replays;
  ``WANDB_CASSETTES_CHILD`` says the same for a child started with the environment.

A child with the hook on wraps the SDK as the session does (:mod:`._servers`: whatever
server it names goes through the relay), seeds the SDK's id generators from ``(seed,
test id, "child", number)`` as soon as ``wandb.sdk.lib.runid`` is imported, and writes
each run id it draws, and each online use of W&B, into the cassette's folder, where the
parent finds them (ownership of runs whose answer was lost; a test that used W&B and
recorded nothing). A child that did not inherit the session's environment also gets the
session's quiet SDK settings where it set none, and the replay placeholder key when the
cassette replays (the SDK asks for a key before it sends anything). Children numbered
by start order: sequential children replay; children started concurrently with the
same code may swap numbers. A process of the session's that starts a session of its
own (pytest run by a test) leaves the hook at once (:func:`disown`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.abc
import importlib.machinery
import json
import os
import site
import sys
import sysconfig
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import compat
from . import _servers as servers
from ._env import REPLAY_API_KEY

ENV = "WANDB_CASSETTES_CHILD"
#: The session's state file, in the environment of the processes it starts.
SESSION_ENV = "WANDB_CASSETTES_SESSION"
#: :data:`SESSION_ENV` of a process that belongs to no session's tests (the watchdog).
NO_SESSION = "-"
_PTH_NAME = "wandb_cassettes_child_{pid}.pth"
# The .pth line's code: on in a process whose environment names this session's state
# file, or that descends from the session's process (the 4th field of /proc/<pid>/stat
# is the parent's pid, after the parenthesised command: proc_pid_stat(5)) and whose
# environment names no session at all. Sessions nest (a test suite that runs pytest in a
# subprocess, as pytester does): a child of the inner session descends from both, and
# its environment names the inner one, which must win whatever order site.py reads the
# .pth files in (only the first hook that is on starts). A process the session starts for
# itself (the watchdog) names :data:`NO_SESSION`: started before the .pth was written and
# reading it a moment later, it would otherwise count as the first child of whatever
# cassette is active by then, and shift every real child's ids. Anything it cannot read
# leaves it off.
_PTH_CODE = """\
s, p = {state!r}, {pid}
n = os.environ.get({env!r})
on = n == s
q = os.getpid() if n is None else 1
try:
    while not on and q > 1:
        with open('/proc/%d/stat' % q) as f:
            q = int(f.read().rpartition(')')[2].split()[1])
        on = q == p
except Exception:
    on = False
if on:
    __import__('wandb_cassettes.runtime._children').runtime._children.start_child(s)
"""


def site_dirs() -> list[Path]:
    """Where a ``.pth`` reaches every child of this interpreter (purelib first)."""
    dirs = [sysconfig.get_path("purelib"), *site.getsitepackages()]
    return [Path(d) for d in dict.fromkeys(dirs) if d]


def pth_text(state: Path | str, pid: int) -> str:
    """The ``.pth`` line of session ``pid`` whose state file is ``state``: it starts with
    ``import`` so that site.py executes it (site.py reports an exception in it and goes on
    starting the interpreter)."""
    code = _PTH_CODE.format(state=str(state), pid=pid, env=SESSION_ENV)
    return f"import os; exec({code!r})\n"


def install_pth(state: Path | str = "", pid: int | None = None) -> list[Path]:
    """Write this session's ``.pth`` file wherever it can; returns the files written.

    The files of sessions that are gone (killed before they could remove theirs)
    are removed first.
    """
    written = []
    pid = pid or os.getpid()
    for directory in site_dirs():
        _remove_stale(directory)
        path = directory / _PTH_NAME.format(pid=pid)
        try:
            path.write_text(pth_text(state, pid), encoding="utf-8")
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


# -- the session's state, for its children ------------------------------------------------


@dataclass
class _Session:
    """What this process's session tells its children: :func:`begin_session`."""

    path: Path
    target: servers.Target
    quiet: dict[str, str]
    #: The cassettes in use, innermost last (``WANDB_CASSETTES_CHILD`` values).
    cassettes: list[str] = field(default_factory=list)


_session: _Session | None = None


def begin_session(path: Path, target: servers.Target, quiet: Mapping[str, str]) -> None:
    """Write the session's state file (``path``, in a folder only the user can read: the
    relay's URL holds the session's secret) and name it in the environment: children
    route the SDK's servers as ``target`` says."""
    global _session
    _session = _Session(path, target, dict(quiet))
    _publish()
    os.environ[SESSION_ENV] = str(path)


def set_upstream(upstream: str | None) -> None:
    """The session's upstream became known (its first recording)."""
    if _session is not None:
        _session.target = dataclasses.replace(_session.target, upstream=upstream)
        _publish()


def end_session() -> None:
    """Forget the session: no child starts against it any more."""
    global _session
    session, _session = _session, None
    if session is not None:
        if os.environ.get(SESSION_ENV) == str(session.path):
            del os.environ[SESSION_ENV]
        with contextlib.suppress(OSError):
            session.path.unlink()


def _publish() -> None:
    session = _session
    if session is None:
        return
    state = {
        **session.target.as_state(),
        "quiet": session.quiet,
        "cassette": session.cassettes[-1] if session.cassettes else None,
    }
    tmp = session.path.with_name(session.path.name + f".{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh)
        os.replace(tmp, session.path)  # atomic: a child never reads half of it
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


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
    (``WANDB_CASSETTES_CHILD``, and the session's state file for those started without
    the environment)."""
    before = os.environ.get(ENV)
    value = env_value(seed, test_id, folder, derived, replay=replay)
    os.environ[ENV] = value
    session = _session
    if session is not None:
        session.cassettes.append(value)
        _publish()
    try:
        yield
    finally:
        if session is not None:
            with contextlib.suppress(ValueError):
                session.cassettes.remove(value)
            _publish()
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


# -- in the child ---------------------------------------------------------------------------


@dataclass
class _Child:
    """What the hook changed in this process (:func:`disown` puts it back)."""

    finders: list[importlib.abc.MetaPathFinder] = field(default_factory=list)
    #: Environment variables the hook set, with their values before (None: unset).
    env: dict[str, str | None] = field(default_factory=dict)
    listeners: list[Any] = field(default_factory=list)


_child: _Child | None = None


def start_child(state_path: str) -> None:
    """Called by the ``.pth`` line in a process of the session (once per process: sessions
    running side by side, e.g. xdist workers, each leave a ``.pth``)."""
    global _child
    if _child is not None:
        return
    _child = child = _Child()
    try:
        state = json.loads(Path(state_path).read_text("utf-8"))
        target = servers.Target.from_state(state)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return  # the session is gone: nothing to go through
    spec_text = os.environ.get(ENV) or state.get("cassette")
    spec = _spec(spec_text)
    if os.environ.get(SESSION_ENV) != state_path:
        # Started without the session's environment (only PATH and HOME, say): the quiet
        # settings it did not set itself, and a key to get past the SDK's check in replay.
        quiet = state.get("quiet") if isinstance(state.get("quiet"), dict) else {}
        wanted = {str(k): str(v) for k, v in quiet.items()}
        if spec is not None and spec.get("replay"):
            wanted["WANDB_API_KEY"] = REPLAY_API_KEY
        wanted[SESSION_ENV] = state_path
        for name, value in wanted.items():
            if name not in os.environ:
                child.env[name] = None
                os.environ[name] = value
    if spec is not None and ENV not in os.environ and isinstance(spec_text, str):
        child.env[ENV] = None
        os.environ[ENV] = spec_text
    servers.point(target)
    _on_import(child, servers.SETTINGS_MODULE, servers.patch_settings)
    _on_import(child, servers.SERVICE_API_MODULE, servers.patch_service_api)
    _on_import(child, servers.TELEMETRY_MODULE, servers.patch_telemetry)
    if spec is None:
        return
    folder = Path(str(spec["dir"]))
    number, record = _take_number(folder)
    listener = servers.write_uses_to(folder)
    servers.on_use.append(listener)
    child.listeners.append(listener)
    test_id = f"{spec['test']}\0child\0{number}"
    seeding = _SeedOnImport(str(spec["seed"]), test_id, record)
    sys.meta_path.insert(0, seeding)
    child.finders.append(seeding)
    deriver = _Deriver(spec.get("derived") or {}, bool(spec.get("replay")), folder, number)
    _on_import(child, deriver.TARGET, deriver)


def _spec(text: Any) -> dict[str, Any] | None:
    try:
        spec = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    ok = isinstance(spec, dict) and all(k in spec for k in ("seed", "test", "dir"))
    return spec if ok else None


def _on_import(child: _Child, name: str, then: Callable[[ModuleType], None]) -> None:
    """Call ``then(module)`` once ``name`` is imported (now, if it already is)."""
    module = sys.modules.get(name)
    if module is not None:
        then(module)
        return
    finder = _AfterImport(name, then)
    sys.meta_path.insert(0, finder)
    child.finders.append(finder)


def disown() -> None:
    """This process starts a session of its own: the hook of another session's steps aside
    (its import hooks, the variables it set, where it sent the SDK's requests)."""
    global _child
    child, _child = _child, None
    if child is None:
        return
    for finder in child.finders:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)
    for listener in child.listeners:
        with contextlib.suppress(ValueError):
            servers.on_use.remove(listener)
    for name, value in child.env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    servers.point(None)


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
    """Runs ``then(module)`` right after the module ``name`` is executed, then steps aside."""

    def __init__(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self.name, self.then = name, then

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module  # type: ignore[attr-defined]
        then = self.then

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            then(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


class _SeedOnImport(_AfterImport):
    """Seeds ``wandb.sdk.lib.runid`` right after it is imported, then steps aside."""

    TARGET = compat.RUNID_MODULE

    def __init__(self, seed: str, test_id: str, record: Path) -> None:
        super().__init__(self.TARGET, self._seed)
        self.seed, self.test_id, self.record = seed, test_id, record

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


class _Deriver:
    """Hands the child's SDK the values it derived from the machine when the cassette was
    recorded (:mod:`._derived`), once ``wandb.util`` is imported; while recording, writes
    what it derives for the parent (``derived-<n>.json``)."""

    TARGET = compat.UTIL_MODULE

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
