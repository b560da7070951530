"""The relay on W&B's multipart uploads: each part matched by its number, in this process."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

from support.standin_http import auth, core_document, send
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import store as cs
from wandb_cassettes.record import Relay


def _gql(base: str, key: str, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"query": document, "variables": variables}).encode()
    headers = {"Content-Type": "application/json", "Authorization": auth(key)}
    status, _, raw = send("POST", base + "/graphql", body, headers)
    answer = json.loads(raw)
    assert status == 200 and "errors" not in answer, answer
    return answer["data"]  # type: ignore[no-any-return]


def _multipart(base: str, key: str, entity: str, content: bytes, reverse: bool) -> str:
    """wandb-core's multipart upload (core/pkg/artifacts/saver.go), parts sent concurrently."""
    run = {"name": "run1", "project": "p", "entity": entity, "config": "{}"}
    _gql(base, key, core_document("UpsertBucket"), run)
    artifact = _gql(base, key, core_document("CreateArtifact"), {"input": {
        "entityName": entity, "projectName": "p", "runName": "run1",
        "artifactTypeName": "model", "artifactCollectionName": "big", "digest": "d" * 32,
        "digestAlgorithm": "MANIFEST_MD5", "clientID": "c1", "sequenceClientID": "s1",
    }})["createArtifact"]["artifact"]  # fmt: skip
    parts = [content[i : i + 2048] for i in range(0, len(content), 2048)]
    spec = {
        "artifactID": artifact["id"],
        "name": "big.bin",
        "md5": base64.b64encode(hashlib.md5(content).digest()).decode(),
        "uploadPartsInput": [
            {"partNumber": i + 1, "hexMD5": hashlib.md5(p).hexdigest()} for i, p in enumerate(parts)
        ],
    }
    files = {"input": {"artifactFiles": [spec], "storageLayout": "V2"}}
    [edge] = _gql(base, key, core_document("CreateArtifactFiles"), files)["createArtifactFiles"][
        "files"
    ]["edges"]
    node = edge["node"]
    multipart = node["uploadMultipartUrls"]
    headers = dict(h.split(":", 1) for h in node["uploadHeaders"])
    urls = [p["uploadUrl"] for p in multipart["uploadUrlParts"]]
    jobs = list(zip(urls, parts, strict=True))

    def put(job: tuple[str, bytes]) -> str:
        url, part = job
        md5 = base64.b64encode(hashlib.md5(part).digest()).decode()
        status, answer, _ = send("PUT", url, part, {**headers, "Content-MD5": md5})
        assert status == 200
        return {k.lower(): v for k, v in answer.items()}["etag"]  # names are case-insensitive

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        order = list(reversed(jobs)) if reverse else jobs
        etags = dict(zip([u for u, _ in order], pool.map(put, order), strict=True))
    completed = [{"partNumber": i + 1, "hexMD5": etags[u]} for i, u in enumerate(urls)]
    done = _gql(base, key, core_document("CompleteMultipartUploadArtifact"), {
        "completeMultipartAction": "Complete", "completedParts": completed,
        "artifactID": artifact["id"], "storagePath": node["storagePath"],
        "uploadID": multipart["uploadID"],
    })  # fmt: skip
    return str(done["completeMultipartUploadArtifact"]["digest"])


def test_multipart_parts_are_matched_by_part_number(tmp_path: Path) -> None:
    content = os.urandom(7000)
    with StandinBackend(multipart_threshold=1024) as wb, Relay(wb.base_url) as relay:
        rec = relay.record(cs.Cassette(metadata=cs.new_metadata(wb.base_url)), [wb.api_key])
        digest = _multipart(relay.url, wb.api_key, wb.entity, content, reverse=False)
        relay.activate(None)
        path = cs.save(rec.cassette, tmp_path / "multipart.yaml")
        entity = wb.entity
    parts = [ix.uri for ix in cs.load(path) if ix.method == "PUT"]
    assert len(parts) == 4 and all("uploadId=" in u and "partNumber=" in u for u in parts)
    # Replayed with the stand-in gone, the parts sent in the other order: each gets its own
    # recorded answer (its ETag), and the completion (whose checksums are volatile) matches.
    with Relay("http://unused.invalid") as relay:
        replay = relay.replay(cs.load(path))
        again = _multipart(relay.url, "replayed-key", entity, content, reverse=True)
    assert again == digest
    assert replay.errors == [] and replay.matcher.unplayed() == []


def test_parts_keep_their_number_in_the_matching_target() -> None:
    from wandb_cassettes.replay import target_of

    url = "https://s.example/b/f?partNumber=3&uploadId=u1&X-Goog-Signature=abc"
    assert target_of(url, "https://api.wandb.ai") == "https://s.example/b/f?partNumber=3"
    assert urllib.parse.urlsplit(target_of(url, "")).query == "partNumber=3"
