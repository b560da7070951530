"""The stand-in's distributed artifacts (``distributedID``) and rewound runs (``RewindRun``),
driven by the real SDK (issue 24): what W&B documents, checked by what the SDK reads back,
then recorded and replayed through the plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wandb
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

PROJECT = "dist"
EMPTY: dict[str, list[object]] = {"runs": [], "artifacts": [], "collections": []}

#: One writer of the distributed flow, in a process of its own (W&B's documented use).
WRITER = """
import sys, wandb
shard, distributed = sys.argv[1], sys.argv[2]
run = wandb.init(project="dist", group="writers", job_type="shard")
artifact = wandb.Artifact("shards", type="dataset")
artifact.add_file(shard)
run.upsert_artifact(artifact, distributed_id=distributed)
run.finish()
"""


def _write_shards(tmp_path: Path, distributed: str, names: list[str]) -> None:
    """Each shard upserted by its own process, all at once."""
    writers = []
    for name in names:
        path = tmp_path / name
        path.write_text(f"rows of {name}\n")
        writers.append(
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(path), distributed],
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
    for writer in writers:
        out, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0, out.decode()[-3000:]


def _finish(distributed: str, aliases: list[str] | None = None) -> wandb.Artifact:
    with wandb.init(project=PROJECT, group="writers", job_type="final") as run:
        artifact = wandb.Artifact("shards", type="dataset")
        return run.finish_artifact(artifact, distributed_id=distributed, aliases=aliases).wait()


def _delete_all(wb: StandinBackend) -> None:
    api = wandb.Api()
    api.artifact_collection("dataset", f"{wb.entity}/{PROJECT}/shards").delete()
    for run in api.runs(f"{wb.entity}/{PROJECT}"):
        run.delete()


def test_writers_in_several_processes_make_one_version_holding_every_shard(
    standin_sdk: StandinBackend, tmp_path: Path
):
    wb = standin_sdk
    names = ["shard-a.csv", "shard-b.csv", "shard-c.csv"]
    _write_shards(tmp_path, "job-1", names)
    assert [a["state"] for a in wb.live()["artifacts"]] == ["PENDING"]  # one, shared
    _finish("job-1", aliases=["complete"])

    api = wandb.Api()
    [version] = list(api.artifacts("dataset", f"{wb.entity}/{PROJECT}/shards"))
    assert version.version == "v0" and "complete" in version.aliases
    assert sorted(version.manifest.entries) == names
    assert version.file_count == 3
    folder = Path(version.download(root=str(tmp_path / "download")))
    for name in names:
        assert (folder / name).read_text() == f"rows of {name}\n"
    # The version's digest is its whole manifest's, as the SDK computes it.
    assert version.digest == version.manifest.digest()
    _delete_all(wb)
    assert wb.live() == EMPTY


def test_two_distributed_ids_make_two_versions_and_a_finished_one_is_not_reopened(
    standin_sdk: StandinBackend, tmp_path: Path
):
    wb = standin_sdk
    _write_shards(tmp_path, "job-1", ["a.csv"])
    _write_shards(tmp_path, "job-2", ["b.csv", "c.csv"])
    _finish("job-2")
    _finish("job-1")
    # The same id again after its finish: a new version (a committed one is immutable).
    _write_shards(tmp_path, "job-1", ["d.csv"])
    _finish("job-1")
    api = wandb.Api()
    versions = {
        v.version: sorted(v.manifest.entries)
        for v in api.artifacts("dataset", f"{wb.entity}/{PROJECT}/shards")
    }
    assert versions == {"v0": ["b.csv", "c.csv"], "v1": ["a.csv"], "v2": ["d.csv"]}
    _delete_all(wb)
    assert wb.live() == EMPTY


def _history(api: wandb.Api, wb: StandinBackend, run_id: str) -> list[tuple[int, float]]:
    return [
        (r["_step"], r["loss"]) for r in api.run(f"{wb.entity}/{PROJECT}/{run_id}").scan_history()
    ]


@pytest.mark.parametrize(("point", "kept"), [(2, 3), (0, 1), (9, 5)])
def test_a_rewound_run_keeps_its_history_to_the_point_and_goes_on_after_it(
    standin_sdk: StandinBackend, point: int, kept: int
):
    wb = standin_sdk
    with wandb.init(project=PROJECT, config={"lr": 0.1}) as run:
        for step in range(5):
            run.log({"loss": float(step)})
        run_id = run.id
    with wandb.init(project=PROJECT, resume_from=f"{run_id}?_step={point}") as run:
        assert run.id == run_id and run.config["lr"] == 0.1  # the same run, its config kept
        run.log({"loss": 100.0})
    api = wandb.Api()
    history = _history(api, wb, run_id)
    assert history[:kept] == [(s, float(s)) for s in range(kept)]
    # wandb goes on at the step after the point (its sender: first_step = value + 1).
    assert history[kept:] == [(point + 1, 100.0)]
    assert api.run(f"{wb.entity}/{PROJECT}/{run_id}").summary["loss"] == 100.0
    api.run(f"{wb.entity}/{PROJECT}/{run_id}").delete()
    assert wb.live() == EMPTY


def test_rewinding_a_run_that_does_not_exist_fails_clearly(standin_sdk: StandinBackend):
    with pytest.raises(Exception, match="not found"):
        wandb.init(project=PROJECT, resume_from="nosuchrun?_step=1")


FLOWS = """
import os
import subprocess
import sys

import pytest
import wandb

WRITER = {writer!r}


@pytest.mark.wandb_cassette
def test_distributed(tmp_path):
    # One writer after the other: a child's client ids follow the order children start in
    # (runtime/_children.py), which concurrent children would make timing-dependent.
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text(name)
        subprocess.run([sys.executable, "-c", WRITER, str(tmp_path / name), "d"], check=True)
    with wandb.init(project="dist", group="writers", job_type="final") as run:
        done = run.finish_artifact(wandb.Artifact("shards", type="dataset"), distributed_id="d")
        done.wait()
    got = wandb.Api().artifact(f"{{run.entity}}/dist/shards:latest")
    assert sorted(got.manifest.entries) == ["a.csv", "b.csv"]


@pytest.mark.wandb_cassette
def test_rewind():
    with wandb.init(project="dist") as run:
        for step in range(4):
            run.log({{"loss": float(step)}})
    with wandb.init(project="dist", resume_from=f"{{run.id}}?_step=1") as again:
        again.log({{"loss": 9.0}})
"""


def test_both_flows_record_against_the_stand_in_replay_offline_and_audit_clean(tmp_path: Path):
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "tests" / "test_flows.py").write_text(FLOWS.format(writer=WRITER))
    with StandinBackend() as upstream:
        done = run_pytest(project, "--record-mode=rewrite", upstream=upstream)
        assert done.returncode == 0, done.stdout[-6000:]
        assert upstream.live() == EMPTY  # the automatic cleanup deleted every writer's run
    replayed = run_pytest(project, "--block-network", "--wandb-strict")
    assert replayed.returncode == 0, replayed.stdout[-6000:]
    audited = subprocess.run(
        [sys.executable, "-m", "wandb_cassettes", "audit", "cassettes/"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert audited.returncode == 0, audited.stdout[-3000:]
    cassette = json.dumps(sorted(p.name for p in (project / "cassettes").rglob("*.yaml")))
    assert cassette == '["test_distributed.yaml", "test_rewind.yaml"]'
