"""The relay on W&B's bigger shapes: multipart uploads and downloads too large for the YAML."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from support.pytest_process import run_pytest
from support.standin_http import auth, core_document, send
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import store as cs
from wandb_cassettes.cli import main as cli
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


DOWNLOAD = """
import os
import pytest, wandb


@pytest.mark.wandb_cassette
def test_downloads_a_teammates_big_model(tmp_path):
    artifact = wandb.Api().artifact(os.environ["E2E_MODEL"])
    folder = artifact.download(root=str(tmp_path / "d"))
    data = open(os.path.join(folder, "big.bin"), "rb").read()
    assert len(data) == int(os.environ["E2E_SIZE"])
"""


@pytest.mark.slow
def test_a_large_download_is_kept_beside_the_cassette_and_streamed_back(
    standin_sdk: StandinBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import wandb

    size = 24 * 1024 * 1024
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(size))
    with wandb.init(project="blobs") as run:  # a teammate's model, made outside pytest
        artifact = wandb.Artifact("teammate-model", type="model")
        artifact.add_file(str(big))
        run.log_artifact(artifact).wait()
    model = f"{run.entity}/blobs/teammate-model:v0"
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_download.py").write_text(DOWNLOAD)
    (project / "pytest.ini").write_text("[pytest]\n")
    env = {"E2E_MODEL": model, "E2E_SIZE": str(size)}
    recorded = run_pytest(project, "--record-mode=once", upstream=standin_sdk, env=env)
    assert recorded.returncode == 0, recorded.stdout[-5000:]
    path = project / "cassettes" / "test_download" / "test_downloads_a_teammates_big_model.yaml"
    assert path.stat().st_size < 100_000  # the model is not inside the YAML
    blobs = list((project / "cassettes" / "_blobs").rglob("*"))
    stored = [b for b in blobs if b.is_file()]
    assert [b.stat().st_size for b in stored] == [size]
    assert stored[0].name == hashlib.sha256(big.read_bytes()).hexdigest()
    body = next(ix.response_body for ix in cs.load(path) if isinstance(ix.response_body, cs.Digest)
                and ix.response_body.blob)  # fmt: skip
    assert (path.parent / str(body.blob)).resolve() == stored[0].resolve()

    replayed = run_pytest(project, "--block-network", env=env)  # the stand-in is not asked
    assert replayed.returncode == 0, replayed.stdout[-5000:]
    capsys.readouterr()
    assert cli(["audit", str(path)]) == 0
    assert re.search(r"keeps a 25\.2 MB download in \S+_blobs", capsys.readouterr().out)
    stored[0].unlink()  # a blob that was not committed: replay and audit say which
    missing = run_pytest(project, "--block-network", env=env)
    assert missing.returncode == 1 and "which is missing" in missing.stdout
    assert cli(["audit", str(path)]) == 2


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-6000:] + result.stderr[-2000:]


def test_parts_keep_their_number_in_the_matching_target() -> None:
    from wandb_cassettes.replay import target_of

    url = "https://s.example/b/f?partNumber=3&uploadId=u1&X-Goog-Signature=abc"
    assert target_of(url, "https://api.wandb.ai") == "https://s.example/b/f?partNumber=3"
    assert urllib.parse.urlsplit(target_of(url, "")).query == "partNumber=3"


RANGED = """
import functools
import os

import pytest
import wandb
from wandb.sdk.artifacts.storage_policies import wandb_storage_policy as policy

# The SDK downloads files of 2 GiB and more in 100 MiB parts, concurrently, one HTTP
# Range each (wandb/sdk/artifacts/storage_policies/_multipart.py). The same code with
# 128 KiB parts, and multipart=True, makes that flow from a 1 MiB file.
policy.multipart_download = functools.partial(policy.multipart_download, part_size=128 << 10)


@pytest.mark.wandb_cassette
def test_downloads_in_parts(tmp_path):
    artifact = wandb.Api().artifact(os.environ["E2E_MODEL"])
    folder = artifact.download(root=str(tmp_path / "d"), multipart=True, skip_cache=True)
    data = open(os.path.join(folder, "big.bin"), "rb").read()
    assert data == open(os.environ["E2E_FILE"], "rb").read()
"""


def test_a_download_in_concurrent_ranges_replays_each_part_by_its_range(
    standin_sdk: StandinBackend, tmp_path: Path
) -> None:
    import wandb

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20))
    with wandb.init(project="ranges") as run:  # a teammate's model, made outside pytest
        artifact = wandb.Artifact("teammate-model", type="model")
        artifact.add_file(str(big))
        run.log_artifact(artifact).wait()
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_ranged.py").write_text(RANGED)
    (project / "pytest.ini").write_text("[pytest]\n")
    env = {"E2E_MODEL": f"{run.entity}/ranges/teammate-model:v0", "E2E_FILE": str(big)}
    recorded = run_pytest(project, "--record-mode=once", upstream=standin_sdk, env=env)
    assert recorded.returncode == 0, _out(recorded)
    path = project / "cassettes" / "test_ranged" / "test_downloads_in_parts.yaml"
    ranges = [
        ix.request_headers.get("Range") or ix.request_headers.get("range")
        for ix in cs.load(path)
        if ix.method == "GET" and ix.status == 206
    ]
    assert len(ranges) == 8, ranges  # 1 MiB in 128 KiB parts, each answered 206
    for _ in range(3):  # the parts arrive in another order each time
        replayed = run_pytest(project, "--block-network", "--wandb-strict", env=env)
        assert replayed.returncode == 0, _out(replayed)
