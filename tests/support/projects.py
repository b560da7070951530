"""Throwaway pytest projects that the end-to-end tests record and replay, and what their
cassettes hold: the operations and statuses recorded, and no secret.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from wandb_cassettes import store as cs
from wandb_cassettes.cleanup import journal_lines
from wandb_cassettes.protocol import parse_request

#: Settings that keep the SDK's retries of an injected fault short (defaults wait ~1 s and up).
FAST_RETRIES = {
    f"WANDB_X_{kind}_{name}": value
    for kind in ("GRAPHQL", "FILE_STREAM", "FILE_TRANSFER")
    for name, value in (("RETRY_WAIT_MIN_SECONDS", "0.1"), ("RETRY_WAIT_MAX_SECONDS", "0.3"))
}

#: One run, a metric, a one-file artifact, finish: ~20 requests of every kind.
FLOW = """
import os
import pytest
import wandb


def flow(tmp_path, project="reliability", name="data", artifact=True):
    run = wandb.init(project=project)
    run.log({"loss": 0.5})
    if artifact:
        path = tmp_path / "data.txt"
        path.write_text("hello")
        logged = wandb.Artifact(name, type="dataset")
        logged.add_file(str(path))
        run.log_artifact(logged).wait()
    run.finish()
"""


def make_project(root: Path, **modules: str) -> Path:
    """A throwaway pytest project: ``pytest.ini`` and ``<name>.py`` for each module given."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    for name, text in modules.items():
        (root / f"{name}.py").write_text(text)
    return root


def operations(path: Path) -> list[tuple[str, int]]:
    """``(operation or "METHOD path", status)`` of each interaction of the cassette at ``path``."""
    loaded = cs.load(path)
    out = []
    for ix in loaded:
        gql = (
            parse_request(ix.request_text()) if ix.uri.split("?")[0].endswith("/graphql") else None
        )
        name = gql.operation if gql else f"{ix.method} {ix.uri.split('?')[0].split('/', 3)[-1]}"
        out.append((name, ix.status))
    return out


def statuses(path: Path, operation: str) -> list[int]:
    """The recorded statuses of ``operation`` (a GraphQL name or a "METHOD path" prefix)."""
    return [s for name, s in operations(path) if name == operation or name.startswith(operation)]


def audit_secrets(*paths: Path) -> None:
    """``wandb-cassettes audit --format json`` on ``paths``: no secret and no unreadable file.

    Leaks are not checked here (an interrupted recording may leave some, on purpose).
    """
    result = subprocess.run(
        [sys.executable, "-m", "wandb_cassettes", "audit", "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert len(report["cassettes"]) == len(paths), result.stdout
    for c in report["cassettes"]:
        assert c["error"] is None, c
        assert c["secrets"] == [], f"{c['path']}: {c['secrets']}"
    if all(not c["leaks"] for c in report["cassettes"]):
        assert result.returncode == 0, result.stdout + result.stderr


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def journal_file(
    project: Path, host: str, upstream: str, event: str, owned: dict[str, Any]
) -> Path:
    """A crash journal of ``host`` in ``project`` holding one ``event`` about ``owned``."""
    path = project / ".wandb_cassettes" / "journal" / f"{host}-4242.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {"journal": 2, "pid": 4242, "host": host, "upstream": upstream}
    lines = [header, {"event": event, "test": "t", "owned": owned}]
    path.write_text("".join(line + "\n" for line in journal_lines(lines)))
    return path
