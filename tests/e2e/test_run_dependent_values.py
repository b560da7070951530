"""Matching users can steer: values that change from run to run, and mismatches that say which.

Each test of the project records against the stand-in, then replays in a new
process (so every run-dependent value differs) with ``--block-network``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import store as cs
from wandb_cassettes.cli import main as cli

VOLATILE = """
import datetime, os, uuid
import numpy as np
import pytest, wandb

PROJECT = "steer"


@pytest.mark.wandb_cassette
def test_tmp_path_in_the_config(tmp_path):
    with wandb.init(project=PROJECT, config={"output_dir": str(tmp_path / "out")}) as run:
        run.log({"loss": 1.0})


@pytest.mark.wandb_cassette(ignore=["name", "group"])
def test_a_timestamped_name_and_a_uuid_group():
    with wandb.init(project=PROJECT, name=f"exp-{datetime.datetime.now()}",
                    group=f"ddp-{uuid.uuid4()}") as run:
        run.log({"loss": 1.0})


@pytest.mark.wandb_cassette
def test_an_image_named_after_its_random_content():
    with wandb.init(project=PROJECT) as run:
        pixels = np.random.randint(0, 255, (8, 8, 3), dtype=np.uint8)
        run.log({"sample": wandb.Image(pixels)})


@pytest.mark.wandb_cassette
def test_a_pinned_revision_in_the_config():
    revision = "0123456789abcdef0123456789abcdef01234567"  # 40 hex: a commit, not a key
    with wandb.init(project=PROJECT, config={"revision": revision}) as run:
        run.log({"loss": 1.0})


class TestDeclaredByTheClass:
    @pytest.fixture
    def wandb_cassette_config(self):
        return {"ignore": ["metadata.created"]}

    @pytest.mark.wandb_cassette
    def test_a_wall_clock_value_in_artifact_metadata(self, tmp_path):
        path = tmp_path / "w.txt"
        path.write_text("weights")
        with wandb.init(project=PROJECT) as run:
            artifact = wandb.Artifact("stamped", type="model",
                                      metadata={"created": str(datetime.datetime.now())})
            artifact.add_file(str(path))
            run.log_artifact(artifact).wait()


@pytest.mark.wandb_cassette
def test_a_config_value_the_code_may_change():
    lr = float(os.environ.get("E2E_LR", "0.1"))
    stamp = os.environ.get("E2E_STAMP", "2026-01-01T00:00:00")
    with wandb.init(project=PROJECT, config={"lr": lr, "run_date": stamp}) as run:
        run.log({"loss": lr})
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    project = tmp_path_factory.mktemp("steer")
    (project / "test_volatile.py").write_text(VOLATILE)
    (project / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        result = run_pytest(project, "--record-mode=once", upstream=upstream)
        assert result.returncode == 0, _out(result)
        assert upstream.live() == {"runs": [], "artifacts": [], "collections": []}
    yield project


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{result.stdout[-12000:]}\n--- stderr ---\n{result.stderr[-3000:]}"


def test_every_run_dependent_value_replays(recorded: Path):
    result = run_pytest(recorded, "--block-network", "--wandb-strict", "-p", "no:warnings")
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b6 passed\b", result.stdout), _out(result)


def test_a_commit_sha_is_recorded_as_it_is(recorded: Path):
    text = recorded / "cassettes/test_volatile/test_a_pinned_revision_in_the_config.yaml"
    assert "0123456789abcdef0123456789abcdef01234567" in text.read_text()


def test_declared_ignores_are_in_the_metadata_and_shown(recorded: Path, capsys):
    path = recorded / "cassettes/test_volatile/test_a_timestamped_name_and_a_uuid_group.yaml"
    assert cs.load(path).metadata["ignore"] == ["name", "group"]
    capsys.readouterr()
    assert cli(["show", str(path)]) == 0
    assert "replay does not compare: name, group" in capsys.readouterr().out
    capsys.readouterr()
    assert cli(["audit", "--format", "json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["cassettes"][0]["ignores"] == ["name", "group"]


def test_a_changed_value_is_named_with_both_values(recorded: Path, tmp_path: Path):
    project = tmp_path / "changed"
    shutil.copytree(recorded, project)
    result = run_pytest(project, "--block-network", "-k", "may_change", env={"E2E_LR": "0.2"})
    out = result.stdout
    assert result.returncode == 1, _out(result)
    assert "config.lr: recorded 0.1, sent 0.2" in out, _out(result)
    assert "looks run-dependent" not in out.split("config.lr")[1].splitlines()[0]
    assert "if the test changed on purpose, re-record it" in out
    assert out.count("had no recorded match") == 1  # one report for the test, not two
    assert re.search(r"\b1 failed\b", out) and " error" not in out.split("short test summary")[1]
    # Every mismatch message stays short; the full variables are in a file it names.
    section = out.split("test_a_config_value_the_code_may_change _")[1].split("=====")[0]
    assert len(section.splitlines()) < 60, section
    full = re.search(r"full variables of each request: (\S+)", out)
    assert full and Path(full.group(1)).is_file()


def test_a_run_dependent_value_gets_the_ignore_that_fixes_it(recorded: Path, tmp_path: Path):
    project = tmp_path / "stamped"
    shutil.copytree(recorded, project)
    result = run_pytest(
        project, "--block-network", "-k", "may_change", env={"E2E_STAMP": "2026-11-29T23:59:00"}
    )
    out = result.stdout
    assert result.returncode == 1, _out(result)
    assert 'config.run_date: recorded "2026-01-01T00:00:00", sent "2026-11-29T23:59:00"' in out
    assert "looks run-dependent: a date or time" in out
    assert "re-recording cannot help" in out
    assert '@pytest.mark.wandb_cassette(ignore=["config.run_date"])' in out


def test_an_unknown_ignore_path_is_a_usage_error_listing_the_forms(tmp_path: Path):
    (tmp_path / "test_bad.py").write_text(
        "import pytest\n\n@pytest.mark.wandb_cassette(ignore=['confg.lr'])\ndef test_x():\n"
        "    pass\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = run_pytest(tmp_path)
    assert result.returncode == 4, _out(result)  # usage error
    text = result.stdout + result.stderr
    assert "'confg.lr' is not an ignore path" in text
    assert "config.<key>" in text and "metadata.<key>" in text


def test_a_recorded_error_is_not_served_forever(recorded: Path, tmp_path: Path):
    """A cassette whose last answer to a request is an error fails fast, naming it."""
    project = tmp_path / "errored"
    shutil.copytree(recorded, project)
    path = project / "cassettes/test_volatile/test_tmp_path_in_the_config.yaml"
    data = yaml.safe_load(path.read_text())
    for ix in data["interactions"]:
        body = ix["request"].get("body") or ""
        if '"UpsertBucket"' in body:
            ix["response"]["status"] = {"code": 503, "message": "Service Unavailable"}
            ix["response"]["body"] = {"string": '{"errors": [{"message": "try later"}]}'}
            break
    path.write_text(yaml.safe_dump(data))
    started = time.monotonic()
    result = run_pytest(project, "--block-network", "-k", "tmp_path_in_the_config")
    took = time.monotonic() - started
    assert result.returncode == 1, _out(result)
    assert took < 90, f"{took:.0f}s"
    assert "recorded answers used up for GraphQL UpsertBucket" in result.stdout, _out(result)
    assert "HTTP 503" in result.stdout
