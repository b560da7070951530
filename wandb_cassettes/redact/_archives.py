"""What a compressed download holds, opened for the secret search, within bounds.

A download kept byte for byte (a blob, or a binary body in the YAML) is searched for
secrets as it is stored (:meth:`.Scrubber.find_in_file`). A gzip, bzip2 or xz stream, or
a zip member compressed with deflate (what ``zip``, ``shutil.make_archive`` and most
tools write), holds its text in a form no rule reads: a teammate's ``configs.zip`` with a
token in it would be stored, and audited clean. So each such stream is opened here and
searched too, decompressed, with the same rules; members of a zip stored uncompressed
(a ``torch.save`` checkpoint is such a zip) and of a tar were read where they lie
already, but one that is itself compressed (a ``.tar.gz`` in a zip, a ``.gz`` in a tar)
is opened and searched inside, like the archive that holds it.

The content comes from teammates and pull requests (issue 22: untrusted input), so the
work is bounded: :data:`ARCHIVE_BUDGET` decompressed bytes per body or blob, archives
nested :data:`ARCHIVE_DEPTH` deep, :data:`ARCHIVE_MEMBERS` members. What the bounds cut
off, and a zip member that is encrypted, cannot be searched: a finding
(:data:`UNSEARCHED`), never a silent pass. A stream that is not what its first bytes
say (a truncated or corrupt one) is searched as far as it reads: its bytes as stored
were searched already.

Formats by their magic numbers: gzip RFC 1952 section 2.3.1 (``1f 8b``), bzip2
(``BZh``, the bzip2 file format), xz (``fd 37 7a 58 5a 00``, the .xz file format 2.1.1.1),
zip (``PK 03 04``, PKWARE APPNOTE 4.3.7), tar (``ustar`` at byte 257, POSIX.1-2017 pax
"ustar Interchange Format"; GNU tar writes ``ustar`` there too).
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO, Any, cast

#: Decompressed bytes searched per body or blob, all its archives together (at ~10 MB/s of
#: search, about ten seconds at worst: a zip bomb in a pull request stops there).
ARCHIVE_BUDGET = 128 * 1024 * 1024
#: Archives inside archives opened (a .zip in a .gz is depth 2).
ARCHIVE_DEPTH = 3
#: Members of one zip searched.
ARCHIVE_MEMBERS = 10_000
#: The rule name of a finding for what could not be searched (over a bound, encrypted).
UNSEARCHED = "archive-not-searched"

#: Opens a stream of bytes to read (and closes it, and what it reads from, on exit).
Opener = Callable[[], AbstractContextManager[IO[bytes]]]

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
)
_STREAMS = ("gzip", "bzip2", "xz")
#: How many first bytes of a stream :func:`kind_of` needs (a tar's magic is at 257).
HEAD = 512
_TAR_MAGIC = slice(257, 262)
#: What a stream that is not what its magic number says raises while read.
CORRUPT = (
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
    tarfile.TarError,
    ValueError,
)


#: Formats recognised and not opened (no decompressor in Python's standard library, or
#: none for 3.11): 7z (7-Zip's 7zFormat.txt), Zstandard (RFC 8878 3.1.1), RAR 4 and 5,
#: LZ4 frames. What they hold cannot be searched: a finding (:data:`UNSEARCHED`).
UNOPENED = (
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
#: A zip's end of central directory record (APPNOTE 4.3.16) is in its last 64 KiB + 22
#: bytes: a zip with other bytes before it (a self-extracting one, a script with a zip
#: after it) is a zip all the same, and ``zipfile`` reads it so.
ZIP_TAIL = 65536 + 22
_ZIP_END = b"PK\x05\x06"


def unopened(head: bytes) -> str | None:
    """The format of an archive ``head`` starts that is recognised and not opened."""
    return _by_magic(UNOPENED, head)


def zip_at_end(tail: bytes) -> bool:
    """Whether a stream's last :data:`ZIP_TAIL` bytes hold a zip's end record."""
    return _ZIP_END in tail


def kind_of(head: bytes) -> str | None:
    """The archive format whose magic number ``head`` (a stream's first :data:`HEAD` bytes)
    holds."""
    if head[_TAR_MAGIC] == b"ustar":
        return "tar"
    return _by_magic(_MAGIC, head)


def _by_magic(formats: tuple[tuple[bytes, str], ...], head: bytes) -> str | None:
    return next((kind for magic, kind in formats if head.startswith(magic)), None)


@dataclass(frozen=True)
class Member:
    """A stream an archive holds: where it is (``where > zip member a/b.txt``), how to open
    it, and, for one whose bytes were searched where they lie (stored in a zip, in a tar),
    the archive format it is itself (only its inside is still to search)."""

    where: str
    open: Opener
    inner: str | None = None


class OverBudget(Exception):
    """More decompressed bytes than :data:`ARCHIVE_BUDGET` (or members than allowed)."""


class Unsearchable(Exception):
    """A member that cannot be opened without what the cassette does not hold (a password)."""


@dataclass
class Budget:
    """Decompressed bytes still to be searched for one body or blob."""

    left: int = field(default_factory=lambda: ARCHIVE_BUDGET)

    def spend(self, n: int) -> None:
        """Take ``n`` bytes off. Raises :class:`OverBudget` when none are left."""
        self.left -= n
        if self.left < 0:
            raise OverBudget(f"more than {ARCHIVE_BUDGET:,} bytes decompressed")


def contents(kind: str, open_: Opener, where: str) -> Iterator[Member]:
    """Each stream an archive of ``kind`` opened by ``open_`` holds that is still to search:
    a decompressed one, and one searched where it lies that is an archive itself.

    Raises:
        Unsearchable: An encrypted zip member.
        OverBudget: An archive of more than :data:`ARCHIVE_MEMBERS` members.
        CORRUPT: An archive that is not what its magic number says.
    """
    if kind in _STREAMS:
        yield Member(f"{where} > {kind}-decompressed", lambda: _decompressed(kind, open_))
    elif kind == "tar":
        yield from _tar_members(open_, where)
    else:
        yield from _zip_members(open_, where)


def _zip_members(open_: Opener, where: str) -> Iterator[Member]:
    with open_() as raw, zipfile.ZipFile(raw) as archive:
        members = archive.infolist()
        if len(members) > ARCHIVE_MEMBERS:
            raise OverBudget(f"a zip of {len(members):,} members")
        for info in members:
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:  # APPNOTE 4.4.4: bit 0, the member is encrypted
                raise Unsearchable(f"member {info.filename!r} is encrypted")
            member = Member(f"{where} > zip member {info.filename}", _member(archive, info))
            if info.compress_type != zipfile.ZIP_STORED:
                yield member
            elif inner := _inner_kind(member.open):
                yield dataclasses.replace(member, inner=inner)


def _tar_members(open_: Opener, where: str) -> Iterator[Member]:
    """A tar's members are stored as they are: only those that are archives themselves."""
    with open_() as raw, tarfile.open(fileobj=raw, mode="r:") as archive:
        for count, info in enumerate(archive, 1):
            if count > ARCHIVE_MEMBERS:
                raise OverBudget(f"a tar of more than {ARCHIVE_MEMBERS:,} members")
            if not info.isfile():
                continue
            member = Member(f"{where} > tar member {info.name}", _tar_member(archive, info))
            if inner := _inner_kind(member.open):
                yield dataclasses.replace(member, inner=inner)


def _inner_kind(open_: Opener) -> str | None:
    with open_() as stream:
        return kind_of(stream.read(HEAD))


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Opener:
    return lambda: archive.open(info)


def _tar_member(archive: tarfile.TarFile, info: tarfile.TarInfo) -> Opener:
    def open_() -> AbstractContextManager[IO[bytes]]:
        stream = archive.extractfile(info)
        if stream is None:  # not a regular file (checked before): nothing to read
            raise tarfile.TarError(f"member {info.name!r} cannot be read")
        return cast(AbstractContextManager[IO[bytes]], stream)

    return open_


@contextlib.contextmanager
def _decompressed(kind: str, open_: Opener) -> Iterator[IO[bytes]]:
    with open_() as raw:
        yield cast(IO[bytes], io.BufferedReader(_Decompressing(kind, raw)))


#: A decompressor per stream format: one member at a time (``eof`` at its end).
_DECOMPRESSORS: dict[str, Callable[[], Any]] = {
    "gzip": lambda: zlib.decompressobj(wbits=31),  # 16 + 15: a gzip header and trailer
    "bzip2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
}
_READ = 64 * 1024
#: Formats whose decompressor gives nothing of a block until the block is whole (bzip2: up
#: to 900 kB): a stream cut short hides its last block. gzip and xz give what they read.
_WHOLE_BLOCKS = frozenset({"bzip2"})


class _Decompressing(io.RawIOBase):
    """A compressed stream's content, read as far as it goes.

    Unlike ``gzip.GzipFile`` and its kin, which raise on a stream cut short or followed by
    other bytes (and lose what they had decompressed in that read), this gives every byte
    that decompresses: a download cut off, or with a byte after its end, still has its
    content searched. Members that follow one another (``cat a.gz b.gz``) are read in turn;
    anything else after the last is left. Seekable forwards by reading, backwards by
    starting again (what ``tarfile`` needs), as ``gzip.GzipFile`` is.
    """

    def __init__(self, kind: str, raw: IO[bytes]) -> None:
        super().__init__()
        self._kind, self._raw = kind, raw
        self._start = raw.tell() if raw.seekable() else None
        self._restart()

    def _restart(self) -> None:
        if self._start is not None:
            self._raw.seek(self._start)
        self._decompressor = _DECOMPRESSORS[self._kind]()
        self._pending, self._done, self._position = b"", False, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._start is not None

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._start is None:
            raise OSError("this decompressed stream cannot seek")
        if whence == io.SEEK_END:  # its size: known by reading to its end (zipfile asks)
            while self.read(_READ):
                pass
            whence, offset = io.SEEK_SET, self._position + offset
        target = offset if whence == io.SEEK_SET else self._position + offset
        if target < self._position:
            self._restart()
        while self._position < target and self.read(min(_READ, target - self._position)):
            pass
        return self._position

    def readinto(self, buffer: Any) -> int:
        data = self._take(len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _take(self, n: int) -> bytes:
        while not self._pending and not self._done:
            self._pending = self._more()
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def _more(self) -> bytes:
        d = self._decompressor
        if d.eof:
            magic, rest = _MAGIC_OF[self._kind], d.unused_data
            # A member may end where a read ends, or inside the next one's magic number:
            # what follows is read before it is judged.
            while len(rest) < len(magic) and magic.startswith(rest):
                more = self._raw.read(_READ)
                if not more:
                    break
                rest += more
            if not rest.startswith(magic):
                self._done = True  # what follows the last member is no member: left
                return b""
            self._decompressor = _DECOMPRESSORS[self._kind]()
            return self._feed(rest)
        chunk = self._raw.read(_READ)
        if not chunk:
            self._done = True  # cut short: what decompressed so far is all there is
            if self._kind in _WHOLE_BLOCKS:
                raise Unsearchable(
                    f"a {self._kind} stream cut short: its last block does not decompress, "
                    "so what it holds is not searched"
                )
            return b""
        return self._feed(chunk)

    def _feed(self, chunk: bytes) -> bytes:
        try:
            return bytes(self._decompressor.decompress(chunk))
        except CORRUPT:
            self._done = True  # corrupt from here on
            return b""


_MAGIC_OF = {kind: magic for magic, kind in _MAGIC}
