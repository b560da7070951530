"""The environment that points the wandb SDK at the relay, quietly, reproducibly, and isolated.

Every setting here either cuts request noise that would differ between a
recording and its replay (system metrics, machine info, git, requirements,
console capture, telemetry), keeps SDK files out of the user's tree, or
isolates the SDK from the shell it runs in (proxies, a netrc, ``WANDB_*``
variables that would change requests). The wandb SDK reads its environment
once, at ``wandb.setup()``, so this must be applied before the first
``wandb.init`` of a process.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from .. import compat
from ..store import LOOPBACK_HOSTS

#: Passes the SDK's API-key format check ("prefix-" + 40 characters); never valid on a real
#: server. Random-looking on purpose: replay's matching scrubs the key in use out of each
#: request, pieces of it included (read across separators), and a piece of an all-zero key
#: would be any list of zeros a test logs ("[0, 0, 0, ...]").
REPLAY_API_KEY = "replay-" + hashlib.sha1(b"wandb-cassettes: the key replay gives").hexdigest()

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

#: Variables that shape requests and say what the user means (which entity, project,
#: group...): recorded into each cassette's metadata and applied again in replay.
RECORDED_SETTINGS: Mapping[str, str] = {
    # environment variable -> wandb.Settings field (wandb/sdk/wandb_settings.py)
    "WANDB_ENTITY": "entity",
    "WANDB_PROJECT": "project",
    "WANDB_ORGANIZATION": "organization",
    "WANDB_USERNAME": "username",
    "WANDB_RUN_GROUP": "run_group",
    "WANDB_JOB_TYPE": "run_job_type",
    "WANDB_TAGS": "run_tags",
    "WANDB_NOTES": "run_notes",
    "WANDB_NAME": "run_name",
}

#: Variables that would make one test's requests depend on the shell it ran from (a
#: fixed run id for every test, a resume, a sweep): removed for the session, restored after.
NEUTRALISED: tuple[str, ...] = (
    "WANDB_RUN_ID",
    "WANDB_RESUME",
    "WANDB_RUN_STORAGE_ID",
    "WANDB_SWEEP_ID",
    "WANDB_SWEEP_PARAM_PATH",
    "WANDB_CONFIG_PATHS",
    "WANDB_INITED",
    "WANDB_RUN_DIR",
    "WANDB_PROGRAM",
    "WANDB_ARGS",
    "WANDB_DESCRIPTION",
    "WANDB_GIT_ROOT",
    "WANDB_GIT_COMMIT",
    "WANDB_GIT_REMOTE_URL",
    "WANDB_IDENTITY_TOKEN_FILE",
    "WANDB_CREDENTIALS_FILE",
    "WANDB_APP_URL",
    *RECORDED_SETTINGS,
)


def sdk_env(base_url: str, api_key: str, root: str | os.PathLike[str]) -> dict[str, str]:
    """Variables that send the SDK to ``base_url`` and keep its files under ``root`` (created).

    Also: ``NETRC`` points into ``root`` (``wandb.login(key=...)`` writes an
    entry for the relay's address there, not in the user's ``~/.netrc``), and
    ``NO_PROXY`` lets loopback through any ``HTTP(S)_PROXY`` of the shell (the
    SDK's Python downloads use ``requests``, which would send them to the proxy).
    """
    r = Path(root)
    dirs = {
        "WANDB_CACHE_DIR": r / "cache",
        "WANDB_DATA_DIR": r / "data",
        "WANDB_ARTIFACT_DIR": r / "artifacts",
        "WANDB_CONFIG_DIR": r / "config",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    netrc = r / "netrc"
    if not netrc.exists():  # an empty one: readers that find none complain on stderr
        netrc.touch(mode=0o600)
    no_proxy = _with_loopback(os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "")
    return {
        **QUIET_SETTINGS,
        "WANDB_BASE_URL": base_url,
        "WANDB_API_KEY": api_key,
        "WANDB_DIR": str(r),
        **{name: str(path) for name, path in dirs.items()},
        "NETRC": str(netrc),
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def _with_loopback(no_proxy: str) -> str:
    hosts = [h.strip() for h in no_proxy.split(",") if h.strip()]
    return ",".join([*hosts, *(h for h in LOOPBACK_HOSTS if h not in hosts)])


def recorded_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The :data:`RECORDED_SETTINGS` variables set in ``environ``."""
    return {k: environ[k] for k in RECORDED_SETTINGS if environ.get(k)}


def apply_settings(values: Mapping[str, str]) -> None:
    """Make the SDK use ``values`` (of :data:`RECORDED_SETTINGS`), the others unset.

    Sets the environment (for code that reads it) and, when wandb is already
    set up in this process, the settings of its set-up too: the SDK reads the
    environment once, and code under test changes those settings (a sweep
    agent's runs leave ``entity`` set), so each cassette starts from its own.
    ``wandb.setup(settings)`` cannot unset a value (``Settings.update_from_dict``
    skips None), hence the attributes of ``wandb.setup().settings``.
    """
    for name in RECORDED_SETTINGS:
        if values.get(name):
            os.environ[name] = values[name]
        else:
            os.environ.pop(name, None)
    settings = compat.setup_settings(compat.setup_singleton())
    if settings is None:
        return
    for name, field in RECORDED_SETTINGS.items():
        value: object = values.get(name) or None
        if value is not None and field == "run_tags":
            value = tuple(t for t in str(value).split(",") if t)
        setattr(settings, field, value)


#: SDK modules imported ahead of the tests (paths of wandb 0.29 to 0.31: a module an SDK
#: lacks is skipped, see :func:`prewarm_sdk`): :mod:`.compat` says why each.
LAZY_SDK_MODULES = compat.PREWARM_MODULES
ARTIFACT_SDK_MODULES = compat.ARTIFACT_PREWARM_MODULES


def prewarm_sdk(modules: Iterable[str] = LAZY_SDK_MODULES) -> threading.Thread:
    """Import ``modules`` from a fresh thread whose stack is shallow; returns the thread.

    Call it once per process before the first test that uses wandb (the
    process runtime does so when it starts the relay) and ``join()`` the
    thread before anything else runs: a fresh thread for its shallow stack,
    not to overlap (see :meth:`.process.WandbProcess.start`). Modules the installed SDK lacks are
    skipped: this only moves import time, never changes behaviour; an import
    that fails is left for the test to hit.
    """

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:
                continue

    thread = threading.Thread(target=run, name="wandb-cassettes-prewarm", daemon=True)
    thread.start()
    return thread
