"""A stateful stand-in W&B backend, for TESTS: the upstream this project records against.

No machine here reaches W&B, yet the relay and the pytest plugin must be tested
against an upstream that behaves like it: runs, file_stream, artifact
versions and aliases, signed-URL uploads and downloads, the public API's
lookups and deletes. :class:`StandinBackend` is that upstream, on loopback,
accepted by the real wandb 0.31 SDK. It is a test double, NEVER a substitute
for recording against real W&B: its answers are modelled on what the SDK
sends and reads, not on W&B's server code, so cassettes meant to prove
compatibility with W&B must be recorded against W&B.

Why aiohttp: the SDK's Go core keeps connections alive and expects prompt
small answers (``TCP_NODELAY``, see :mod:`wandb_cassettes.serve`); uploads must stream to
disk; and the project already runs aiohttp servers in background threads
(:mod:`wandb_cassettes.serve`).

Usage::

    with StandinBackend() as wb:
        os.environ.update(sdk_env(wb.base_url, wb.api_key, tmp_path))
        ...  # wandb.init(), wandb.Api(), ...
        assert wb.live()["runs"]
"""

from __future__ import annotations

from ..env import sdk_env
from .app import Fault, RequestRecord, StandinBackend
from .graphql import DEFAULT_FEATURES, OPERATIONS

__all__ = ["DEFAULT_FEATURES", "OPERATIONS", "Fault", "RequestRecord", "StandinBackend", "sdk_env"]
