"""What ``wandb login`` leaves behind: a settings file naming the host, a netrc holding the key."""

from __future__ import annotations

from pathlib import Path

#: The key ``wandb login`` stored (made up).
KEY = "abcdef0123456789abcdef0123456789abcdef01"


def settings(folder: Path, base_url: str) -> Path:
    """``folder`` as ``WANDB_CONFIG_DIR`` after ``wandb login --host base_url``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings").write_text(f"[default]\nbase_url = {base_url}\n")
    return folder


def netrc(path: Path, host: str, key: str = KEY) -> Path:
    """A netrc at ``path`` holding ``key`` for ``host``, as ``wandb login`` writes it."""
    path.write_text(f"machine {host}\n  login user\n  password {key}\n")
    path.chmod(0o600)
    return path
