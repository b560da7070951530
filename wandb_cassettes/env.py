"""The environment that points the wandb SDK at a base URL, quietly and reproducibly.

Every setting here either cuts request noise that would differ between a
recording and its replay (system metrics, machine info, git, requirements,
console capture, telemetry) or keeps SDK files out of the user's tree. The
wandb SDK reads its environment once, at ``wandb.setup()``, so this must be
applied before the first ``wandb.init`` of a process.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

#: Passes the SDK's API-key format check; never valid on a real server.
REPLAY_API_KEY = "replay-" + "0" * 40

QUIET_SETTINGS: Mapping[str, str] = {
    "WANDB_MODE": "online",
    "WANDB_SILENT": "true",
    "WANDB_CONSOLE": "off",
    "WANDB_ERROR_REPORTING": "false",
    "WANDB_X_DISABLE_STATS": "true",
    "WANDB_X_DISABLE_META": "true",
    "WANDB_X_DISABLE_MACHINE_INFO": "true",
    "WANDB_X_SAVE_REQUIREMENTS": "false",
    "WANDB_DISABLE_GIT": "true",
    "WANDB_DISABLE_CODE": "true",
    "WANDB_HOST": "wandb-cassettes",
}


def sdk_env(base_url: str, api_key: str, root: str | os.PathLike[str]) -> dict[str, str]:
    """Variables that send the SDK to ``base_url`` and keep its files under ``root`` (created)."""
    r = Path(root)
    dirs = {
        "WANDB_CACHE_DIR": r / "cache",
        "WANDB_DATA_DIR": r / "data",
        "WANDB_ARTIFACT_DIR": r / "artifacts",
        "WANDB_CONFIG_DIR": r / "config",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return {
        **QUIET_SETTINGS,
        "WANDB_BASE_URL": base_url,
        "WANDB_API_KEY": api_key,
        "WANDB_DIR": str(r),
        **{name: str(path) for name, path in dirs.items()},
    }


#: SDK modules that a test would otherwise import in the middle of a W&B call.
#: ``wandb.sdk.launch``: ``wandb.init`` imports it once the run's telemetry import
#: hooks are installed, which makes it ~2 s slower. ``..._models.pagination``:
#: imported by artifact downloads and public-API artifact queries; its generic
#: pydantic models make pydantic (on Python < 3.13) walk the importer's whole
#: stack, reading the source of every frame, so imported from inside a test
#: (pytest's deep stack) it costs ~1 s instead of ~0.1 s.
LAZY_SDK_MODULES = ("wandb.sdk.launch", "wandb.sdk.artifacts._models.pagination")


def prewarm_sdk(modules: Iterable[str] = LAZY_SDK_MODULES) -> None:
    """Import ``modules`` now, from a fresh thread whose stack is shallow, and wait.

    Call it once per process before the first test that uses wandb (the pytest
    plugin does so when it starts the relay). Modules the installed SDK lacks
    are skipped: this only moves import time, never changes behaviour.
    """
    errors: list[BaseException] = []

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError:
                continue
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)
                return

    thread = threading.Thread(target=run, name="wandb-cassettes-prewarm", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
