"""Automatic cleanup while recording, end to end: the journal, the audit of real cassettes.

Each scenario runs pytest in a subprocess (the SDK reads its environment once
per process) against a stand-in W&B, then inspects the stand-in and the cassette.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from support.pytest_process import kill_when_flagged, run_pytest

from wandb_cassettes import store as cs
from wandb_cassettes.cli import main as cli

pytestmark = pytest.mark.torch  # every test records LEAKY_TEST, which saves torch checkpoints

LEAKY_TEST = """
import os, time
import pytest, torch, wandb

def _log_two_checkpoints(tmp_path):
    run = wandb.init(project="autoclean")
    for epoch in (1, 2):
        path = tmp_path / f"model-{epoch}.pt"
        torch.manual_seed(epoch)
        torch.save(torch.nn.Linear(4, 2).state_dict(), path)
        art = wandb.Artifact("ckpt", type="model")
        art.add_file(str(path), name="model.pt")
        run.log_artifact(art, aliases=["latest", f"epoch-{epoch}"]).wait()
    return run

@pytest.mark.wandb_cassette
def test_leaves_everything(tmp_path):
    run = _log_two_checkpoints(tmp_path)
    run.finish()

@pytest.mark.wandb_cassette
def test_deletes_versions_but_not_the_collection(tmp_path):
    run = _log_two_checkpoints(tmp_path)
    path = f"{run.entity}/{run.project}/ckpt"
    run.finish()
    for version in wandb.Api().artifacts("model", path):
        version.delete(delete_aliases=True)

@pytest.mark.wandb_cassette(keep=True)
def test_keeps_on_purpose(tmp_path):
    _log_two_checkpoints(tmp_path).finish()

@pytest.mark.wandb_cassette
def test_killed_midway(tmp_path):
    run = _log_two_checkpoints(tmp_path)
    flag = os.environ["KILL_FLAG"]
    open(flag, "w").close()
    time.sleep(120)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_leaky.py").write_text(LEAKY_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def _cassette(project: Path, name: str) -> Path:
    return project / "cassettes" / "test_leaky" / f"{name}.yaml"


def test_recorded_test_that_deletes_nothing_leaves_nothing(project, standin):
    result = run_pytest(project, "--record-mode=once", "-k", "leaves_everything", upstream=standin)
    assert result.returncode == 0, result.stdout + result.stderr
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}
    path = _cassette(project, "test_leaves_everything")
    assert cli(["audit", str(path)]) == 0

    operations = [op for op in _operations(path)]
    assert "DeleteRun" in operations or "DeleteArtifact" in operations


def test_an_emptied_collection_is_deleted_too(project, standin):
    result = run_pytest(project, "--record-mode=once", "-k", "not_the_collection", upstream=standin)
    assert result.returncode == 0, result.stdout + result.stderr
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}
    assert (
        cli(["audit", str(_cassette(project, "test_deletes_versions_but_not_the_collection"))]) == 0
    )


def test_audit_catches_a_removed_delete_an_error_answered_delete_and_a_key(
    project, standin, tmp_path, capsys
):
    run_pytest(project, "--record-mode=once", "-k", "leaves_everything", upstream=standin)
    path = _cassette(project, "test_leaves_everything")
    data = yaml.safe_load(path.read_text())
    deletes = [i for i, op in enumerate(_operations(path)) if op and op.startswith("Delete")]
    assert deletes, "the automatic cleanup recorded no delete"

    removed = tmp_path / "removed" / "c.yaml"
    removed.parent.mkdir()
    without = dict(
        data, interactions=[x for i, x in enumerate(data["interactions"]) if i not in deletes]
    )
    removed.write_text(yaml.safe_dump(without))
    capsys.readouterr()
    assert cli(["audit", str(removed)]) == 1
    assert "autoclean/ckpt" in capsys.readouterr().out

    errored = tmp_path / "errored" / "c.yaml"
    errored.parent.mkdir()
    for i in deletes:
        data["interactions"][i]["response"]["body"]["string"] = json.dumps(
            {"errors": [{"message": "permission denied"}], "data": None}
        )
    errored.write_text(yaml.safe_dump(data))
    assert cli(["audit", str(errored)]) == 1

    leaked_key = tmp_path / "key" / "c.yaml"
    leaked_key.parent.mkdir()
    leaked_key.write_text(path.read_text().replace("<WANDB_API_KEY>", standin.api_key))
    text = path.read_text()
    assert standin.api_key not in text
    data = yaml.safe_load(text)
    data["interactions"][0]["request"]["headers"]["X-Debug"] = [standin.api_key]
    leaked_key.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert cli(["audit", str(leaked_key)]) == 1
    assert "secret" in capsys.readouterr().out.lower()


def test_keep_marker_keeps_and_audit_reports_kept(project, standin, capsys):
    result = run_pytest(project, "--record-mode=once", "-k", "keeps_on_purpose", upstream=standin)
    assert result.returncode == 0, result.stdout + result.stderr
    live = standin.live()
    assert len(live["runs"]) == 1 and len(live["artifacts"]) == 2
    path = _cassette(project, "test_keeps_on_purpose")
    capsys.readouterr()
    assert cli(["audit", "--format", "json", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert json.dumps(report).count("kept") >= 1


def test_failing_cleanup_is_an_error_naming_the_resource(project, standin):
    standin.inject_fault("DeleteRun", graphql_error="backend says no", times=None)
    standin.inject_fault("DeleteArtifact", graphql_error="backend says no", times=None)
    standin.inject_fault("DeleteArtifactSequence", graphql_error="backend says no", times=None)
    result = run_pytest(project, "--record-mode=once", "-k", "leaves_everything", upstream=standin)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "automatic cleanup" in out
    assert "autoclean/ckpt" in out
    assert "backend says no" in out
    # a recording whose cleanup failed never becomes the cassette
    assert not _cassette(project, "test_leaves_everything").exists()
    assert _cassette(project, "test_leaves_everything").with_suffix(".yaml.failed").exists()


@pytest.mark.slow
def test_session_killed_mid_recording_is_swept_by_the_next(project, standin, tmp_path):
    flag = tmp_path / "flag"
    kill_when_flagged(project, standin, flag, "-k", "killed_midway")
    assert standin.live()["runs"], "the killed session should have left its run"
    journals = list((project / ".wandb_cassettes" / "journal").glob("*.jsonl"))
    assert journals

    result = run_pytest(project, "--record-mode=once", "-k", "leaves_everything", upstream=standin)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "swept" in result.stdout
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}
    assert not list((project / ".wandb_cassettes" / "journal").glob("*.jsonl"))


def _operations(path: Path) -> list[str | None]:
    from wandb_cassettes.protocol import parse_request

    ops = []
    for ix in cs.load(path):
        gql = parse_request(ix.request_text()) if ix.uri.endswith("/graphql") else None
        ops.append(gql.operation if gql else None)
    return ops


def test_wandb_audit_fails_the_session_on_a_leak(project, standin):
    clean = run_pytest(
        project, "--record-mode=once", "--wandb-audit", "-k", "leaves_everything", upstream=standin
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # In pytest's terminal summary, after the results, on lines of its own.
    summary = clean.stdout.split("wandb-cassettes audit", 1)[1]
    assert "1 clean" in summary
    assert re.search(r"^clean\s+\S+test_leaves_everything\.yaml", summary, re.M), summary

    # Without the automatic cleanup (patched out here), the recording leaks: the audit says so.
    (project / "conftest.py").write_text(
        "import wandb_cassettes.runtime._lifecycle as lc\n"
        "lc.CassetteUse._clean_up = lambda self: None\n"
    )
    leaky = run_pytest(
        project, "--record-mode=rewrite", "--wandb-audit", "-k", "leaves_everything",
        upstream=standin,
    )  # fmt: skip
    assert leaky.returncode == 1, leaky.stdout + leaky.stderr
    assert "1 passed" in leaky.stdout
    assert "leak" in leaky.stdout and "autoclean/ckpt" in leaky.stdout
    assert "wandb-cassettes audit FAILED: 1 of the 1 cassette(s)" in leaky.stdout
