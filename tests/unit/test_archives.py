"""A compressed download is searched decompressed (redact/_archives.py): a token in a zip
or gzip a teammate logged is found naming the member, within bounds that a bomb in a pull
request cannot pass, and what cannot be searched (over the bounds, encrypted) is a finding.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from support import cassette_builders as b
from support import credentials

from wandb_cassettes.audit import audit_file
from wandb_cassettes.cli import main as cli
from wandb_cassettes.redact import UNSEARCHED, Scrubber
from wandb_cassettes.redact import _archives as archives

TOKEN = credentials.formats()["github-pat"]
CONFIG = b"name: ci\nnotify: " + TOKEN.encode() + b"\n"


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


FORMATS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "gzip": (gzip.compress, "gzip-decompressed"),
    "bzip2": (bz2.compress, "bzip2-decompressed"),
    "xz": (lambda d: lzma.compress(d * 50), "xz-decompressed"),
    "zip": (lambda d: _zip({"cfg/secrets.yaml": d * 50}), "zip member cfg/secrets.yaml"),
    "zip-in-gzip": (
        lambda d: gzip.compress(_zip({"secrets.yaml": d * 50})),
        "gzip-decompressed > zip member secrets.yaml",
    ),
}


#: Archives stored as they are, holding a compressed one: a zip's stored member and a tar's
#: member are read where they lie, so only what they compress is still to open.
NESTED: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "tar.gz-stored-in-zip": (
        lambda d: _zip({"in/x.tar.gz": gzip.compress(_tar({"cfg": d}))}, zipfile.ZIP_STORED),
        "zip member in/x.tar.gz > gzip-decompressed",
    ),
    "gz-in-tar": (lambda d: _tar({"a/cfg.gz": gzip.compress(d)}), "tar member a/cfg.gz"),
    "zip-in-tar.bz2": (
        lambda d: bz2.compress(_tar({"b.zip": _zip({"c.yaml": d})})),
        "tar member b.zip > zip member c.yaml",
    ),
}


@pytest.mark.parametrize("kind", NESTED)
def test_a_compressed_archive_stored_inside_another_is_opened_too(kind):
    compress, member = NESTED[kind]
    data = compress(CONFIG)
    assert TOKEN.encode() not in data
    found = Scrubber().find_in_body(data, "body")
    assert [f.rule for f in found if member in f.where] == ["betterleaks.github-pat"], found


def test_a_token_that_ends_a_tar_member_before_its_padding_is_found():
    # A token file written without a newline (huggingface's ~/.cache/huggingface/token):
    # NUL bytes pad the member, and no rule's pattern ends a token at a NUL.
    token = credentials.formats()["groq-api-key"]
    data = _tar({"token": token.encode()})
    assert data.count(b"\x00") > 500
    assert [f.rule for f in Scrubber().find_in_body(data, "body")] == ["betterleaks.groq-api-key"]
    assert token not in Scrubber().scrub_text(data.decode("latin-1"))


@pytest.mark.parametrize("kind", FORMATS)
def test_a_token_in_a_compressed_download_is_found_naming_the_member(tmp_path: Path, kind):
    compress, member = FORMATS[kind]
    data = compress(CONFIG)
    assert TOKEN.encode() not in data  # as stored, no rule could read it
    path = tmp_path / "blob"
    path.write_bytes(data)
    for found in (Scrubber().find_in_file(path, "blob"), Scrubber().find_in_body(data, "body")):
        rules = {(f.rule, f.where.split(" > ", 1)[1]) for f in found}
        assert ("betterleaks.github-pat", member) in rules, found


def test_a_zip_member_stored_uncompressed_is_found_once_where_it_lies():
    data = _zip({"config.yaml": CONFIG}, zipfile.ZIP_STORED)  # what torch.save writes
    found = [f for f in Scrubber().find_in_body(data, "body") if "github" in f.rule]
    assert [f.where for f in found] == ["body"]
    assert found[0].offset == data.index(TOKEN.encode())


def test_an_archive_over_the_budget_is_a_finding(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(archives, "ARCHIVE_BUDGET", 1 << 20)
    bomb = gzip.compress(b"\0" * (4 << 20))  # 4 KiB that decompress to 4 MiB
    found = Scrubber().find_in_body(bomb, "body")
    assert [f.rule for f in found] == [UNSEARCHED]
    assert "more than 1,048,576 bytes decompressed" in found[0].where


def test_an_archive_nested_too_deep_is_a_finding():
    data = CONFIG
    for _ in range(archives.ARCHIVE_DEPTH + 1):
        data = gzip.compress(data)
    found = Scrubber().find_in_body(data, "body")
    assert [f.rule for f in found] == [UNSEARCHED] and "nested too deep" in found[0].where


def test_an_encrypted_zip_member_is_a_finding():
    data = bytearray(_zip({"secret.txt": b"x" * 200}))
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1  # general purpose flag, bit 0: encrypted (APPNOTE 4.4.4)
    found = Scrubber().find_in_body(bytes(data), "body")
    assert [f.rule for f in found] == [UNSEARCHED] and "encrypted" in found[0].where


@pytest.mark.parametrize("head", [b"\x1f\x8b", b"PK\x03\x04", b"BZh", b"\xfd7zXZ\x00"])
def test_bytes_that_only_start_like_an_archive_are_searched_as_stored(head: bytes):
    data = head + b"\x00\xff" * 40 + b" " + TOKEN.encode() + b" "
    assert [f.rule for f in Scrubber().find_in_body(data, "body")] == ["betterleaks.github-pat"]


def test_the_audit_fails_on_a_token_in_a_zipped_blob_naming_the_member(tmp_path, capsys):
    path = b.blob_project(tmp_path, _zip({"team/config.yaml": CONFIG * 2000}))
    found = [s.finding for s in audit_file(path).secrets if "github" in s.finding.rule]
    assert len(found) == 2000 and all("zip member team/config.yaml" in f.where for f in found)
    assert cli(["audit", str(path)]) == 1
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err and "zip member team/config.yaml" in out.out


_READ = archives._READ


def _member_of(size: int) -> bytes:
    """A gzip member exactly ``size`` bytes long (stored, not deflated: 23 bytes more)."""
    member = gzip.compress(random.Random(size).randbytes(size - 23), compresslevel=0, mtime=0)
    assert len(member) == size
    return member


#: Text that compresses little (hex of seeded random bytes), so that cutting a stream short
#: leaves the middle of it.
_FILLER = random.Random(22).randbytes(3000).hex().encode()
#: Downloads a plain reader gives up on: what decompresses, or what the bytes say, is
#: searched all the same (the trial stored each of these verbatim, audited clean).
DAMAGED: dict[str, Callable[[bytes], bytes]] = {
    "gzip with a byte after it": lambda d: gzip.compress(d) + b"\n",
    "gzip cut off": lambda d: gzip.compress(d + _FILLER * 2)[:-500],
    "xz cut off": lambda d: lzma.compress(d + _FILLER * 2)[:-500],
    "gzip members one after another": lambda d: gzip.compress(b"a" * 99) + gzip.compress(d),
    # The first member ends where a read of the stream ends, or one byte into the next
    # member's magic number: what follows is read before it is judged.
    "gzip members, the first ending at a read boundary": lambda d: (
        _member_of(_READ) + gzip.compress(d)
    ),
    "gzip members, the next one's magic cut by a read boundary": lambda d: (
        _member_of(_READ - 1) + gzip.compress(d)
    ),
    "zip after a script": lambda d: b"#!/bin/sh\nexit 0\n" + _zip({"c.yaml": d}),
    "utf-16 without its byte order mark": lambda d: d.decode().encode("utf-16-le"),
    "utf-16 big-endian, one byte off": lambda d: b"x" + d.decode().encode("utf-16-be"),
}


@pytest.mark.parametrize("name", DAMAGED)
def test_a_damaged_or_unusual_download_is_searched_as_far_as_it_reads(tmp_path: Path, name):
    data = DAMAGED[name](CONFIG)
    assert TOKEN.encode() not in data
    path = tmp_path / "blob"
    path.write_bytes(data)
    for found in (Scrubber().find_in_file(path, "blob"), Scrubber().find_in_body(data, "body")):
        assert "betterleaks.github-pat" in {f.rule for f in found}, found


def test_a_bzip2_stream_cut_inside_its_last_block_is_a_finding(tmp_path: Path):
    """bzip2 gives nothing of a block until it is whole: what the cut block holds cannot be
    searched, and that is never a pass. A whole stream, or gzip cut alike, is searched."""
    cut = bz2.compress(CONFIG + _FILLER)[:-100]
    path = tmp_path / "blob"
    path.write_bytes(cut)
    for found in (Scrubber().find_in_file(path, "blob"), Scrubber().find_in_body(cut, "body")):
        (unsearched,) = [f for f in found if f.rule == UNSEARCHED]
        assert "bzip2 stream cut short" in unsearched.where, found
    whole = Scrubber().find_in_body(bz2.compress(CONFIG + _FILLER), "body")
    assert [f.rule for f in whole] == ["betterleaks.github-pat"], whole
    tar_cut = bz2.compress(_tar({"a.yaml": CONFIG + _FILLER}))[:-100]
    assert UNSEARCHED in {f.rule for f in Scrubber().find_in_body(tar_cut, "body")}


def test_utf16_past_the_first_chunk_of_a_file_is_searched(tmp_path: Path):
    text = "a,b\n" * 300_000 + "1," + TOKEN + "\n"  # the token 2.4 MB in
    path = tmp_path / "big.csv"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    assert "betterleaks.github-pat" in {f.rule for f in Scrubber().find_in_file(path, "b")}


@pytest.mark.parametrize(
    ("magic", "kind"), [(b"7z\xbc\xaf\x27\x1c", "7z"), (b"\x28\xb5\x2f\xfd", "zstd")]
)
def test_an_archive_that_is_not_opened_is_a_finding(magic: bytes, kind: str):
    found = Scrubber().find_in_body(magic + bytes(range(256)) * 4, "body")
    assert [f.rule for f in found] == [UNSEARCHED]
    assert f"a {kind} archive (not opened" in found[0].where


def test_tensors_of_zeros_are_not_read_as_utf16():
    from wandb_cassettes.redact._engine import _reads_as_utf16

    assert not _reads_as_utf16(bytes(4096))
    assert not _reads_as_utf16(b"\x00\x00\x80\x3f" * 1024)
    assert _reads_as_utf16("a,b,c\n".encode("utf-16-le") * 100)
