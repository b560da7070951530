"""One cassette's life in one process: record mode, ids, the SDK's environment.

A cassette's life (:class:`CassetteUse`, :func:`use_cassette`) is imported on first use
(PEP 562): it loads the relay, the matcher and the rules, which a pytest session that
uses no cassette never needs (start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..store import check_upstream
from ._children import install_pth, remove_pth, site_dirs
from ._env import REPLAY_API_KEY, sdk_env
from ._ids import new_seed, seeded_ids
from ._interop import (
    RELAY_PORTS,
    RELAY_THREAD_PREFIX,
    VCR_PATHS,
    allow_wandb_through_network_block,
    guard_vcr_cassettes,
    is_wandb_address,
    is_worker_ipc,
    keep_service_socket_open,
    keep_vcr_out_of_wandb,
    skip_wandb_traffic,
    vcr_cassette_paths,
)
from ._naming import cassette_path, named, safe_name, test_name
from ._options import CassetteOptions, Filter
from ._process import (
    UPSTREAM_ENV,
    Recorded,
    WandbProcess,
    default_upstream,
    explicit_upstream,
    set_shared,
    shared_process,
    summarise,
    upstream_api_key,
)
from ._record_mode import RecordMode

if TYPE_CHECKING:
    from ._lifecycle import CassetteUse, use_cassette

_LAZY = {"CassetteUse": "._lifecycle", "use_cassette": "._lifecycle"}

__all__ = [
    "RELAY_PORTS",
    "RELAY_THREAD_PREFIX",
    "REPLAY_API_KEY",
    "UPSTREAM_ENV",
    "VCR_PATHS",
    "CassetteOptions",
    "CassetteUse",
    "Filter",
    "RecordMode",
    "Recorded",
    "WandbProcess",
    "allow_wandb_through_network_block",
    "cassette_path",
    "check_upstream",
    "default_upstream",
    "explicit_upstream",
    "guard_vcr_cassettes",
    "install_pth",
    "is_wandb_address",
    "is_worker_ipc",
    "keep_service_socket_open",
    "keep_vcr_out_of_wandb",
    "named",
    "new_seed",
    "remove_pth",
    "safe_name",
    "sdk_env",
    "seeded_ids",
    "set_shared",
    "shared_process",
    "site_dirs",
    "skip_wandb_traffic",
    "summarise",
    "test_name",
    "upstream_api_key",
    "use_cassette",
    "vcr_cassette_paths",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
