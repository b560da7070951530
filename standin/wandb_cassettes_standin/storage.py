"""The stand-in's "cloud storage": signed URLs, and a blob store behind them.

Real W&B hands out pre-signed Google Cloud Storage (or S3/Azure) URLs; the SDK
PUTs uploads there without an ``Authorization`` header and GETs downloads the
same way. This module mints URLs of the same shape
(``X-Goog-Algorithm=GOOG4-HMAC-SHA256 ... X-Goog-Signature=<hmac>``) pointing at
the stand-in's second server, and checks them: a wrong signature is a 403, an
expired one a 400, as on GCS.

Blobs are streamed to files in a private temporary directory, so a large
upload costs disk, not memory.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from aiohttp import web

__all__ = ["Blob", "BlobStore", "Signer", "part_key", "storage_routes"]

BUCKET = "bucket"
_FLUSH_BYTES = 1 << 20  # write to disk in ~1 MiB pieces, off the event loop
_CREDENTIAL = "standin@wandb-cassettes.iam.gserviceaccount.com"


@dataclass(frozen=True)
class Blob:
    """One stored object: where its bytes are, and their size and MD5."""

    file: str
    size: int
    md5_b64: str

    @property
    def md5_hex(self) -> str:
        return base64.b64decode(self.md5_b64).hex()


class Signer:
    """Mints and checks signed storage URLs (HMAC over method, path, query, headers, expiry).

    Like GCS V4 signing, the signature covers the headers named in
    ``X-Goog-SignedHeaders`` (their values as the client must send them) and
    every other query parameter (``partNumber``, ``uploadId`` of multipart
    parts): a PUT without a signed ``Content-MD5``, or with another value, is
    refused with 403 ``SignatureDoesNotMatch``, as on GCS and S3. This is why
    W&B hands out ``uploadHeaders`` with its upload URLs (``CreateArtifactFiles``:
    "uploadHeaders" per file; wandb-core sends them with the PUT,
    ``core/pkg/artifacts/saver.go``).
    """

    def __init__(self, expires: int = 3600) -> None:
        self._secret = secrets.token_bytes(32)
        self.expires = expires
        self.base_url = ""  # set once the storage server has its port

    def _signature(
        self,
        method: str,
        path: str,
        date: str,
        expires: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> str:
        canonical_params = "&".join(f"{k}={params[k]}" for k in sorted(params))
        canonical_headers = "".join(f"{k}:{headers[k].strip()}\n" for k in sorted(headers))
        msg = f"{method}\n{path}\n{canonical_params}\n{canonical_headers}{date}\n{expires}"
        return hmac.new(self._secret, msg.encode(), hashlib.sha256).hexdigest()

    def url(
        self,
        method: str,
        key: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        """Signed absolute URL for ``method`` (PUT or GET) on object ``key``.

        ``headers`` must then be sent with exactly these values (names are
        case-insensitive); ``params`` are extra signed query parameters.
        """
        path = f"/{BUCKET}/{urllib.parse.quote(key)}"
        date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        expires = str(self.expires)
        signed = {k.lower(): v for k, v in (headers or {}).items()}
        extra = dict(params or {})
        names = ";".join(sorted([*signed, "host"]))
        signature = self._signature(method, path, date, expires, extra, signed)
        query = urllib.parse.urlencode(
            {
                **extra,
                "X-Goog-Algorithm": "GOOG4-HMAC-SHA256",
                "X-Goog-Credential": f"{_CREDENTIAL}/{date[:8]}/auto/storage/goog4_request",
                "X-Goog-Date": date,
                "X-Goog-Expires": expires,
                "X-Goog-SignedHeaders": names,
                "X-Goog-Signature": signature,
            },
            safe="/",
        )
        return f"{self.base_url}{path}?{query}"

    def check(self, method: str, request: web.Request) -> str | None:
        """Why the request's signature does not hold, or None if it does."""
        q = request.rel_url.query
        date, expires, signature = (
            q.get("X-Goog-Date", ""),
            q.get("X-Goog-Expires", ""),
            q.get("X-Goog-Signature", ""),
        )
        if not (date and expires and signature):
            return "missing signature"
        # HEAD is allowed on a URL signed for GET, as the SDK's HTTP stack may probe.
        signed_method = "GET" if method == "HEAD" else method
        path = request.rel_url.raw_path
        params = {k: v for k, v in q.items() if not k.startswith("X-Goog-")}
        names = [n for n in q.get("X-Goog-SignedHeaders", "host").split(";") if n != "host"]
        headers = {n: request.headers.get(n, "") for n in names}
        expected = self._signature(signed_method, path, date, expires, params, headers)
        if not hmac.compare_digest(signature, expected):
            missing = [n for n in names if n not in request.headers]
            if missing:
                return f"signed header(s) {', '.join(missing)} not sent"
            return "signature does not match"
        try:
            issued = time.mktime(time.strptime(date, "%Y%m%dT%H%M%SZ")) - time.timezone
            if time.time() > issued + int(expires):
                return "expired"
        except ValueError:
            return "bad date"
        return None


class BlobStore:
    """Objects by key, their bytes in files under a private temporary directory.

    Shared by the API server (which deletes objects) and the storage server
    (which stores them); each runs its own event loop thread, hence the lock.
    """

    def __init__(self) -> None:
        self._dir: str | None = None  # made on first write, so an unused store leaves nothing
        self._blobs: dict[str, Blob] = {}
        self._counter = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Blob | None:
        with self._lock:
            return self._blobs.get(key)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._blobs

    def delete(self, key: str) -> None:
        with self._lock:
            blob = self._blobs.pop(key, None)
        if blob is not None:
            _remove(blob.file)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._blobs)

    def put_bytes(self, key: str, data: bytes) -> Blob:
        """Store ``data`` synchronously (small objects made by the stand-in itself)."""
        path = self._new_file()
        with open(path, "wb") as f:
            f.write(data)
        digest = base64.b64encode(hashlib.md5(data).digest()).decode()
        return self._commit(key, Blob(path, len(data), digest))

    async def put_stream(self, key: str, request: web.Request) -> Blob:
        """Stream a request body to disk, hashing as it goes."""
        path = self._new_file()
        md5 = hashlib.md5()
        size = 0
        f: IO[bytes] = await asyncio.to_thread(lambda: open(path, "wb"))  # noqa: SIM115
        try:
            pending: list[bytes] = []
            pending_len = 0
            async for chunk in request.content.iter_any():
                md5.update(chunk)
                size += len(chunk)
                pending.append(chunk)
                pending_len += len(chunk)
                if pending_len >= _FLUSH_BYTES:
                    await asyncio.to_thread(functools.partial(f.write, b"".join(pending)))
                    pending, pending_len = [], 0
            if pending:
                await asyncio.to_thread(functools.partial(f.write, b"".join(pending)))
        except BaseException:
            f.close()
            _remove(path)
            raise
        f.close()
        return Blob(path, size, base64.b64encode(md5.digest()).decode())

    def concat(self, key: str, parts: list[str]) -> Blob:
        """Store under ``key`` the bytes of objects ``parts``, in order (multipart completion)."""
        path = self._new_file()
        md5 = hashlib.md5()
        size = 0
        with open(path, "wb") as out:
            for part in parts:
                blob = self.get(part)
                if blob is None:
                    raise KeyError(part)
                with open(blob.file, "rb") as f:
                    while chunk := f.read(_FLUSH_BYTES):
                        md5.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        return self._commit(key, Blob(path, size, base64.b64encode(md5.digest()).decode()))

    def commit(self, key: str, blob: Blob) -> Blob:
        """Make an uploaded blob visible under ``key`` (replacing any previous one)."""
        return self._commit(key, blob)

    def discard(self, blob: Blob) -> None:
        _remove(blob.file)

    def close(self) -> None:
        with self._lock:
            self._blobs.clear()
            folder, self._dir = self._dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _commit(self, key: str, blob: Blob) -> Blob:
        with self._lock:
            old = self._blobs.get(key)
            self._blobs[key] = blob
        if old is not None and old.file != blob.file:
            _remove(old.file)
        return blob

    def _new_file(self) -> str:
        with self._lock:
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="wandb-standin-")
            self._counter += 1
            return os.path.join(self._dir, f"{self._counter:08d}")


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _gcs_error(status: int, code: str, message: str) -> web.Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


def part_key(upload_id: str, part_number: int) -> str:
    """Where part ``part_number`` of multipart upload ``upload_id`` is kept until completion."""
    return f"multipart/{upload_id}/{part_number:05d}"


def storage_routes(signer: Signer, store: BlobStore) -> list[web.RouteDef]:
    """Routes of the storage server: PUT and GET (HEAD) of signed object URLs."""

    def key_of(request: web.Request) -> str:
        """The object key; a multipart part (S3's ``?partNumber=N&uploadId=U``) has its own."""
        q = request.rel_url.query
        if "uploadId" in q and "partNumber" in q:
            return part_key(q["uploadId"], int(q["partNumber"]))
        return request.match_info["key"]

    def refuse(request: web.Request) -> web.Response | None:
        problem = signer.check(request.method, request)
        if problem is None:
            return None
        if problem == "expired":
            return _gcs_error(400, "ExpiredToken", "The provided token has expired.")
        return _gcs_error(403, "SignatureDoesNotMatch", f"Access denied: {problem}.")

    async def put(request: web.Request) -> web.StreamResponse:
        if (refused := refuse(request)) is not None:
            return refused
        blob = await store.put_stream(key_of(request), request)
        expected = request.headers.get("Content-MD5")
        if expected and expected != blob.md5_b64:
            store.discard(blob)
            return _gcs_error(400, "BadDigest", "The Content-MD5 you specified did not match.")
        store.commit(key_of(request), blob)
        return web.Response(status=200, headers={"ETag": f'"{blob.md5_hex}"'})

    async def get(request: web.Request) -> web.StreamResponse:
        if (refused := refuse(request)) is not None:
            return refused
        blob = store.get(key_of(request))
        if blob is None:
            return _gcs_error(404, "NoSuchKey", "The specified key does not exist.")
        return web.FileResponse(
            blob.file, headers={"Content-Type": "application/octet-stream", "ETag": blob.md5_hex}
        )

    return [
        web.put(f"/{BUCKET}/{{key:.+}}", put),
        web.get(f"/{BUCKET}/{{key:.+}}", get),  # also answers HEAD
    ]
