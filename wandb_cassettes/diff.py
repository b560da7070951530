"""What a re-recording changed, in W&B's terms: ``wandb-cassettes diff OLD NEW``.

A cassette is a few hundred lines of YAML; a reviewer of a re-recorded one wants
to know which requests the test now sends or no longer sends, and which values
changed, in the terms of the test (``config.lr``, an operation's name), not a
text diff. Interactions of the two cassettes are paired by what they ask (the
GraphQL operation, the file_stream run, the method and URL without its query)
in order, the way :mod:`difflib` pairs lines; a paired one is compared value by
value: what the SDK sent (GraphQL variables, with JSON documents inside them
read as such; the URL; an upload's size and sha256) and what the server answered
(status, JSON body, headers).

With stable recordings (:mod:`.record._stable`), an unchanged test re-recorded
against the same server differs only in what that server answered differently
(the ids it made) and in the metadata's ``recording`` line.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .replay import interaction_key, parsed, wandb_term
from .store import Body, Cassette, Digest, Interaction, body_text, json_or_none

#: The metadata line that says when and against what a cassette was recorded: it changes
#: with every recording, so it is shown but is no difference.
RECORDING_KEY = "recording"
#: At most this many value differences are listed per interaction.
LIMIT = 20


@dataclass
class Change:
    """One interaction added, removed or changed; ``lines`` say what changed."""

    sign: str  # "+", "-", "~"
    old: int | None
    new: int | None
    what: str
    lines: list[str] = field(default_factory=list)

    def render(self) -> list[str]:
        where = {
            "+": f"#{self.new}",
            "-": f"#{self.old}",
            "~": f"#{self.old} -> #{self.new}",
        }[self.sign]
        return [f"{self.sign} {where} {self.what}", *(f"    {line}" for line in self.lines)]


@dataclass
class CassetteDiff:
    """The differences between two cassettes."""

    metadata: list[str]
    changes: list[Change]
    unchanged: int
    recording: tuple[str, str] | None = None

    @property
    def same(self) -> bool:
        """No difference but the metadata's recording line."""
        return not self.metadata and not self.changes

    def render(self, old: str, new: str) -> str:
        counts = {sign: sum(1 for c in self.changes if c.sign == sign) for sign in "+-~"}
        lines = [f"--- {old}", f"+++ {new}"]
        if self.recording is not None and self.recording[0] != self.recording[1]:
            lines.append(f"recording: {self.recording[0]} -> {self.recording[1]}")
        if self.metadata:
            lines.append("metadata:")
            lines += [f"    {line}" for line in self.metadata]
        for change in self.changes:
            lines += change.render()
        lines.append(
            f"{counts['+']} added, {counts['-']} removed, {counts['~']} changed, "
            f"{self.unchanged} unchanged"
        )
        return "\n".join(lines)


def diff(old: Cassette, new: Cassette) -> CassetteDiff:
    """What changed from ``old`` to ``new`` (both loaded cassettes)."""
    labels = [[_label(ix, c) for ix in c.interactions] for c in (old, new)]
    changes: list[Change] = []
    unchanged = 0
    matcher = difflib.SequenceMatcher(None, labels[0], labels[1], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        pairs, removed, added = _pair(labels[0], labels[1], range(i1, i2), range(j1, j2), tag)
        for i, j in pairs:
            lines = list(_compare(old.interactions[i], new.interactions[j]))
            if lines:
                changes.append(Change("~", i, j, labels[1][j], _limited(lines)))
            else:
                unchanged += 1
        changes += [Change("-", i, None, _described(old, i)) for i in removed]
        changes += [Change("+", None, j, _described(new, j)) for j in added]
    changes.sort(key=lambda c: (c.new if c.new is not None else c.old or 0, c.sign))
    meta = [
        f"{key}: {_short(old.metadata.get(key, _ABSENT))} -> "
        f"{_short(new.metadata.get(key, _ABSENT))}"
        for key in sorted(set(old.metadata) | set(new.metadata), key=str)
        if key != RECORDING_KEY and old.metadata.get(key, _ABSENT) != new.metadata.get(key, _ABSENT)
    ]
    recording = (
        str(old.metadata.get(RECORDING_KEY, old.metadata.get("recorded_at", ""))),
        str(new.metadata.get(RECORDING_KEY, new.metadata.get("recorded_at", ""))),
    )
    meta = [m for m in meta if not m.startswith("recorded_at:")]
    return CassetteDiff(meta, changes, unchanged, recording)


_ABSENT: Any = type("_Absent", (), {"__repr__": lambda self: "(absent)"})()


def _label(ix: Interaction, cassette: Cassette) -> str:
    """What an interaction asks, as pairing compares it: the operation, or method and URL."""
    key = interaction_key(ix, str(cassette.metadata.get("upstream") or ""), scrub=False)
    return f"GraphQL {key.name}" if key.kind == "graphql" else key.name


def _described(cassette: Cassette, index: int) -> str:
    ix = cassette.interactions[index]
    key = interaction_key(ix, str(cassette.metadata.get("upstream") or ""), scrub=False)
    return key.describe(160)


def _pair(
    old: list[str], new: list[str], left: range, right: range, tag: str
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs of one opcode block (equal labels, in order), and what is left on each side."""
    if tag == "equal":
        return list(zip(left, right, strict=True)), [], []
    pairs: list[tuple[int, int]] = []
    free = list(right)
    removed: list[int] = []
    # The same request first; then the same kind of request to the same place (an upload
    # whose URL names a server id that changed), in order.
    for same in (lambda a, b: a == b, lambda a, b: _place(a) == _place(b)):
        for i in [i for i in left if i not in {p[0] for p in pairs}]:
            match = next((j for j in free if same(new[j], old[i])), None)
            if match is not None:
                pairs.append((i, match))
                free.remove(match)
    removed = [i for i in left if i not in {p[0] for p in pairs}]
    return sorted(pairs), removed, free


def _place(label: str) -> str:
    """``METHOD scheme://host`` of a storage request's label; a GraphQL label as it is."""
    if label.startswith("GraphQL ") or " " not in label:
        return label
    method, url = label.split(" ", 1)
    return f"{method} {'/'.join(url.split('/')[:3])}"


def _limited(lines: list[str]) -> list[str]:
    if len(lines) <= LIMIT:
        return lines
    return [*lines[:LIMIT], f"... and {len(lines) - LIMIT} more"]


# -- comparing one pair -----------------------------------------------------------------


def _compare(old: Interaction, new: Interaction) -> Iterator[str]:
    if old.uri != new.uri:
        yield f"url: {_short(old.uri)} -> {_short(new.uri)}"
    yield from _bodies("sent", old.request_body, new.request_body)
    if old.status != new.status:
        yield f"status: {old.status} -> {new.status}"
    yield from _headers(old.response_headers, new.response_headers)
    yield from _bodies("answered", old.response_body, new.response_body)


def _bodies(side: str, a: Body, b: Body) -> Iterator[str]:
    if isinstance(a, Digest) or isinstance(b, Digest):
        if a != b:
            yield f"{side}: {_body_summary(a)} -> {_body_summary(b)}"
        return
    left, right = _document(a), _document(b)
    if left is None or right is None:
        if a != b:
            yield f"{side}: {_body_summary(a)} -> {_body_summary(b)}"
        return
    graphql = side == "sent" and isinstance(left, dict) and "variables" in left
    if graphql:
        # Variables in W&B's terms; the query text only when it changed.
        if left.get("query") != right.get("query"):
            yield f"{side} query: the GraphQL document changed"
        left, right = left.get("variables") or {}, right.get("variables") or {}
    for path, x, y in _differences(left, right, ()):
        where = wandb_term(path)[0] if graphql else ".".join(str(p) for p in path) or "body"
        yield f"{side} {where}: {_short(x)} -> {_short(y)}"


def _document(body: Body) -> Any:
    """A JSON body, JSON documents inside its strings parsed too; None for anything else."""
    document = json_or_none(body_text(body) or "")
    try:
        return None if document is None else parsed(document)
    except RecursionError:
        return None


def _differences(
    a: Any, b: Any, path: tuple[Any, ...]
) -> Iterable[tuple[tuple[Any, ...], Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            yield from _differences(a.get(key, _ABSENT), b.get(key, _ABSENT), (*path, key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _differences(x, y, (*path, i))
    elif a != b:
        yield path, a, b


def _headers(old: dict[str, list[str]], new: dict[str, list[str]]) -> Iterator[str]:
    lower = {k.lower(): v for k, v in old.items()}, {k.lower(): v for k, v in new.items()}
    for name in sorted(set(lower[0]) | set(lower[1])):
        x, y = lower[0].get(name, _ABSENT), lower[1].get(name, _ABSENT)
        if x != y:
            yield f"answered header {name}: {_short(x)} -> {_short(y)}"


def _body_summary(body: Body) -> str:
    if isinstance(body, Digest):
        return f"{body.size} bytes, sha256 {body.sha256[:12]}"
    if body is None:
        return "(none)"
    return _short(body_text(body) if body_text(body) is not None else f"{len(body)} bytes")


def _short(value: Any, limit: int = 80) -> str:
    """A value as the diff shows it: JSON, cut at ``limit``; a W&B server id with what it
    names (``"QXJ0aWZhY3Q6NQ==" (Artifact:5)``)."""
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    named = _server_id(value) if isinstance(value, str) else None
    return f"{text} ({named})" if named else text


_SERVER_ID_RE = re.compile(r"^[A-Za-z0-9+/]{8,}={0,2}$")


def _server_id(value: str) -> str | None:
    """What a W&B server id names: they are base64 of ``Type:n`` (``Run:v1:<run>:...``)."""
    if len(value) % 4 or not _SERVER_ID_RE.match(value):
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    kind, _, rest = decoded.partition(":")
    return decoded if kind.isidentifier() and kind[:1].isupper() and rest.isprintable() else None
