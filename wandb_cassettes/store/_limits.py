"""Limits on what loading an untrusted file may cost: cassettes, the parsed cache, journals.

Cassettes arrive in pull requests and merges; journals and the parsed-cassette cache sit
in a working folder. A 1 KB YAML alias bomb ("billion laughs": 9 anchors of 10 aliases
each) stands for 10^9 nodes; PyYAML shares aliased objects, so the load itself is quick,
but every later walk of the tree (matching, scrubbing, the ledger, JSON) pays for each
node it stands for: a replay ran for 10 minutes, an audit took 3 GB. Deep nesting
exhausts Python's recursion in those walks; a huge file or scalar, memory.

No maintained Python YAML loader takes such limits (PyYAML, its libyaml binding and
ruamel.yaml have none; strictyaml refuses anchors and flow style, which vcrpy's own
dumper writes). So :func:`check_yaml` walks libyaml's event stream (PyYAML's ``parse``:
the C parser, one event at a time, nothing kept but a stack of open collections and a
size per anchor) and stops at the first limit crossed, naming its line, before anything
builds a tree: time and memory stay proportional to the bytes read, and the bytes read
are capped by :attr:`Limits.max_bytes`. Only a document inside every limit is then
loaded (by vcrpy's serializer, as before). :func:`check_tree` applies the same limits to
an already parsed JSON value (JSON has no aliases: its size is its file's).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import CassetteError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one file may hold. Every count includes what aliases stand for.

    The defaults leave a cassette this library writes far inside them: a cassette of
    5,000 interactions (each GraphQL, file_stream or storage) is 3.2 MB, ~150,000 nodes,
    6 levels deep, and holds no alias; downloads of 64 KB and more are kept as blobs,
    uploads as digests. At the limits, a load costs ~1 GB and ~30 s at most.

    Attributes:
        max_bytes: The file, and all its scalars together (aliases expanded): 64 MiB,
            20x the 5,000-interaction cassette.
        max_nodes: Scalars, sequences and mappings (aliases expanded): 2,000,000.
        max_depth: Nested sequences and mappings: 32. A cassette is 6 deep (interactions,
            an interaction, its response, headers, a header's values); metadata holds
            the user's settings a few levels more. Far below Python's recursion limit,
            which every later walk of the tree uses.
        max_aliases: Alias nodes: 1,000. vcrpy's dumper writes one only for an object
            that appears twice in the data (the recorder builds each exchange anew).
        max_scalar_bytes: One scalar (a body): 16 MiB. Larger bodies belong in blobs.
        max_json_depth: Arrays and objects nested in a scalar that is a JSON text (a
            body: ``{`` or ``[`` first): 100. W&B's GraphQL answers are about 12 deep;
            every reader of a body (the ledger, matching, the audit) parses it with
            ``json.loads``, whose C decoder raises RecursionError near 1,000.
    """

    max_bytes: int = 64 * MiB
    max_nodes: int = 2_000_000
    max_depth: int = 32
    max_aliases: int = 1_000
    max_scalar_bytes: int = 16 * MiB
    max_json_depth: int = 100


DEFAULT_LIMITS = Limits()

Fail = Callable[[str, int | None], Exception]


def cassette_failure(path: str | os.PathLike[str]) -> Fail:
    """What :func:`check_yaml` raises for a cassette: :class:`CassetteError` at ``path``."""

    def fail(message: str, line: int | None) -> Exception:
        return CassetteError(path, message, line)

    return fail


def over(what: str, limit: int) -> str:
    """The message of a crossed limit: ``what`` was found, ``limit`` is allowed."""
    return (
        f"over the loading limit: {what} (at most {limit:,}); a file this library writes "
        "stays far inside it, so this one is damaged or hostile: not loaded"
    )


def read_capped(path: Path, limits: Limits, fail: Fail) -> bytes:
    """The bytes of ``path``, refusing a file larger than ``limits.max_bytes`` unread.

    Raises:
        OSError: The file cannot be read (the caller names it).
        Exception: ``fail(message, None)`` for a file over the limit.
    """
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limits.max_bytes:
            raise fail(over(f"a file of {size:,} bytes", limits.max_bytes), None)
        data = fh.read(limits.max_bytes + 1)  # the file may grow while being read
    if len(data) > limits.max_bytes:
        raise fail(over("a file that grew while read, bytes", limits.max_bytes), None)
    return data


@dataclass
class _Open:
    """A collection whose end is not reached yet."""

    anchor: str | None
    nodes: int
    chars: int
    #: The height of its tallest child collection (0: none).
    height: int = 0
    #: A mapping's keys so far (scalar keys): None for a sequence.
    keys: set[str] | None = None
    #: Whether a mapping's next child is a key (children alternate key, value).
    at_key: bool = True


@dataclass(frozen=True)
class _Size:
    """What an anchored node stands for, where an alias repeats it."""

    nodes: int
    chars: int
    height: int


def check_yaml(text: str, limits: Limits, fail: Fail) -> None:
    """Refuse YAML ``text`` over ``limits``, at the first event that crosses one.

    Raises:
        Exception: ``fail(message, line)`` (line 1-based); YAML syntax errors as
            PyYAML raises them (``yaml.YAMLError``), for the caller to word.
    """
    if len(text) > limits.max_bytes:
        raise fail(over(f"a text of {len(text):,} characters", limits.max_bytes), None)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    stack: list[_Open] = []
    anchors: dict[str, _Size] = {}
    nodes = chars = aliases = 0
    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.NodeEvent) and stack and stack[-1].keys is not None:
            _one_key(stack[-1], stack[-1].keys, event, fail, line)
        if isinstance(event, yaml.ScalarEvent):
            size = len(event.value)
            if size > limits.max_scalar_bytes:
                raise fail(over(f"a scalar of {size:,} characters", limits.max_scalar_bytes), line)
            nodes, chars = nodes + 1, chars + size
            if (deep := json_too_deep(_scalar_text(event), limits)) is not None:
                raise fail(deep, line)
            if event.anchor:
                anchors[event.anchor] = _Size(1, size, 0)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) + 1 > limits.max_depth:
                raise fail(
                    over(f"collections nested {len(stack) + 1} deep", limits.max_depth), line
                )
            keys: set[str] | None = set() if isinstance(event, yaml.MappingStartEvent) else None
            stack.append(_Open(event.anchor, nodes, chars, keys=keys))
            nodes += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            if stack:
                stack[-1].height = max(stack[-1].height, done.height + 1)
            if done.anchor:
                anchors[done.anchor] = _Size(
                    nodes - done.nodes, chars - done.chars, done.height + 1
                )
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > limits.max_aliases:
                raise fail(over(f"{aliases:,} aliases", limits.max_aliases), line)
            # An alias of an anchor not (yet) defined is the composer's error, worded later.
            stands = anchors.get(event.anchor or "", _Size(1, 0, 0))
            nodes, chars = nodes + stands.nodes, chars + stands.chars
            depth = len(stack) + stands.height
            if depth > limits.max_depth:
                what = f"collections nested {depth} deep where an alias repeats its anchor"
                raise fail(over(what, limits.max_depth), line)
            if stack:
                stack[-1].height = max(stack[-1].height, stands.height)
        else:
            continue
        if nodes > limits.max_nodes:
            what = f"{nodes:,} nodes by here, each alias counted as the nodes it repeats"
            raise fail(over(what, limits.max_nodes), line)
        if chars > limits.max_bytes:
            what = f"{chars:,} characters of scalars by here, each alias counted as what it repeats"
            raise fail(over(what, limits.max_bytes), line)


def _one_key(
    mapping: _Open, keys: set[str], event: yaml.NodeEvent, fail: Fail, line: int | None
) -> None:
    """Refuse a key a mapping has already (``keys``, the mapping's so far): PyYAML keeps the
    last silently, while a reviewer reads the first (``code: 200`` above ``code: 500``).
    YAML 1.2 section 3.2.1.1: the keys of a mapping are unique."""
    if mapping.at_key and isinstance(event, yaml.ScalarEvent):
        if event.value in keys:
            raise fail(f"the key {event.value[:60]!r} is given twice in one mapping", line)
        keys.add(event.value)
    mapping.at_key = not mapping.at_key


def check_tree(value: Any, limits: Limits) -> str | None:
    """Why a parsed JSON ``value`` is over ``limits`` (depth, nodes, a string), or None.

    Iterative: a value nested deeper than Python recurses is measured all the same.
    """
    nodes = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            return over(f"more than {limits.max_nodes:,} values", limits.max_nodes)
        if isinstance(item, dict | list):
            if depth + 1 > limits.max_depth:
                return over(f"values nested {depth + 1} deep", limits.max_depth)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            if len(item) > limits.max_scalar_bytes:
                return over(f"a string of {len(item):,} characters", limits.max_scalar_bytes)
            if (deep := json_too_deep(item, limits)) is not None:
                return deep
    return None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


_BINARY_TAG = "tag:yaml.org,2002:binary"


def _scalar_text(event: yaml.ScalarEvent) -> str:
    """A scalar's text as a body reader sees it: a ``!!binary`` one (vcrpy's form of a body
    that is not UTF-8) decoded, one character a byte (a bracket is the same byte in UTF-8)."""
    if event.tag != _BINARY_TAG:
        return str(event.value)
    try:
        return base64.b64decode(event.value).decode("latin-1")
    except (binascii.Error, ValueError):
        return ""  # not base64: the constructor refuses it, with its own words


def json_too_deep(text: str, limits: Limits) -> str | None:
    """Why ``text``, a JSON text (``{`` or ``[`` first), nests deeper than
    :attr:`Limits.max_json_depth`, or None (also for any other text).

    Brackets inside JSON strings do not count. Costs two ``str.count`` for a text with
    no more brackets than the limit (nearly every body), a regular-expression pass else.
    """
    limit = limits.max_json_depth
    if text.count("[") + text.count("{") <= limit or not text.lstrip().startswith(("{", "[")):
        return None
    depth = deepest = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    if deepest <= limit:
        return None
    return over(f"a JSON body nested {deepest:,} deep", limit)
