"""A cache of parsed cassettes: large cassettes load in milliseconds the second time.

PyYAML (even libyaml-backed) needs ~0.25 ms per interaction, so a
1,000-interaction cassette takes ~300 ms to parse on every replay. A cassette
that parsed cleanly is kept, as JSON, in ``.wandb_cassettes/cache/`` of the rootdir (or
``$WANDB_CASSETTES_CACHE_DIR``; ``off`` disables it) and read from there
while its bytes stay the same (checked by SHA-256 at every load). The YAML
file stays the only source of truth: a missing, stale or damaged entry just
means parsing it again, and a read-only disk just means no cache.

An entry is untrusted input too (the folder is a working folder, which a CI cache may
restore): it is read within the same limits as the YAML (:mod:`._limits`), and each of
its interactions must pass the checks a loaded one passes (types, what HTTP can send, a
blob reference that is a content address); an entry that does not is ignored and the
YAML, checked as always, parsed instead.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ._cassette import (
    FORMAT,
    Body,
    Cassette,
    Digest,
    Interaction,
    loads,
    read,
    unservable,
    write_atomic,
)
from ._limits import DEFAULT_LIMITS, Limits, check_tree
from ._project import find_project

#: Folder of the parsed-cassette cache; "" or "off" disables it.
CACHE_ENV = "WANDB_CASSETTES_CACHE_DIR"
#: Cassettes smaller than this are not cached: their YAML parses as fast as a cache entry
#: loads. A small test's cassette (a run, three logs: ~16 KB) parses in ~4 ms (YAML plus the
#: bounded pre-pass) and loads from the cache in under 1 ms.
CACHE_MIN_BYTES = 2 * 1024
#: Entries kept beyond the ones a session used: :func:`prune_cache` removes the least recently
#: used others. An entry's mtime is its last use (a load touches it), so every cassette a
#: session replays keeps its entry, however large the suite.
CACHE_MAX_ENTRIES = 256
_CACHE_FORMAT = f"{FORMAT}+cache/1 {__version__}"


@dataclass(frozen=True)
class _Entry:
    file: Path
    sha256: str


def load_cached(
    path: str | os.PathLike[str], directory: Path | None = None, limits: Limits = DEFAULT_LIMITS
) -> Cassette:
    """:func:`.cassette.load`, served from the cache while the file is unchanged.

    ``directory``: the cache folder (the process runtime passes
    ``<rootdir>/.wandb_cassettes/cache``); ``$WANDB_CASSETTES_CACHE_DIR`` wins.
    ``limits`` bound the YAML and the cache entry alike.
    """
    p = Path(path)
    data, text = read(p, limits)
    entry = _entry(p, data, directory)
    if entry is not None:
        cached = _read(entry, limits)
        if cached is not None:
            cached.path = p
            with contextlib.suppress(OSError):
                os.utime(entry.file)  # its last use: what prune_cache() keeps
            return cached
    cassette = loads(text, p, limits)
    if entry is not None:
        _write(entry, cassette)
    return cassette


def cache_dir(default: Path | None = None) -> Path | None:
    """``$WANDB_CASSETTES_CACHE_DIR``, else ``default``, else ``.wandb_cassettes/cache`` of the
    pytest rootdir around the working directory (:func:`.project.find_project`)."""
    value = os.environ.get(CACHE_ENV)
    if value is None:
        if default is not None:
            return default
        return find_project().files / "cache"
    if value.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    return Path(value)


def _entry(path: Path, data: bytes, directory: Path | None = None) -> _Entry | None:
    """The cache slot of the cassette at ``path`` (one per path) and its content hash."""
    if len(data) < CACHE_MIN_BYTES:
        return None
    folder = cache_dir(directory)
    if folder is None:
        return None
    name = hashlib.sha256(os.fsencode(path.resolve())).hexdigest()[:32]
    return _Entry(folder / f"{name}.json", hashlib.sha256(data).hexdigest())


def _read(entry: _Entry, limits: Limits) -> Cassette | None:
    """The cached cassette, or None: no entry, a stale, damaged or over-limit one."""
    try:
        with entry.file.open("rb") as fh:
            # JSON holds what the YAML held, bytes as base64 (4/3): twice the YAML's limit.
            data = fh.read(2 * limits.max_bytes + 1)
        if len(data) > 2 * limits.max_bytes:
            return None
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("format") != _CACHE_FORMAT:
            return None
        if raw.get("sha256") != entry.sha256 or check_tree(raw, limits) is not None:
            return None
        metadata = raw["metadata"]
        if not isinstance(metadata, dict):
            return None
        interactions = [_interaction(row) for row in raw["interactions"]]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None  # no entry, or a damaged one: parse the YAML
    if any(unservable(ix) for ix in interactions):
        return None
    return Cassette(interactions, metadata)


def _interaction(row: Any) -> Interaction:
    """One cached interaction, of the types a loaded one has (TypeError: it is not)."""
    m, u, qh, qb, st, r, sh, sb = row
    if not (isinstance(m, str) and isinstance(u, str) and isinstance(r, str)):
        raise TypeError("method, uri and reason are strings")
    if type(st) is not int:
        raise TypeError("a status is an integer")
    return Interaction(
        m, u, _headers(qh), _uncache_body(qb), st, r, _headers(sh), _uncache_body(sb)
    )


def _headers(raw: Any) -> dict[str, list[str]]:
    if not isinstance(raw, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in raw.values()
    ):
        raise TypeError("headers map names to lists of strings")
    return raw


def _write(entry: _Entry, cassette: Cassette) -> None:
    """Keep ``cassette`` in the cache, unless JSON would not give it back exactly."""
    try:
        metadata = json.dumps(cassette.metadata)
        if json.loads(metadata) != cassette.metadata:
            return  # e.g. a YAML date or tuple in the metadata
        interactions = json.dumps(
            [
                [
                    ix.method,
                    ix.uri,
                    ix.request_headers,
                    _cache_body(ix.request_body),
                    ix.status,
                    ix.reason,
                    ix.response_headers,
                    _cache_body(ix.response_body),
                ]
                for ix in cassette.interactions
            ]
        )
    except (TypeError, ValueError):
        return
    text = (
        f'{{"format": {json.dumps(_CACHE_FORMAT)}, "sha256": "{entry.sha256}", '
        f'"metadata": {metadata}, "interactions": {interactions}}}'
    )
    with contextlib.suppress(OSError):  # a read-only or full disk: only an optimisation lost
        write_atomic(entry.file, text, durable=False)


def prune_cache(directory: Path | None = None, *, used_since: float = 0.0) -> int:
    """Remove cache entries beyond :data:`CACHE_MAX_ENTRIES`, least recently used first,
    never one used at or after ``used_since`` (a POSIX time: the session's start).

    Run once, at the end of a session (not at each write: a first session of N cassettes
    would list the folder N times). Returns how many entries were removed.
    """
    folder = cache_dir(directory)
    if folder is None:
        return 0
    entries = []
    with contextlib.suppress(OSError):
        for f in folder.glob("*.json"):
            with contextlib.suppress(OSError):
                entries.append((f.stat().st_mtime, f))
    stale = sorted(e for e in entries if e[0] < used_since)
    removed = 0
    for _, f in stale[: max(0, len(entries) - CACHE_MAX_ENTRIES)]:
        with contextlib.suppress(OSError):
            f.unlink()
            removed += 1
    return removed


def _cache_body(body: Body) -> Any:
    if isinstance(body, Digest):
        return {"sha256": body.sha256, "size": body.size, "blob": body.blob}
    if isinstance(body, bytes):
        return {"base64": base64.b64encode(body).decode("ascii")}
    return body


def _uncache_body(raw: Any) -> Body:
    if isinstance(raw, dict):
        if "base64" in raw:
            return base64.b64decode(raw["base64"], validate=True)
        return Digest.checked(raw.get("sha256"), raw.get("size"), raw.get("blob"))
    if raw is None or isinstance(raw, str):
        return raw
    raise TypeError("a cached body is text, base64, a digest or null")
