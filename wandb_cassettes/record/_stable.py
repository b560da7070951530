"""The stable form of a recording: re-recording an unchanged test writes the same cassette.

A reviewer must see what a re-recording changed, and two branches that re-record
must not conflict for nothing. So what belongs to the recording *session*
rather than to the test is taken out of the interactions when a recording is
saved, and what the session was is kept on one metadata line (``recording``):

* **origins**: loopback servers (a local W&B, the stand-in, their storage; the
  relay) listen on ports of the session: ``http://127.0.0.1:35327`` is written
  ``http://upstream.invalid`` (the upstream), ``http://relay.invalid``, or
  ``http://loopback-1.invalid`` (the others, numbered by first appearance);
  ``.invalid`` is reserved for names that never resolve (RFC 6761 6.4), and
  replay resolves nothing;
* **instants** of the session that a server or a signed URL made (ISO 8601,
  HTTP dates, the compact form of signed URLs), from a day before the recording
  to a day after it, read ``2000-01-01T00:00:00`` in their own format (never a
  date the SDK sent, as a run's config holds it, nor its echo in an answer); the
  ``_timestamp`` epoch seconds the SDK stamps rows with read 946684800;
* **durations** the SDK measures (``_runtime``, ``_wandb.runtime``) read 0;
* **JSON**: request bodies and JSON documents inside strings (a run's config,
  history rows) with sorted keys (wandb-core writes Go maps, in random order);
  the lists of GraphQL variables sorted (matching compares them as multisets),
  and a list in the answer that echoes one of them put in the same order;
* **uploads** whose body is JSON (a run's ``wandb-summary.json``, an artifact
  manifest with its staging file's random name) are kept as the size and sha256
  of that stable form, and every mention of their digests follows;
* **what timing decides** (:mod:`..replay._timing`): the file_stream posts of a
  run the recording created (wandb-core batches rows as they come) are one
  post, and its updates of such a run one per distinct request, all placed
  right after the run's create; and exchanges that were in flight together
  (concurrent uploads) are sorted, while one that ended before another began
  stays before it (the second may depend on the first's answer).

Ids come from the seed the replaced cassette stored (:mod:`..runtime`). What the
server answered differently stays different.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import hashlib
import heapq
import json
import re
from base64 import b64encode
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..ownership import Ledger
from ..protocol import succeeded
from ..replay import interaction_key
from ..store import SERVERS_KEY, Cassette, Digest, Interaction, body_text, json_or_none

#: Metadata: the recording session, on one line (when, against what, the loopback origins).
RECORDING_KEY = "recording"
#: Metadata: indices of the interactions of the automatic cleanup (see runtime's lifecycle).
CLEANUP_KEY = "cleanup_interactions"
#: What an instant of the recording session reads in a stable cassette.
INSTANT = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
#: How far from the recording an instant still counts as the session's (server clocks,
#: signed URLs' expiry).
WINDOW = datetime.timedelta(days=1)
#: Durations the SDK measures, by key (history rows, summaries: ``_runtime``).
DURATION_KEYS = frozenset({"_runtime"})
#: Epoch seconds the SDK stamps rows with, by key.
EPOCH_KEYS = frozenset({"_timestamp"})

#: A loopback origin with a port, in any case (a scheme and a host name are case-insensitive,
#: RFC 3986 3.1 and 3.2.2: ``HTTP://LOCALHOST:8080`` is the same server), any address of
#: 127.0.0.0/8 (RFC 1122 3.2.1.3), IPv6 ``::1`` in either spelling.
_LOOPBACK_RE = re.compile(
    r"(https?)://(127(?:\.\d{1,3}){3}|localhost|\[::1\]|\[(?:0{1,4}:){7}0{0,3}1\]):(\d{1,5})(?!\d)",
    re.IGNORECASE,
)
_ISO_RE = re.compile(
    r"(?<!\d)(\d{4})-(\d{2})-(\d{2})([T ])(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HTTP_DATE_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (" + "|".join(_MONTHS) + r") (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) GMT"
)
_COMPACT_RE = re.compile(r"(?<![0-9A-Za-z])(\d{8})T(\d{6})Z(?![0-9A-Za-z])")
#: A name ``tempfile`` made (``NamedTemporaryFile``: the SDK stages artifact files so).
_TEMPFILE_NAME_RE = re.compile(r"(?<=/)tmp[a-z0-9_]{8}(?![a-z0-9_])")
_FILE_STREAM_RE = re.compile(r"/files/([^/]+)/([^/]+)/([^/]+)/file_stream$")


@dataclass(frozen=True)
class Session:
    """What identifies one recording session.

    Args:
        upstream: The base URL recorded against.
        relay: The relay's URL in this session.
        started: When the recording started (UTC).
        ended: When it ended (UTC).
        workdir: The SDK's folder in this session (a ``tempfile`` folder: its files, an
            artifact's staging copies), written ``<its parent>/wandb-cassettes-sdk``.
    """

    upstream: str
    relay: str
    started: datetime.datetime
    ended: datetime.datetime
    workdir: str = ""


@dataclass
class _Text:
    """The text rewrites of one session: origins and instants.

    An instant is the session's when a server or a signed URL made it: never in what the
    SDK sent (a date in a run's config is the test's, even one of today), nor in an answer
    that repeats such a date (:attr:`sent`).
    """

    session: Session
    origins: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The instants, as written, that some request body holds.
    sent: set[str] = dataclasses.field(default_factory=set)

    def learn_sent(self, bodies: Iterable[str]) -> None:
        for body in bodies:
            if any(c.isdigit() for c in body):
                for pattern in (_ISO_RE, _HTTP_DATE_RE, _COMPACT_RE):
                    self.sent.update(m.group(0) for m in pattern.finditer(body))

    def learn_origins(self, texts: Iterable[str]) -> None:
        """Name each loopback origin in ``texts`` (the upstream's and the relay's first)."""
        named = {
            _origin(self.session.upstream): "upstream",
            _origin(self.session.relay): "relay",
        }
        for text in texts:
            for m in _LOOPBACK_RE.finditer(text):
                origin = m.group(0).lower()
                if origin in self.origins:
                    continue
                name = named.get(origin) or f"loopback-{self._loopbacks() + 1}"
                self.origins[origin] = f"{m.group(1).lower()}://{name}.invalid"

    def _loopbacks(self) -> int:
        return sum(1 for v in self.origins.values() if "://loopback-" in v)

    def __call__(self, text: str, *, dates: bool = True) -> str:
        """``text`` with the session's origins, workdir and (``dates``) instants taken out."""
        workdir = self.session.workdir
        if workdir and workdir in text:
            text = text.replace(workdir, str(PurePosixPath(workdir).parent / "wandb-cassettes-sdk"))
        if "://" in text and self.origins:
            text = _LOOPBACK_RE.sub(
                lambda m: self.origins.get(m.group(0).lower(), m.group(0)), text
            )
        if dates and any(c.isdigit() for c in text):
            text = _ISO_RE.sub(self._iso, text)
            text = _HTTP_DATE_RE.sub(self._http_date, text)
            text = _COMPACT_RE.sub(self._compact, text)
        return text

    def in_session(self, when: datetime.datetime) -> bool:
        return self.session.started - WINDOW <= when <= self.session.ended + WINDOW

    def _iso(self, m: re.Match[str]) -> str:
        if m.group(0) in self.sent:
            return m.group(0)
        year, month, day, sep, hour, minute, second, fraction, zone = m.groups()
        try:
            when = datetime.datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second)
            )
        except ValueError:
            return m.group(0)
        offset = _offset(zone)
        if offset is None:
            return m.group(0)
        if not self.in_session(when.replace(tzinfo=datetime.UTC) - offset):
            return m.group(0)
        text = INSTANT.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
        return text + ("." + "0" * (len(fraction) - 1) if fraction else "") + (zone or "")

    def _http_date(self, m: re.Match[str]) -> str:
        if m.group(0) in self.sent:
            return m.group(0)
        day, month, year, hour, minute, second = m.groups()
        try:
            when = datetime.datetime(
                int(year),
                _MONTHS.index(month) + 1,
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=datetime.UTC,
            )
        except ValueError:
            return m.group(0)
        if not self.in_session(when):
            return m.group(0)
        return INSTANT.strftime("%a, %d %b %Y %H:%M:%S GMT")

    def _compact(self, m: re.Match[str]) -> str:
        if m.group(0) in self.sent:
            return m.group(0)
        try:
            when = datetime.datetime.strptime(m.group(0), "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.UTC
            )
        except ValueError:
            return m.group(0)
        return INSTANT.strftime("%Y%m%dT%H%M%SZ") if self.in_session(when) else m.group(0)

    def epoch(self, value: float) -> float | int:
        """Epoch seconds of the session as :data:`INSTANT`'s; any other number as it is."""
        try:
            when = datetime.datetime.fromtimestamp(value, datetime.UTC)
        except (OverflowError, OSError, ValueError):
            return value
        return int(INSTANT.timestamp()) if self.in_session(when) else value


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _offset(zone: str | None) -> datetime.timedelta | None:
    if not zone or zone == "Z":
        return datetime.timedelta(0)
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    if len(digits) != 4:
        return None
    return sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


# -- JSON -------------------------------------------------------------------------------


def _stable_value(
    value: Any, text: _Text, key: str = "", parent: str = "", *, dates: bool = True
) -> Any:
    """``value`` with the session taken out: durations 0, session epochs and (``dates``)
    instants :data:`INSTANT`, JSON documents inside strings canonical."""
    if isinstance(value, dict):
        return {k: _stable_value(v, text, str(k), key, dates=dates) for k, v in value.items()}
    if isinstance(value, list):
        return [_stable_value(v, text, "", key, dates=dates) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if key in DURATION_KEYS or (key == "runtime" and parent == "_wandb"):
            return 0
        if key in EPOCH_KEYS:
            return text.epoch(value)
        return value
    if isinstance(value, str):
        inner = json_or_none(value)
        if inner is not None:
            return _dump(_stable_value(inner, text, dates=dates))
        return text(value, dates=dates)
    return value


def _dump(value: Any) -> str:
    """Canonical JSON as wandb-core writes a document inside a string: sorted keys, no
    spaces, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _body(value: Any) -> str:
    """A body's canonical JSON: sorted keys, spaced (YAML folds long lines at spaces, so a
    changed value is a short diff)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _sort_variables(body: Any) -> list[tuple[list[Any], list[int]]]:
    """Sort the lists of a GraphQL request's variables in place (matching compares them as
    multisets); returns each list as it was sent with the permutation applied."""
    variables = body.get("variables") if isinstance(body, dict) else None
    moved: list[tuple[list[Any], list[int]]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
            order = sorted(range(len(value)), key=lambda i: _dump(value[i]))
            if order != list(range(len(value))):
                moved.append((list(value), order))
                value[:] = [value[i] for i in order]

    walk(variables)
    return moved


def _echo_in_order(answer: Any, moved: list[tuple[list[Any], list[int]]]) -> None:
    """Put each list of ``answer`` that echoes a reordered request list (element i names
    element i of the list as sent) in the same order."""
    for sent, order in moved:
        names = [_name_of(v) for v in sent]
        if None not in names and len(set(names)) == len(names):
            _reorder_echoes(answer, [str(n) for n in names], order)


def _reorder_echoes(value: Any, names: list[str], order: list[int]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _reorder_echoes(v, names, order)
    elif isinstance(value, list):
        for v in value:
            _reorder_echoes(v, names, order)
        if len(value) == len(names) and all(_names_only(v, names, i) for i, v in enumerate(value)):
            value[:] = [value[i] for i in order]


def _names_only(value: Any, names: list[str], i: int) -> bool:
    """Whether ``value`` names ``names[i]`` and no other of ``names``."""
    found = _strings(value)
    return names[i] in found and not any(n in found for j, n in enumerate(names) if j != i)


def _name_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("name", "alias", "id"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {s for v in value.values() for s in _strings(v)}
    if isinstance(value, list):
        return {s for v in value for s in _strings(v)}
    return set()


# -- one interaction -------------------------------------------------------------------------


def _stable_interaction(ix: Interaction, text: _Text) -> Interaction:
    """``ix`` in its stable form; as recorded when a body nests deeper than Python recurses."""
    try:
        return _stable_exchange(ix, text)
    except RecursionError:
        return ix


def _stable_exchange(ix: Interaction, text: _Text) -> Interaction:
    request_text = body_text(ix.request_body)
    response_text = body_text(ix.response_body)
    request: Any = json_or_none(request_text) if request_text else None
    response: Any = json_or_none(response_text) if response_text else None
    moved: list[tuple[list[Any], list[int]]] = []
    if request is not None:
        request = _stable_value(request, text, dates=False)
        if urlsplit(ix.uri).path.endswith("/graphql"):
            moved = _sort_variables(request)
    request_body: Any = ix.request_body
    if request is not None:
        request_body = _body(request)
    elif isinstance(ix.request_body, str):
        request_body = text(ix.request_body, dates=False)
    response_body: Any = ix.response_body
    if response is not None:
        stable = _stable_value(response, text)
        _echo_in_order(stable, moved)
        response_body = _body(stable)
    elif isinstance(ix.response_body, str):
        response_body = text(ix.response_body)
    return dataclasses.replace(
        ix,
        uri=text(ix.uri),
        request_headers=_headers(ix.request_headers, text),
        request_body=request_body,
        response_headers=_headers(ix.response_headers, text),
        response_body=response_body,
    )


def _headers(headers: Mapping[str, list[str]], text: _Text) -> dict[str, list[str]]:
    return {k: [text(v) for v in values] for k, values in headers.items()}


# -- uploads ------------------------------------------------------------------------------------


@dataclass
class _Labels:
    """What the stable form of each small JSON upload renames: its sha256 and size (wherever
    a body is kept as that digest: the upload, a download of the same bytes), and its md5 in
    base64 where the SDK sends it (``Content-MD5``, GraphQL variables such as a manifest's
    ``digest``). Never in answers or URLs: a server may address content by its real md5."""

    digests: dict[str, tuple[str, int]] = dataclasses.field(default_factory=dict)
    md5: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The md5 in hex, by the upload's sha256: its own answer's ``ETag`` says it so.
    etags: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    def body(self, body: Any) -> Any:
        if isinstance(body, Digest) and body.sha256 in self.digests:
            sha256, size = self.digests[body.sha256]
            return Digest(sha256, size, body.blob)
        return body

    def sent(self, text: str) -> str:
        for old, new in self.md5.items():
            if old in text:
                text = text.replace(old, new)
        return text


def _upload_labels(uploads: Mapping[int, bytes], cassette: Cassette, text: _Text) -> _Labels:
    """The :class:`_Labels` of the small JSON uploads whose stable form is not what was sent."""
    labels = _Labels()
    for index, data in uploads.items():
        body = cassette.interactions[index].request_body
        if not isinstance(body, Digest):
            continue
        stable = _stable_upload(data, text)
        if stable is None or stable == data:
            continue
        labels.digests[body.sha256] = (hashlib.sha256(stable).hexdigest(), len(stable))
        old_md5, new_md5 = hashlib.md5(data).digest(), hashlib.md5(stable).digest()
        labels.md5[b64encode(old_md5).decode()] = b64encode(new_md5).decode()
        labels.etags[body.sha256] = (old_md5.hex(), new_md5.hex())
    return labels


def _stable_upload(data: bytes, text: _Text) -> bytes | None:
    """The stable form of a JSON upload (a document, or JSON lines); None for anything else.

    Beside what :func:`_stable_value` takes out, names ``tempfile`` made (an artifact
    manifest's ``local_path`` names the SDK's staging copy) read ``tmp00000000``.
    """
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stable = []
    for line in decoded.splitlines() or [decoded]:
        if not line.strip():
            stable.append(line)
            continue
        parsed = json_or_none(line.strip())
        if parsed is None:
            return None
        stable.append(_TEMPFILE_NAME_RE.sub("tmp00000000", _dump(_stable_value(parsed, text))))
    return ("\n".join(stable) + ("\n" if decoded.endswith("\n") else "")).encode()


def _relabel(ix: Interaction, labels: _Labels) -> Interaction:
    if not labels.digests:
        return ix
    graphql = urlsplit(ix.uri).path.endswith("/graphql") and isinstance(ix.request_body, str)
    response_headers = ix.response_headers
    upload = ix.request_body
    if isinstance(upload, Digest) and upload.sha256 in labels.etags:
        old, new = labels.etags[upload.sha256]
        response_headers = {
            k: [v.replace(old, new) for v in vs] for k, vs in response_headers.items()
        }
    return dataclasses.replace(
        ix,
        request_headers={k: [labels.sent(v) for v in vs] for k, vs in ix.request_headers.items()},
        request_body=labels.sent(ix.request_body)  # type: ignore[arg-type]
        if graphql
        else labels.body(ix.request_body),
        response_headers=response_headers,
        response_body=labels.body(ix.response_body),
    )


# -- what timing decides -------------------------------------------------------------------------


def _floating(cassette: Cassette, harmless: Iterable[str]) -> dict[int, int]:
    """Exchanges whose count and moment timing decides, each with its anchor: the file_stream
    posts and the updates (what the ledger does not count) of a run the recording created,
    anchored at that run's create."""
    ledger = Ledger.from_cassette(cassette, harmless=harmless)
    evidence = ledger.evidence()
    found: dict[int, int] = {}
    for index, subject in ledger.subjects.items():
        created = subject.created_at
        if subject.kind != "run" or created is None or created >= index or index in evidence:
            continue
        if subject.deleted_at is not None and subject.deleted_at < index:
            continue
        ix = cassette.interactions[index]
        if succeeded(ix.status, ix.response_json()):
            found[index] = created
    return found


#: The file_stream file W&B keeps the last line of (the run's summary).
_SUMMARY = "wandb-summary.json"


def _file_stream_run(ix: Interaction) -> str | None:
    m = _FILE_STREAM_RE.search(urlsplit(ix.uri).path)
    return "/".join(m.groups()) if m else None


def _merge_posts(posts: list[Interaction]) -> Interaction | None:
    """file_stream posts of one run as one: each file's lines by offset (a later post wins
    a line, as W&B keeps the last summary), the last value of every other field, the
    uploaded files' names sorted. None when two posts give one line of a file other than
    the summary different contents: more than one process writes the run (W&B's shared
    mode: each writer counts its own offsets), and merged, one's rows would hide the
    other's: the posts stay as they were sent."""
    lines: dict[str, dict[int, Any]] = {}
    rest: dict[str, Any] = {}
    uploaded: set[str] = set()
    for post in posts:
        body = json_or_none(body_text(post.request_body) or "")
        if not isinstance(body, dict):
            return posts[-1]  # not a file_stream body this library reads: left as it is
        for name, chunk in (body.get("files") or {}).items():
            offset = chunk.get("offset", 0) if isinstance(chunk, dict) else 0
            content = chunk.get("content", []) if isinstance(chunk, dict) else []
            if not isinstance(offset, int) or not isinstance(content, list):
                return posts[-1]
            by_offset = lines.setdefault(str(name), {})
            for i, line in enumerate(content):
                if name != _SUMMARY and by_offset.get(offset + i, line) != line:
                    return None
                by_offset[offset + i] = line
        for key, value in body.items():
            if key == "uploaded" and isinstance(value, list):
                uploaded.update(str(v) for v in value)
            elif key != "files":
                rest[key] = value
    merged: dict[str, Any] = {}
    if lines:
        merged["files"] = {
            name: {"offset": min(by), "content": [by[k] for k in sorted(by)]}
            for name, by in sorted(lines.items())
        }
    if uploaded:
        merged["uploaded"] = sorted(uploaded)
    merged.update(rest)
    return dataclasses.replace(posts[-1], request_body=_dump(merged))


# -- order -------------------------------------------------------------------------------------


def _interval_order(
    indices: list[int], timings: list[tuple[float, float]], sort_key: Callable[[int], str]
) -> list[int]:
    """``indices`` in an order that keeps every exchange that ended before another began
    before it, and sorts the rest (those in flight together) by ``sort_key``.

    Greedy over the interval order, O(n log n): an exchange is ready once every exchange
    that ended before it began is placed; the smallest ready one goes next.
    """
    by_end = sorted(indices, key=lambda i: (timings[i][1], i))
    ends = [timings[i][1] for i in by_end]
    position = {i: p for p, i in enumerate(by_end)}
    # How many exchanges ended before each one began: it is ready once they are placed.
    needs = sorted(indices, key=lambda i: bisect.bisect_left(ends, timings[i][0]))
    need_of = {i: bisect.bisect_left(ends, timings[i][0]) for i in indices}
    placed = [False] * len(by_end)
    prefix = 0
    ready: list[tuple[str, int]] = []
    cursor = 0
    out: list[int] = []
    while len(out) < len(indices):
        while cursor < len(needs) and need_of[needs[cursor]] <= prefix:
            heapq.heappush(ready, (sort_key(needs[cursor]), needs[cursor]))
            cursor += 1
        _, chosen = heapq.heappop(ready)
        out.append(chosen)
        placed[position[chosen]] = True
        while prefix < len(placed) and placed[prefix]:
            prefix += 1
    return out


# -- the whole cassette ----------------------------------------------------------------------------


def stable_form(
    cassette: Cassette,
    session: Session,
    *,
    timings: list[tuple[float, float]] | None = None,
    uploads: Mapping[int, bytes] | None = None,
    harmless: Iterable[str] = (),
    reorder: bool = True,
) -> Cassette:
    """``cassette`` (a recording, as it will be saved) in its stable form.

    Args:
        cassette: The recording; its metadata's ``upstream`` is the real base URL.
        session: The recording session (:class:`Session`).
        timings: Per interaction, when its request went upstream and its answer was
            complete (monotonic seconds); without them, the recorded order stays.
        uploads: Small uploads' bodies by interaction index (their stable digests).
        harmless: Mutation fields the user declared harmless (for the ledger).
        reorder: Merge and move what timing decides, sort what was in flight together
            (False for the part a ``new_episodes`` replay appends).

    Returns:
        A new cassette; the metadata's ``upstream`` names the upstream's stable origin and
        :data:`RECORDING_KEY` holds, on one line, when and against what it was recorded.
    """
    text = _Text(session)
    metadata = dict(cassette.metadata)
    recorded = str(metadata.get("upstream") or session.upstream)
    if not reorder and _origin(recorded) != _origin(session.upstream):
        # Appended to a replayed cassette: name the upstream as the replayed part does.
        text.origins[_origin(session.upstream)] = _origin(recorded)
    text.learn_origins(_texts(cassette))
    text.learn_sent(b for ix in cassette.interactions if (b := body_text(ix.request_body)))
    labels = _upload_labels(uploads or {}, cassette, text)
    interactions = [_relabel(_stable_interaction(ix, text), labels) for ix in cassette.interactions]
    line = _recording_line(metadata, text)
    metadata["upstream"] = text(recorded) if reorder else recorded
    listed = metadata.get(SERVERS_KEY)
    if isinstance(listed, list):
        # Named as the interactions' uris are, so that each still says its server (issue 21).
        metadata[SERVERS_KEY] = sorted({text(str(s)) for s in listed})
    metadata[RECORDING_KEY] = line
    stable = Cassette(interactions, metadata, cassette.path)
    if not reorder or not interactions:
        return stable
    return _reordered(stable, timings, harmless)


def _texts(cassette: Cassette) -> Iterable[str]:
    yield str(cassette.metadata.get("upstream") or "")
    listed = cassette.metadata.get(SERVERS_KEY)
    if isinstance(listed, list):
        yield from (str(s) for s in listed)
    for ix in cassette.interactions:
        yield ix.uri
        for values in (*ix.request_headers.values(), *ix.response_headers.values()):
            yield from values
        for body in (ix.request_body, ix.response_body):
            if isinstance(body, str):
                yield body


def _recording_line(metadata: dict[str, Any], text: _Text) -> str:
    """When and against what: ``<ISO time>`` then ``;<stable origin>=<real origin>`` each.

    No spaces, so that YAML keeps it on one line.
    """
    when = metadata.pop("recorded_at", None) or text.session.started.isoformat(timespec="seconds")
    parts = [str(when)]
    for real, stable in text.origins.items():
        parts.append(f"{urlsplit(stable).hostname}={real}")
    return ";".join(parts)


def _reordered(
    cassette: Cassette, timings: list[tuple[float, float]] | None, harmless: Iterable[str]
) -> Cassette:
    interactions = cassette.interactions
    n = len(interactions)
    times: list[tuple[float, float]] = (
        timings if timings is not None and len(timings) == n else [(i, i) for i in range(n)]
    )
    upstream = str(cassette.metadata.get("upstream") or "")
    keys = [interaction_key(ix, upstream).describe() for ix in interactions]
    floating = _floating(cassette, harmless)
    # A request that also has a fixed recording (an error, then wandb-core's retry; the
    # create a shared run's second process repeats) keeps all of them where they were:
    # replay serves a request's recordings in their order.
    fixed_keys = {keys[i] for i in range(n) if i not in floating}
    floating = {i: a for i, a in floating.items() if keys[i] not in fixed_keys}

    # What timing decides: per anchor, one file_stream post per run, one update per request.
    merged: dict[int, Interaction] = {}
    kept: dict[int, list[int]] = {}
    posts: dict[tuple[int, str], list[int]] = {}
    updates: dict[tuple[int, str], int] = {}
    for index in sorted(floating):
        anchor, run = floating[index], _file_stream_run(interactions[index])
        if run is not None:
            posts.setdefault((anchor, run), []).append(index)
        else:
            updates[(anchor, keys[index])] = index  # the last of equal requests stays
    for (anchor, _run), group in posts.items():
        one = _merge_posts([interactions[i] for i in group])
        if one is None:  # several writers: every post, in its order
            kept.setdefault(anchor, []).extend(group)
            continue
        merged[group[-1]] = one
        kept.setdefault(anchor, []).append(group[-1])
    for (anchor, _key), index in updates.items():
        kept.setdefault(anchor, []).append(index)

    fixed = [i for i in range(n) if i not in floating]
    order: list[int] = []
    for index in _interval_order(fixed, times, lambda i: keys[i]):
        order.append(index)
        order += sorted(kept.get(index, ()), key=lambda i: (keys[i], i))
    new_index = {old: new for new, old in enumerate(order)}
    metadata = dict(cassette.metadata)
    cleanup = metadata.get(CLEANUP_KEY)
    if isinstance(cleanup, list):
        metadata[CLEANUP_KEY] = sorted(new_index[i] for i in cleanup if i in new_index)
    return Cassette([merged.get(i, interactions[i]) for i in order], metadata, cassette.path)
