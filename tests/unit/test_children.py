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
