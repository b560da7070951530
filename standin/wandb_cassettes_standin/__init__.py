"""A stateful stand-in W&B backend, for TESTS: the upstream this project records against.

No machine here reaches W&B, yet the relay and the pytest plugin must be tested
against an upstream that behaves like it: runs, file_stream, artifact
versions and aliases, signed-URL uploads and downloads, the public API's
lookups and deletes. :class:`StandinBackend` is that upstream, on loopback,
accepted by the real wandb 0.31 SDK. It is a test double, NEVER a substitute
for recording against real W&B: its answers are modelled on what the SDK
sends and reads, not on W&B's server code, so cassettes meant to prove
compatibility with W&B must be recorded against W&B.

A package of its own (``pip install wandb-cassettes[standin]``, or ``./standin`` from a
clone), which ``wandb_cassettes`` never imports: it uses only the library's public API
(:class:`wandb_cassettes.BackgroundServer`, :data:`wandb_cassettes.BACKEND_HEADER`).

Why aiohttp: the SDK's Go core keeps connections alive and expects prompt small answers
(``TCP_NODELAY``, which aiohttp sets; :class:`wandb_cassettes.BackgroundServer` runs it in
a background thread); uploads must stream to disk.

Usage::

    with StandinBackend() as wb:
        os.environ.update(WANDB_BASE_URL=wb.base_url, WANDB_API_KEY=wb.api_key)
        ...  # wandb.init(), wandb.Api(), ...
        assert wb.live()["runs"]

or, to record a project's cassettes against it (``python -m wandb_cassettes_standin
--help``)::

    python -m wandb_cassettes_standin --run -- pytest --record-mode=rewrite
"""

from __future__ import annotations

from .app import BACKEND_NAME, Fault, RequestRecord, StandinBackend
from .graphql import DEFAULT_FEATURES, OPERATIONS

__version__ = "0.2.0"

__all__ = [
    "BACKEND_NAME",
    "DEFAULT_FEATURES",
    "OPERATIONS",
    "Fault",
    "RequestRecord",
    "StandinBackend",
    "__version__",
]
