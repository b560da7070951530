"""The audit on real recordings: secrets and personal data out, every mutation accounted for."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import credentials
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend
from wandb_cassettes_standin.graphql import STANDIN_EMAIL, STANDIN_FULL_NAME

from wandb_cassettes import store as cs
from wandb_cassettes.cli import main as cli

#: Made-up, well-formed credentials of the kinds people leak through run configs (none is a
#: real key: tests/support/credentials.py), under the names they usually have.
_FORMATS = credentials.formats()
LEAKS = {
    "hf_token": _FORMATS["huggingface-token"],
    "github_token": _FORMATS["github-pat"],
    "openai_key": _FORMATS["openai-project-key"],
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCY" + _FORMATS["github-pat"][4:14],
    "database_url": "postgresql://trainer:" + "s3cr3t-Pa55w0rd" + "@db.internal:5432/runs",
}
#: The part of each that must not survive.
SECRET_VALUES = [v[8:] for k, v in LEAKS.items() if k != "database_url"] + ["s3cr3t-Pa55w0rd"]

PROJECT_TESTS = f"""
import pytest, wandb

LEAKS = {LEAKS!r}


@pytest.mark.wandb_cassette
def test_a_config_full_of_credentials():
    with wandb.init(project="audit", config=LEAKS) as run:
        run.log({{"loss": 1.0}})
    assert wandb.Api().viewer.email  # the recording user's personal data comes back here


@pytest.mark.wandb_cassette
def test_links_a_model_and_leaves_it(tmp_path):
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    with wandb.init(project="audit") as run:
        artifact = wandb.Artifact("clf", type="model")
        artifact.add_file(str(weights))
        run.log_artifact(artifact).wait()
        run.link_artifact(artifact, "wandb-registry-model/audited")
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    project = tmp_path_factory.mktemp("audit")
    (project / "test_audited.py").write_text(PROJECT_TESTS)
    (project / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        result = run_pytest(project, "--record-mode=once", upstream=upstream)
        assert result.returncode == 0, _out(result)
        assert upstream.live() == {"runs": [], "artifacts": [], "collections": []}
    yield project / "cassettes" / "test_audited"


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-8000:] + result.stderr[-3000:]


def _audit(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = cli(["audit", "--format", "json", str(path)])
    return code, json.loads(capsys.readouterr().out)


def test_no_credential_and_no_personal_data_is_recorded(recorded: Path, capsys):
    path = recorded / "test_a_config_full_of_credentials.yaml"
    text = path.read_text()
    for value in SECRET_VALUES:
        assert value not in text, value
    assert STANDIN_EMAIL not in text and STANDIN_FULL_NAME not in text
    assert "ada-laptop" not in text  # the API key's name
    code, report = _audit(path, capsys)
    assert code == 0, json.dumps(report)[:3000]


def test_the_cassette_still_replays(recorded: Path):
    result = run_pytest(recorded.parent.parent, "--block-network", "--wandb-strict")
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b2 passed\b", result.stdout)


def test_the_values_planted_back_fail_the_audit_without_being_printed(
    recorded: Path, tmp_path: Path, capsys
):
    path = recorded / "test_a_config_full_of_credentials.yaml"
    data = yaml.safe_load(path.read_text())
    first = data["interactions"][0]
    first["request"]["body"] = first["request"]["body"] + " " + json.dumps(LEAKS)
    first["response"]["body"]["string"] += json.dumps({"email": STANDIN_EMAIL})
    planted = tmp_path / "planted.yaml"
    planted.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    code = cli(["audit", str(planted)])
    out = capsys.readouterr().out
    assert code == 1, out
    for value in [*SECRET_VALUES, STANDIN_EMAIL]:
        assert value not in out  # named by rule and place, never quoted
    assert "personal data" in out
    assert len(re.findall(r": secret #0 ", out)) >= len(LEAKS), out


def test_a_link_left_by_the_test_is_undone_and_its_removal_fails_the_audit(
    recorded: Path, tmp_path: Path, capsys
):
    path = recorded / "test_links_a_model_and_leaves_it.yaml"
    code, report = _audit(path, capsys)
    assert code == 0, report
    created = {r["kind"] for r in report["cassettes"][0]["created"]}
    assert {"link", "collection", "artifact", "run"} <= created
    data = yaml.safe_load(path.read_text())
    undoing = ("UnlinkArtifact", "DeleteArtifactPortfolio")
    data["interactions"] = [
        ix
        for ix in data["interactions"]
        if not any(op in (ix["request"].get("body") or "") for op in undoing)
    ]
    cut = tmp_path / "cut.yaml"
    cut.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert cli(["audit", str(cut)]) == 1
    out = capsys.readouterr().out
    assert "leaked collection" in out and "wandb-registry-model/audited" in out


def test_a_planted_unknown_mutation_fails_the_audit_naming_it(
    recorded: Path, tmp_path: Path, capsys
):
    path = recorded / "test_a_config_full_of_credentials.yaml"
    loaded = cs.load(path)
    ix = loaded.interactions[0]
    planted = cs.Interaction(
        "POST",
        ix.uri,
        {"Content-Type": ["application/json"]},
        json.dumps({"query": "mutation Mine { resetEverything(all: true) { ok } }"}),
        response_body=json.dumps({"data": {"resetEverything": {"ok": True}}}),
    )
    loaded.interactions.append(planted)
    target = cs.save(loaded, tmp_path / "unknown.yaml")
    capsys.readouterr()
    assert cli(["audit", str(target)]) == 1
    out = capsys.readouterr().out
    assert "unknown mutation resetEverything (operation Mine" in out
    capsys.readouterr()
    assert cli(["audit", "--harmless", "resetEverything", str(target)]) == 0


TOKEN = _FORMATS["huggingface-token"]
AWS_SECRET = LEAKS["aws_secret_access_key"]

ECHOED = f"""
import os
import pytest, wandb


@pytest.mark.parametrize("token", [{TOKEN!r}])
@pytest.mark.wandb_cassette
def test_echoes_its_secrets(token):
    config = {{"hf_token": token, "aws_secret_access_key": {AWS_SECRET!r}}}
    config["lr"] = float(os.environ.get("E2E_LR", "0.1"))
    with wandb.init(project="audit", config=config) as run:
        run.log({{"note": {AWS_SECRET!r}}})  # no key names it a secret here
        run.summary["copy"] = {AWS_SECRET!r}
"""


def test_a_secret_found_once_is_scrubbed_everywhere_and_a_secret_test_id_replays(tmp_path):
    """A value a rule found by its context (a config key) is a secret wherever it appears;
    a parametrized test whose id holds a token replays; no message prints the token."""
    (tmp_path / "test_echo.py").write_text(ECHOED)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        result = run_pytest(tmp_path, "--record-mode=once", upstream=upstream)
        assert result.returncode == 0, _out(result)
    [path] = (tmp_path / "cassettes").rglob("*.yaml")
    text = path.read_text()
    assert TOKEN not in text and TOKEN not in path.name
    assert AWS_SECRET[12:] not in text
    replayed = run_pytest(tmp_path, "--block-network", "--wandb-strict")
    assert replayed.returncode == 0, _out(replayed)
    changed = run_pytest(tmp_path, "--block-network", env={"E2E_LR": "0.2"})
    assert changed.returncode == 1
    lines = changed.stdout.splitlines()
    command = lines[lines.index("if the test changed on purpose, re-record it:") + 1]
    assert "--record-mode=rewrite" in command and TOKEN not in command
    assert "config.lr: recorded 0.1, sent 0.2" in changed.stdout


UNSHAPED = """
import pytest, wandb


@pytest.mark.wandb_cassette
@pytest.mark.parametrize("value", [
    "mysql://root:toor-Pass-99@10.0.0.5/db",  # a password, and the host after it
    "10.0.0.7",  # replaced as personal data
    "bob.smith@corp-example.com",
    "/home/bob/data/train.csv",
])
def test_personal_values(value):
    wandb.init(project="audit", config={"v": value}).finish()


@pytest.mark.wandb_cassette
@pytest.mark.parametrize("url", ["https://user:hunter2x@example.com/d",
                                 "https://user:other99x@example.com/d"])
def test_a_password_in_the_id(url):
    wandb.init(project="audit", config={"u": url}).finish()


@pytest.mark.wandb_cassette
@pytest.mark.parametrize("token", ["zz-live-abcdef0123456789abcdef0123456789"])
def test_a_secret_only_its_context_reveals(token):
    wandb.init(project="audit", config={"api_token": token}).finish()
"""


def test_what_recording_redacts_never_makes_a_cassette_unmatchable(tmp_path: Path):
    """Personal data and secrets replaced in a recording, in its config or its test id: the
    live request still carries them, and replay matches; no file name holds them."""
    (tmp_path / "test_unshaped.py").write_text(UNSHAPED)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        recorded = run_pytest(tmp_path, "--record-mode=once", upstream=upstream)
    out = _out(recorded)
    assert recorded.returncode == 1, out  # the last test: refused, not saved
    assert re.search(r"\b7 passed, 1 error\b", out), out
    names = sorted(p.name for p in (tmp_path / "cassettes").rglob("*.yaml*"))
    assert len(names) == 6, names  # two distinct password ids: two files
    for secret in ("hunter2x", "other99x", "zz-live-abcdef", "toor-Pass-99"):
        assert not any(secret in n for n in names), names
    for personal in ("10.0.0.7", "bob.smith", "home-bob"):  # replaced in file names too
        assert not any(personal in n for n in names), names
    (refusal,) = [line for line in out.splitlines() if "recording not saved" in line]
    assert "zz-live-abcdef" not in refusal  # it names the test without the value
    assert "test_a_secret_only_its_context_reveals[REDACTED]" in refusal
    replayed = run_pytest(tmp_path, "--block-network", "-k", "not only_its_context")
    assert replayed.returncode == 0, _out(replayed)
    assert re.search(r"\b6 passed\b", replayed.stdout), _out(replayed)
