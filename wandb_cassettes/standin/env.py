"""Environment for pointing the real wandb SDK at a (stand-in or relay) backend."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["sdk_env"]


def sdk_env(base_url: str, api_key: str, tmp_path: str | os.PathLike[str]) -> dict[str, str]:
    """Environment variables that make the wandb SDK talk to ``base_url`` only, quietly.

    Every directory the SDK writes to lives under ``tmp_path`` (created here);
    system metrics, machine info, git/code capture and error reporting are off,
    so that the requests a run makes are few and do not depend on the machine.
    Apply with ``monkeypatch.setenv`` (or ``os.environ.update``).
    """
    root = Path(tmp_path)
    dirs = {
        "WANDB_CACHE_DIR": root / "wandb-cache",
        "WANDB_DATA_DIR": root / "wandb-data",
        "WANDB_ARTIFACT_DIR": root / "wandb-artifacts",
        "WANDB_CONFIG_DIR": root / "wandb-config",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return {
        "WANDB_BASE_URL": base_url,
        "WANDB_API_KEY": api_key,
        "WANDB_MODE": "online",
        "WANDB_DIR": str(root),
        **{name: str(path) for name, path in dirs.items()},
        "WANDB_SILENT": "true",
        "WANDB_CONSOLE": "off",
        "WANDB_ERROR_REPORTING": "false",
        "WANDB_X_DISABLE_STATS": "true",
        "WANDB_X_DISABLE_META": "true",
        "WANDB_X_DISABLE_MACHINE_INFO": "true",
        "WANDB_X_SAVE_REQUIREMENTS": "false",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DISABLE_CODE": "true",
    }
