"""Cassettes: vcrpy's YAML format plus a metadata block, loaded fast and written safely.

On disk a cassette is exactly what ``vcr.serialize.serialize`` writes
(``version: 1``, ``interactions`` of ``request``/``response`` dicts, and the
``metadata`` block vcrpy 9.4 round-trips), so ``vcr`` itself can load it. We
parse and dump with vcrpy's own YAML serializer (libyaml-backed, restricted
tags) and add what vcrpy has no notion of:

* bodies too large for a repo are stored as ``size`` + ``sha256`` only;
* W&B-specific metadata (library and SDK version, upstream, id seed);
* validation that names the file and line of whatever is wrong;
* bounded loading (:mod:`._limits`): a cassette is untrusted input (it comes with pull
  requests), so one over the limits on size, nodes, nesting and aliases, or holding a
  merge conflict, is refused before any tree is built;
* atomic writes, and never replacing a good cassette with a failed recording.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from ..errors import CassetteError
from ._blobs import BLOB_DIR
from ._limits import DEFAULT_LIMITS, Limits, cassette_failure, check_yaml, read_capped

FORMAT = "wandb-cassettes/1"
VCR_VERSION = 1
FAILED_SUFFIX = ".failed"
#: A response header by which a test double names itself (its value); a cassette recorded
#: against one says so in its metadata (``backend``). Real W&B sends none.
BACKEND_HEADER = "X-Wandb-Cassettes-Backend"

Headers = dict[str, list[str]]

_DIGEST_RE = re.compile(r"^wandb-cassettes:sha256=([0-9a-f]{64});size=(\d+)$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: A blob reference: the content address ``_blobs/<sha256[:2]>/<sha256>`` of the cassette
#: folder, relative to the cassette's own folder (``../`` once per folder level between).
_BLOB_REF_RE = re.compile(r"^(?:\.\./)*" + re.escape(BLOB_DIR) + r"/([0-9a-f]{2})/([0-9a-f]{64})$")
#: git's conflict markers (git-merge(1), "HOW CONFLICTS ARE PRESENTED"; ``|||||||`` with
#: merge.conflictStyle diff3), always at the start of a line. The YAML this library
#: writes never starts a line inside the document with them: every value below the top
#: level is indented.
_CONFLICT_RE = re.compile(r"^(?:(?:<{7}|>{7}|\|{7})(?: |$)|={7}$)", re.MULTILINE)


@dataclass(frozen=True)
class Digest:
    """A body kept as its size and sha256 only (uploads, large downloads).

    ``blob``: where the bytes are, relative to the cassette's folder (a large
    download, :mod:`.blobs`); None when only the digest is kept (an upload, or
    a download of bytes the same test uploaded, which replay serves from what
    the test uploads again).
    """

    sha256: str
    size: int
    blob: str | None = None

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).hexdigest(), len(data))

    def placeholder(self) -> str:
        return f"wandb-cassettes:sha256={self.sha256};size={self.size}"

    @classmethod
    def parse(cls, text: str) -> Digest | None:
        m = _DIGEST_RE.match(text)
        return cls(m.group(1), int(m.group(2))) if m else None

    @classmethod
    def checked(cls, sha256: object, size: object, blob: object = None) -> Digest:
        """A digest read from an untrusted file: a sha256, a size, and a blob reference that
        is the body's content address (see :func:`.blobs.blob_file`).

        Raises:
            ValueError: Any of them has another form (the message says which).
        """
        if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
            raise ValueError("a body digest needs a 'sha256' of 64 lowercase hex digits")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError("a body digest needs a non-negative integer 'size'")
        if blob is None or blob == "":
            return cls(sha256, size)
        m = _BLOB_REF_RE.match(blob) if isinstance(blob, str) else None
        if m is None or m.group(2) != sha256 or m.group(1) != sha256[:2]:
            shown = repr(blob)[:120]
            raise ValueError(
                f"a blob reference is the body's content address, {BLOB_DIR}/"
                f"{sha256[:2]}/{sha256} under the cassette folder, not {shown}"
            )
        return cls(sha256, size, m.group(0))


Body = str | bytes | Digest | None
"""Text (JSON, decompressed), raw bytes, a :class:`Digest`, or no body."""


@dataclass
class Interaction:
    """One recorded HTTP exchange. ``uri`` is the real upstream URL (scrubbed)."""

    method: str
    uri: str
    request_headers: Headers = field(default_factory=dict)
    request_body: Body = None
    status: int = 200
    reason: str = "OK"
    response_headers: Headers = field(default_factory=dict)
    response_body: Body = None

    def request_text(self) -> str | None:
        """The request body as text, or None if it has none or is binary."""
        return body_text(self.request_body)

    def response_text(self) -> str | None:
        return body_text(self.response_body)

    def response_json(self) -> Any:
        """The response body parsed as JSON, or None when it is not JSON."""
        text = self.response_text()
        if not text:
            return None
        try:
            return json.loads(text)
        except (ValueError, RecursionError):  # loading refuses deep bodies; never a crash
            return None

    def to_vcr(self) -> dict[str, Any]:
        """This interaction in vcrpy's dict shape."""
        return {
            "request": {
                "method": self.method,
                "uri": self.uri,
                "body": _body_to_vcr(self.request_body),
                "headers": self.request_headers,
            },
            "response": {
                "status": {"code": self.status, "message": self.reason},
                "headers": self.response_headers,
                "body": _response_body_to_vcr(self.response_body),
            },
        }


@dataclass
class Cassette:
    """The interactions of one test, in recording order, and their metadata."""

    interactions: list[Interaction] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.interactions)

    def __iter__(self) -> Iterator[Interaction]:
        return iter(self.interactions)


def new_metadata(upstream: str, **extra: Any) -> dict[str, Any]:
    """Metadata for a recording made now against ``upstream``."""
    import datetime

    from wandb import __version__ as wandb_version

    meta: dict[str, Any] = {
        "format": FORMAT,
        "library": f"wandb-cassettes {__version__}",
        "wandb": str(wandb_version),
        "upstream": upstream,
        "recorded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    meta.update(extra)
    return meta


def backend_of(cassette: Cassette) -> str:
    """What answered the recording: the name a test double gave in :data:`BACKEND_HEADER`,
    else ``"W&B"``."""
    header = BACKEND_HEADER.lower()
    for ix in cassette.interactions:
        for name, values in ix.response_headers.items():
            if name.lower() == header and values:
                return values[0]
    return "W&B"


#: How much of a cassette's end :func:`cassette_kind` reads first: the metadata block is
#: the last but one key of the YAML this library writes (``interactions``, ``metadata``,
#: ``version``, in vcrpy's sorted order).
_TAIL_BYTES = 64 * 1024
_METADATA_LINE = re.compile(rb"^metadata:[ \t]*$", re.MULTILINE)
_INTERACTIONS_LINE = re.compile(rb"^interactions:", re.MULTILINE)


def cassette_kind(path: str | os.PathLike[str]) -> str | None:
    """What the file at ``path`` is: ``"wandb"`` (a cassette of this library: a top-level
    ``metadata`` block, which vcrpy itself never writes), ``"vcr"`` (a vcrpy cassette
    without one: pytest-recording's, vcrpy's own) or None (no file, or neither).

    Reads the last 64 KiB first (the metadata block is at the end); a larger file
    without the block there is read whole, line by line. Never raises for a file
    that cannot be read: None.
    """
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _TAIL_BYTES))
            tail = fh.read()
            if _METADATA_LINE.search(tail):
                return "wandb"
            fh.seek(0)
            head = fh.read(4096)
            interactions = bool(_INTERACTIONS_LINE.search(head) or _INTERACTIONS_LINE.search(tail))
            if size > _TAIL_BYTES:
                fh.seek(0)
                for line in fh:
                    if _METADATA_LINE.match(line):
                        return "wandb"
                    if line.startswith(b"interactions:"):
                        interactions = True
    except OSError:
        return None
    return "vcr" if interactions else None


# -- loading -------------------------------------------------------------------


def load(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> Cassette:
    """Load and validate the cassette at ``path``.

    Raises :class:`CassetteError` naming the file (and line) when it is
    missing, unreadable, not YAML, over ``limits`` (:class:`.limits.Limits`), holds
    a merge conflict, is of another format version, or when an interaction lacks a
    field or has one of another type. Never modifies the file.
    (:func:`.cache.load_cached` is the same, faster for large cassettes loaded again.)
    """
    return loads(read(path, limits)[1], path, limits)


def read(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> tuple[bytes, str]:
    """The bytes of the cassette at ``path`` and its text (newlines normalised).

    A file larger than ``limits.max_bytes`` is refused unread (:class:`CassetteError`).
    """
    p = Path(path)
    try:
        data = read_capped(p, limits, cassette_failure(p))
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise CassetteError(p, "no such cassette") from None
    except IsADirectoryError:
        raise CassetteError(p, "a folder, not a cassette file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CassetteError(p, f"cannot read: {exc}") from None
    if "\r" in text:  # what read_text's universal newlines would have done
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return data, text


def loads(
    text: str, path: str | os.PathLike[str] = "<string>", limits: Limits = DEFAULT_LIMITS
) -> Cassette:
    """Parse cassette ``text``; ``path`` is only used in error messages.

    Bounded: ``text`` is first walked as a stream of YAML events (:func:`.limits.check_yaml`),
    and refused at the first limit it crosses, before any tree is built.
    """
    if not text.strip():
        raise CassetteError(path, "empty file; delete it and record again")
    _refuse_conflict(text, path)
    try:
        check_yaml(text, limits, cassette_failure(path))
        data = _vcr_yaml().deserialize(text)
    except CassetteError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        cut = " (the file looks truncated)" if mark and mark.index >= len(text.rstrip()) else ""
        raise CassetteError(path, f"invalid YAML: {exc.problem}{cut}", line) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (NUL, other controls)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        message = f"invalid YAML: {exc.reason} (#x{char:04x} at column {column})"
        raise CassetteError(path, message, line) from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise CassetteError(path, f"invalid YAML: {exc}") from None
    except Exception as exc:  # vcrpy's tag constructors, deep nesting (RecursionError), ...
        raise CassetteError(path, f"cannot be parsed: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict) or not ({"interactions", "version"} & set(data)):
        raise CassetteError(
            path,
            "not a cassette: a cassette is a YAML mapping with 'interactions' and "
            "'version: 1' (is this file something else?)",
        )
    if "version" not in data and "interactions" in data:
        # vcrpy writes "version" last, so a file cut short loses it first.
        lines = text.rstrip("\n").count("\n") + 1
        raise CassetteError(path, "no 'version: 1' at the end: the file looks truncated", lines)
    if data.get("version") != VCR_VERSION:
        raise CassetteError(
            path,
            f"unsupported vcrpy cassette version {data.get('version')!r} (expected 1)",
            _line_of(text, r"^version:"),
        )
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise CassetteError(path, "'metadata' must be a mapping")
    fmt = metadata.get("format", FORMAT)
    if fmt != FORMAT:
        raise CassetteError(
            path,
            f"unsupported format {fmt!r} (this library reads {FORMAT!r})",
            _line_of(text, r"^\s+format:"),
        )
    raw = data.get("interactions")
    if not isinstance(raw, list):
        raise CassetteError(path, "'interactions' must be a list")
    interactions = [_interaction_from_vcr(item, i, path, text) for i, item in enumerate(raw)]
    return Cassette(interactions, metadata, Path(path))


def _refuse_conflict(text: str, path: str | os.PathLike[str]) -> None:
    """Name a merge conflict as such (before YAML: its lines may parse inside a body)."""
    conflict = _CONFLICT_RE.search(text)
    if conflict is not None:
        marker = conflict.group(0).strip() or "======="
        raise CassetteError(
            path,
            f"a merge-conflict marker ({marker[:7]}): the file holds both sides of a merge; "
            "keep one side's cassette whole (git checkout --ours/--theirs) or record it again",
            text.count("\n", 0, conflict.start()) + 1,
        )


def _vcr_yaml() -> Any:
    """vcrpy's YAML serializer, imported on first use: pytest-recording registers vcrpy's
    assertion rewriting when it loads, which an earlier import of vcr would defeat."""
    from vcr.serializers import yamlserializer

    return yamlserializer


def _line_of(text: str, pattern: str) -> int | None:
    """The line of the first match of ``pattern`` (multiline) in ``text``."""
    m = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _interaction_line(text: str, index: int) -> int | None:
    """The line where interaction ``index`` starts (for errors only: composes the YAML again)."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for key, value in root.value if root is not None else ():
            if key.value == "interactions":
                return int(value.value[index].start_mark.line) + 1
    except Exception:
        pass
    return None


def _interaction_from_vcr(
    item: Any, index: int, path: str | os.PathLike[str], text: str = ""
) -> Interaction:
    def bad(what: str) -> CassetteError:
        line = _interaction_line(text, index) if text else None
        return CassetteError(path, f"interaction {index}: {what}", line)

    if not isinstance(item, dict):
        raise bad("not a mapping")
    req, resp = item.get("request"), item.get("response")
    if not isinstance(req, dict) or not isinstance(resp, dict):
        raise bad("needs 'request' and 'response' mappings")
    method, uri = req.get("method"), req.get("uri")
    if not isinstance(method, str) or not isinstance(uri, str):
        raise bad("request needs 'method' and 'uri' strings")
    if not _TOKEN_RE.match(method):  # RFC 9110 section 9.1: a method is a token
        raise bad(f"request method {method[:40]!r} is no HTTP method")
    status = resp.get("status")
    if not isinstance(status, dict) or type(status.get("code")) is not int:
        raise bad("response needs 'status: {code: <int>}'")
    if not isinstance(status.get("message"), str | None):
        raise bad("response status 'message' must be text")
    body = resp.get("body")
    if body is not None and not isinstance(body, dict):
        raise bad("response 'body' must be a mapping")
    ix = Interaction(
        method=method,
        uri=uri,
        request_headers=_headers(req.get("headers"), bad),
        request_body=_body_from_vcr(req.get("body")),
        status=status["code"],
        reason=str(status.get("message") or ""),
        response_headers=_headers(resp.get("headers"), bad),
        response_body=_response_body_from_vcr(body or {}, bad),
    )
    problem = unservable(ix)
    if problem:
        raise bad(problem)
    return ix


def unservable(ix: Interaction) -> str | None:
    """Why replay could not send ``ix``'s answer as HTTP, or None.

    Checked for every interaction loaded (the YAML, the parsed cache): replay sends the
    status, reason and headers as they are, and what HTTP cannot carry would fail the
    relay in the middle of a test instead of naming the cassette.
    """
    if not 200 <= ix.status <= 599:
        # 1xx are interim answers (RFC 9110 section 15.2): a recorded exchange ends in a final
        # one, and a client served a 1xx as final waits for the rest until it times out.
        return f"response status {ix.status} is no final HTTP status (200-599)"
    if _UNSENDABLE_RE.search(ix.reason):
        return "response status message holds a control character"
    for name, values in ix.response_headers.items():
        if not _TOKEN_RE.match(name) or any(_UNSENDABLE_RE.search(v) for v in values):
            return f"response header {name[:60]!r} is not a header HTTP can send"
    return None


#: A header name (RFC 9110 5.1, ``token``), and what no header value or reason may hold.
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_UNSENDABLE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _headers(raw: Any, bad: Any) -> Headers:
    """Headers as vcrpy writes them: a name, and a value or a list of values, each text (a
    number reads as its text; a mapping or a list inside is no header value)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad("headers must be a mapping")
    out: Headers = {}
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values):
            raise bad(f"header {str(name)[:60]!r} must have text values")
        out[str(name)] = [str(v) for v in values]
    return out


def _body_from_vcr(raw: Any) -> Body:
    if raw is None or isinstance(raw, bytes):
        return raw
    text = str(raw)
    return Digest.parse(text) or text


def _response_body_from_vcr(raw: dict[str, Any], bad: Any) -> Body:
    if "sha256" in raw:
        try:
            return Digest.checked(raw["sha256"], raw.get("size"), raw.get("blob"))
        except ValueError as exc:
            raise bad(f"response body: {exc}") from None
    value = raw.get("string")
    if value is None or isinstance(value, bytes | str):
        return value
    raise bad("response body 'string' must be text or binary")


# -- writing -------------------------------------------------------------------


def _body_to_vcr(body: Body) -> str | bytes | None:
    return body.placeholder() if isinstance(body, Digest) else body


def _response_body_to_vcr(body: Body) -> dict[str, Any]:
    if isinstance(body, Digest):
        data: dict[str, Any] = {"string": "", "sha256": body.sha256, "size": body.size}
        if body.blob:
            data["blob"] = body.blob
        return data
    return {"string": body}


def dumps(cassette: Cassette) -> str:
    """The YAML text of ``cassette`` (vcrpy's serializer and layout)."""
    data: dict[str, Any] = {
        "version": VCR_VERSION,
        "interactions": [ix.to_vcr() for ix in cassette.interactions],
    }
    if cassette.metadata:
        data["metadata"] = cassette.metadata
    return str(_vcr_yaml().serialize(data))


def save(cassette: Cassette, path: str | os.PathLike[str]) -> Path:
    """Write ``cassette`` to ``path`` atomically (temporary file + rename)."""
    return write_atomic(path, dumps(cassette))


def write_atomic(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> Path:
    """Replace ``path`` with ``text`` in one rename: readers see the old file or the new one.

    ``durable`` also flushes the data to disk before the rename (skip it for caches).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        # mkstemp makes the file 0600; a cassette is shared like any file of the repository,
        # so it gets the mode the user's umask gives new files (0644 under the usual 022).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p


def _umask() -> int:
    """The process's umask (read by setting it and putting it back: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_failed(cassette: Cassette, path: str | os.PathLike[str]) -> Path:
    """Keep a failed recording beside ``path`` (``<name>.yaml.failed``), never over it."""
    return save(cassette, failed_path(path))


def failed_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_name(p.name + FAILED_SUFFIX)


def body_text(body: Body) -> str | None:
    """A body as text: ``str`` as is, UTF-8 ``bytes`` decoded, anything else None."""
    if isinstance(body, str):
        return body
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def json_or_none(text: str) -> Any:
    """``text`` parsed as a JSON object or array; None for anything else or too deep."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return None


# -- naming --------------------------------------------------------------------
