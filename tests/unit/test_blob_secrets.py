"""Issue 26: a download kept as a blob beside the cassettes is searched for secrets too.

A blob is served byte for byte at replay (the SDK checks a download's digest), so
recording cannot scrub it: it warns (``Recording.blob_secrets``), and the audit fails on
the cassette naming the blob, never quoting the secret. Files are read in chunks, so a
secret across two chunks, or a UTF-8 character cut by a chunk's end, changes nothing.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from support import cassette_builders as b
from support import credentials

from wandb_cassettes.audit import audit_file
from wandb_cassettes.cli import main as cli
from wandb_cassettes.record import Recording
from wandb_cassettes.redact import CassetteScrubber, Scrubber
from wandb_cassettes.redact import _engine as engine
from wandb_cassettes.store import BLOB_DIR, BlobStore, Cassette, Digest, Interaction

TOKEN = credentials.formats()["github-pat"]
KEY = "standin-" + hashlib.sha1(b"the key of the blob test").hexdigest()
URL = "https://storage.example/bucket/table.csv"


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 64 bytes, 48 of them searched again with the next: many boundaries."""
    monkeypatch.setattr(engine, "FILE_CHUNK", 64)
    monkeypatch.setattr(engine, "FILE_OVERLAP", 48)


@pytest.mark.parametrize("before", [0, 1, 30, 50, 63, 64, 100])
def test_a_secret_across_two_chunks_is_found_once(tmp_path: Path, small_chunks, before):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * before + f" {TOKEN} ".encode() + b"y" * 200)
    found = Scrubber().find_in_file(path, "blob")
    assert [(f.rule, f.offset, f.length) for f in found] == [
        ("betterleaks.github-pat", before + 1, len(TOKEN))
    ]


def test_a_character_cut_by_a_chunk_end_keeps_the_chunk_text(tmp_path: Path, small_chunks):
    # "é" is two bytes: at byte 63 it is cut in two by the first chunk's end.
    path = tmp_path / "blob"
    path.write_bytes(("a" * 63 + "é" + " " + TOKEN + " ").encode())
    assert [f.rule for f in Scrubber().find_in_file(path, "blob")] == ["betterleaks.github-pat"]


@pytest.mark.parametrize(
    "content",
    [
        "naïve café, token: {token}\n".encode("latin-1"),  # Latin-1 text, not UTF-8
        b"\x80\x02}q\x00(X\x05\x00\x00\x00tokenq\x01X(\x00\x00\x00{token}q\x02u.",  # a pickle
        b"\xff\xd8\xff\xe0" + bytes(range(256)) * 3 + b" {token} " + bytes(range(256)),
    ],
    ids=["latin-1 text", "pickle", "binary"],
)
def test_a_credential_in_a_body_that_is_not_utf8_is_found(tmp_path: Path, small_chunks, content):
    path = tmp_path / "blob"
    path.write_bytes(content.replace(b"{token}", TOKEN.encode()))
    found = Scrubber().find_in_file(path, "blob")
    assert [f.rule for f in found] == ["betterleaks.github-pat"]
    start = path.read_bytes().index(TOKEN.encode())
    assert (found[0].offset, found[0].length) == (start, len(TOKEN))  # bytes, as the file


@pytest.mark.parametrize("name", ["DB_PASSWORD", "db_password", "Db_PassWord", "api_TOKEN"])
def test_a_value_under_a_secret_name_in_binary_is_found_whatever_the_names_case(name):
    # A binary body is searched in an ASCII-lowercased copy (a faster pattern); offsets and
    # case-insensitive names hold as in a text.
    value = "q9Lx2vR7tW4zY8pK3mN6"
    body = b"\x80\x81\xff" + bytes(range(128, 256)) + f" {name}={value}\n".encode() + b"\x81"
    found = Scrubber().find_in_body(body, "blob")
    assert [f.rule for f in found] == ["named-secret"]
    start = body.index(value.encode())
    assert (found[0].offset, found[0].length) == (start, len(value))


def test_random_binary_holds_no_finding(tmp_path: Path):
    path = tmp_path / "weights.bin"
    path.write_bytes(random.Random(7).randbytes(3 << 20))  # 3 MiB of noise, 3 chunks
    assert Scrubber().find_in_file(path, "blob") == []


def test_a_binary_blob_is_searched_for_the_key_in_use(tmp_path: Path, small_chunks):
    path = tmp_path / "blob"
    path.write_bytes(b"\x80\x02\xff" * 30 + KEY.encode() + b"\x00\xfe" * 40)
    found = Scrubber(secrets=(KEY,)).find_in_file(path, "blob")
    assert found and all(f.offset == 90 for f in found)
    assert Scrubber().find_in_file(path, "blob") == []  # not a format: only as the key in use


def test_the_audit_fails_on_a_secret_in_a_blob_naming_it_never_quoting_it(tmp_path, capsys):
    path = b.blob_project(tmp_path, b"name,token\nci," + TOKEN.encode() + b"\n")
    audited = audit_file(path)
    assert audited.error is None
    [located] = audited.secrets
    assert located.index == 0 and located.finding.rule == "betterleaks.github-pat"
    assert "blob" in located.finding.where and located.finding.offset == len(b"name,token\nci,")
    assert cli(["audit", str(path)]) == 1
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err and "github-pat" in out.out + out.err


def test_a_blob_without_a_secret_audits_clean(tmp_path):
    path = b.blob_project(tmp_path, b"epoch,loss\n1,0.5\n2,0.25\n")
    assert audit_file(path).secrets == [] and cli(["audit", str(path)]) == 0


def test_recording_warns_of_a_secret_in_a_blob_it_keeps(tmp_path):
    root = tmp_path / "cassettes"
    store = BlobStore(root / BLOB_DIR)
    writer = store.writer()
    writer.write(b"header\n" + TOKEN.encode() + b"\n")
    kept = writer.commit()
    # As the relay names it: from the cassette's folder, which is not made until it is saved.
    cassette = Cassette([], {}, root / "test_mod" / "test_x.yaml")
    body = Digest(writer.sha256, writer.size, f"../{kept.relative_to(root)}")
    signed = URL + "?X-Goog-Signature=abc"
    cassette.interactions.append(Interaction("GET", signed, response_body=body))
    recording = Recording(cassette, CassetteScrubber(Scrubber()), blobs=store)
    [(rule, line)] = recording.unscrubbed_secrets()
    assert rule == "betterleaks.github-pat" and rule in line and str(body.blob) in line
    assert TOKEN not in line
    assert "X-Goog-Signature" not in line  # the URL without its query (signatures)


def test_recording_warns_of_a_secret_in_a_binary_body_it_keeps(tmp_path):
    pickled = b"\x80\x02}q\x00X\x05\x00\x00\x00tokenq\x01X(\x00\x00\x00" + TOKEN.encode()
    ix = Interaction("GET", URL, response_body=pickled + b"q\x02u.")
    cassette = Cassette([ix], {}, tmp_path / "cassettes" / "test_x.yaml")
    [(rule, line)] = Recording(cassette, CassetteScrubber(Scrubber())).unscrubbed_secrets()
    assert rule == "betterleaks.github-pat"
    assert "#0 GET" in line and "binary response body" in line and "github-pat" in line
    assert TOKEN not in line


def test_a_credential_in_utf16_text_is_found(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_bytes(f"token: {TOKEN}\r\n".encode("utf-16"))  # with its byte order mark
    assert [f.rule for f in Scrubber().find_in_file(path, "blob")] == ["betterleaks.github-pat"]


def test_recording_warns_of_a_secret_in_a_utf16_body_it_keeps(tmp_path):
    ix = Interaction("GET", URL, response_body=f"token: {TOKEN}\r\n".encode("utf-16"))
    cassette = Cassette([ix], {}, tmp_path / "cassettes" / "test_x.yaml")
    found = Recording(cassette, CassetteScrubber(Scrubber())).unscrubbed_secrets()
    assert [rule for rule, _ in found] == ["betterleaks.github-pat"]
