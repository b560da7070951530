"""W&B-aware request matching: which recorded interaction answers a live request.

vcrpy matches on method/URI/body, which fails for W&B traffic: every run
carries timestamps, host facts, temporary paths and timing-dependent
batching. Here a request is reduced to a :class:`RequestKey` by small,
named normalisers applied in order (:data:`NORMALISERS`), the way vcrpy
composes matchers by name:

* ``graphql``: the operation name and its variables, JSON-string variables
  parsed, lists compared as multisets;
* ``volatile``: keys that differ on every run, at any depth (:data:`VOLATILE_KEYS`);
* ``tmp_paths``: pytest's temporary folders (``/tmp/pytest-of-<user>/pytest-<n>``
  and the session's basetemp) on both sides, and folders that Python's
  ``tempfile`` named (``/tmp/tmpk3j_x9ab``: ``mkdtemp()``, ``TemporaryDirectory()``
  with the default prefix, in the system's temporary folder);
* ``content_hashes``: content-derived parts of file names (wandb names media
  files after the first 20 hex characters of their sha256);
* ``redacted``: a value the recording's scrubber replaced matches whatever
  live value the same scrubber would replace there; so do the email and IP
  addresses and home folders that recording replaces as personal data
  (:func:`.personal.matching_form`);
* ``ignore``: the user's ignore paths (:mod:`.ignore`), and the presets of
  integrations whose signature the request carries.

A GraphQL request with no recorded twin (another wandb release spelled it otherwise)
is then matched on what it means (:func:`meaning`): a mutation on its root fields and
their resolved input (inline arguments and ``$input`` objects alike, absent and null
fields alike), a query on its operation and its variables without nulls; the document's
text and the fields it selects are never compared. Only that second look parses the
document (graphql-core), so the replay of a cassette of the same SDK never pays for it.

``file_stream`` matches on the run path only (answered as often as asked);
storage requests on method + URL without the query string (signatures change
on every request), except a multipart upload's ``partNumber``.

Recorded interactions with the same key are served in recording order; keys
never depend on arrival order across different keys, because wandb-core
sends requests concurrently. Once a key's recordings are used up, a
*successful* answer whose count may depend on timing (a query, a GET,
file_stream, an update of what the recording created: :mod:`._timing`) is
served again; a create, a delete or a change to what the test did not create
is not (the test asked for more than it did when recorded). A recorded error is
never served again, for any kind of request (:meth:`Matcher.match` is the one
place that decides), so a retrying client cannot loop on it; the relay serves
each recorded error with ``Retry-After: 0``, so the client meets the end of the
recordings in milliseconds, and the test fails naming the error.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import NoMatch
from ..ownership import PRIOR, Consequence
from ..protocol import parse_request, response_errors
from ..redact import DEFAULT as DEFAULT_SCRUBBER
from ..redact import Scrubber, matching_form
from ..store import SERVERS_KEY, Cassette, Interaction, server_of
from . import _ignore as ignores
from ._restore import Restorations
from ._timing import strict_exchanges

#: Variables that differ between two runs of the same test, at any depth.
VOLATILE_KEYS = frozenset(
    {
        # UpsertBucket: host facts, program path, timestamps, the writer id. (``jobProgram``
        # and ``jobRepo``: the input fields ``$program`` and ``$repo`` fill, wandb-core's
        # UpsertBucket document; what :func:`meaning` compares.) Not its ``summaryMetrics``:
        # wandb-core sends null there, the public API's ``summary.update()`` the test's
        # values, compared as ``summary.<key>`` (their timing keys are volatile below).
        "host",
        "program",
        "jobProgram",
        "commit",
        "repo",
        "jobRepo",
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
        # Multipart uploads: the upload id the storage chose and each part's checksum.
        "uploadID",
        "hexMD5",
        "etag",
        "ETag",
    }
)

#: Operations whose variables we ignore wholly (keyed by operation name only).
OPERATIONS_MATCHED_BY_NAME = frozenset({"ServerFeaturesQuery", "Viewer"})

_PYTEST_TMP_RE = re.compile(r"(?:/private)?/tmp/pytest-of-[^/\"'\\]+/pytest-\d+")
#: A folder or file that ``tempfile`` named: "tmp" and 8 characters of
#: ``tempfile._RandomNameSequence.characters``, in a system temporary folder (this
#: machine's, or another's: a cassette may be recorded on macOS and replayed on Linux).
_TEMPFILE_RE = re.compile(
    r"(?:(?:/private)?/var/folders/[^/\s\"'\\]+/[^/\s\"'\\]+/T|/tmp|/var/tmp|"
    + re.escape(tempfile.gettempdir().rstrip("/"))
    + r")/tmp[a-z0-9_]{8}(?![a-z0-9_])"
)
_TEMPFILE_TOKEN = "<tempfile>"
_CONTENT_HASH_RE = re.compile(r"(?<![0-9a-f])[0-9a-f]{20}(?![0-9a-f])")
_TMP_TOKEN = "<pytest-tmp>"
#: pytest-xdist gives each worker ``<basetemp>/popen-gw<n>`` (xdist's ``workerinput``
#: ``workerid``): a path recorded by a worker matches the same path recorded without.
_WORKER_TMP_RE = re.compile(re.escape(_TMP_TOKEN) + r"/popen-gw\d+")
_HASH_TOKEN = "<content-hash>"


@dataclass(frozen=True)
class RequestKey:
    """What a request must share with a recording to be answered by it."""

    kind: str  # "graphql" | "file_stream" | "http"
    name: str  # operation name, file_stream path, or "METHOD url"
    detail: str = ""  # canonical variables for GraphQL
    #: A GraphQL query (not a mutation), or a GET: safe to answer again.
    safe: bool = False
    #: A live GraphQL request's body (scrubbed), for a match on what it means; not compared.
    body: str = field(default="", compare=False, repr=False)

    @property
    def repeatable(self) -> bool:
        """Answered any number of times, while its last answer succeeded (file_stream
        batching is timing-dependent)."""
        return self.kind == "file_stream"

    def describe(self, limit: int | None = None) -> str:
        text = f"GraphQL {self.name} {self.detail}" if self.kind == "graphql" else self.name
        return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class MatchRules:
    """What matching normalises away, beyond the built-in volatile keys.

    Args:
        ignore: The user's ignore paths, in W&B's terms (:mod:`.ignore`).
        presets: Names of :data:`.ignore.PRESETS` to apply too.
        tmp_roots: Folders to treat as "the temporary folder" (pytest's basetemp).
        scrubber: The scrubber the recording used (its rules, the live API key):
            a live value it would redact matches the recorded redaction.
        harmless: Mutation fields the user declared harmless: answered as often as asked.
    """

    ignore: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()
    tmp_roots: tuple[str, ...] = ()
    scrubber: Scrubber | None = None
    harmless: tuple[str, ...] = ()
    paths: tuple[ignores.IgnorePath, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        paths = list(ignores.parse_ignore(self.ignore))
        for name in self.presets:
            paths += ignores.preset(name).paths
        object.__setattr__(self, "paths", tuple(paths))

    def normalise_path(self, path: str) -> str:
        """A URL path as matching compares it: tmp folders and content hashes only."""
        if "pytest-of-" in path:
            path = _PYTEST_TMP_RE.sub(_TMP_TOKEN, path)
        return _CONTENT_HASH_RE.sub(_HASH_TOKEN, path) if len(path) >= 20 else path

    def normalise_text(self, text: str) -> str:
        """A string value as matching compares it (tmp paths, content hashes, redactions)."""
        for root in self.tmp_roots:
            if root and root in text:
                text = text.replace(root, _TMP_TOKEN)
        if "pytest-of-" in text:
            text = _PYTEST_TMP_RE.sub(_TMP_TOKEN, text)
        if "/tmp" in text:
            text = _TEMPFILE_RE.sub(_TEMPFILE_TOKEN, text)
        if "popen-gw" in text:  # an xdist worker's basetemp is <basetemp>/popen-gw<n>
            text = _WORKER_TMP_RE.sub(_TMP_TOKEN, text)
        if len(text) >= 20:
            text = _CONTENT_HASH_RE.sub(_HASH_TOKEN, text)
        return matching_form(text)


DEFAULT_RULES = MatchRules()

Normaliser = Callable[[Any, MatchRules], Any]


def _volatile(value: Any, rules: MatchRules) -> Any:
    if isinstance(value, dict):
        return {k: _volatile(v, rules) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_volatile(v, rules) for v in value]
    return value


def _texts(value: Any, rules: MatchRules) -> Any:
    """``tmp_paths``, ``content_hashes`` and ``redacted``, on every string value and key."""
    if isinstance(value, dict):
        return {rules.normalise_text(str(k)): _texts(v, rules) for k, v in value.items()}
    if isinstance(value, list):
        return [_texts(v, rules) for v in value]
    if isinstance(value, str):
        return rules.normalise_text(value)
    return value


def _ignored(value: Any, rules: MatchRules) -> Any:
    ignores.apply(value, rules.paths)
    return value


def _multiset(value: Any, rules: MatchRules) -> Any:
    if isinstance(value, dict):
        return {k: _multiset(v, rules) for k, v in value.items()}
    if isinstance(value, list):
        items = [_multiset(v, rules) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


#: The normalisers of GraphQL variables, by name, in the order they apply.
NORMALISERS: dict[str, Normaliser] = {
    "volatile": _volatile,
    "ignore": _ignored,
    "texts": _texts,
    "multiset": _multiset,
}


def canonical(value: Any, rules: MatchRules = DEFAULT_RULES) -> Any:
    """``value`` as matching compares it: JSON strings parsed, then :data:`NORMALISERS`."""
    value = parsed(value)
    for normalise in NORMALISERS.values():
        value = normalise(value, rules)
    return value


def parsed(value: Any) -> Any:
    """``value`` with every string that holds a JSON object or array parsed, at any depth."""
    if isinstance(value, dict):
        return {k: parsed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [parsed(v) for v in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return parsed(json.loads(value))
        except ValueError:
            return value
    return value


def target_of(uri: str, upstream: str | Iterable[str]) -> str:
    """The matching target of ``uri``: a path on ``upstream`` (or on any of several W&B
    servers: a recording may talk to more than one), else the URL without query.

    A request matches whichever server it went to: replay needs no server, and the code
    may name another one than when it was recorded (a settings file, a CI variable).
    A multipart part keeps its ``partNumber`` (parts differ only in their query).
    """
    base = server_of(uri, (upstream,) if isinstance(upstream, str) else upstream)
    if base is not None:
        path = uri[len(base) :] or "/"
        return path.split("?", 1)[0]
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. a hand-edited "http://[::1" (invalid IPv6 host)
        return uri.split("?", 1)[0]
    target = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if "partNumber=" in parts.query:
        number = parse_qs(parts.query).get("partNumber")
        if number:
            target += f"?partNumber={number[0]}"
    return target


def servers_of(cassette: Cassette, upstream: str) -> tuple[str, ...]:
    """``upstream`` and the other W&B servers a cassette's metadata lists (untrusted
    input: strings only)."""
    listed = cassette.metadata.get(SERVERS_KEY)
    others = [s for s in listed if isinstance(s, str) and s] if isinstance(listed, list) else []
    return tuple(dict.fromkeys([upstream, *others]))


def request_key(
    method: str,
    target: str,
    body: str | bytes | None,
    rules: MatchRules = DEFAULT_RULES,
    byte_range: str | None = None,
    *,
    scrubbed: bool = False,
) -> RequestKey:
    """The key of a request to ``target`` (see :func:`target_of`).

    ``byte_range`` is the request's ``Range`` header: the SDK downloads a large
    file in parts, concurrently, one ``Range`` each on the same URL
    (wandb/sdk/artifacts/storage_policies/_multipart.py), so a part is matched
    by its range, not by the order in which the parts arrive. ``scrubbed``: the
    body was scrubbed already (:meth:`Matcher.key`).
    """
    method = method.upper()
    if method == "POST" and target.endswith("/graphql"):
        # The recording scrubbed the body as one text, where a rule sees a value with
        # its key (``"aws_secret_access_key": "..."`` inside a run's config): the live
        # body is scrubbed the same way, before parsing, to compare like with like.
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if body and not scrubbed:
            body = (rules.scrubber or DEFAULT_SCRUBBER).scrub_text(body)
        gql = parse_request(body)
        if gql is not None:
            safe = not gql.is_mutation
            if gql.operation in OPERATIONS_MATCHED_BY_NAME:
                return RequestKey("graphql", gql.operation, safe=safe)
            try:
                variables = canonical(gql.variables, rules)
                detail = json.dumps(variables, sort_keys=True, separators=(",", ":"))
            except RecursionError:  # nested deeper than Python recurses: match it exactly
                raw = body.encode() if isinstance(body, str) else body or b""
                detail = "sha256:" + hashlib.sha256(raw).hexdigest()
            return RequestKey("graphql", gql.operation, detail, safe)
    if method == "POST" and target.endswith("/file_stream"):
        return RequestKey("file_stream", target, safe=True)
    # A file named after its content (a media file) or a temporary folder in a storage path.
    target = rules.normalise_path(target)
    name = f"{method} {target}" if not byte_range else f"{method} {target} [{byte_range}]"
    return RequestKey("http", name, safe=method in ("GET", "HEAD"))


def meaning(body: str | None, rules: MatchRules = DEFAULT_RULES) -> tuple[str, str] | None:
    """What a GraphQL request asks, however the SDK spelled it: ``(name, canonical detail)``.

    * A mutation: ``"mutation <root fields>"`` and their arguments resolved with the
      variables (:meth:`.protocol.Document.arguments`), one ``input`` object unwrapped:
      ``createArtifactFiles(input: {storageLayout: $layout, ...})`` with ``{"layout":
      "V2"}`` (wandb 0.28) and ``createArtifactFiles(input: $input)`` with ``{"input":
      {"storageLayout": "V2", ...}}`` (0.29) mean the same. The operation's name, its
      text and the fields it selects are not compared (they shape the answer, which the
      recording holds, not the change).
    * A query: its operation name and its variables.

    Absent and null fields are alike (an SDK that sends ``"tags": null`` asks what one
    that leaves it out asks); then :func:`canonical` as for the key. None when ``body``
    is no GraphQL request, or a mutation whose document does not parse.
    """
    gql = parse_request(body)
    if gql is None:
        return None
    if gql.is_mutation:
        document = gql.document
        if not document.fields:
            return None
        resolved = [_unwrapped(args) for args in gql.arguments()]
        value: Any = (
            resolved[0] if len(resolved) == 1 else dict(zip(document.fields, resolved, strict=True))
        )
        name = "mutation " + "+".join(document.fields)
    elif gql.operation in OPERATIONS_MATCHED_BY_NAME:
        return gql.operation, ""
    else:
        value, name = gql.variables, gql.operation
    try:
        detail = json.dumps(canonical(_without_nulls(value), rules), sort_keys=True)
    except (RecursionError, TypeError, ValueError):
        return None
    return name, detail


def _unwrapped(arguments: dict[str, Any]) -> Any:
    """A root field's arguments, its one ``input`` object unwrapped (W&B's mutations take
    ``input: XInput!``; an SDK sends it inline or as one variable)."""
    if set(arguments) == {"input"} and isinstance(arguments["input"], dict):
        return arguments["input"]
    return arguments


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def substitutions(
    recorded: str | bytes | None, live: str | bytes | None, rules: MatchRules
) -> dict[str, str]:
    """Recorded strings → the live strings that matching took for them.

    A matched request may differ from its recording in what the normalisers
    ignore (a media file named after its content, a temporary folder); the
    recorded answer then names the recorded values (``createRunFiles`` lists
    the file names it got). The relay puts the live values back into the
    answer, so that the client finds its own names in it.
    """
    text = live.decode("utf-8", "replace") if isinstance(live, bytes) else live or ""
    # The cheap test first: most requests carry nothing these normalisers change.
    tmp_roots = any(root and root in text for root in rules.tmp_roots)
    if "pytest-of-" not in text and not tmp_roots and not _CONTENT_HASH_RE.search(text):
        return {}
    recorded_strings, live_strings = _strings(_json(recorded)), _strings(_json(live))
    if recorded_strings == live_strings:
        return {}
    by_form: dict[str, str] = {}
    for value in live_strings:
        form = rules.normalise_text(value)
        if form != value:
            by_form.setdefault(form, value)
    found: dict[str, str] = {}
    for value in recorded_strings:
        twin = by_form.get(rules.normalise_text(value))
        if twin is not None and twin != value:
            found[value] = twin
    return found


def _json(body: str | bytes | None) -> Any:
    if not body:
        return None
    try:
        return parsed(json.loads(body))
    except (ValueError, RecursionError):
        return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def interaction_key(
    ix: Interaction,
    upstream: str | Iterable[str],
    rules: MatchRules = DEFAULT_RULES,
    *,
    scrub: bool = True,
) -> RequestKey:
    """The key of a recorded request; ``scrub``: scrub its body as a live one is."""
    byte_range = _header(ix.request_headers, "range") if ix.method == "GET" else None
    target = target_of(ix.uri, upstream)
    text = ix.request_text()
    return request_key(ix.method, target, text, rules, byte_range, scrubbed=not scrub)


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) and value else value)
    return None


def succeeded(ix: Interaction) -> bool:
    """A recorded answer that did not fail: 2xx/3xx and no GraphQL ``errors``."""
    return 200 <= ix.status < 400 and not response_errors(ix.response_json())


class Matcher:
    """Answers requests from one cassette; tracks what was played.

    Not thread-safe: the relay calls it from its event loop only.
    """

    def __init__(
        self, cassette: Cassette, upstream: str, rules: MatchRules = DEFAULT_RULES
    ) -> None:
        self.cassette = cassette
        self.upstream = upstream
        #: The W&B servers the recording talked to: its upstream and those the code named.
        self.servers = servers_of(cassette, upstream)
        self.rules = rules
        self._queues: dict[RequestKey, deque[int]] = {}
        self._recorded: dict[RequestKey, list[int]] = {}
        self._last: dict[RequestKey, int] = {}
        self._strict: dict[int, Consequence] | None = None
        self._served: dict[RequestKey, int] = {}
        self._played: set[int] = set()
        #: What each recorded GraphQL request means (:func:`meaning`), computed when asked.
        self._meanings: dict[int, tuple[str, str] | None] = {}
        #: Strings of this replay's requests that scrubbing changed (:mod:`._restore`).
        self.restorations = Restorations()
        # Requests that hold nothing scrubbing writes were recorded as they were sent: live
        # and recorded compared as they are match exactly when scrubbed forms would (or a
        # changed test fails, never the reverse), and the rule catalogue is never loaded.
        scrubber = rules.scrubber or DEFAULT_SCRUBBER
        self._scrub = any(scrubber.marks(ix.request_text() or "") for ix in cassette.interactions)
        self._keys = [
            interaction_key(ix, self.servers, rules, scrub=self._scrub)
            for ix in cassette.interactions
        ]
        for index, key in enumerate(self._keys):
            self._recorded.setdefault(key, []).append(index)
        self._queues = {key: deque(indices) for key, indices in self._recorded.items()}

    def key(
        self, method: str, target: str, body: str | bytes | None, byte_range: str | None = None
    ) -> RequestKey:
        """The key of a live request, under this cassette's rules.

        A GraphQL body is scrubbed the way recording scrubbed it, learning as it
        goes (:meth:`.scrub.Scrubber.scrub_learning`): call it in arrival order.
        Not when the cassette's requests hold no replacement (see ``__init__``).
        """
        post = method.upper() == "POST" and bool(body)
        if post and target.endswith("/graphql"):
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body or ""
            if self._scrub:
                text = self._scrubbed(text)
            key = request_key(method, target, text, self.rules, byte_range, scrubbed=True)
            return dataclasses.replace(key, body=text) if key.kind == "graphql" else key
        if post and self._scrub and target.endswith("/file_stream"):
            # Not compared, but scrubbed as recording scrubbed it: what it learns (a value
            # under a secret's name) and what it gives back (a summary value) come in order.
            self._scrubbed(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
        scrubbed = not self._scrub
        return request_key(method, target, body, self.rules, byte_range, scrubbed=scrubbed)

    def _scrubbed(self, text: str | None) -> str:
        """``text`` scrubbed the way recording scrubbed it, learning as it goes; what it
        changed is learned for the answers (:class:`._restore.Restorations`)."""
        live = text or ""
        scrubber = self.rules.scrubber or DEFAULT_SCRUBBER
        scrubbed, learned = scrubber.scrub_learning(live)
        if learned is not scrubber:
            self.rules = dataclasses.replace(self.rules, scrubber=learned)
        if scrubbed != live:
            self.restorations.learn(live, scrubbed)
        return scrubbed

    def match(self, key: RequestKey) -> tuple[int, Interaction]:
        """The next recorded interaction for ``key``; raises :class:`NoMatch`.

        Recorded interactions of a key are served in recording order. Once they
        are used up, the last successful one whose count may depend on timing
        (:func:`timing_dependent`) is served again, as often as asked; anything
        else, and a recorded error whatever the request, is a :class:`NoMatch`
        that says what the recorded ones did: a replay that could only go on by
        serving the same error again ends there.
        """
        queue = self._queues.get(key)
        found = None if queue or key in self._queues else self._by_meaning(key)
        if queue:
            index = queue.popleft()
            self._last[key] = index
        elif found is not None:
            index = found
            self._last[key] = index
        elif key in self._last:
            again = self._again(key)
            if again is None:
                raise NoMatch(key, [], self._used_up(key), rerecord=self._rerecord(key))
            index = again
        else:
            raise NoMatch(key, self.closest(key), self._message(key), rerecord=self._rerecord(key))
        self._served[key] = self._served.get(key, 0) + 1
        self._played.add(index)
        return index, self.cassette.interactions[index]

    def _by_meaning(self, key: RequestKey) -> int | None:
        """The first recording not played yet that means what ``key``'s request means
        (:func:`meaning`), taken from its queue; None when there is none.

        Asked only for a GraphQL request whose key no recording has: the same SDK never
        gets here for a request it recorded, so replay's hot path parses no document.
        """
        if key.kind != "graphql" or not key.body:
            return None
        wanted = meaning(key.body, self.rules)
        if wanted is None:
            return None
        best: tuple[int, deque[int]] | None = None
        for recorded, queue in self._queues.items():
            if recorded.kind != "graphql" or not queue:
                continue
            for index in queue:
                if best is not None and index > best[0]:
                    break
                if self._meaning_of(index) == wanted:
                    best = (index, queue)
                    break
        if best is None:
            return None
        best[1].remove(best[0])
        return best[0]

    def _meaning_of(self, index: int) -> tuple[str, str] | None:
        if index not in self._meanings:
            text = self.cassette.interactions[index].request_text() or ""
            if self._scrub:
                text = (self.rules.scrubber or DEFAULT_SCRUBBER).scrub_text(text)
            self._meanings[index] = meaning(text, self.rules)
        return self._meanings[index]

    def timing_dependent(self, index: int) -> bool:
        """Whether the recorded interaction at ``index`` is answered as often as asked.

        file_stream posts (whatever their answer: wandb-core batches rows as they
        come), and any other exchange that succeeded and is not one the cleanup
        and the audit count (:func:`._timing.strict_exchanges`): a query or a GET,
        an upload, an update of what the recording created, a harmless mutation.
        """
        key, ix = self._keys[index], self.cassette.interactions[index]
        if key.repeatable:
            return True
        if not succeeded(ix):
            return False
        if key.safe or key.kind != "graphql":
            return True  # a query, a GET; an upload (the ledger counts the mutation behind it)
        return index not in self.strict()

    def strict(self) -> dict[int, Consequence]:
        """The recorded exchanges answered exactly as often as recorded, with what each did."""
        if self._strict is None:
            self._strict = strict_exchanges(self.cassette, self.rules.harmless)
        return self._strict

    def _again(self, key: RequestKey) -> int | None:
        """The recorded interaction served again once ``key``'s are used up (None: none)."""
        last = self._last[key]
        if not succeeded(self.cassette.interactions[last]):
            return None  # never an error again: a retrying client would loop on it
        if key.repeatable or key.safe:
            return last
        again = [i for i in self._recorded_for(key) if self.timing_dependent(i)]
        return again[-1] if again else None

    def _recorded_for(self, key: RequestKey) -> list[int]:
        """The recordings of ``key``, or of the key another SDK's spelling of its request
        was answered from (:meth:`_by_meaning`)."""
        found = self._recorded.get(key)
        if found is None:
            found = self._recorded[self._keys[self._last[key]]]
        return found

    def _used_up(self, key: RequestKey) -> str:
        recorded = self._recorded_for(key)
        last = self.cassette.interactions[recorded[-1]]
        head = f"recorded answers used up for {key.describe(200)}: the cassette holds "
        head += str(len(recorded))
        if not succeeded(last):
            what = f"HTTP {last.status}"
            errors = response_errors(last.response_json())
            if errors:
                what += f" with GraphQL errors ({errors[0][:80]})"
            return (
                f"{head}, the last one {what}; replay does not repeat an error, and the "
                "client could only go on by meeting it again (the recording ends in this "
                "error: record it again against a healthy upstream)"
            )
        strict = self.strict()
        did = "; ".join(f"#{i} {strict[i].what}" for i in recorded if i in strict)
        lines = [
            f"{head} ({did}); how often a test creates, deletes or changes what it did not "
            "create is its own doing, and the cleanup and the audit count it: replay answers "
            "these exactly as often as recorded, so the test asked more often than when it "
            "was recorded"
        ]
        foreign = [strict[i].foreign for i in recorded if i in strict and strict[i].foreign]
        if foreign:
            lines.append(
                "if how often it changes that resource depends on timing (wandb-core sends "
                "a run's config and telemetry updates whenever its timers fire), re-recording "
                "cannot help: declare the change, and replay answers it as often as asked: "
                f"@pytest.mark.wandb_cassette(foreign_changes=[{json.dumps(foreign[-1])}])"
            )
        return "\n".join(lines)

    def _rerecord(self, key: RequestKey) -> bool:
        """Whether re-recording can help a request with no answer (see :func:`explain`)."""
        if key in self._last:
            recorded = self._recorded_for(key)
            return not any(self.strict()[i].foreign for i in recorded if i in self.strict())
        return not any(RERECORDING_CANNOT_HELP in line for line in self.explain(key))

    def _message(self, key: RequestKey) -> str:
        lines = [f"no recorded match for {key.describe(300)}"]
        candidates = self.closest(key, 1)
        if candidates:
            lines.append("closest recorded request differs in:")
            lines += [f"  {line}" for line in self.explain(key)]
        else:
            lines.append("the cassette has no request of this kind")
        return "\n".join(lines)

    def closest_keys(self, key: RequestKey, n: int = 3) -> list[RequestKey]:
        """Recorded keys most like ``key``: same operation or target first.

        Among them, by construction of what a mismatch means: those with recordings
        left first (a request with no match has not been answered yet: its recording
        is among those still unplayed), then the fewest differing variables, then the
        first recorded (requests of one operation come in order), then the most similar
        text (which alone favours a request that shares more characters, not more
        variables).
        """
        same = [k for k in self._queues if (k.kind, k.name) == (key.kind, key.name)]
        # Of another operation, never the relay's own reads (of the state before a change):
        # no test sends those, so they explain nothing of what it sent.
        pool = same or [
            k for k in self._queues if k.kind == key.kind and not k.name.startswith(PRIOR)
        ]
        live = _variables(key)

        def rank(k: RequestKey) -> tuple[int, int, int, float]:
            queue = self._queues.get(k)
            first = queue[0] if queue else len(self._keys)  # requests of one kind come in order
            recorded = _variables(k)
            count = len(list(_diff(recorded, live, ()))) if recorded is not None else 1 << 20
            ratio = difflib.SequenceMatcher(None, k.detail, key.detail).ratio()
            return 0 if queue else 1, count, first, -ratio

        return sorted(pool, key=rank)[:n]

    def closest(self, key: RequestKey, n: int = 3) -> list[str]:
        """Recorded requests most like ``key``, described (at most 300 characters each)."""
        return [k.describe(300) for k in self.closest_keys(key, n)]

    def explain(self, key: RequestKey, limit: int = 40) -> list[str]:
        """How ``key`` differs from the closest recorded request, path by path, in W&B terms."""
        best = self.closest_keys(key, 1)
        if not best:
            return []
        if best[0].name != key.name:
            return [f"operation: recorded {best[0].name}, sent {key.name}"]
        return explain(best[0], key, limit)

    def played(self) -> list[tuple[int, Interaction]]:
        """Recorded interactions served so far, in recording order."""
        return [(i, self.cassette.interactions[i]) for i in sorted(self._played)]

    def unplayed(self) -> list[tuple[int, Interaction]]:
        """Recorded interactions no request asked for.

        Left out: :data:`CACHED_BY_THE_SDK` queries, and what may come less often
        with timing alone (:meth:`timing_dependent`), except queries and GETs:
        the SDK asks those as often as the test's code does, so one never asked
        says the test changed (it no longer looks an artifact up).
        """
        candidates = [
            i
            for i in range(len(self.cassette.interactions))
            if i not in self._played and self._keys[i].name not in CACHED_BY_THE_SDK
        ]
        return [
            (i, self.cassette.interactions[i])
            for i in candidates
            if (self._keys[i].safe and not self._keys[i].repeatable) or not self.timing_dependent(i)
        ]


#: Queries whose answer the SDK keeps on the object that asked (wandb 0.31): an object
#: shared by several tests (a session-scoped ``wandb.Api()`` fixture) asks once, in
#: whichever test comes first, so a recording of one not asked again in replay is no
#: problem. ``Api.default_entity`` (wandb/apis/public/api.py, ``_default_entity``);
#: ``_server_features`` and ``org_info_from_entity`` (wandb/sdk/artifacts/_gqlutils.py,
#: ``lru_cache`` per service API).
CACHED_BY_THE_SDK = frozenset({"GetDefaultEntity", "ServerFeaturesQuery", "FetchOrgInfoFromEntity"})


# -- explaining a mismatch ------------------------------------------------------------

_RUN_DEPENDENT = (
    (
        "a date or time",
        # Not inside a longer run of letters and digits: 14 digits in a row occur in hex
        # digests, which are no time.
        re.compile(
            r"\d{4}-\d{2}-\d{2}[T _]\d{2}[:_-]?\d{2}"
            r"|(?<![0-9A-Za-z])\d{8}[T_-]?\d{6}(?![0-9A-Za-z])"
        ),
    ),
    (
        "a uuid",
        re.compile(
            r"(?<![0-9a-f])[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"
            r"(?![0-9a-f])",
            re.I,
        ),
    ),
    ("a temporary path", re.compile(r"/tmp/|/var/folders/|\\Temp\\|" + re.escape(_TMP_TOKEN))),
)


def _variables(key: RequestKey) -> Any:
    """A GraphQL key's compared variables (None for a detail that is not JSON)."""
    try:
        return json.loads(key.detail or "{}")
    except ValueError:
        return None


def explain(recorded: RequestKey, live: RequestKey, limit: int = 40) -> list[str]:
    """The differences between two GraphQL keys, one line per path, in W&B terms.

    Lines read ``config.lr: recorded 0.1, sent 0.2``; a value that looks
    run-dependent (a time, a uuid, a temporary path) is said to be, with the
    ``ignore=[...]`` that would make replay skip it.
    """
    try:
        a, b = json.loads(recorded.detail or "{}"), json.loads(live.detail or "{}")
    except ValueError:
        return [f"recorded {recorded.describe(200)}", f"sent     {live.describe(200)}"]
    diffs = list(_diff(a, b, ()))
    lines: list[str] = []
    suggest: list[str] = []
    for path, old, new in diffs[:limit]:
        term, ignorable = ignores.wandb_term(path, live.name)
        old, new = _config_value(path, old), _config_value(path, new)
        lines.append(f"{term}: recorded {_short(old)}, sent {_short(new)}")
        why = _run_dependent(old, new)
        if why and ignorable:
            lines[-1] += f"  (looks run-dependent: {why})"
            suggest.append(term)
    if len(diffs) > limit:
        lines.append(f"... and {len(diffs) - limit} more difference(s)")
    if suggest:
        paths = ", ".join(json.dumps(p) for p in dict.fromkeys(suggest))
        lines.append(
            f"these values change from run to run: {RERECORDING_CANNOT_HELP}; add "
            f"@pytest.mark.wandb_cassette(ignore=[{paths}])"
        )
    return lines or ["(no difference in the compared variables)"]


_MISSING = object()
#: Said of a difference that a new recording would have too.
RERECORDING_CANNOT_HELP = "re-recording cannot help"


def _diff(
    a: Any, b: Any, path: tuple[str | int, ...]
) -> Iterable[tuple[tuple[Any, ...], Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            yield from _diff(a.get(key, _MISSING), b.get(key, _MISSING), (*path, key))
    elif a != b:
        yield path, a, b


def _config_value(path: tuple[Any, ...], value: Any) -> Any:
    """A run config key as the user wrote it: the SDK sends ``{"key": {"value": v}}``
    (``desc`` beside it, if any), so a key added or removed is its ``v``."""
    wrapped = isinstance(value, dict) and "value" in value and set(value) <= {"value", "desc"}
    return value["value"] if wrapped and len(path) == 2 and path[0] == "config" else value


def _short(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def _run_dependent(*values: Any) -> str | None:
    for value in values:
        text = value if isinstance(value, str) else ""
        for why, pattern in _RUN_DEPENDENT:
            if text and pattern.search(text):
                return why
    return None
