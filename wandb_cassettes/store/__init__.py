"""The cassette on disk: vcrpy's YAML format, large bodies as blobs, the parsed cache, the
limits of loading any of it; the project's folders, and where its keys may go."""

from __future__ import annotations

from ._blobs import BLOB_DIR, BLOB_MIN_BYTES, BLOB_WARN_BYTES, BlobStore, blob_file, verify_blob
from ._cache import CACHE_ENV, CACHE_MIN_BYTES, load_cached, prune_cache
from ._cassette import (
    BACKEND_HEADER,
    FAILED_SUFFIX,
    FORMAT,
    Body,
    Cassette,
    Digest,
    Headers,
    Interaction,
    backend_of,
    body_text,
    cassette_kind,
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
from ._limits import DEFAULT_LIMITS, Limits, check_tree, read_capped
from ._project import cassette_folder, find_project
from ._servers import (
    ROUTE_PREFIX,
    SERVERS_KEY,
    USE_KEY,
    normal_server,
    parse_route,
    server_of,
    server_route,
)
from ._upstream import LOOPBACK_HOSTS, check_upstream

__all__ = [
    "BACKEND_HEADER",
    "BLOB_DIR",
    "BLOB_MIN_BYTES",
    "BLOB_WARN_BYTES",
    "CACHE_ENV",
    "CACHE_MIN_BYTES",
    "DEFAULT_LIMITS",
    "FAILED_SUFFIX",
    "FORMAT",
    "LOOPBACK_HOSTS",
    "ROUTE_PREFIX",
    "SERVERS_KEY",
    "USE_KEY",
    "BlobStore",
    "Body",
    "Cassette",
    "Digest",
    "Headers",
    "Interaction",
    "Limits",
    "backend_of",
    "blob_file",
    "body_text",
    "cassette_folder",
    "cassette_kind",
    "check_tree",
    "check_upstream",
    "dumps",
    "failed_path",
    "find_project",
    "json_or_none",
    "load",
    "load_cached",
    "loads",
    "new_metadata",
    "normal_server",
    "parse_route",
    "prune_cache",
    "read_capped",
    "save",
    "save_failed",
    "server_of",
    "server_route",
    "verify_blob",
    "write_atomic",
]
