"""``new_episodes`` against a stateful server: new requests go upstream under fresh ids.

In ``new_episodes`` a cassette replays what it can and records what it
cannot. The SDK draws its ids from the cassette's seed, so that the recorded
requests match; but the upstream deleted those runs when the cassette was
recorded (W&B refuses to create a run again under a deleted run's id: HTTP
409, which wandb-core retries for a minute and a half). So the relay keeps
two views apart:

* the **client's view**: the ids the SDK drew (the recorded ones), which the
  cassette stores, so that the appended episodes replay later;
* the **upstream's view**: a fresh id for each of them, drawn the first time
  a request carrying it must reach the upstream.

:class:`IdTranslation` maps one to the other: run ids (in paths, in JSON
strings, and inside base64 storage ids ``Run:v1:<run>:<project>:<entity>``)
and artifact client ids (``clientID``, ``sequenceClientID``). Once an id has
reached the upstream it is *live*: every later request mentioning it goes
upstream too (the run's file_stream, its finish, the test's own lookups and
deletes), and so does the whole automatic cleanup. Server-made ids of the
recorded world (an artifact id answered from the cassette) exist nowhere
upstream: a new request about them fails there, which says the cassette
must be recorded again (``rewrite``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..ownership import Owned


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"  # wandb.sdk.lib.runid._ID_CHARS
_CLIENT_ID_RE = re.compile(r'"(?:clientID|sequenceClientID)"\s*:\s*"([a-z0-9]{16,})"')


def _fresh(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class IdTranslation:
    """Recorded ids ↔ fresh ids, for the requests of a ``new_episodes`` replay that go upstream.

    Args:
        run_ids: The run ids the SDK drew from the cassette's seed (a live collection:
            it grows as the test draws more).
    """

    def __init__(self, run_ids: Iterable[str]) -> None:
        self._run_ids = run_ids
        self._up: dict[str, str] = {}  # recorded -> fresh
        self._down: dict[str, str] = {}  # fresh -> recorded

    @property
    def live(self) -> list[str]:
        """The recorded ids that have reached the upstream (under their fresh ids)."""
        return list(self._up)

    def mentions_live(self, path: str, body: bytes = b"") -> bool:
        """Whether a request carries an id that lives upstream now (in its path or body,
        also inside a run's base64 storage id)."""
        if not self._up:
            return False
        text = path + body.decode("utf-8", "replace")
        if any(recorded in text for recorded in self._up):
            return True
        if "=" not in text:
            return False
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return _walk(data, self._up)[0]

    def learn(self, text: str) -> None:
        """Give each recorded id in ``text`` (bound for the upstream) a fresh twin."""
        for run_id in list(self._run_ids):
            if run_id in text and run_id not in self._up:
                self._pair(run_id, _fresh(len(run_id)))
        for m in _CLIENT_ID_RE.finditer(text):
            client_id = m.group(1)
            if client_id not in self._up and client_id not in self._down:
                self._pair(client_id, _fresh(len(client_id)))

    def is_fresh(self, run_id: str) -> bool:
        """Whether ``run_id`` is one of the fresh twins (drawn here, so the recording's own)."""
        return run_id in self._down

    def to_upstream(self, text: str) -> str:
        """``text`` in the upstream's view (recorded ids replaced by their fresh twins)."""
        return self._translate(text, self._up)

    def to_client(self, text: str) -> str:
        """``text`` in the client's view (fresh ids replaced by the recorded ones)."""
        return self._translate(text, self._down)

    def body_to_upstream(self, body: bytes) -> bytes:
        return self._body(body, self._up)

    def body_to_client(self, body: bytes) -> bytes:
        return self._body(body, self._down)

    # -- internals -------------------------------------------------------------------

    def owned_to_upstream(self, owned: Owned) -> Owned:
        """A resource the ledger knows by the client's ids, by the upstream's (for the journal)."""
        return dataclasses.replace(
            owned,
            local=self.to_upstream(owned.local),
            name=self.to_upstream(owned.name),
            server_id=_storage_id(owned.server_id, self._up) or owned.server_id,
            client_id=self._up.get(owned.client_id, owned.client_id),
        )

    def _pair(self, recorded: str, fresh: str) -> None:
        self._up[recorded] = fresh
        self._down[fresh] = recorded

    @staticmethod
    def _translate(text: str, mapping: dict[str, str]) -> str:
        for old, new in mapping.items():
            if old in text:
                text = text.replace(old, new)
        return text

    def _body(self, body: bytes, mapping: dict[str, str]) -> bytes:
        if not mapping or not body:
            return body
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return body
        changed, data = _walk(data, mapping)
        return json.dumps(data).encode() if changed else body


def _walk(value: Any, mapping: dict[str, str]) -> tuple[bool, Any]:
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            c, out[k] = _walk(v, mapping)
            changed |= c
        return changed, out
    if isinstance(value, list):
        results = [_walk(v, mapping) for v in value]
        return any(c for c, _ in results), [v for _, v in results]
    if isinstance(value, str):
        new = _storage_id(value, mapping) or IdTranslation._translate(value, mapping)
        return new != value, new
    return False, value


def _storage_id(value: str, mapping: dict[str, str]) -> str | None:
    """A run's storage id (base64 of ``Run:v1:<run>:<project>:<entity>``) with its run mapped."""
    if len(value) < 16 or (not value.endswith(("=", "==")) and len(value) % 4):
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    parts = decoded.split(":")
    if len(parts) != 5 or parts[:2] != ["Run", "v1"] or parts[2] not in mapping:
        return None
    parts[2] = mapping[parts[2]]
    return base64.b64encode(":".join(parts).encode()).decode()
