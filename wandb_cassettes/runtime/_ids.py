"""Deterministic W&B client ids per cassette.

Run ids (``wandb.sdk.lib.runid.generate_id``) and artifact client ids
(``generate_fast_id``, a private ``random.Random``) are drawn in the test
process before anything reaches wandb-core. Seeding both from the test id and
a seed stored in the cassette makes a replay send the very ids that were
recorded, so GraphQL variables and file_stream paths match exactly. Each
recording draws a fresh seed, so a re-recording against real W&B never reuses
the ids of runs it deleted before. A test that passes ``id=`` itself is
unaffected. The run ids drawn are collected: a run whose id this recording
drew is its own, even when the answer that said so was lost.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import compat

_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"  # wandb.sdk.lib.runid._ID_CHARS


def new_seed() -> str:
    """A fresh seed for a new recording."""
    return secrets.token_hex(8)


class Generators:
    """The id generators of one cassette (or one child process of it).

    Their state lives here, so that a cassette suspended and resumed (a scoped
    fixture's, between its setup and its teardown) goes on with new ids.
    """

    def __init__(self, seed: str, test_id: str) -> None:
        material = hashlib.sha256(f"{seed}\0{test_id}".encode()).digest()
        self._run_rng = random.Random(material[:16])
        #: Seed of the SDK's private generator behind ``generate_fast_id`` (artifact client ids).
        self.fast_seed = material[16:]
        self._fast_state: Any = None

    def run_id(self, length: int = 8) -> str:
        return "".join(self._run_rng.choice(_ID_CHARS) for _ in range(length))


@contextmanager
def seeded_ids(
    seed: str | Generators, test_id: str = "", drawn: set[str] | None = None
) -> Iterator[Generators]:
    """Within the block, the SDK's client-made ids derive from ``seed`` and ``test_id``.

    ``seed`` may be the :class:`Generators` of an earlier block, which then
    goes on where it stopped. Run ids drawn are added to ``drawn``.
    """
    runid = compat.runid_module()
    fast = compat.fast_random(runid)
    generators = seed if isinstance(seed, Generators) else Generators(seed, test_id)

    def generate_id(length: int = 8) -> str:
        value = generators.run_id(length)
        if drawn is not None:
            drawn.add(value)
        return value

    original_generate_id = runid.generate_id
    outer_state = fast.getstate()
    runid.generate_id = generate_id
    if generators._fast_state is None:
        fast.seed(generators.fast_seed)
    else:
        fast.setstate(generators._fast_state)
    try:
        yield generators
    finally:
        generators._fast_state = fast.getstate()
        runid.generate_id = original_generate_id
        fast.setstate(outer_state)
