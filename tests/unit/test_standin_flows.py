"""The stand-in's flows over plain HTTP: the file route, registries, multipart uploads, a gzipped
file_stream.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.parse
from typing import Any

from support.standin_http import auth, core_document, data, send, start_run
from wandb_cassettes_standin import StandinBackend

PROJECT = "flows"


def test_the_file_route_redirects_with_auth_only() -> None:
    with StandinBackend() as wb:
        start_run(wb, project=PROJECT)
        url = data(
            wb,
            core_document("CreateRunFiles"),
            {"entity": wb.entity, "project": PROJECT, "run": "run1", "files": ["a.txt"]},
        )["createRunFiles"]["files"][0]["uploadUrl"]
        assert send("PUT", url, b"abc")[0] == 200
        route = f"{wb.base_url}/files/{wb.entity}/{PROJECT}/run1/a.txt"
        assert send("GET", route)[0] == 401
        assert send("GET", route, headers={"Authorization": auth(wb.api_key)})[2] == b"abc"
        assert (
            send("GET", route[:-5] + "b.txt", headers={"Authorization": auth(wb.api_key)})[0] == 404
        )


def test_an_unknown_registry_is_refused() -> None:
    with StandinBackend() as wb:
        start_run(wb)
        from support.standin_http import log_artifact

        art_id = log_artifact(wb, {"a": b"1"})
        import wandb.sdk.artifacts._generated as gen

        variables = {
            "input": {
                "artifactID": art_id,
                "artifactPortfolioName": "x",
                "entityName": "standin-org-entity",
                "projectName": "wandb-registry-nope",
            }
        }
        answer = send(
            "POST",
            wb.base_url + "/graphql",
            json.dumps({"query": gen.LINK_ARTIFACT_GQL, "variables": variables}).encode(),
            {"Authorization": auth(wb.api_key), "Content-Type": "application/json"},
        )
        assert answer[0] == 404
        assert "registry 'wandb-registry-nope' not found" in answer[2].decode()


def _multipart_upload(wb: StandinBackend, content: bytes, part_size: int) -> tuple[str, list[Any]]:
    """What wandb-core does for a file it uploads in parts (core/pkg/artifacts/saver.go)."""
    start_run(wb)
    art = data(
        wb,
        core_document("CreateArtifact"),
        {
            "input": {
                "entityName": wb.entity,
                "projectName": "p",
                "runName": "run1",
                "artifactTypeName": "model",
                "artifactCollectionName": "big",
                "digest": "d" * 32,
                "digestAlgorithm": "MANIFEST_MD5",
                "clientID": "c1",
                "sequenceClientID": "s1",
            }
        },
    )["createArtifact"]["artifact"]
    parts = [content[i : i + part_size] for i in range(0, len(content), part_size)]
    spec = {
        "artifactID": art["id"],
        "name": "big.bin",
        "md5": base64.b64encode(hashlib.md5(content).digest()).decode(),
        "uploadPartsInput": [
            {"partNumber": i + 1, "hexMD5": hashlib.md5(p).hexdigest()} for i, p in enumerate(parts)
        ],
    }
    [edge] = data(
        wb,
        core_document("CreateArtifactFiles"),
        {"input": {"artifactFiles": [spec], "storageLayout": "V2"}},
    )["createArtifactFiles"]["files"]["edges"]
    return art["id"], [edge["node"], parts]


def test_a_multipart_upload_is_joined_on_completion() -> None:
    content = os.urandom(5000)
    with StandinBackend(multipart_threshold=1024) as wb:
        art_id, (node, parts) = _multipart_upload(wb, content, 2048)
        multipart = node["uploadMultipartUrls"]
        urls = [p["uploadUrl"] for p in multipart["uploadUrlParts"]]
        assert [p["partNumber"] for p in multipart["uploadUrlParts"]] == [1, 2, 3]
        queries = [urllib.parse.parse_qs(urllib.parse.urlsplit(u).query) for u in urls]
        # the part URLs differ only in partNumber (and their signature)
        assert {q["uploadId"][0] for q in queries} == {multipart["uploadID"]}
        assert {urllib.parse.urlsplit(u).path for u in urls} == {f"/bucket/{node['storagePath']}"}
        headers = dict(h.split(":", 1) for h in node["uploadHeaders"])
        etags = []
        for url, part in zip(urls, parts, strict=True):
            md5 = base64.b64encode(hashlib.md5(part).digest()).decode()
            assert send("PUT", url, part, headers)[0] == 403  # Content-MD5 is signed
            status, answer_headers, _ = send("PUT", url, part, {**headers, "Content-MD5": md5})
            assert status == 200
            etags.append(answer_headers["ETag"])
        assert node["storagePath"] not in wb._blobs  # nothing until completion
        completed = [{"partNumber": i + 1, "hexMD5": e} for i, e in enumerate(etags)]
        variables = {
            "completeMultipartAction": "Complete",
            "completedParts": completed,
            "artifactID": art_id,
            "storagePath": node["storagePath"],
            "uploadID": multipart["uploadID"],
        }
        doc = core_document("CompleteMultipartUploadArtifact")
        digest = data(wb, doc, variables)["completeMultipartUploadArtifact"]["digest"]
        assert digest.endswith("-3")
        blob = wb._blobs.get(node["storagePath"])
        assert blob is not None
        with open(blob.file, "rb") as f:
            assert f.read() == content
        assert not [k for k in wb._blobs.keys() if k.startswith("multipart/")]  # noqa: SIM118


def test_multipart_parts_below_the_threshold_are_refused() -> None:
    with StandinBackend() as wb:  # S3's 5 MiB minimum part size
        art_id, (node, parts) = _multipart_upload(wb, os.urandom(3000), 1024)
        multipart = node["uploadMultipartUrls"]
        etags = []
        for p, part in zip(multipart["uploadUrlParts"], parts, strict=True):
            md5 = base64.b64encode(hashlib.md5(part).digest()).decode()
            headers = dict(h.split(":", 1) for h in node["uploadHeaders"])
            etags.append(
                send("PUT", p["uploadUrl"], part, {**headers, "Content-MD5": md5})[1]["ETag"]
            )
        variables = {
            "completeMultipartAction": "Complete",
            "completedParts": [{"partNumber": i + 1, "hexMD5": e} for i, e in enumerate(etags)],
            "artifactID": art_id,
            "storagePath": node["storagePath"],
            "uploadID": multipart["uploadID"],
        }
        from support.standin_http import graphql

        _, answer = graphql(wb, core_document("CompleteMultipartUploadArtifact"), variables)
        assert "EntityTooSmall" in answer["errors"][0]["message"]


def test_a_gzipped_file_stream_body_is_read() -> None:
    """FILESTREAM_GZIP is advertised: wandb-core may then gzip file_stream bodies."""
    import gzip

    with StandinBackend() as wb:
        assert "FILESTREAM_GZIP" in wb._ctx.features
        start_run(wb)
        rows = [json.dumps({"_step": 0, "x": 1}), json.dumps({"_step": 1, "x": 2})]
        body = {"files": {"wandb-history.jsonl": {"offset": 0, "content": rows}}}
        headers = {
            "Authorization": auth(wb.api_key),
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        url = f"{wb.base_url}/files/{wb.entity}/p/run1/file_stream"
        assert send("POST", url, gzip.compress(json.dumps(body).encode()), headers)[0] == 200
        history = data(
            wb, core_document("HistoryPage"),
            {"entity": wb.entity, "project": "p", "run": "run1", "minStep": 0, "maxStep": 2,
             "pageSize": 2},
        )["project"]["run"]["history"]  # fmt: skip
        assert [json.loads(h)["x"] for h in history] == [1, 2]
