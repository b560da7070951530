"""Talking to the stand-in over plain HTTP as the SDK does: its documents, auth, artifacts.

The Go core's documents are read from the wandb-core binary (where genqlient
embeds them), so that the tests send exactly what the SDK sends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

import wandb
from wandb_cassettes_standin import StandinBackend


def auth(key: str) -> str:
    return "Basic " + base64.b64encode(f"api:{key}".encode()).decode()


def send(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def graphql(
    wb: StandinBackend,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    operation_name: str | None = None,
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"query": query, "variables": variables or {}}
    if operation_name:
        body["operationName"] = operation_name
    headers = {"Content-Type": "application/json", "Authorization": auth(key or wb.api_key)}
    status, _, raw = send("POST", wb.base_url + "/graphql", json.dumps(body).encode(), headers)
    return status, json.loads(raw)


def data(wb: StandinBackend, query: str, variables: dict[str, Any] | None = None) -> Any:
    status, answer = graphql(wb, query, variables)
    assert status == 200 and "errors" not in answer, answer
    return answer["data"]


@cache
def _core_binary() -> bytes:
    return (Path(wandb.__file__).parent / "bin" / "wandb-core").read_bytes()


def _balanced(blob: bytes, start: int) -> str:
    depth, i = 0, blob.index(b"{", start)
    while True:
        depth += {ord("{"): 1, ord("}"): -1}.get(blob[i], 0)
        i += 1
        if depth == 0:
            return blob[start:i].decode()


@cache
def core_document(name: str) -> str:
    """The GraphQL document wandb-core sends for operation ``name``, with its fragments."""
    blob = _core_binary()
    m = re.search(rb"(?:query|mutation) " + name.encode() + rb"\b", blob)
    assert m, f"{name} not in wandb-core"
    doc = _balanced(blob, m.start())
    for frag in set(re.findall(r"\.\.\. ?([A-Z]\w+)", doc)):
        doc += "\n" + _balanced(blob, blob.index(f"fragment {frag} on".encode()))
    return doc


def b64md5(content: bytes) -> str:
    return base64.b64encode(hashlib.md5(content).digest()).decode()


def start_run(wb: StandinBackend, name: str = "run1", project: str = "p") -> dict[str, Any]:
    variables = {"name": name, "project": project, "entity": wb.entity, "config": "{}"}
    result: dict[str, Any] = data(wb, core_document("UpsertBucket"), variables)["upsertBucket"]
    return result


def log_artifact(
    wb: StandinBackend,
    files: dict[str, bytes],
    *,
    name: str = "ckpt",
    type_: str = "model",
    aliases: tuple[str, ...] = (),
    run: str = "run1",
    project: str = "p",
) -> str:
    """Log an artifact the way wandb-core does, with its own documents; returns its id."""
    manifest = {
        "version": 1,
        "storagePolicy": "wandb-storage-policy-v1",
        "storagePolicyConfig": {"storageLayout": "V2"},
        "contents": {n: {"digest": b64md5(c), "size": len(c)} for n, c in files.items()},
    }
    digest = hashlib.md5(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    where = {"entityName": wb.entity, "projectName": project, "runName": run}
    created = data(
        wb,
        core_document("CreateArtifact"),
        {
            "input": {
                **where,
                "artifactTypeName": type_,
                "artifactCollectionName": name,
                "digest": digest,
                "digestAlgorithm": "MANIFEST_MD5",
                "aliases": [{"alias": a, "artifactCollectionName": name} for a in aliases],
                "clientID": f"client-{name}-{digest}",
                "sequenceClientID": f"seq-{name}",
                "enableDigestDeduplication": True,
            }
        },
    )["createArtifact"]["artifact"]
    art_id: str = created["id"]
    manifest_vars = {
        **where,
        "artifactID": art_id,
        "name": "wandb_manifest.json",
        "digest": "",
        "manifestType": "FULL",
        "includeUpload": False,
    }
    manifest_id = data(wb, core_document("CreateArtifactManifest"), manifest_vars)
    manifest_id = manifest_id["createArtifactManifest"]["artifactManifest"]["id"]
    specs = [
        {"artifactID": art_id, "artifactManifestID": manifest_id, "name": n, "md5": b64md5(c)}
        for n, c in files.items()
    ]
    edges = data(
        wb,
        core_document("CreateArtifactFiles"),
        {"input": {"artifactFiles": specs, "storageLayout": "V2"}},
    )["createArtifactFiles"]["files"]["edges"]
    for (_, content), edge in zip(files.items(), edges, strict=True):
        if url := edge["node"]["uploadUrl"]:
            # wandb-core sends the answer's uploadHeaders ("Name:value") with the PUT
            headers = dict(h.split(":", 1) for h in edge["node"]["uploadHeaders"])
            assert headers["Content-MD5"] == b64md5(content)
            status, _, _ = send("PUT", url, content, headers)
            assert status == 200
    body = json.dumps(manifest).encode()
    upload = data(
        wb,
        core_document("CreateArtifactManifest"),
        {**manifest_vars, "digest": "x", "includeUpload": True},
    )
    url = upload["createArtifactManifest"]["artifactManifest"]["file"]["uploadUrl"]
    assert send("PUT", url, body)[0] == 200
    data(wb, core_document("CommitArtifact"), {"artifactID": art_id})
    return art_id
