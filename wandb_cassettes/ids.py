"""Deterministic W&B client ids per test.

Run ids (``wandb.sdk.lib.runid.generate_id``) and artifact client ids
(``generate_fast_id``, a private ``random.Random``) are drawn in the test
process before anything reaches wandb-core. Seeding both from the test id and
a seed stored in the cassette makes a replay send the very ids that were
recorded, so GraphQL variables and file_stream paths match exactly. Each
recording draws a fresh seed, so a re-recording against real W&B never reuses
the ids of runs it deleted before. A test that passes ``id=`` itself is
unaffected.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager


def new_seed() -> str:
    """A fresh seed for a new recording."""
    return secrets.token_hex(8)


@contextmanager
def seeded_ids(seed: str, test_id: str) -> Iterator[None]:
    """Within the block, the SDK's client-made ids derive from ``seed`` and ``test_id``."""
    from wandb.sdk.lib import runid

    material = hashlib.sha256(f"{seed}\0{test_id}".encode()).digest()
    run_rng = random.Random(material[:16])
    chars = runid._ID_CHARS

    def generate_id(length: int = 8) -> str:
        return "".join(run_rng.choice(chars) for _ in range(length))

    original_generate_id = runid.generate_id
    fast_state = runid._random.getstate()
    runid.generate_id = generate_id
    runid._random.seed(material[16:])
    try:
        yield
    finally:
        runid.generate_id = original_generate_id
        runid._random.setstate(fast_state)
