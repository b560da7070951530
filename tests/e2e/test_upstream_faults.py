"""Upstream faults while recording: passed through as they happened, and the cassette replays.

The stand-in W&B injects the faults (``inject_fault``); the real SDK, in a pytest
subprocess, records through the relay. wandb-core retries 5xx and 429 answers,
timeouts and dropped connections itself, so a recording with faults is a recording
of those retries; replaying it (stand-in stopped: no network) serves the same
answers in the same order and the SDK retries the same way.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from support.projects import FAST_RETRIES, FLOW, audit_secrets, make_project, output, statuses
from support.pytest_process import PYTEST, run_pytest, subprocess_env, wait_for_checkpoint
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import store as cs

FAULTY = (
    FLOW
    + """
@pytest.mark.wandb_cassette
def test_flow(tmp_path):
    flow(tmp_path)
"""
)

#: An SDK timeout shorter than the injected delay: the request is abandoned and retried.
SDK_TIMEOUT = {"WANDB_X_GRAPHQL_TIMEOUT_SECONDS": "1"}


@pytest.mark.slow
def test_faults_are_recorded_as_they_happened_and_replay(tmp_path, standin):
    project = make_project(tmp_path / "p", test_faulty=FAULTY)
    path = project / "cassettes" / "test_faulty" / "test_flow.yaml"
    standin.inject_fault("CreateArtifact", status=500)
    standin.inject_fault("CreateArtifactFiles", status=429, headers={"Retry-After": "1"})
    standin.inject_fault("ArtifactType", delay=2.5)  # > SDK_TIMEOUT: wandb-core gives up, retries
    standin.inject_fault("CreateArtifactManifest", drop=True)  # connection closed, no answer
    standin.inject_fault("/bucket/artifacts/", status=503)  # the storage PUT of the file
    standin.inject_fault("/files/", status=500)  # the first file_stream post

    result = run_pytest(
        project, "--record-mode=once", upstream=standin, env={**FAST_RETRIES, **SDK_TIMEOUT}
    )
    out = output(result)
    assert result.returncode == 0, out
    # Each fault, then the SDK's successful retry, recorded in the order they happened.
    assert statuses(path, "CreateArtifact")[:2] == [500, 200]
    retry = [ix for ix in cs.load(path) if ix.status == 429]
    assert statuses(path, "CreateArtifactFiles") == [429, 200]
    assert retry[0].response_headers.get("Retry-After") == ["1"]
    assert statuses(path, "PUT bucket/artifacts/")[:2] == [503, 200]
    assert statuses(path, "POST files/")[0] == 500
    # The dropped connection: the relay answered 502 and said so; the SDK retried.
    manifest = statuses(path, "CreateArtifactManifest")
    assert manifest[0] == 502 and manifest[1] == 200, manifest
    assert "upstream failed for POST" in out and "ServerDisconnected" in out
    # The slow answer: the relay waited for it (its own timeout is not the SDK's), the SDK had
    # already retried after its 1 s timeout: the upstream saw ArtifactType twice.
    seen = [op for _method, _path, op in standin.requests if op == "ArtifactType"]
    assert len(seen) == 2
    assert statuses(path, "ArtifactType") == [200, 200]
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}
    audit_secrets(path)

    standin.stop()  # replay has no network at all
    before = path.read_bytes()
    replay = run_pytest(project, env={**FAST_RETRIES, **SDK_TIMEOUT})
    out = output(replay)
    assert replay.returncode == 0, out
    assert path.read_bytes() == before
    # Every recorded answer was served, faults included (the SDK retried them again); only the
    # late answer to the abandoned ArtifactType request is left, as no request waited for it.
    tail = out.split("never played", 1)[1] if "never played" in out else ""
    unplayed = re.findall(r"#\d+ (.*)", tail)
    assert all(u.startswith("GraphQL ArtifactType") for u in unplayed), unplayed
    assert len(unplayed) <= 1


DYING = (
    FLOW
    + """
import time
from pathlib import Path


@pytest.mark.wandb_cassette
def test_upstream_dies(tmp_path):
    run = wandb.init(project="dying")
    run.log({"loss": 1.0})
    Path(os.environ["AT_CHECKPOINT"]).touch()
    while not Path(os.environ["GO_ON"]).exists():
        time.sleep(0.05)
    artifact = wandb.Artifact("data", type="dataset")
    (tmp_path / "f.txt").write_text("x")
    artifact.add_file(str(tmp_path / "f.txt"))
    run.log_artifact(artifact).wait()
    run.finish()
"""
)

RECORD = ("--record-mode=rewrite",)
#: Give up after one retry, so that a dead upstream fails the test in seconds.
GIVE_UP = {
    **FAST_RETRIES,
    "WANDB_X_GRAPHQL_RETRY_MAX": "1",
    "WANDB_X_FILE_STREAM_RETRY_MAX": "1",
    "WANDB_X_FILE_TRANSFER_RETRY_MAX": "1",
}


@pytest.mark.slow
def test_upstream_dying_mid_test_fails_it_saying_the_upstream_failed(tmp_path):
    project = make_project(tmp_path / "p", test_dying=DYING)
    path = project / "cassettes" / "test_dying" / "test_upstream_dies.yaml"
    path.parent.mkdir(parents=True)
    from support.cassette_builders import clean_flow

    cs.save(clean_flow(), path)  # a good cassette from before: must survive
    good = path.read_bytes()
    standin = StandinBackend().start()
    env = subprocess_env(
        standin, **GIVE_UP, AT_CHECKPOINT=str(tmp_path / "checkpoint"), GO_ON=str(tmp_path / "go")
    )
    proc = subprocess.Popen(
        [*PYTEST, *RECORD],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_checkpoint(proc, tmp_path / "checkpoint")
        standin.stop()  # the upstream dies with a run open
        (tmp_path / "go").touch()
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
        standin.stop()
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, out
    # The failure itself says the upstream failed, beside the SDK's traceback.
    failures = out.split("= FAILURES =", 1)[1]
    assert "wandb-cassettes: the upstream failed while recording" in failures
    assert "upstream failed for POST http://127.0.0.1" in failures
    assert "Connect call failed" in failures or "ConnectionRefused" in failures
    # The good cassette is untouched; the partial recording is kept beside it.
    assert path.read_bytes() == good
    failed = cs.failed_path(path)
    assert failed.exists()
    # What the SDK was answered: a 400 it does not retry, saying the upstream is unreachable.
    refused = [ix for ix in cs.load(failed) if ix.status == 400]
    assert refused and "cannot reach the upstream" in (refused[0].response_text() or "")
    audit_secrets(failed)
