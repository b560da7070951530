"""The relay on W&B's bigger shapes: multipart uploads and downloads too large for the YAML."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import store as cs
from wandb_cassettes.cli import main as cli

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


def _teammate_model(project: str, big: Path) -> str:
    """``big`` logged as a teammate's model in ``project``, outside pytest: its path (v0)."""
    import wandb

    with wandb.init(project=project) as run:
        artifact = wandb.Artifact("teammate-model", type="model")
        artifact.add_file(str(big))
        run.log_artifact(artifact).wait()
    return f"{run.entity}/{project}/teammate-model:v0"


def _project(tmp_path: Path, module: str, source: str) -> Path:
    """A pytest project of one test module, ``module``.py holding ``source``."""
    project = tmp_path / "project"
    project.mkdir()
    (project / f"{module}.py").write_text(source)
    (project / "pytest.ini").write_text("[pytest]\n")
    return project


@pytest.mark.slow
def test_a_large_download_is_kept_beside_the_cassette_and_streamed_back(
    standin_sdk: StandinBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = 24 * 1024 * 1024
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(size))
    project = _project(tmp_path, "test_download", DOWNLOAD)
    env = {"E2E_MODEL": _teammate_model("blobs", big), "E2E_SIZE": str(size)}
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


@pytest.mark.parametrize("held", ["a token", "the recording's key"])
def test_a_secret_in_a_kept_download_is_warned_of_and_the_key_in_use_is_never_kept(
    standin_sdk: StandinBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str], held: str
) -> None:
    """A blob is served byte for byte, so it cannot be scrubbed: a credential in it is
    warned of and fails the audit; the recording's own key is refused outright (an audit
    in CI, without the key, could not see it)."""
    from support.credentials import formats

    secret = formats()["github-pat"] if held == "a token" else standin_sdk.api_key
    size = 200 * 1024
    data = os.urandom(100 * 1024) + f" {secret} ".encode()
    big = tmp_path / "big.bin"
    big.write_bytes(data + os.urandom(size - len(data)))
    project = _project(tmp_path, "test_download", DOWNLOAD)
    env = {"E2E_MODEL": _teammate_model("blobs", big), "E2E_SIZE": str(size)}
    recorded = run_pytest(
        project, "--record-mode=once", upstream=standin_sdk, env=env, keeps_secrets=True
    )
    said = " ".join(recorded.stdout.split())
    path = project / "cassettes" / "test_download" / "test_downloads_a_teammates_big_model.yaml"
    assert secret not in recorded.stdout + recorded.stderr
    if held == "a token":
        assert recorded.returncode == 0, _out(recorded)
        assert "holds a secret (betterleaks.github-pat at byte" in said, _out(recorded)
        capsys.readouterr()
        assert cli(["audit", str(path)]) == 1
        assert "betterleaks.github-pat" in capsys.readouterr().out
    else:
        assert recorded.returncode == 1, _out(recorded)
        assert "recording not saved" in said and "W&B API key" in said, _out(recorded)
        assert not path.exists() and not cs.failed_path(path).exists()


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-6000:] + result.stderr[-2000:]


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
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20))
    project = _project(tmp_path, "test_ranged", RANGED)
    env = {"E2E_MODEL": _teammate_model("ranges", big), "E2E_FILE": str(big)}
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
