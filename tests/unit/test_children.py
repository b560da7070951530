"""The child-process hook (``runtime/_children.py``): a dead session's ``.pth`` is removed by
the next session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_dead_sessions_child_hook_is_removed_by_the_next(tmp_path: Path, monkeypatch):
    from wandb_cassettes.runtime import _children as children

    monkeypatch.setattr(children, "site_dirs", lambda: [tmp_path])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"wandb_cassettes_child_{dead.pid}.pth"
    stale.write_text("import os\n")
    alive = tmp_path / f"wandb_cassettes_child_{os.getppid()}.pth"  # a session still running
    alive.write_text("import os\n")
    (written,) = children.install_pth()
    assert written.exists() and alive.exists() and not stale.exists()
    children.remove_pth()
    assert not written.exists()


def test_each_cassettes_children_number_themselves_in_a_folder_of_their_own(tmp_path: Path) -> None:
    # A folder left by another session of the same pid (pids wrap) must not shift the
    # numbers, and with them the ids, of this cassette's children.
    from wandb_cassettes.runtime import _children as children
    from wandb_cassettes.runtime._lifecycle import _fresh_folder

    parent = tmp_path / "children"
    left = parent / f"{os.getpid()}-left"
    left.mkdir(parents=True)
    (left / "child-0").write_text("aaaaaaaa\n")
    first = _fresh_folder(parent, f"{os.getpid()}-")
    second = _fresh_folder(parent, f"{os.getpid()}-")
    assert len({first, second, left}) == 3
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []
    assert children._take_number(first) == (0, first / "child-0")


def test_a_cassettes_folder_is_made_when_another_session_removed_its_parent(tmp_path, monkeypatch):
    """pytest-xdist: a worker's teardown removes the shared, emptied ``children`` folder
    between another worker's mkdir and mkdtemp (a FileNotFoundError at set-up, 2 in 19
    replays of a 23-test suite under -n 2); the folder is then made again."""
    import tempfile

    from wandb_cassettes.runtime import _lifecycle as lifecycle

    parent = tmp_path / "children"
    made = tempfile.mkdtemp
    removals = iter([True, True, False])

    def racing_mkdtemp(*args, **kwargs):
        if next(removals):
            parent.rmdir()  # the other worker's teardown, just after our mkdir
        return made(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", racing_mkdtemp)
    folder = lifecycle._fresh_folder(parent, "42-")
    assert folder.is_dir() and folder.parent == parent and folder.name.startswith("42-")
