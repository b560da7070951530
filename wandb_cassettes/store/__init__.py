"""The cassette on disk: vcrpy's YAML format, large bodies as blobs, the parsed cache."""

from __future__ import annotations

from ._blobs import BLOB_DIR, BLOB_MIN_BYTES, BLOB_WARN_BYTES, BlobStore
from ._cache import CACHE_ENV, CACHE_MIN_BYTES, load_cached
from ._cassette import (
    BACKEND_HEADER,
    FORMAT,
    Body,
    Cassette,
    Digest,
    Headers,
    Interaction,
    backend_of,
    body_text,
    dumps,
    failed_path,
    json_or_none,
    load,
    loads,
    new_metadata,
    save,
    save_failed,
    write_atomic,
)
from ._project import find_project

__all__ = [
    "BACKEND_HEADER",
    "BLOB_DIR",
    "BLOB_MIN_BYTES",
    "BLOB_WARN_BYTES",
    "CACHE_ENV",
    "CACHE_MIN_BYTES",
    "FORMAT",
    "BlobStore",
    "Body",
    "Cassette",
    "Digest",
    "Headers",
    "Interaction",
    "backend_of",
    "body_text",
    "dumps",
    "failed_path",
    "find_project",
    "json_or_none",
    "load",
    "load_cached",
    "loads",
    "new_metadata",
    "save",
    "save_failed",
    "write_atomic",
]
