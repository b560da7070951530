"""The REAL wandb SDK against the stand-in: run files, history, sweeps, registries, big uploads.

Each test drives the SDK the way a user would, checks the outcome (bytes,
rows, what the stand-in holds) and deletes what it made, ending with an empty
stand-in. The suite runs with the fidelity check on (``tests/conftest.py``),
so every GraphQL answer here also matched the SDK's own types.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
import wandb
from wandb_cassettes_standin import StandinBackend

PROJECT = "flows"
EMPTY: dict[str, list[object]] = {"runs": [], "artifacts": [], "collections": []}


def _path(wb: StandinBackend, run_id: str) -> str:
    return f"{wb.entity}/{PROJECT}/{run_id}"


def test_saved_run_file_lists_and_downloads_through_a_redirect(
    standin_sdk: StandinBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wb = standin_sdk
    monkeypatch.chdir(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"hello run files\n")
    with wandb.init(project=PROJECT) as run:
        run.save(str(notes), base_path=str(tmp_path), policy="now")
        run_id = run.id

    api_run = wandb.Api().run(_path(wb, run_id))
    files = {f.name: f for f in api_run.files()}
    assert "notes.txt" in files and "wandb-summary.json" in files
    f = files["notes.txt"]
    assert f.size == len(b"hello run files\n")
    assert f.md5 == base64.b64encode(hashlib.md5(b"hello run files\n").digest()).decode()
    assert f.url == f"{wb.base_url}/files/{_path(wb, run_id)}/notes.txt"
    assert [x.name for x in api_run.files(names=["notes.txt"])] == ["notes.txt"]
    assert sorted(x.name for x in api_run.files(pattern="%.json")) == ["wandb-summary.json"]

    before = len(wb.requests)
    with f.download(root=str(tmp_path / "dl")) as downloaded:
        assert downloaded.read() == "hello run files\n"
    # wandb-core asked the API host, which answered 302, then fetched signed storage.
    hops = [(m, p) for m, p, _ in wb.requests[before:]]
    assert hops == [
        ("GET", f"/files/{_path(wb, run_id)}/notes.txt"),
        ("GET", f"/bucket/runs/{_path(wb, run_id)}/notes.txt"),
    ]

    f.delete()
    assert [x.name for x in api_run.files(names=["notes.txt"])] == []
    api_run.delete()
    assert wb.live() == EMPTY


def test_scan_history_and_history_return_the_logged_rows(
    standin_sdk: StandinBackend,
) -> None:
    wb = standin_sdk
    logged = [{"loss": 1.0 / (i + 1), "acc": i / 10} for i in range(7)]
    with wandb.init(project=PROJECT) as run:
        for row in logged:
            run.log(row)
        run.log({"only_loss": 5})
        run_id = run.id

    api_run = wandb.Api().run(_path(wb, run_id))
    scanned = list(api_run.scan_history(page_size=3))
    assert [r["_step"] for r in scanned] == list(range(8))
    assert [{k: r[k] for k in ("loss", "acc")} for r in scanned[:7]] == logged
    assert [r["loss"] for r in api_run.scan_history(keys=["loss"])] == [x["loss"] for x in logged]
    assert list(api_run.scan_history(keys=["loss"], min_step=2, max_step=4)) == [
        {"_step": 2, "loss": logged[2]["loss"]},
        {"_step": 3, "loss": logged[3]["loss"]},
    ]
    sampled = api_run.history(keys=["acc"], pandas=False)
    assert [(r["_step"], r["acc"]) for r in sampled] == [
        (i, x["acc"]) for i, x in enumerate(logged)
    ]
    full = api_run.history(pandas=False)
    assert [r["_step"] for r in full] == list(range(8))
    ops = [op for _, _, op in wb.requests]
    assert {"RunParquetHistory", "HistoryPage", "SampledHistoryPage"} <= set(ops)

    api_run.delete()
    assert wb.live() == EMPTY


@pytest.mark.parametrize("method", ["grid", "random"])
def test_a_sweep_runs_one_trial_attached_to_it_then_is_deleted(
    standin_sdk: StandinBackend, method: str
) -> None:
    wb = standin_sdk
    config = {
        "method": method,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.1, 0.01]}, "layers": {"value": 2}},
    }
    sweep_id = wandb.sweep(config, project=PROJECT)
    assert wb.live()["sweeps"] == [
        {"entity": wb.entity, "project": PROJECT, "name": sweep_id, "state": "PENDING", "runs": []}
    ]
    seen: list[dict[str, object]] = []

    def train() -> None:
        with wandb.init() as run:
            seen.append(dict(run.config))
            run.log({"loss": run.config.lr})

    wandb.agent(sweep_id, function=train, count=1, project=PROJECT)
    assert len(seen) == 1 and seen[0]["layers"] == 2 and seen[0]["lr"] in (0.1, 0.01)
    if method == "grid":
        assert seen[0]["lr"] == 0.1  # the grid's first combination
    [sweep] = wb.live()["sweeps"]
    [run] = wb.live()["runs"]
    assert sweep["runs"] == [run["name"]] and run["state"] == "finished"
    api = wandb.Api()
    api_run = api.run(_path(wb, run["name"]))
    assert api_run.sweep_name == sweep_id
    assert [r.id for r in api.sweep(_path(wb, sweep_id)).runs] == [run["name"]]

    wb.delete_sweep(f"{wb.entity}/{PROJECT}/{sweep_id}")
    assert "sweeps" not in wb.live()
    api_run.delete()
    assert wb.live() == EMPTY


def test_a_model_is_linked_into_a_registry_and_unlinked(
    standin_sdk: StandinBackend, tmp_path: Path
) -> None:
    wb = standin_sdk
    weights = tmp_path / "w.bin"
    weights.write_bytes(os.urandom(64))
    with wandb.init(project=PROJECT) as run:
        art = wandb.Artifact("clf", type="model")
        art.add_file(str(weights))
        run.log_artifact(art)
        art.wait()
        linked = run.link_artifact(art, "wandb-registry-model/detector", aliases=["prod"])
        legacy = run.link_model(str(weights), "legacy-detector", name="clf")
    assert linked.is_link and linked.version == "v0"
    assert linked.qualified_name == "standin-org-entity/wandb-registry-model/detector:v0"
    assert set(linked.aliases) == {"latest", "prod"}
    assert legacy is not None and legacy.qualified_name.endswith(
        "/model-registry/legacy-detector:v0"
    )
    links = {(ln["project"], ln["portfolio"]): ln for ln in wb.live()["links"]}
    assert set(links) == {
        ("wandb-registry-model", "detector"),
        ("model-registry", "legacy-detector"),
    }
    assert links[("wandb-registry-model", "detector")]["aliases"] == ["latest", "prod"]

    api = wandb.Api()
    fetched = api.artifact("wandb-registry-model/detector:prod")
    assert fetched.is_link and fetched.source_qualified_name == f"{wb.entity}/{PROJECT}/clf:v0"
    with open(Path(fetched.download(root=str(tmp_path / "dl"))) / "w.bin", "rb") as f:
        assert f.read() == weights.read_bytes()
    again = api.artifact(f"{wb.entity}/{PROJECT}/clf:v0").link("wandb-registry-model/other")
    assert again.qualified_name == "standin-org-entity/wandb-registry-model/other:v0"

    for name in ("wandb-registry-model/detector:v0", "wandb-registry-model/other:v0",
                 f"{wb.entity}/model-registry/legacy-detector:v0"):  # fmt: skip
        api.artifact(name).unlink()
    assert "links" not in wb.live()
    for path in ("wandb-registry-model/detector", "wandb-registry-model/other",
                 f"{wb.entity}/model-registry/legacy-detector"):  # fmt: skip
        api.artifact_collection("model", path).delete()
    api.artifact_collection("model", f"{wb.entity}/{PROJECT}/clf").delete()
    for r in api.runs(f"{wb.entity}/{PROJECT}"):
        r.delete()
    assert wb.live() == EMPTY


def test_upload_headers_are_signed_and_sent_by_the_sdk(
    standin_sdk: StandinBackend, tmp_path: Path
) -> None:
    wb = standin_sdk
    path = tmp_path / "m.bin"
    path.write_bytes(b"signed headers")
    with wandb.init(project=PROJECT) as run:
        art = wandb.Artifact("signed", type="model")
        art.add_file(str(path))
        run.log_artifact(art).wait()
    api = wandb.Api()
    fetched = api.artifact(f"{wb.entity}/{PROJECT}/signed:latest")
    assert (Path(fetched.download(root=str(tmp_path / "dl"))) / "m.bin").read_bytes() == (
        b"signed headers"
    )
    fetched.delete(delete_aliases=True)
    api.artifact_collection("model", f"{wb.entity}/{PROJECT}/signed").delete()
    for r in api.runs(f"{wb.entity}/{PROJECT}"):
        r.delete()
    assert wb.live() == EMPTY


def test_version_tags_and_a_deleted_summary_key_round_trip(
    standin_sdk: StandinBackend, tmp_path: Path
) -> None:
    """What the cleanup's restores rely on (issue 18): ``Artifact.save()`` sends the tags
    added and removed, and the public API deletes a summary key by sending the summary
    without it (UpsertBucket's summaryMetrics replaces the summary)."""
    wb = standin_sdk
    path = tmp_path / "t.txt"
    path.write_text("tags")
    with wandb.init(project=PROJECT) as run:
        art = wandb.Artifact("tagged", type="model")
        art.add_file(str(path))
        run.log_artifact(art).wait()
        run.summary["keep"] = 1
        run.summary["drop"] = 2
        run_id = run.id
    api = wandb.Api()
    version = api.artifact(f"{wb.entity}/{PROJECT}/tagged:v0")
    version.tags = ["a", "b"]
    version.save()
    # The SDK sends the tags added as a set: in any order.
    assert sorted(wandb.Api().artifact(f"{wb.entity}/{PROJECT}/tagged:v0").tags) == ["a", "b"]
    version.tags = ["b"]
    version.save()
    assert wandb.Api().artifact(f"{wb.entity}/{PROJECT}/tagged:v0").tags == ["b"]
    api_run = api.run(_path(wb, run_id))
    del api_run.summary["drop"]
    api_run.summary.update()
    summary = wandb.Api().run(_path(wb, run_id)).summary
    assert summary["keep"] == 1 and "drop" not in summary
    version.delete(delete_aliases=True)
    api.artifact_collection("model", f"{wb.entity}/{PROJECT}/tagged").delete()
    api_run.delete()
    assert wb.live() == EMPTY
