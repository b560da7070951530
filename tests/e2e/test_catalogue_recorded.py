"""A recording full of credentials, under neutral names: none reaches a file, each is found.

A run's config, summary and history, an artifact's metadata and its file names hold
made-up, well-formed values of 39 credential formats (tests/support/credentials.py) under keys
that say nothing (``v07``), so that only a value's shape tells it is a credential,
and the W&B key the recording used in simple encodings (base64, base64url, hex, case
changes, cut in two across two history rows). Recorded with the real SDK against the
stand-in: no file the recording writes holds any of them, the cassette replays and
audits clean; each value planted back alone fails the audit, named by rule, place and
file, never quoted.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support import credentials
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes.cli import main as cli

FORMATS = credentials.formats()
NAMED = credentials.file_name_safe(FORMATS)

PROJECT_TESTS = """
import base64, os
import pytest, wandb

FORMATS = {formats!r}
FILE_NAMES = {file_names!r}


def encodings(key):
    \"\"\"The key in the encodings a test can produce, each alone in a value.\"\"\"
    raw = key.encode()
    body = key.replace("_", "-").rsplit("-", 1)[-1].encode()
    return [
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        key.upper(),
        key.swapcase(),
        "".join(f"%{{b:02X}}" for b in raw),
        base64.b85encode(raw).decode(),
        base64.b64encode(base64.b64encode(raw)).decode(),
        base64.b64encode(raw[::-1]).decode(),
        base64.b64encode(body).decode(),
        body.hex(),
    ]


@pytest.mark.wandb_cassette
def test_credentials_everywhere(tmp_path):
    # The key in use: the stand-in's when recording, replay's own when replaying.
    key = os.environ["WANDB_API_KEY"]
    values = [*FORMATS, *encodings(key)]
    config = {{f"v{{i:02d}}": v for i, v in enumerate(values)}}
    summary = {{f"s{{i:02d}}": v for i, v in enumerate(values)}}
    metadata = {{f"m{{i:02d}}": v for i, v in enumerate(FORMATS)}}
    with wandb.init(project="catalogue", config=config) as run:
        run.summary.update(summary)
        for half in (key[: len(key) // 2], key[len(key) // 2 :]):  # one per history row
            run.log({{"part": half}})
        artifact = wandb.Artifact("bundle", type="dataset", metadata=metadata)
        # One file (wandb-core batches the files of an artifact as they are ready, so
        # the batches of many would differ between recording and replay), whose name
        # holds every value: a folder each, the last one the file's own name.
        (tmp_path / "data.txt").write_text("x")
        artifact.add_file(str(tmp_path / "data.txt"), name="/".join(FILE_NAMES))
        run.log_artifact(artifact).wait()
    # Read back: replay gives the test's own values where the cassette holds them scrubbed.
    api = wandb.Api()
    stored = api.run(f"{{run.entity}}/catalogue/{{run.id}}")
    assert {{k: stored.config[k] for k in config}} == config
    assert {{k: stored.summary[k] for k in summary}} == summary
    logged = api.artifact(f"{{run.entity}}/catalogue/bundle:latest")
    assert logged.metadata == metadata
    assert logged.get_entry("/".join(FILE_NAMES)).path == "/".join(FILE_NAMES)
"""


@dataclass
class Recorded:
    project: Path
    cassette: Path
    key: str
    #: Every value that must not be stored: name -> value.
    values: dict[str, str]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    project = tmp_path_factory.mktemp("catalogue")
    (project / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        key = upstream.api_key
        encodings = credentials.key_encodings(key)
        halves = credentials.key_halves(key)
        # Folder names, some with an extension (a token ends at a "." or a "/" there).
        names = [v + (".d" if i % 3 == 1 else "") for i, v in enumerate(NAMED.values())]
        names[-1] += ".txt"
        source = PROJECT_TESTS.format(formats=list(FORMATS.values()), file_names=names)
        (project / "test_leaky.py").write_text(source)
        result = run_pytest(project, "--record-mode=once", upstream=upstream)
        assert result.returncode == 0, _out(result)
        assert upstream.live() == {"runs": [], "artifacts": [], "collections": []}
    values = {**FORMATS, **encodings, "key": key, "key-first-half": halves[0]}
    values["key-second-half"] = halves[1]
    [cassette] = (project / "cassettes").rglob("*.yaml")
    yield Recorded(project, cassette, key, values)


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-8000:] + result.stderr[-3000:]


def _written(project: Path) -> list[Path]:
    """Every file the recording wrote in the project (not the test module pytest compiled)."""
    return [
        p
        for p in sorted(project.rglob("*"))
        if p.is_file() and p.suffix != ".pyc" and p.name not in ("test_leaky.py", "pytest.ini")
    ]


def test_the_formats_are_many_and_their_values_reach_the_traffic(recorded: Recorded):
    assert len(FORMATS) >= 30 and len(NAMED) >= 30
    text = recorded.cassette.read_text()
    # The places are real: the neutral keys and an artifact file are in the cassette.
    assert "v00" in text and "s00" in text and "m00" in text
    assert "CreateArtifactFiles" in text and text.count("REDACTED") >= len(FORMATS)
    assert text.count("<WANDB_API_KEY>") >= len(credentials.key_encodings(recorded.key)) + 2


def test_no_value_is_in_any_file_the_recording_writes(recorded: Recorded):
    files = _written(recorded.project)
    assert recorded.cassette in files
    for path in files:
        data = path.read_bytes()
        lowered = data.lower()
        for name, value in recorded.values.items():
            # Any run of 16 characters of the value, in any case, in the file or its name.
            for i in range(0, max(1, len(value) - 15), 4):
                piece = value[i : i + 16]
                where = f"{path.relative_to(recorded.project)}: {name}"
                assert piece.lower().encode() not in lowered, where
                assert piece.lower() not in str(path).lower(), where


def test_the_cassette_replays(recorded: Recorded):
    result = run_pytest(recorded.project, "--block-network", "--wandb-strict")
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b1 passed\b", result.stdout)


def _audit(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli(["audit", *args, str(path)])
    return code, capsys.readouterr().out


def test_the_audit_is_clean(recorded: Recorded, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", recorded.key)  # the key in use is looked for too
    code, out = _audit(recorded.cassette, capsys, "--format", "json")
    assert code == 0, out[:3000]
    assert json.loads(out)["cassettes"][0]["secrets"] == []


def _escaped(value: str, backslashes: int) -> str:
    """``value`` as a JSON string nested so deep that its quotes take ``backslashes``."""
    depth = {0: 1, 1: 2, 3: 3, 7: 4}[backslashes]
    for _ in range(depth):
        value = json.dumps(value)[1:-1]
    return value


def _plant(cassette: Path, value: str, dest: Path) -> Path:
    """The cassette with ``value`` back in the run's config, where recording redacted one."""
    data = yaml.safe_load(cassette.read_text())
    for ix in data["interactions"]:
        body = ix["request"].get("body") or ""
        if "UpsertBucket" in body and "REDACTED" in body:
            at = body.index("REDACTED")
            quote = body.rindex('"', 0, at)
            backslashes = quote - len(body[:quote].rstrip("\\"))
            ix["request"]["body"] = body[:at] + _escaped(value, backslashes) + body[at + 8 :]
            break
    else:
        raise AssertionError("no redacted config value to plant into")
    dest.write_text(yaml.safe_dump(data))
    return dest


def test_each_value_planted_back_fails_the_audit_named_and_never_quoted(
    recorded: Recorded, tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.setenv("WANDB_API_KEY", recorded.key)
    for name, value in recorded.values.items():
        planted = _plant(recorded.cassette, value, tmp_path / "planted.yaml")
        code, out = _audit(planted, capsys)
        assert code == 1, (name, out[-2000:])
        lines = [line for line in out.splitlines() if ": secret #" in line]
        assert lines and all(line.startswith(f"{planted}: secret #") for line in lines), name
        assert re.search(r": secret #\d+ \S+ in request body at offset \d+", out), name
        for i in range(10, max(11, len(value) - 7), 4):  # past a format's prefix
            assert value[i : i + 8] not in out, (name, "quoted in the report")


def test_a_value_in_a_cassette_file_name_fails_the_audit(recorded: Recorded, tmp_path, capsys):
    for name, value in list(NAMED.items())[:: len(NAMED) // 5]:
        copy = tmp_path / f"test_x[{value}].yaml"
        copy.write_text(recorded.cassette.read_text())
        code, out = _audit(copy, capsys, "--format", "json")
        report = json.loads(out)["cassettes"][0]
        assert code == 1, name
        assert [s["where"] for s in report["secrets"]] == ["file name"], name
        copy.unlink()
