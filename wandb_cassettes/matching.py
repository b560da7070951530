"""W&B-aware request matching: which recorded interaction answers a live request.

vcrpy matches on method/URI/body, which fails for W&B traffic: every run
carries timestamps, host facts and timing-dependent batching. Here a request
is reduced to a :class:`RequestKey`:

* GraphQL: the operation name and its variables with the volatile parts
  removed (keys in :data:`VOLATILE_KEYS`, JSON-string variables parsed and
  cleaned the same way, lists compared as multisets);
* ``file_stream``: the run path only, body ignored, answered as often as asked
  (how rows are batched depends on timing);
* anything else (storage PUT/GET): method + URL without the query string,
  whose signature changes on every request.

Recorded interactions with the same key are served in recording order; keys
never depend on arrival order across different keys, because wandb-core
sends requests concurrently.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .cassette import Cassette, Interaction
from .graphql import parse_request

#: Variables that differ between two runs of the same test, at any depth.
VOLATILE_KEYS = frozenset(
    {
        # UpsertBucket: host facts, program path, timestamps, the writer id.
        "host",
        "program",
        "commit",
        "repo",
        "summaryMetrics",
        "_wandb",
        "startedAt",
        "heartbeatAt",
        "createdAt",
        "updatedAt",
        "_timestamp",
        "_runtime",
        # Artifacts: random client ids, a manifest digest that embeds a staging path,
        # and file content digests (a checkpoint of randomly initialised weights
        # differs on every run; the request is the same upload all the same).
        "clientID",
        "sequenceClientID",
        "digest",
        "md5",
        "latestArtifactDigest",
    }
)

#: Operations whose variables we ignore wholly (keyed by operation name only).
OPERATIONS_MATCHED_BY_NAME = frozenset({"ServerFeaturesQuery", "Viewer"})


@dataclass(frozen=True)
class RequestKey:
    """What a request must share with a recording to be answered by it."""

    kind: str  # "graphql" | "file_stream" | "http"
    name: str  # operation name, file_stream path, or "METHOD url"
    detail: str = ""  # canonical variables for GraphQL

    @property
    def repeatable(self) -> bool:
        """Answered any number of times (file_stream batching is timing-dependent)."""
        return self.kind == "file_stream"

    def describe(self) -> str:
        if self.kind == "graphql":
            return f"GraphQL {self.name} {self.detail}"
        return self.name


def target_of(uri: str, upstream: str) -> str:
    """The matching target of ``uri``: a path on ``upstream``, else the URL without query."""
    base = upstream.rstrip("/")
    if uri.startswith(base + "/") or uri == base:
        path = uri[len(base) :] or "/"
        return path.split("?", 1)[0]
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. a hand-edited "http://[::1" (invalid IPv6 host)
        return uri.split("?", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def request_key(method: str, target: str, body: str | bytes | None) -> RequestKey:
    """The key of a request to ``target`` (see :func:`target_of`)."""
    method = method.upper()
    if method == "POST" and target.endswith("/graphql"):
        gql = parse_request(body)
        if gql is not None:
            if gql.operation in OPERATIONS_MATCHED_BY_NAME:
                return RequestKey("graphql", gql.operation)
            try:
                variables = canonical(gql.variables)
                detail = json.dumps(variables, sort_keys=True, separators=(",", ":"))
            except RecursionError:  # nested deeper than Python recurses: match it exactly
                raw = body.encode() if isinstance(body, str) else body or b""
                detail = "sha256:" + hashlib.sha256(raw).hexdigest()
            return RequestKey("graphql", gql.operation, detail)
    if method == "POST" and target.endswith("/file_stream"):
        return RequestKey("file_stream", target)
    return RequestKey("http", f"{method} {target}")


def canonical(value: Any) -> Any:
    """``value`` with volatile keys dropped, JSON strings parsed, lists order-free."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, str) and value[:1] in "{[":
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return canonical(parsed)
    return value


def interaction_key(ix: Interaction, upstream: str) -> RequestKey:
    return request_key(ix.method, target_of(ix.uri, upstream), ix.request_text())


class NoMatch(LookupError):
    """A live request has no recorded interaction; the message says what was asked."""

    def __init__(self, key: RequestKey, candidates: Sequence[str]):
        self.key = key
        self.candidates = list(candidates)
        lines = [f"no recorded match for {key.describe()}"]
        if self.candidates:
            lines.append("closest recorded requests:")
            lines += [f"  - {c}" for c in self.candidates]
        else:
            lines.append("the cassette has no request of this kind")
        super().__init__("\n".join(lines))


class Matcher:
    """Answers requests from one cassette; tracks what was played.

    Not thread-safe: the relay calls it from its event loop only.
    """

    def __init__(self, cassette: Cassette, upstream: str) -> None:
        self.cassette = cassette
        self.upstream = upstream
        self._queues: dict[RequestKey, deque[int]] = {}
        self._last: dict[RequestKey, int] = {}
        self._played: set[int] = set()
        self._keys = [interaction_key(ix, upstream) for ix in cassette.interactions]
        for index, key in enumerate(self._keys):
            self._queues.setdefault(key, deque()).append(index)

    def match(self, key: RequestKey) -> tuple[int, Interaction]:
        """The next recorded interaction for ``key``; raises :class:`NoMatch`.

        Once a key's recordings are used up its last answer is served again:
        the SDK may poll a little more or less often than when recording.
        """
        queue = self._queues.get(key)
        if queue:
            index = queue.popleft()
            self._last[key] = index
        elif key in self._last:
            index = self._last[key]
        else:
            raise NoMatch(key, self.closest(key))
        self._played.add(index)
        return index, self.cassette.interactions[index]

    def closest(self, key: RequestKey, n: int = 3) -> list[str]:
        """Recorded requests most like ``key``: same operation or target first."""
        same = [k for k in self._queues if (k.kind, k.name) == (key.kind, key.name)]
        pool = same or [k for k in self._queues if k.kind == key.kind]
        ranked = sorted(
            pool,
            key=lambda k: difflib.SequenceMatcher(None, k.detail, key.detail).ratio(),
            reverse=True,
        )
        return [k.describe() for k in ranked[:n]]

    def unplayed(self) -> list[tuple[int, Interaction]]:
        """Recorded interactions no request asked for (file_stream excluded)."""
        return [
            (i, ix)
            for i, ix in enumerate(self.cassette.interactions)
            if i not in self._played and not self._keys[i].repeatable
        ]
