"""The recorded flows' test module (every W&B flow the suite records), shared by
``e2e/test_recorded_flows.py`` and the flakiness job."""

from __future__ import annotations

FLOWS = """
import base64
import os

import pytest
import requests
import wandb

PROJECT = "flows"


@pytest.mark.wandb_cassette
def test_run_file_is_listed_and_downloaded_through_a_redirect(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello run files")
    with wandb.init(project=PROJECT) as run:
        run.save(str(notes), base_path=str(tmp_path), policy="now")
    api_run = wandb.Api().run(f"{run.entity}/{PROJECT}/{run.id}")
    files = {f.name: f for f in api_run.files()}
    with files["notes.txt"].download(root=str(tmp_path / "dl")) as downloaded:
        assert downloaded.read() == "hello run files"


@pytest.mark.wandb_cassette
def test_history_is_scanned():
    rows = [{"loss": 1.0 / (i + 1)} for i in range(5)]
    with wandb.init(project=PROJECT) as run:
        for row in rows:
            run.log(row)
    api_run = wandb.Api().run(f"{run.entity}/{PROJECT}/{run.id}")
    assert [r["loss"] for r in api_run.scan_history(keys=["loss"])] == [r["loss"] for r in rows]


@pytest.mark.wandb_cassette
def test_a_sweep_runs_one_trial():
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.1, 0.01]}},
    }
    sweep_id = wandb.sweep(config, project=PROJECT)
    seen = []

    def train():
        with wandb.init() as run:
            seen.append(run.config.lr)
            run.log({"loss": run.config.lr})

    wandb.agent(sweep_id, function=train, count=1, project=PROJECT)
    assert seen == [0.1]


@pytest.mark.wandb_cassette
def test_a_model_is_linked_into_a_registry_and_unlinked(tmp_path):
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights" * 10)
    with wandb.init(project=PROJECT) as run:
        artifact = wandb.Artifact("clf", type="model")
        artifact.add_file(str(weights))
        run.log_artifact(artifact).wait()
        linked = run.link_artifact(artifact, "wandb-registry-model/detector", aliases=["prod"])
        other = run.link_artifact(artifact, "wandb-registry-model/other")
    api = wandb.Api()
    fetched = api.artifact("wandb-registry-model/detector:prod")
    assert fetched.is_link and linked.version == "v0"
    api.artifact(other.qualified_name).unlink()  # the test's own unlink; "detector" is left


@pytest.mark.wandb_cassette
def test_an_artifact_is_downloaded_through_the_redirecting_route(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("through the redirect")
    with wandb.init(project=PROJECT) as run:
        artifact = wandb.Artifact("dataset", type="dataset")
        artifact.add_file(str(data))
        run.log_artifact(artifact).wait()
    got = wandb.Api().artifact(f"{run.entity}/{PROJECT}/dataset:latest")
    md5 = base64.b64decode(got.manifest.entries["data.txt"].digest).hex()
    # W&B's route for an artifact file by its md5 (the SDK's fallback download URL,
    # wandb/sdk/artifacts/storage_policies/wandb_storage_policy.py), answered with a 302.
    url = f"{os.environ['WANDB_BASE_URL']}/artifacts/{run.entity}/{md5}"
    answer = requests.get(url, auth=("api", os.environ["WANDB_API_KEY"]), timeout=30)
    assert answer.status_code == 200 and answer.text == "through the redirect"
    assert answer.history and answer.history[0].status_code == 302
"""
