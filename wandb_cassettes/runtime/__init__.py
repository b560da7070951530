"""One cassette's life in one process: record mode, ids, the SDK's environment."""

from __future__ import annotations

from ._children import install_pth, remove_pth, site_dirs
from ._env import REPLAY_API_KEY, sdk_env
from ._ids import new_seed, seeded_ids
from ._interop import (
    RELAY_PORTS,
    RELAY_THREAD_PREFIX,
    allow_wandb_through_network_block,
    is_wandb_address,
    is_worker_ipc,
    keep_vcr_out_of_wandb,
    skip_wandb_traffic,
)
from ._lifecycle import CassetteOptions, CassetteUse, use_cassette
from ._naming import cassette_path, named, safe_name, test_name
from ._process import (
    UPSTREAM_ENV,
    WandbProcess,
    check_upstream,
    explicit_upstream,
    set_shared,
    shared_process,
    upstream_api_key,
)
from ._record_mode import RecordMode

__all__ = [
    "RELAY_PORTS",
    "RELAY_THREAD_PREFIX",
    "REPLAY_API_KEY",
    "UPSTREAM_ENV",
    "CassetteOptions",
    "CassetteUse",
    "RecordMode",
    "WandbProcess",
    "allow_wandb_through_network_block",
    "cassette_path",
    "check_upstream",
    "explicit_upstream",
    "install_pth",
    "is_wandb_address",
    "is_worker_ipc",
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
    "test_name",
    "upstream_api_key",
    "use_cassette",
]
