"""The REAL wandb SDK against the stand-in: runs, a torch checkpoint, the public API, deletes.

Every test starts its own stand-in and points the SDK at it through the
environment. wandb reads its settings once per ``wandb.setup()``, so the
fixture tears the SDK down after each test (this also stops ``wandb-core``,
which the next ``wandb.init`` restarts in ~0.25 s).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import wandb
from wandb.errors import CommError
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes.runtime import sdk_env

pytestmark = pytest.mark.torch

PROJECT = "standin-sdk"


@pytest.fixture
def wb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinBackend]:
    wandb.teardown()  # settings of an earlier session would ignore our environment
    with StandinBackend() as backend:
        for name, value in sdk_env(backend.base_url, backend.api_key, tmp_path).items():
            monkeypatch.setenv(name, value)
        try:
            yield backend
        finally:
            wandb.teardown()  # finishes any run left open, stops wandb-core


def _checkpoint(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    state = torch.nn.Linear(4, 2).state_dict()
    path = tmp_path / "model.pt"
    torch.save(state, path)
    return path, state


def _train_and_log(tmp_path: Path, aliases: list[str]) -> tuple[str, dict[str, torch.Tensor]]:
    path, state = _checkpoint(tmp_path)
    with wandb.init(project=PROJECT) as run:
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1)})
        artifact = wandb.Artifact("classifier", type="model")
        artifact.add_file(str(path))
        run.log_artifact(artifact, aliases=aliases)
        artifact.wait()
        assert artifact.version == "v0"
        run_id = run.id
    return run_id, state


def test_checkpoint_round_trip_then_delete_everything(wb: StandinBackend, tmp_path: Path) -> None:
    run_id, state = _train_and_log(tmp_path, aliases=["best"])
    api = wandb.Api()

    artifact = api.artifact(f"{wb.entity}/{PROJECT}/classifier:latest")
    assert (artifact.type, artifact.version) == ("model", "v0")
    assert set(artifact.aliases) == {"latest", "best"}
    loaded = torch.load(Path(artifact.download(root=str(tmp_path / "dl"))) / "model.pt")
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)

    run = api.run(f"{wb.entity}/{PROJECT}/{run_id}")
    assert run.state == "finished"
    assert run.summary["loss"] == pytest.approx(1 / 3)
    assert [r.id for r in api.runs(f"{wb.entity}/{PROJECT}")] == [run_id]
    assert [a.version for a in run.logged_artifacts()] == ["v0"]

    for version in api.artifacts("model", f"{wb.entity}/{PROJECT}/classifier"):
        version.delete(delete_aliases=True)
    with pytest.raises(CommError, match="not found"):
        api.artifact(f"{wb.entity}/{PROJECT}/classifier:latest")
    assert list(api.artifacts("model", f"{wb.entity}/{PROJECT}/classifier")) == []
    # As on W&B, the emptied collection stays until it is deleted itself.
    assert [c["versions"] for c in wb.live()["collections"]] == [0]
    api.artifact_collection("model", f"{wb.entity}/{PROJECT}/classifier").delete()
    run.delete()

    assert wb.live() == {"runs": [], "artifacts": [], "collections": []}


def test_what_is_not_deleted_stays_live(wb: StandinBackend, tmp_path: Path) -> None:
    run_id, _ = _train_and_log(tmp_path, aliases=["best", "prod"])
    live = wb.live()
    assert [(r["name"], r["state"]) for r in live["runs"]] == [(run_id, "finished")]
    [art] = live["artifacts"]
    assert (art["collection"], art["type"], art["version"]) == ("classifier", "model", "v0")
    assert art["aliases"] == ["best", "latest", "prod"]
    collections = wandb.Api().artifact_collections(f"{wb.entity}/{PROJECT}", "model")
    assert [c.name for c in collections] == ["classifier"]


def test_run_delete_cascades_to_its_artifacts_only_when_asked(
    wb: StandinBackend, tmp_path: Path
) -> None:
    kept_run, _ = _train_and_log(tmp_path, aliases=[])
    api = wandb.Api()
    api.run(f"{wb.entity}/{PROJECT}/{kept_run}").delete(delete_artifacts=False)
    assert wb.live()["runs"] == []
    assert [a["version"] for a in wb.live()["artifacts"]] == ["v0"]

    with wandb.init(project=PROJECT) as run:
        art = wandb.Artifact("classifier", type="model")
        art.add_file(str(_write(tmp_path / "v1.txt", "v1")))
        run.log_artifact(art).wait()
        cascade_run = run.id
    assert [a["version"] for a in wb.live()["artifacts"]] == ["v0", "v1"]
    api.run(f"{wb.entity}/{PROJECT}/{cascade_run}").delete(delete_artifacts=True)
    assert wb.live()["runs"] == []
    assert [(a["version"], a["aliases"]) for a in wb.live()["artifacts"]] == [("v0", ["latest"])]


def test_collection_delete_removes_every_version(wb: StandinBackend, tmp_path: Path) -> None:
    with wandb.init(project=PROJECT) as run:
        for i in range(2):
            art = wandb.Artifact("dataset", type="data")
            art.add_file(str(_write(tmp_path / "d.txt", f"rows {i}")))
            run.log_artifact(art, aliases=[f"a{i}"]).wait()
        user = run.use_artifact("dataset:a0")
        assert user.version == "v0"
    api = wandb.Api()
    collection = api.artifact_collection("data", f"{wb.entity}/{PROJECT}/dataset")
    assert [a.version for a in collection.artifacts()] == ["v1", "v0"]
    assert sorted(collection.aliases) == ["a0", "a1", "latest"]
    assert [a.version for a in api.artifact_versions("data", f"{wb.entity}/{PROJECT}/dataset")] == [
        "v1",
        "v0",
    ]
    collection.delete()
    live = wb.live()
    assert (live["artifacts"], live["collections"]) == ([], [])
    with pytest.raises(CommError):
        api.artifact(f"{wb.entity}/{PROJECT}/dataset:v0")


def test_aliased_artifact_delete_needs_delete_aliases(wb: StandinBackend, tmp_path: Path) -> None:
    _train_and_log(tmp_path, aliases=["best"])
    artifact = wandb.Api().artifact(f"{wb.entity}/{PROJECT}/classifier:v0")
    with pytest.raises(CommError, match="aliases"):
        artifact.delete()
    assert len(wb.live()["artifacts"]) == 1
    artifact.delete(delete_aliases=True)
    assert wb.live()["artifacts"] == []


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _core_children() -> list[int]:
    """PIDs of live wandb-core processes started by this test process."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if comm == "wandb-core" and int(fields[1]) == os.getpid() and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_teardown_leaves_no_wandb_core(wb: StandinBackend) -> None:
    with wandb.init(project=PROJECT) as run:
        run.log({"x": 1})
    assert _core_children()
    wandb.teardown()
    assert _core_children() == []
