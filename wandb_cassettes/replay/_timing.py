"""Which recorded answers replay gives as often as asked, and which exactly as often as recorded.

A replay must be a function of the test's requests, not of timing. How often
some requests come depends on timing alone: wandb-core sends a run's config and
telemetry updates as ``upsertBucket`` whenever its timers fire (five recordings
of one ``run.watch`` test held 3, 3, 2, 2 and 2 of them), batches file_stream
rows as they come, polls and sends heartbeats (a sweep agent's
``agentHeartbeat``), and sends an artifact's requests concurrently. How often
others come is the test's own doing, and the cleanup and the audit count them:
creates, deletes, changes to what the test did not create.

Which is which is read from what each recorded exchange *did*, never from its
operation name: the ledger (:mod:`..ownership`) runs over the cassette, and the
exchanges its verdicts rest on (:meth:`.Ledger.evidence`) are **strict**. Replay
answers a strict exchange once; a request beyond the recorded count fails,
saying what the recorded one did. Every other exchange that succeeded
(:func:`timing_dependent`) is answered in recording order while its recordings
last, then with the last of them, as often as asked; one the replay never asks
for is not reported as unplayed. A recorded error is never served again, so that
a retrying client cannot loop on it.

The ledger is built only when a request outruns its recordings or a recording
was never played, so that the usual replay never loads a GraphQL parser.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..ownership import Consequence, Ledger
from ..store import Cassette


def strict_exchanges(cassette: Cassette, harmless: Iterable[str] = ()) -> dict[int, Consequence]:
    """The recorded exchanges replay answers exactly as often as recorded, with what each did.

    Args:
        cassette: The recording (its metadata's ``keep``, ``foreign_changes`` and fresh
            run ids count, as in the audit).
        harmless: Mutation fields the user declared harmless (never strict).
    """
    found: dict[int, Consequence] = {}
    # One ledger per W&B server the cassette names (issue 21): indexes are the cassette's.
    for ledger in Ledger.per_server(cassette, harmless=harmless):
        found.update(ledger.evidence())
    return found
