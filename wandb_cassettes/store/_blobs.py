"""Large response bodies outside the YAML: content-addressed, de-duplicated, streamed.

A test that downloads what it did not upload (a model from a registry, a
dataset) would otherwise store the whole download inside its cassette: a
256 MB download made a 400 MB YAML file, and loading it took gigabytes. Such
a body is written once to ``<blob dir>/<sha256[:2]>/<sha256>`` beside the
cassettes (the cassette keeps its size and sha256, and the path of the blob
relative to the cassette, in the response body mapping, which vcrpy's loader
reads past), streamed to disk while recording and from disk while replaying,
so memory stays bounded both ways. Identical bodies share one file.

A cassette is untrusted input (it comes with pull requests), and so is the reference it
holds: a reference is only ever the body's content address under the cassette folder's
``_blobs/`` (:func:`blob_file`; the loader checks its form, :meth:`.cassette.Digest.checked`),
and the file's sha256 is checked before its bytes are served or the audit passes it
(:func:`verify_blob`). Anything else makes the cassette unusable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from ..errors import CassetteError

#: The folder of blobs, beside the cassettes (under the cassette folder).
BLOB_DIR = "_blobs"
#: Bodies at least this large go to the blob store rather than into the YAML.
BLOB_MIN_BYTES = 64 * 1024
#: A blob at least this large is worth a warning: it will be committed with the cassettes.
BLOB_WARN_BYTES = 50 * 1024 * 1024


@dataclass
class BlobStore:
    """Files named by their sha256 under ``root``."""

    root: Path

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise CassetteError(self.root, f"a blob is named by its sha256, not {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def writer(self) -> BlobWriter:
        """A temporary file that becomes a blob when :meth:`BlobWriter.commit` is called."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        return BlobWriter(self, Path(name), os.fdopen(fd, "wb"))


@dataclass
class BlobWriter:
    """Writes one body, hashing as it goes; :meth:`commit` files it under its sha256."""

    store: BlobStore
    temp: Path
    fh: IO[bytes]
    size: int = 0
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)

    def write(self, chunk: bytes) -> None:
        self.fh.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self) -> Path:
        """Keep the body as a blob (a copy already there wins: the content is the same)."""
        self.fh.close()
        target = self.store.path(self.sha256)
        if target.exists():
            self.temp.unlink(missing_ok=True)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.temp, 0o644)
        os.replace(self.temp, target)
        return target

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        self.temp.unlink(missing_ok=True)


class BlobBody(Protocol):
    """What a blob reference is checked against (:class:`.cassette.Digest`)."""

    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def blob(self) -> str | None: ...


def blob_file(cassette: Path, body: BlobBody, root: Path, what: str = "") -> Path:
    """The file of ``body``'s blob, confined to ``root`` (the cassette folder).

    The reference must name exactly ``<root>/_blobs/<sha256[:2]>/<sha256>`` (relative to
    the cassette's folder, as recording writes it), and that file, links resolved, must be
    inside ``<root>/_blobs``: a reference that climbs out of the folder, or a link that
    leads out of it, is refused before anything is read.

    Raises:
        CassetteError: The reference is anything else (names the cassette, then ``what``:
            "interaction 3: ").
    """
    expected = root / BLOB_DIR / body.sha256[:2] / body.sha256
    given = cassette.parent / str(body.blob)
    # realpath: the cassette may be named relative to the working folder ("cassettes/") or
    # through a link to the folder, the cassette folder absolute (the project's settings).
    # The blob itself is no link out of the store: checked below.
    if os.path.realpath(given.parent) != os.path.realpath(expected.parent) or (
        given.name != expected.name
    ):
        raise CassetteError(
            cassette,
            f"{what}its blob reference {str(body.blob)[:120]!r} is not the download's content "
            f"address in the cassette folder ({expected}): not served, not audited",
        )
    store = (root / BLOB_DIR).resolve()
    if root.resolve() not in store.parents:
        raise CassetteError(
            cassette, f"{what}the blob folder {root / BLOB_DIR} leads out of {root} (a link)"
        )
    real = expected.resolve()
    if store not in real.parents:
        raise CassetteError(cassette, f"{what}its blob {expected} leads out of {store} (a link)")
    _regular(cassette, expected, what)
    return expected


def _regular(cassette: Path, path: Path, what: str, mode: int | None = None) -> None:
    """Raise :class:`CassetteError` when ``path`` (of ``mode``, else as it is now) exists and
    is no regular file: a FIFO would block the reader for ever, a device never ends
    (``/dev/zero``)."""
    if mode is None:
        try:
            mode = path.stat().st_mode
        except OSError:
            return  # missing or unreadable: the reader says so
    if not stat.S_ISREG(mode):
        raise CassetteError(
            cassette, f"{what}its blob {path} is not a regular file (a FIFO, a device, a folder)"
        )


def verify_blob(cassette: Path, body: BlobBody, path: Path, what: str = "") -> None:
    """Check that the blob file ``path`` holds ``body``: its size and sha256, read in chunks.

    Raises:
        CassetteError: It is missing, unreadable, or holds other bytes (names the
            cassette, ``what``, and the file).
    """
    digest = hashlib.sha256()
    size = 0
    try:
        # O_NONBLOCK: a FIFO put there after the check above opens at once instead of
        # waiting for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            _regular(cassette, path, what, os.fstat(fh.fileno()).st_mode)
            while chunk := fh.read(_VERIFY_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if size > body.size:
                    break
    except FileNotFoundError:
        raise CassetteError(
            cassette,
            f"{what}its download is kept in {path}, which is missing (commit the cassette "
            f"folder's {BLOB_DIR}/ with the cassettes)",
        ) from None
    except OSError as exc:
        raise CassetteError(cassette, f"{what}its blob {path} cannot be read: {exc}") from None
    if size != body.size or digest.hexdigest() != body.sha256:
        raise CassetteError(
            cassette,
            f"{what}its blob {path} does not hold the recorded download (sha256 "
            f"{body.sha256[:12]}..., {body.size:,} bytes): not served",
        )


_VERIFY_CHUNK = 1024 * 1024
