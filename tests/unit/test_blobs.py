"""Large bodies beside the cassettes (``store/_blobs.py``): content-addressed, written whole or
not at all, one file per content."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from wandb_cassettes.errors import CassetteError, WandbCassettesError
from wandb_cassettes.store import BLOB_DIR, BlobStore

BODY = [b"weights " * 1000, b"", b"and more weights\n" * 5000]
SHA = hashlib.sha256(b"".join(BODY)).hexdigest()


def written(store: BlobStore, *chunks: bytes) -> Path:
    writer = store.writer()
    for chunk in chunks:
        writer.write(chunk)
    return writer.commit()


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_committed_body_is_named_by_its_sha256_under_two_characters(tmp_path: Path):
    store = BlobStore(tmp_path / BLOB_DIR)
    writer = store.writer()
    for chunk in BODY:
        writer.write(chunk)
    assert writer.size == sum(map(len, BODY))
    assert writer.sha256 == SHA

    path = writer.commit()

    assert path == tmp_path / BLOB_DIR / SHA[:2] / SHA == store.path(SHA)
    assert path.read_bytes() == b"".join(BODY)
    assert store.has(SHA)
    assert files(store.root) == [f"{SHA[:2]}/{SHA}"]  # the temporary file is gone


def test_a_blob_is_readable_by_all_whatever_the_umask(tmp_path: Path):
    # mkstemp makes 0600 files: a blob committed with the cassettes is read by others too.
    path = written(BlobStore(tmp_path), b"x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_nothing_is_a_blob_before_it_is_committed(tmp_path: Path):
    store = BlobStore(tmp_path / "blobs")
    writer = store.writer()
    writer.write(b"half a download")
    assert not store.has(writer.sha256)
    assert [p.name.startswith(".incoming-") for p in store.root.iterdir()] == [True]
    writer.discard()
    assert list(store.root.iterdir()) == []
    writer.discard()  # twice: nothing left to remove, no error


def test_identical_bodies_share_one_file_and_the_first_is_kept(tmp_path: Path):
    store = BlobStore(tmp_path)
    first = written(store, *BODY)
    before = first.stat()
    second = written(store, b"".join(BODY))
    assert second == first
    assert first.stat().st_ino == before.st_ino and first.stat().st_mtime_ns == before.st_mtime_ns
    assert files(tmp_path) == [f"{SHA[:2]}/{SHA}"]


def test_other_bodies_get_other_files(tmp_path: Path):
    store = BlobStore(tmp_path)
    paths = {written(store, bytes([i]) * 10) for i in range(20)}
    assert len(paths) == 20 and len(files(tmp_path)) == 20


def test_an_empty_body_is_a_blob_too(tmp_path: Path):
    path = written(BlobStore(tmp_path))
    assert path.name == hashlib.sha256(b"").hexdigest() and path.read_bytes() == b""


def test_the_store_folder_is_made_when_first_written(tmp_path: Path):
    store = BlobStore(tmp_path / "cassettes" / "tests" / BLOB_DIR)
    assert not store.root.exists() and not store.has(SHA)
    written(store, *BODY)
    assert store.has(SHA)


@pytest.mark.parametrize(
    "name",
    [
        "",
        SHA[:63],
        SHA + "0",
        SHA.upper(),
        "g" * 64,
        "../" * 21 + "x",
        "/etc/passwd".ljust(64, "0"),
        SHA[:62] + "/.",
    ],
)
def test_a_name_that_is_no_sha256_is_refused_naming_the_store(tmp_path: Path, name: str):
    # Blob names come from cassettes, which are untrusted input: no path outside the store.
    store = BlobStore(tmp_path / BLOB_DIR)
    with pytest.raises(CassetteError) as info:
        store.path(name)
    assert str(store.root) in str(info.value) and "sha256" in str(info.value)
    assert isinstance(info.value, WandbCassettesError)
    with pytest.raises(CassetteError):
        store.has(name)


def test_a_refused_name_is_quoted_short(tmp_path: Path):
    with pytest.raises(CassetteError) as info:
        BlobStore(tmp_path).path("z" * 10_000)
    assert len(str(info.value)) < 200 + len(str(tmp_path))


def test_a_discarded_download_leaves_an_earlier_blob_of_it_alone(tmp_path: Path):
    # The relay discards a body that was uploaded in the same recording: a blob of the same
    # content committed before (by another test) stays.
    store = BlobStore(tmp_path)
    kept = written(store, *BODY)
    writer = store.writer()
    for chunk in BODY:
        writer.write(chunk)
    writer.discard()
    assert kept.read_bytes() == b"".join(BODY) and files(tmp_path) == [f"{SHA[:2]}/{SHA}"]
