"""Big: a 200 MB upload recorded and replayed; a cassette of 5,000 interactions.

The relay streams storage bodies through (recording) or drains them (replay),
keeping only their size and sha256: the cassette of a 200 MB checkpoint is a
few kilobytes, and the relay's memory does not grow with the upload. The peak
RSS of the pytest process (where the relay runs) is reset with
``/proc/self/clear_refs`` after the SDK itself has read the file (``add_file``
hashes it in the test process) and read again after the upload.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

import pytest
from support.cassette_builders import (
    API_KEY,
    cassette,
    file_stream,
    run_query,
    signed_url,
    storage_put,
)
from support.projects import FAST_RETRIES, audit_secrets, make_project, output, statuses
from support.pytest_process import run_pytest

from wandb_cassettes import store as cache
from wandb_cassettes import store as cs
from wandb_cassettes.record import Relay
from wandb_cassettes.replay import Matcher

BIG = """
import json, os
import pytest, wandb

MB = 1 << 20


def _peak_mb():
    with open("/proc/self/status") as fh:
        return next(int(x.split()[1]) / 1024 for x in fh if x.startswith("VmHWM:"))


@pytest.mark.wandb_cassette
def test_big_upload(tmp_path):
    path = tmp_path / "big.bin"
    chunk = os.urandom(MB)
    with open(path, "wb") as fh:
        for i in range(200):
            fh.write(chunk[i:] + chunk[:i])  # 200 distinct MB, written without holding them
    run = wandb.init(project="big")
    artifact = wandb.Artifact("big", type="model")
    artifact.add_file(str(path))  # the SDK reads and hashes the file here, in this process
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak RSS: from here on, the relay's share
        before = _peak_mb()
    except OSError:
        before = None
    run.log_artifact(artifact).wait()  # 200 MB through the relay
    run.finish()
    with open(os.environ["MEMORY_REPORT"], "w") as fh:
        json.dump({"before": before, "after": _peak_mb()}, fh)
"""


@pytest.mark.slow
def test_a_200_mb_upload_records_small_and_replays(tmp_path, standin):
    project = make_project(tmp_path / "p", test_big=BIG)
    report = tmp_path / "memory.json"
    env = {**FAST_RETRIES, "MEMORY_REPORT": str(report)}
    path = project / "cassettes" / "test_big" / "test_big_upload.yaml"

    result = run_pytest(project, "--record-mode=once", upstream=standin, env=env)
    assert result.returncode == 0, output(result)
    recorded = cs.load(path)
    uploads = [ix.request_body for ix in recorded if isinstance(ix.request_body, cs.Digest)]
    assert max(d.size for d in uploads) == 200 << 20
    assert path.stat().st_size < 100_000, path.stat().st_size
    assert statuses(path, "PUT bucket/artifacts/") == [200]
    memory = json.loads(report.read_text())
    if memory["before"] is not None:
        assert memory["after"] - memory["before"] < 64, memory  # MB: streamed, never held
    audit_secrets(path)

    standin.stop()
    report.unlink()
    replay = run_pytest(project, env=env)
    assert replay.returncode == 0, output(replay)
    memory = json.loads(report.read_text())
    if memory["before"] is not None:
        assert memory["after"] - memory["before"] < 64, memory  # drained, never held


def _many(n: int) -> cs.Cassette:
    """``n`` interactions: public-API lookups, file_stream posts and storage PUTs."""
    interactions = []
    for i in range(n):
        run = f"run{i:05d}"
        if i % 5 == 3:
            interactions.append(file_stream("team", "proj", run))
        elif i % 5 == 4:
            interactions.append(storage_put(signed_url(f"team/proj/{run}/f.txt"), b"x" * 100))
        else:
            interactions.append(run_query("team", "proj", run))
    return cassette(*interactions)


def _post(url: str, body: Mapping[str, object]) -> Any:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_a_cassette_of_5000_interactions_loads_matches_and_replays(tmp_path, monkeypatch):
    path = cs.save(_many(5000), tmp_path / "many.yaml")
    timings = {}

    start = time.perf_counter()
    loaded = cs.load(path)
    timings["load (YAML)"] = time.perf_counter() - start
    assert len(loaded) == 5000

    monkeypatch.setenv("WANDB_CASSETTES_CACHE_DIR", str(tmp_path / "cache"))
    cache.load_cached(path)  # parses, and fills the parsed-cassette cache (what replay uses)
    start = time.perf_counter()
    cached = cache.load_cached(path)
    timings["load (cached)"] = time.perf_counter() - start
    assert cached.interactions == loaded.interactions

    start = time.perf_counter()
    Matcher(loaded, "https://api.wandb.ai")
    timings["matcher"] = time.perf_counter() - start

    with Relay("https://api.wandb.ai") as relay:
        replay = relay.replay(loaded)
        start = time.perf_counter()
        for i in (0, 2500, 4996):  # first, middle, last lookups
            name = f"run{i:05d}"
            body = {
                "query": "query Run($project: String!) { project { run { id } } }",
                "variables": {"entity": "team", "project": "proj", "name": name},
                "operationName": "Run",
            }
            answer = _post(relay.url + "/graphql", body)
            assert answer["data"]["project"]["run"]["name"] == name  # type: ignore[index]
        timings["3 replayed requests"] = time.perf_counter() - start
        assert replay.errors == []

    print(json.dumps({k: round(v, 3) for k, v in timings.items()}))
    # Generous bounds for a loaded 2-core CI machine (measured: ~2 s, ~0.2 s, ~0.06 s, ~0.02 s).
    assert timings["load (YAML)"] < 30
    assert timings["load (cached)"] < 5
    assert timings["matcher"] < 5
    assert timings["3 replayed requests"] < 3
    assert API_KEY not in path.read_text()
