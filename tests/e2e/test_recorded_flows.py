"""The flows real W&B serves beyond runs and artifacts, recorded through the relay and replayed.

Run files (a download answered with a 302 to signed storage), history
(``scan_history``), a sweep with one agent trial, a model linked into a
registry and unlinked, an artifact download through a redirect: each is
recorded against the stand-in by a marked test that cleans up nothing itself,
leaves the stand-in empty (but for the sweep, which W&B's API cannot delete:
the cleanup cancels it and the audit says so), and replays with
``--block-network``, in random order and with ``-n 2``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.pytest_process import run_pytest, subprocess_env
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes.cli import main as cli

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


@dataclass
class Recorded:
    project: Path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    project = tmp_path_factory.mktemp("flows")
    (project / "test_flows.py").write_text(FLOWS)
    (project / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        result = run_pytest(project, "--record-mode=once", upstream=upstream)
        assert result.returncode == 0, _out(result)
        live = upstream.live()
        sweeps = live.pop("sweeps", [])
        assert live == {"runs": [], "artifacts": [], "collections": []}, live
        # The sweep is what W&B's API cannot delete: the cleanup cancelled it.
        assert [s["state"] for s in sweeps] == ["CANCELED"], sweeps
        upstream.delete_sweep(f"{upstream.entity}/flows/{sweeps[0]['name']}")
    yield Recorded(project)


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{result.stdout[-12000:]}\n--- stderr ---\n{result.stderr[-4000:]}"


def test_the_cassettes_audit_clean_the_sweep_left_by_design(recorded: Recorded, capsys):
    capsys.readouterr()
    code = cli(["audit", "--format", "json", str(recorded.project / "cassettes")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, json.dumps(report, indent=1)[:4000]
    left = [r for c in report["cassettes"] for r in c["left_by_design"]]
    assert [r["kind"] for r in left] == ["sweep"]
    # The redirects were recorded as they came: the 302, then the storage GET.
    text = (
        (recorded.project / "cassettes" / "test_flows")
        .joinpath("test_run_file_is_listed_and_downloaded_through_a_redirect.yaml")
        .read_text()
    )
    assert "code: 302" in text


def test_replays_with_no_network(recorded: Recorded):
    result = run_pytest(recorded.project, "--block-network", "--wandb-strict")
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b5 passed\b", result.stdout), _out(result)


def test_replays_in_random_order_with_two_workers(recorded: Recorded):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "randomly",
         "--randomly-seed=3", "--block-network", "-n", "2"],
        cwd=recorded.project,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b5 passed\b", result.stdout), _out(result)
