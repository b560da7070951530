"""The cleanup deletes only what the test created: a careful user's cases, end to end.

Each case runs pytest in a subprocess (the SDK reads its environment once per
process) against a stand-in W&B that already holds resources the test did not
create ("a teammate's"), then checks what is left on the stand-in, what the
cassette says, and what the audit says.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import support
from support.projects import FAST_RETRIES, journal_file
from support.pytest_process import kill_when_flagged, run_pytest, subprocess_env

from wandb_cassettes import store as cs
from wandb_cassettes.cli import main as cli
from wandb_cassettes.ownership import Ledger

TESTS = """
import os, time
from pathlib import Path
import pytest, wandb

PROJECT = "proj"


def _log(run, name, content, aliases=()):
    path = f"{os.environ['TMPDIR_FOR_TEST']}/{name}-{content}.txt"
    with open(path, "w") as f:
        f.write(content)
    art = wandb.Artifact(name, type="model")
    art.add_file(path, name="weights.txt")
    return run.log_artifact(art, aliases=list(aliases)).wait()


@pytest.mark.wandb_cassette
def test_adds_a_version_to_the_shared_model():
    run = wandb.init(project=PROJECT)
    _log(run, "shared-model", os.environ.get("E2E_CONTENT", "mine"))
    run.finish()


@pytest.mark.wandb_cassette
def test_killed_after_adding_a_version():
    run = wandb.init(project=PROJECT)
    _log(run, "shared-model", "killed")
    open(os.environ["KILL_FLAG"], "w").close()
    time.sleep(120)


@pytest.mark.wandb_cassette(keep=True)
def test_keeps_everything():
    run = wandb.init(project=PROJECT)
    _log(run, "kept-model", "kept")
    run.finish()


@pytest.mark.wandb_cassette(keep=["*/proj/golden*"])
def test_keeps_the_golden_checkpoint():
    run = wandb.init(project=PROJECT)
    _log(run, "golden-ckpt", "golden")
    _log(run, "scratch", "scratch")
    run.finish()


@pytest.mark.wandb_cassette
def test_creates_a_run():
    with wandb.init(project=PROJECT, config={"lr": float(os.environ.get("E2E_LR", "0.1"))}) as run:
        run.log({"loss": 1.0})


@pytest.mark.wandb_cassette
def test_resumes_a_teammates_run():
    with wandb.init(project=PROJECT, id="teammate", resume="must") as run:
        run.log({"extra": 1})


@pytest.mark.wandb_cassette
def test_logs_an_artifact():
    run = wandb.init(project=PROJECT)
    _log(run, "lost-answer", "x")
    run.finish()


@pytest.mark.wandb_cassette
def test_tags_a_teammates_version():
    artifact = wandb.Api().artifact(f"{PROJECT}/shared-model:v1")
    artifact.aliases.append("reviewed")
    artifact.save()


@pytest.mark.wandb_cassette
def test_logs_a_version_as_prod():
    run = wandb.init(project=PROJECT)
    _log(run, "shared-model", "mine", aliases=["prod"])
    run.finish()


@pytest.mark.wandb_cassette(keep=True)
def test_killed_while_keeping():
    run = wandb.init(project=PROJECT)
    _log(run, "kept-before-kill", "k")
    open(os.environ["KILL_FLAG"], "w").close()
    time.sleep(120)


@pytest.mark.wandb_cassette
def test_sends_its_own_graphql():
    # A user's own mutations, arguments written into the document (no variables).
    api = wandb.Api()
    teammate = api.run(f"{PROJECT}/teammate")
    execute = api._service_api.execute_graphql
    execute('mutation Mine { deleteRun(input: {id: "' + teammate.storage_id + '"}) '
            "{ clientMutationId } }")
    execute('mutation Made { upsertBucket(input: {name: "inline-made", modelName: "' + PROJECT
            + '", entityName: "' + teammate.entity + '"}) { bucket { id name } inserted } }')


@pytest.mark.wandb_cassette
def test_links_a_teammates_version():
    wandb.Api().artifact(f"{PROJECT}/shared-model:v0").link("wandb-registry-model/theirs")


@pytest.mark.wandb_cassette
def test_unlinks_a_teammates_link():
    wandb.Api().artifact("wandb-registry-model/theirs:v0").unlink()


@pytest.mark.wandb_cassette(foreign_changes=["*/wandb-registry-model/theirs"])
def test_unlinks_a_teammates_link_on_purpose():
    wandb.Api().artifact("wandb-registry-model/theirs:v0").unlink()


# The organization's display name, as the SDK also reads a registry path (the stand-in's).
@pytest.mark.wandb_cassette(foreign_changes=["standin-org/wandb-registry-model/theirs"])
def test_unlinks_a_teammates_link_on_purpose_by_org_name():
    wandb.Api().artifact("standin-org/wandb-registry-model/theirs:v0").unlink()


@pytest.mark.wandb_cassette
def test_removes_a_registry_alias():
    linked = wandb.Api().artifact("wandb-registry-model/theirs:v0")
    linked.aliases.remove("champion")
    linked.save()


@pytest.mark.wandb_cassette
def test_takes_a_registry_alias():
    # Another version linked with the alias a teammate's link holds: W&B moves it.
    version = wandb.Api().artifact(f"{PROJECT}/shared-model:v1")
    version.link("wandb-registry-model/theirs", aliases=["champion"])


# -- issue 18: what the test changes of a teammate's ------------------------------------------


def _promote():
    run = wandb.init(project=PROJECT)
    art = _log(run, "shared", "mine")  # evaluate, then promote
    art.aliases.append("prod")
    art.save()
    run.finish()


@pytest.mark.wandb_cassette
def test_promotes_its_version_to_prod():
    _promote()


@pytest.mark.wandb_cassette
def test_killed_after_promoting():
    run = wandb.init(project=PROJECT)
    art = _log(run, "shared", "killed")
    art.aliases.append("prod")
    art.save()
    v0 = wandb.Api().artifact(f"{PROJECT}/shared:v0")
    v0.metadata["touched"] = True
    v0.save()
    open(os.environ["KILL_FLAG"], "w").close()
    time.sleep(120)


@pytest.mark.wandb_cassette
def test_killed_after_logging_a_candidate():
    _log(wandb.init(project=PROJECT), "shared", "candidate", aliases=["candidate"])
    open(os.environ["KILL_FLAG"], "w").close()
    time.sleep(120)


# The organization's display name (the stand-in's), as the SDK reads a registry path.
@pytest.mark.wandb_cassette(keep=["standin-org/wandb-registry-model/kept-reg*"])
def test_keeps_its_registry_link():
    art = _log(wandb.init(project=PROJECT), "kept-model", "mine")
    art.link("wandb-registry-model/kept-reg", aliases=["candidate"])
    if os.environ.get("KILL_FLAG"):
        open(os.environ["KILL_FLAG"], "w").close()
        time.sleep(120)


@pytest.mark.wandb_cassette
def test_killed_after_linking():
    run = wandb.init(project=PROJECT)
    art = _log(run, "own-model", "killed")
    art.link("wandb-registry-model/ours", aliases=["candidate"])
    open(os.environ["KILL_FLAG"], "w").close()
    time.sleep(120)


@pytest.mark.wandb_cassette
def test_killed_after_updating_a_teammates_run():
    run = wandb.Api().run(f"{PROJECT}/teammate")
    run.config["lr"] = 0.5
    run.tags = [*run.tags, "ci"]
    run.update()
    open(os.environ["KILL_FLAG"], "w").close()
    time.sleep(120)


@pytest.mark.wandb_cassette
def test_killed_after_resuming_a_teammates_run():
    settings = wandb.Settings(x_file_stream_transmit_interval=0.2)
    run = wandb.init(project=PROJECT, id="teammate", resume="must", settings=settings)
    run.log({"extra": 1})
    deadline = time.monotonic() + 60  # until the journal says the history row went out
    journals = Path(".wandb_cassettes/journal")
    while time.monotonic() < deadline:
        if any("appended history" in p.read_text() for p in journals.glob("*.jsonl")):
            break
        time.sleep(0.2)
    open(os.environ["KILL_FLAG"], "w").close()
    time.sleep(120)


@pytest.mark.wandb_cassette
def test_killed_after_editing_a_teammates_summary():
    run = wandb.Api().run(f"{PROJECT}/teammate")
    run.summary.update({"acc": 0.1, "mine": 1})
    open(os.environ["KILL_FLAG"], "w").close()
    time.sleep(120)


@pytest.mark.wandb_cassette
def test_edits_a_teammates_metadata():
    v0 = wandb.Api().artifact(f"{PROJECT}/shared:v0")
    v0.metadata["reviewed_by"] = "ci"
    v0.description = "touched by a test"
    v0.tags = ["ci"]
    v0.save()


@pytest.mark.wandb_cassette
def test_logs_what_a_teammates_version_holds():
    run = wandb.init(project=PROJECT)
    _log(run, "shared-model", "v0", aliases=["mine"])  # the teammate's v0 has this content
    run.finish()


@pytest.mark.wandb_cassette
def test_removes_a_teammates_alias():
    v1 = wandb.Api().artifact(f"{PROJECT}/shared:v1")
    v1.aliases.remove("staging")
    v1.save()


@pytest.mark.wandb_cassette(foreign_changes=["*/proj/shared:prod"])
def test_moves_prod_on_purpose():
    v1 = wandb.Api().artifact(f"{PROJECT}/shared:v1")
    v1.aliases.append("prod")
    v1.save()


@pytest.mark.wandb_cassette
def test_updates_a_teammates_run_config():
    run = wandb.Api().run(f"{PROJECT}/teammate")
    run.config["lr"] = 0.5
    run.update()


@pytest.mark.wandb_cassette(foreign_changes=["*/proj/teammate"])
def test_deletes_a_teammates_run_on_purpose():
    wandb.Api().run(f"{PROJECT}/teammate").delete()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "test_ownership_cases.py").write_text(TESTS)
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def record(project: Path, upstream, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    tmp = project / "tmp"
    tmp.mkdir(exist_ok=True)
    return run_pytest(
        project,
        "--record-mode=once",
        *args,
        upstream=upstream,
        env={"TMPDIR_FOR_TEST": str(tmp), **FAST_RETRIES, **env},
    )


def out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-12000:] + result.stderr[-4000:]


def cassette(project: Path, test: str) -> Path:
    return project / "cassettes" / "test_ownership_cases" / f"{test}.yaml"


def audit_json(path: Path, capsys) -> dict[str, Any]:
    capsys.readouterr()
    code = cli(["audit", "--format", "json", str(path)])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    report["exit"] = code
    return report


def log_versions(
    entity_project: str,
    name: str,
    contents: list[str],
    tmp_path: Path,
    aliases: dict[str, list[str]] | None = None,
) -> None:
    """Versions made outside pytest: a teammate's, with the SDK directly."""
    import wandb

    run = wandb.init(project=entity_project)
    for content in contents:
        path = tmp_path / f"{name}-{content}.txt"
        path.write_text(content)
        art = wandb.Artifact(name, type="model")
        art.add_file(str(path), name="weights.txt")
        run.log_artifact(art, aliases=(aliases or {}).get(content, [])).wait()
    run.finish()


def aliases_of(live: dict[str, Any], collection: str) -> dict[str, list[str]]:
    return {
        a["version"]: sorted(a["aliases"])
        for a in live["artifacts"]
        if a["collection"] == collection
    }


def versions(live: dict[str, Any], collection: str) -> list[str]:
    return sorted(a["version"] for a in live["artifacts"] if a["collection"] == collection)


# -- 1. a teammate's model ---------------------------------------------------------------


def test_a_version_the_test_adds_is_deleted_alone(standin_sdk, project, tmp_path, capsys):
    log_versions("proj", "shared-model", ["v0", "v1"], tmp_path)
    result = record(project, standin_sdk, "-k", "adds_a_version")
    assert result.returncode == 0, out(result)
    live = standin_sdk.live()
    assert versions(live, "shared-model") == ["v0", "v1"], live
    assert [c["name"] for c in live["collections"]] == ["shared-model"]
    assert len(live["runs"]) == 1  # the teammate's run, never the test's
    report = audit_json(cassette(project, "test_adds_a_version_to_the_shared_model"), capsys)
    assert report["exit"] == 0, report
    (audited,) = report["cassettes"]
    created = {r["kind"] for r in audited["created"]}
    assert "collection" not in created and "artifact" in created
    deletes = _operations(cassette(project, "test_adds_a_version_to_the_shared_model"))
    assert "DeleteArtifactSequence" not in deletes and deletes.count("DeleteArtifact") == 1


def test_an_alias_the_test_adds_to_a_teammates_version_is_removed(
    standin_sdk, project, tmp_path, capsys
):
    log_versions("proj", "shared-model", ["v0", "v1"], tmp_path)
    result = record(project, standin_sdk, "-k", "tags_a_teammates")
    assert result.returncode == 0, out(result)
    live = standin_sdk.live()
    assert aliases_of(live, "shared-model") == {"v0": [], "v1": ["latest"]}, live
    report = audit_json(cassette(project, "test_tags_a_teammates_version"), capsys)
    assert report["exit"] == 0, report
    (audited,) = report["cassettes"]
    assert [r["name"] for r in audited["created"]] == [
        f"{standin_sdk.entity}/proj/shared-model:reviewed"
    ]


def test_an_alias_taken_by_a_new_version_goes_back_to_the_teammates(
    standin_sdk, project, tmp_path, capsys
):
    log_versions("proj", "shared-model", ["v0", "v1"], tmp_path, aliases={"v0": ["prod"]})
    result = record(project, standin_sdk, "-k", "as_prod")
    assert result.returncode == 0, out(result)
    # Warned as it happened, naming the test and the alias.
    assert "test_logs_a_version_as_prod: changes alias" in result.stdout, out(result)
    assert "shared-model:prod" in result.stdout, out(result)
    live = standin_sdk.live()
    assert versions(live, "shared-model") == ["v0", "v1"], live  # the test's v2 is gone
    assert aliases_of(live, "shared-model") == {"v0": ["prod"], "v1": ["latest"]}, live
    report = audit_json(cassette(project, "test_logs_a_version_as_prod"), capsys)
    assert report["exit"] == 0, report
    (audited,) = report["cassettes"]
    assert [(c["name"], c["status"]) for c in audited["foreign_changes"]] == [
        (f"{standin_sdk.entity}/proj/shared-model:prod", "restored")
    ]


def test_latest_moved_onto_a_teammates_version_by_its_content_fails_the_audit(
    standin_sdk, project, tmp_path, capsys
):
    """W&B answers content it has with the version that has it, and the logged artifact's
    aliases (wandb-core's ``latest`` among them) move there: ``mine`` is taken off again,
    ``latest`` cannot be given back to v1, so recording warns and the audit fails."""
    log_versions("proj", "shared-model", ["v0", "v1"], tmp_path, aliases={"v0": ["prod"]})
    result = record(project, standin_sdk, "-k", "what_a_teammates")
    assert result.returncode == 0, out(result)
    latest = f"{standin_sdk.entity}/proj/shared-model:latest"
    assert "test_logs_what_a_teammates_version_holds: moved alias" in result.stdout, out(result)
    assert latest in result.stdout, out(result)
    live = standin_sdk.live()
    assert versions(live, "shared-model") == ["v0", "v1"], live  # no version was made
    assert "mine" not in aliases_of(live, "shared-model")["v0"], live
    report = audit_json(cassette(project, "test_logs_what_a_teammates_version_holds"), capsys)
    assert report["exit"] == 1, report
    (audited,) = report["cassettes"]
    changes = {c["name"]: c["status"] for c in audited["foreign_changes"]}
    assert changes[latest] == "unrestored", changes
    assert changes[f"{standin_sdk.entity}/proj/shared-model:mine"] == "restored", changes


def test_the_crash_sweep_also_deletes_only_the_version_it_added(standin_sdk, project, tmp_path):
    log_versions("proj", "shared-model", ["v0", "v1"], tmp_path)
    flag = tmp_path / "flag"
    killed = _killed_mid_test(project, standin_sdk, "killed_after", flag)
    assert versions(standin_sdk.live(), "shared-model") == ["v0", "v1", "v2"]
    assert killed
    result = record(project, standin_sdk, "-k", "test_creates_a_run")
    assert result.returncode == 0, out(result)
    assert "swept" in result.stdout
    live = standin_sdk.live()
    assert versions(live, "shared-model") == ["v0", "v1"], live
    assert [c["name"] for c in live["collections"]] == ["shared-model"]


# -- 2. and 3. keep means keep -------------------------------------------------------------


def test_kept_resources_are_never_swept_later(standin_sdk, project, capsys):
    result = record(project, standin_sdk, "-k", "keeps_everything")
    assert result.returncode == 0, out(result)
    kept = standin_sdk.live()
    assert versions(kept, "kept-model") == ["v0"] and len(kept["runs"]) == 1
    # The next recording session of the same project sweeps nothing of it.
    result = record(project, standin_sdk, "-k", "test_creates_a_run")
    assert result.returncode == 0, out(result)
    assert "swept" not in result.stdout
    assert standin_sdk.live() == kept
    report = audit_json(cassette(project, "test_keeps_everything"), capsys)
    (audited,) = report["cassettes"]
    assert report["exit"] == 0
    assert {r["kind"] for r in audited["kept"]} >= {"run", "artifact", "collection"}
    assert all(r["reason"] for r in audited["kept"]), audited["kept"]


def test_keeping_an_artifact_keeps_it_when_its_run_is_deleted(standin_sdk, project, capsys):
    result = record(project, standin_sdk, "-k", "golden")
    assert result.returncode == 0, out(result)
    live = standin_sdk.live()
    assert live["runs"] == []  # the run is not kept...
    assert versions(live, "golden-ckpt") == ["v0"]  # ...and its kept artifact survives it
    assert versions(live, "scratch") == []
    report = audit_json(cassette(project, "test_keeps_the_golden_checkpoint"), capsys)
    (audited,) = report["cassettes"]
    assert report["exit"] == 0, report
    kept = {r["name"].split("/")[-1]: r["reason"] for r in audited["kept"]}
    assert kept["golden-ckpt:v0"] == "matches keep='*/proj/golden*'"
    assert kept["golden-ckpt"] == "matches keep='*/proj/golden*'"


def test_keep_holds_even_when_the_session_is_killed_mid_test(standin_sdk, project, tmp_path):
    """keep= is journalled when the recording starts, not at the test's end."""
    killed = _killed_mid_test(project, standin_sdk, "killed_while_keeping", tmp_path / "flag")
    assert killed
    before = standin_sdk.live()
    assert versions(before, "kept-before-kill") == ["v0"] and len(before["runs"]) == 1
    result = record(project, standin_sdk, "-k", "test_creates_a_run")  # sweeps dead sessions
    assert result.returncode == 0, out(result)
    assert standin_sdk.live() == before, out(result)


def test_the_users_own_inline_mutations_are_read_from_the_document(standin_sdk, project, capsys):
    import wandb

    with wandb.init(project="proj", id="teammate") as run:
        run.log({"theirs": 1})
    result = record(project, standin_sdk, "-k", "sends_its_own_graphql")
    assert result.returncode == 0, out(result)
    assert standin_sdk.live()["runs"] == []  # the test deleted the teammate's, cleanup its own
    path = cassette(project, "test_sends_its_own_graphql")
    report = audit_json(path, capsys)
    (audited,) = report["cassettes"]
    # Deleting what it did not create is a finding unless declared (issue 18).
    assert report["exit"] == 1, report
    assert [r["name"].split("/")[-1] for r in audited["foreign_deleted"]] == ["teammate"]
    assert [r["name"].split("/")[-1] for r in audited["created"]] == ["inline-made"]
    capsys.readouterr()
    assert cli(["audit", str(path)]) == 1
    text = capsys.readouterr().out
    assert f"deleted run {standin_sdk.entity}/proj/teammate, which it did not create" in text
    assert "cannot bring back what was deleted" in text


@pytest.mark.parametrize("linked_before", [False, True], ids=["new", "there-before"])
def test_a_link_of_a_teammates_version_is_undone_only_if_the_test_made_it(
    standin_sdk, project, tmp_path, capsys, linked_before
):
    """The relay reads the version's collections before the link (issue 18): a link the
    test made is unlinked by the cleanup; one that was there before is left."""
    import wandb

    log_versions("proj", "shared-model", ["v0"], tmp_path)
    if linked_before:
        wandb.Api().artifact("proj/shared-model:v0").link("wandb-registry-model/theirs")
    before = standin_sdk.live()
    result = record(project, standin_sdk, "-k", "links_a_teammates_version")
    assert result.returncode == 0, out(result)
    assert standin_sdk.live() == before  # the test's link is gone, a teammate's stays
    report = audit_json(cassette(project, "test_links_a_teammates_version"), capsys)
    assert report["exit"] == 0, report
    (audited,) = report["cassettes"]
    assert audited["uncertain_links"] == []
    assert [r["kind"] for r in audited["created"]] == (
        [] if linked_before else ["link", "collection"]
    )


@pytest.mark.parametrize("declared", ["", "_on_purpose", "_on_purpose_by_org_name"])
def test_a_teammates_link_the_test_unlinks_is_a_finding_named_by_its_collection(
    standin_sdk, project, tmp_path, capsys, declared
):
    """W&B cannot bring a link back; the unlink names ids only, and the read of the
    version's collections before names the link, so that a declaration matches it, by the
    org's entity or by its display name (the SDK takes either in a registry path)."""
    import wandb

    log_versions("proj", "shared-model", ["v0"], tmp_path)
    wandb.Api().artifact("proj/shared-model:v0").link("wandb-registry-model/theirs")
    test = "unlinks_a_teammates_link" + declared
    only = {"": " and not purpose", "_on_purpose": " and not by_org_name"}.get(declared, "")
    result = record(project, standin_sdk, "-k", test + only)
    assert result.returncode == 0, out(result)
    report = audit_json(cassette(project, f"test_{test}"), capsys)
    (audited,) = report["cassettes"]
    (change,) = audited["foreign_changes"]
    assert change["name"].endswith("/wandb-registry-model/theirs"), change
    assert change["status"] == ("declared" if declared else "unrestored"), change
    assert report["exit"] == (0 if declared else 1), report


def test_a_registry_alias_the_test_took_goes_back_to_the_teammates_link(
    standin_sdk, project, tmp_path, capsys
):
    """The cleanup's addAliases names the registry collection (as Artifact._add_aliases
    does): the alias goes back there, not onto the version's own collection."""
    import wandb

    log_versions("proj", "shared-model", ["v0", "v1"], tmp_path)
    wandb.Api().artifact("proj/shared-model:v0").link(
        "wandb-registry-model/theirs", aliases=["champion"]
    )
    before = standin_sdk.live()
    result = record(project, standin_sdk, "-k", "takes_a_registry_alias")
    assert result.returncode == 0, out(result)
    assert standin_sdk.live() == before
    report = audit_json(cassette(project, "test_takes_a_registry_alias"), capsys)
    assert report["exit"] == 0, report


def test_a_registry_alias_the_test_removed_goes_back_once(standin_sdk, project, tmp_path, capsys):
    """The alias a teammate's link holds, removed by the test (``aliases.remove``, then
    ``save()``): put back on the link, and the audit lists the change once."""
    import wandb

    log_versions("proj", "shared-model", ["v0"], tmp_path)
    wandb.Api().artifact("proj/shared-model:v0").link(
        "wandb-registry-model/theirs", aliases=["champion"]
    )
    before = standin_sdk.live()["links"]
    result = record(project, standin_sdk, "-k", "removes_a_registry_alias")
    assert result.returncode == 0, out(result)
    assert standin_sdk.live()["links"] == before, out(result)
    report = audit_json(cassette(project, "test_removes_a_registry_alias"), capsys)
    (audited,) = report["cassettes"]
    changes = [(c["name"].split("/", 1)[1], c["status"]) for c in audited["foreign_changes"]]
    assert changes == [("wandb-registry-model/theirs:champion", "restored")], audited
    assert report["exit"] == 0, report


def test_a_link_whose_state_before_was_not_read_is_reported(standin_sdk, project, tmp_path, capsys):
    log_versions("proj", "shared-model", ["v0"], tmp_path)
    # The read of the version's collections before the link fails: nothing tells.
    standin_sdk.inject_fault("WandbCassettesPriorLinks", graphql_error="denied", times=None)
    result = record(project, standin_sdk, "-k", "links_a_teammates_version")
    assert result.returncode == 0, out(result)
    assert "theirs" in [c["name"] for c in standin_sdk.live()["collections"]]  # left
    capsys.readouterr()
    assert cli(["audit", str(cassette(project, "test_links_a_teammates_version"))]) == 1
    audit = capsys.readouterr().out
    assert "a version it did not create" in audit and "theirs" in audit, audit


# -- issue 18: a teammate's data is never changed for good -----------------------------------


def _shared(tmp_path: Path) -> None:
    """The issue's teammate collection: v0 holds prod, v1 staging, made outside pytest."""
    log_versions("proj", "shared", ["v0", "v1"], tmp_path, {"v0": ["prod"], "v1": ["staging"]})


SHARED_BEFORE = {"v0": ["prod"], "v1": ["latest", "staging"]}


def test_promoting_its_version_gives_prod_back_to_the_teammates(
    standin_sdk, project, tmp_path, capsys
):
    """Issue 18, flow 1: "evaluate, then promote" no longer takes prod from the team."""
    _shared(tmp_path)
    result = record(project, standin_sdk, "-k", "promotes_its_version")
    assert result.returncode == 0, out(result)
    assert "test_promotes_its_version_to_prod: changes alias" in result.stdout, out(result)
    live = standin_sdk.live()
    assert aliases_of(live, "shared") == SHARED_BEFORE, live
    path = cassette(project, "test_promotes_its_version_to_prod")
    report = audit_json(path, capsys)
    assert report["exit"] == 0, report
    (audited,) = report["cassettes"]
    assert [(c["name"].split("/")[-1], c["status"]) for c in audited["foreign_changes"]] == [
        ("shared:prod", "restored")
    ]
    # The relay's read of the state before is never asked for in replay.
    replayed = run_pytest(
        project, "--block-network", "--wandb-strict", "-k", "promotes_its",
        env={"TMPDIR_FOR_TEST": str(project / "tmp")},
    )  # fmt: skip
    assert replayed.returncode == 0, out(replayed)


def test_a_teammates_metadata_description_and_tags_come_back(
    standin_sdk, project, tmp_path, capsys
):
    """Issue 18, flow 2: an UpdateArtifact of a version the test did not create is undone."""
    import wandb

    _shared(tmp_path)
    v0 = wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v0")
    v0.description = "the teammate's notes"
    v0.save()
    result = record(project, standin_sdk, "-k", "edits_a_teammates_metadata")
    assert result.returncode == 0, out(result)
    assert "shared:v0, which it did not create" in result.stdout, out(result)
    v0 = wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v0")
    assert (v0.metadata, v0.description, v0.tags) == ({}, "the teammate's notes", [])
    report = audit_json(cassette(project, "test_edits_a_teammates_metadata"), capsys)
    assert report["exit"] == 0, report


def test_a_description_a_teammates_version_never_had_fails_the_audit(
    standin_sdk, project, tmp_path, capsys
):
    """W&B reads a null input as "leave it": a description set where there was none can only
    be cleared to "", which is not how it was. Metadata and tags still come back."""
    import wandb

    _shared(tmp_path)
    result = record(project, standin_sdk, "-k", "edits_a_teammates_metadata")
    assert result.returncode == 0, out(result)
    v0 = wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v0")
    assert (v0.metadata, v0.tags) == ({}, [])
    report = audit_json(cassette(project, "test_edits_a_teammates_metadata"), capsys)
    assert report["exit"] == 1, report
    (audited,) = report["cassettes"]
    (change,) = audited["foreign_changes"]
    assert change["status"] == "unrestored" and "description had no value before" in change["why"]


@pytest.mark.parametrize(
    ("test", "changed"),
    [("promotes_its_version", "shared:prod"), ("edits_a_teammates_metadata", "shared:v0")],
)
def test_without_the_restore_the_audit_fails_naming_what_was_left(
    standin_sdk, project, tmp_path, capsys, test, changed
):
    """The restore switched off (patched out here): the teammate's data stays changed, and
    the audit fails naming the resource, the change and why."""
    import wandb

    _shared(tmp_path)
    (project / "conftest.py").write_text(
        "import wandb_cassettes.ownership._ledger as ledger\n"
        "ledger.Ledger.restores = lambda self: []\n"
    )
    result = record(project, standin_sdk, "-k", test)
    assert result.returncode == 0, out(result)
    if test == "promotes_its_version":
        assert aliases_of(standin_sdk.live(), "shared") == {"v0": [], "v1": ["latest", "staging"]}
    else:
        assert wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v0").metadata
    (path,) = (project / "cassettes" / "test_ownership_cases").glob(f"*{test}*.yaml")
    capsys.readouterr()
    assert cli(["audit", str(path)]) == 1
    text = capsys.readouterr().out
    assert changed in text and "it did not create" in text, text
    assert "not undone: the cleanup did not put it back" in text, text


def test_a_session_killed_after_changing_a_teammates_data_is_put_back_by_the_next(
    standin_sdk, project, tmp_path
):
    """SIGKILL: no cleanup ran. The journal holds what puts the changes back; the next
    recording session's sweep sends it, after deleting what the killed test created."""
    import wandb

    _shared(tmp_path)
    assert _killed_mid_test(project, standin_sdk, "killed_after_promoting", tmp_path / "flag")
    live = standin_sdk.live()
    assert aliases_of(live, "shared")["v0"] == [] and len(versions(live, "shared")) == 3
    journal = "".join(p.read_text() for p in (project / ".wandb_cassettes/journal").iterdir())
    assert '"event": "restore"' in journal and "shared:prod" in journal
    result = record(project, standin_sdk, "-k", "test_creates_a_run")
    assert result.returncode == 0, out(result)
    assert "restored 2 change(s)" in result.stdout, out(result)
    assert aliases_of(standin_sdk.live(), "shared") == SHARED_BEFORE
    assert wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v0").metadata == {}
    assert not list((project / ".wandb_cassettes" / "journal").glob("*.jsonl"))


def test_a_sweep_leaves_an_alias_a_teammate_moved_after_the_killed_session(
    standin_sdk, project, tmp_path
):
    """The journal's restore is as of the killed test; the teammate then logs a new version
    as prod. Putting prod back on v0 would undo the teammate's change: the sweep says so
    and leaves it."""
    _shared(tmp_path)
    assert _killed_mid_test(project, standin_sdk, "killed_after_promoting", tmp_path / "flag")
    log_versions("proj", "shared", ["v-new"], tmp_path, {"v-new": ["prod"]})
    moved = aliases_of(standin_sdk.live(), "shared")
    holder = next(v for v, aliases in moved.items() if "prod" in aliases)
    result = record(project, standin_sdk, "-k", "test_creates_a_run")
    text = out(result)
    assert "the alias moved since the test left it" in text, text
    assert "prod" in aliases_of(standin_sdk.live(), "shared")[holder], text


@pytest.mark.parametrize("teammate", ["adds reviewed", "moves staging"])
def test_a_sweep_keeps_the_killed_tests_version_if_a_teammate_aliased_it_since(
    standin_sdk, project, tmp_path, teammate, monkeypatch, capsys
):
    """W&B deletes a version's aliases with it: once a teammate has put an alias of theirs
    on the test's version (new, or moved from their own version), deleting it would lose
    the alias. The sweep leaves the version and says why; the test's own alias (prod, given
    by ``art.save()`` after ``log_artifact``) never holds a delete back."""
    import wandb

    _shared(tmp_path)
    assert _killed_mid_test(project, standin_sdk, "killed_after_promoting", tmp_path / "flag")
    theirs = "reviewed" if teammate == "adds reviewed" else "staging"
    v2 = wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v2")
    v2.aliases.append(theirs)
    v2.save()
    result = record(project, standin_sdk, "-k", "test_creates_a_run")
    text = out(result)
    assert f"it holds {theirs}, which this recording did not give it" in text, text
    now = aliases_of(standin_sdk.live(), "shared")
    assert theirs in now["v2"] and "prod" in now["v0"], (now, text)  # the restore still ran
    # The journal stays for the version held back, and says prod is settled: the teammate
    # then retires prod and moves theirs off v2; the next sweep deletes v2 and never puts
    # prod back a second time.
    v0 = wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v0")
    v0.aliases.remove("prod")
    v0.save()
    v2 = wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v2")
    v2.aliases.remove(theirs)
    v2.save()
    monkeypatch.chdir(project)
    capsys.readouterr()
    assert cli(["sweep"]) == 0
    again = capsys.readouterr().out
    now = aliases_of(standin_sdk.live(), "shared")
    assert "v2" not in now and "prod" not in now["v0"], (now, again)
    assert not list((project / ".wandb_cassettes" / "journal").glob("*.jsonl")), again


def test_an_alias_the_sweep_gave_back_is_the_teammates_if_they_put_it_on_again(
    standin_sdk, project, tmp_path, monkeypatch, capsys
):
    """The killed test had taken prod onto its v2; a teammate aliased and linked v2, so the
    first sweep holds v2 back (naming both reasons at once) and gives prod back to v0.
    The teammate then puts prod on v2 again, on purpose: prod is theirs now, and the next
    sweep holds v2 back for it instead of deleting it with their alias."""
    import wandb

    _shared(tmp_path)
    assert _killed_mid_test(project, standin_sdk, "killed_after_promoting", tmp_path / "flag")
    path = f"{standin_sdk.entity}/proj/shared"
    v2 = wandb.Api().artifact(f"{path}:v2")
    v2.aliases.append("reviewed")
    v2.save()
    v2.link("wandb-registry-model/theirs")
    monkeypatch.chdir(project)
    capsys.readouterr()
    assert cli(["sweep"]) == 1
    first = capsys.readouterr().out
    assert "it holds reviewed" in first and "it is linked into" in first, first
    assert "prod" in aliases_of(standin_sdk.live(), "shared")["v0"], first
    v2 = wandb.Api().artifact(f"{path}:v2")
    v2.aliases = [a for a in v2.aliases if a != "reviewed"] + ["prod"]
    v2.save()
    wandb.Api().artifact("wandb-registry-model/theirs:v0").unlink()
    assert cli(["sweep"]) == 1
    second = capsys.readouterr().out
    assert "it holds prod, which this recording did not give it" in second, second
    assert "prod" in aliases_of(standin_sdk.live(), "shared")["v2"], second


@pytest.mark.parametrize("teammate", ["nothing", "aliases the link", "links the version"])
def test_a_sweep_unlinks_and_deletes_unless_a_teammate_made_them_theirs(
    standin_sdk, project, tmp_path, teammate
):
    """The killed test logged a version and linked it into a registry with an alias of its
    own. Deleting a source takes its links along, and unlinking takes the link's aliases:
    once a teammate aliased the test's link, or linked the test's version themselves, the
    sweep leaves both and says why; else it removes them all."""
    import wandb

    assert _killed_mid_test(project, standin_sdk, "killed_after_linking", tmp_path / "flag")
    entity = standin_sdk.entity
    if teammate == "aliases the link":
        linked = wandb.Api().artifact("wandb-registry-model/ours:v0")
        linked.aliases.append("production")
        linked.save()
    elif teammate == "links the version":
        wandb.Api().artifact(f"{entity}/proj/own-model:v0").link("wandb-registry-model/theirs")
    result = record(project, standin_sdk, "-k", "test_creates_a_run")
    text = out(result)
    live = standin_sdk.live()
    if teammate == "nothing":
        assert versions(live, "own-model") == [] and "links" not in live, (live, text)
        # The registry collection its link made goes too (known by the link's time).
        assert "ours" not in [c["name"] for c in live["collections"]], (live, text)
        return
    assert versions(live, "own-model") == ["v0"], (live, text)
    assert "which this cleanup did not unlink: deleting it would unlink it too" in text, text
    if teammate == "aliases the link":
        assert "it holds production, which this recording did not give it" in text, text
        (link,) = live["links"]
        assert link["aliases"] == ["candidate", "latest", "production"], link
    else:
        portfolios = sorted(link["portfolio"] for link in live["links"])
        assert portfolios == ["theirs"], live  # the test's own link went


def test_a_sweep_of_a_new_alias_in_a_teammates_collection_ends_clean(
    standin_sdk, project, tmp_path, monkeypatch, capsys
):
    """The killed test logged a version as ``candidate``, an alias the teammate's
    collection never had: deleting the version takes the alias, and putting back "no
    candidate" then has nothing left to do (it is no failure)."""
    _shared(tmp_path)
    assert _killed_mid_test(
        project, standin_sdk, "killed_after_logging_a_candidate", tmp_path / "flag"
    )
    monkeypatch.chdir(project)
    capsys.readouterr()
    code = cli(["sweep"])
    said = capsys.readouterr().out
    assert code == 0 and "FAILED" not in said, said
    assert aliases_of(standin_sdk.live(), "shared") == SHARED_BEFORE, said
    assert not list((project / ".wandb_cassettes" / "journal").glob("*.jsonl")), said


@pytest.mark.parametrize("killed", [False, True])
def test_a_kept_registry_link_keeps_its_version_by_the_orgs_display_name(
    standin_sdk, project, tmp_path, killed
):
    """``keep=`` names the link by the org's display name; deleting its version would
    take the link along, so the version is kept with it: by the cleanup, and by the sweep
    of a killed session (the journal names the org as an answer showed it)."""
    if killed:
        assert _killed_mid_test(project, standin_sdk, "keeps_its_registry_link", tmp_path / "f")
        result = record(project, standin_sdk, "-k", "test_creates_a_run")
    else:
        result = record(project, standin_sdk, "-k", "keeps_its_registry_link")
    assert result.returncode == 0, out(result)
    live = standin_sdk.live()
    assert versions(live, "kept-model") == ["v0"], (live, out(result))
    assert [link["portfolio"] for link in live["links"]] == ["kept-reg"], live
    assert live["runs"] == [], live  # what is not kept goes


def test_a_sweep_leaves_a_version_a_teammate_edited_after_the_killed_session(
    standin_sdk, project, tmp_path
):
    """As for an alias, for a version's fields: the teammate sets v0's metadata after the
    killed test did; the sweep puts prod back (nobody moved it) and leaves the metadata."""
    import wandb

    _shared(tmp_path)
    assert _killed_mid_test(project, standin_sdk, "killed_after_promoting", tmp_path / "flag")
    v0 = wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v0")
    v0.metadata = {"reviewed_by": "teammate"}
    v0.save()
    result = record(project, standin_sdk, "-k", "test_creates_a_run")
    text = out(result)
    assert "metadata changed since the test left it" in text, text
    assert "someone changed it after, so it is left as it is" in text, text
    after = wandb.Api().artifact(f"{standin_sdk.entity}/proj/shared:v0")
    assert after.metadata == {"reviewed_by": "teammate"}
    assert aliases_of(standin_sdk.live(), "shared")["v0"] == ["prod"]  # its own restore ran


@pytest.mark.parametrize("teammate_after", ["nothing", "a save of nothing", "the config"])
def test_a_sweep_puts_a_teammates_run_back_unless_they_changed_it_since(
    standin_sdk, project, tmp_path, teammate_after
):
    import wandb

    with wandb.init(project="proj", id="teammate", config={"lr": 0.1}, tags=["theirs"]) as run:
        run.log({"theirs": 1})
    assert _killed_mid_test(project, standin_sdk, "killed_after_updating", tmp_path / "flag")
    path = f"{standin_sdk.entity}/proj/teammate"
    assert wandb.Api().run(path).config == {"lr": 0.5}
    if teammate_after != "nothing":  # the public API (it sends each config desc: null)
        theirs = wandb.Api().run(path)
        if teammate_after == "the config":
            theirs.config["lr"] = 0.9
        theirs.update()
    result = record(project, standin_sdk, "-k", "test_creates_a_run")
    text = out(result)
    assert result.returncode == 0, text
    after = wandb.Api().run(path)
    assert sorted(after.tags) == ["theirs"], text  # nobody touched them since: back
    if teammate_after == "the config":
        assert "config changed since the test left it" in text, text
        assert "not put back" in text and "the rest put back (tags back)" in text, text
        assert after.config == {"lr": 0.9}
    else:
        assert "restored 1 change(s)" in text, text
        assert after.config == {"lr": 0.1}


def test_what_a_killed_session_did_that_nothing_undoes_is_said_by_the_sweep(
    standin_sdk, project, tmp_path, monkeypatch, capsys
):
    """A killed session writes no cassette, so no audit would say that it appended history
    to a teammate's run: the sweep says it, and exits 1, then puts back what it can."""
    import wandb

    with wandb.init(project="proj", id="teammate", config={"lr": 0.1}) as run:
        run.log({"theirs": 1})
    assert _killed_mid_test(project, standin_sdk, "killed_after_resuming", tmp_path / "flag")
    monkeypatch.chdir(project)
    capsys.readouterr()
    assert cli(["sweep"]) == 1
    said = capsys.readouterr().out
    assert "LASTING" in said and "appended history to run" in said and "teammate" in said, said
    assert "(test test_ownership_cases.py::test_killed_after_resuming" in said, said
    assert cli(["sweep"]) == 0  # said once


def test_a_sweep_puts_a_summary_back_key_by_key(standin_sdk, project, tmp_path):
    """A key the teammate added after the kill stays; the keys the test changed go back."""
    import wandb

    with wandb.init(project="proj", id="teammate") as run:
        run.summary.update({"acc": 0.9, "loss": 0.3})
    assert _killed_mid_test(project, standin_sdk, "killed_after_editing", tmp_path / "flag")
    path = f"{standin_sdk.entity}/proj/teammate"
    wandb.Api().run(path).summary.update({"f1": 0.5})
    result = record(project, standin_sdk, "-k", "test_creates_a_run")
    assert result.returncode == 0, out(result)
    summary = dict(wandb.Api().run(path).summary)
    assert (summary["acc"], summary["loss"], summary["f1"]) == (0.9, 0.3, 0.5), summary
    assert "mine" not in summary, summary


def test_a_restore_that_fails_is_an_error_naming_it(standin_sdk, project, tmp_path):
    """Like a delete that fails: the test errors at teardown, the recording is kept aside."""
    _shared(tmp_path)
    # The test removes the alias (DeleteAliases); the restore (AddAliases) is refused.
    standin_sdk.inject_fault("AddAliases", graphql_error="backend says no", times=None)
    result = record(project, standin_sdk, "-k", "removes_a_teammates_alias")
    text = out(result)
    assert result.returncode == 1, text
    assert "could not restore 1 change(s) to W&B resources the test did not create" in text
    assert "shared:staging" in text and "backend says no" in text, text
    assert not cassette(project, "test_removes_a_teammates_alias").exists()


def test_an_alias_the_test_removes_from_a_teammates_version_comes_back(
    standin_sdk, project, tmp_path, capsys
):
    """Issue 18, 3: the test removing a teammate's alias."""
    _shared(tmp_path)
    result = record(project, standin_sdk, "-k", "removes_a_teammates_alias")
    assert result.returncode == 0, out(result)
    assert aliases_of(standin_sdk.live(), "shared") == SHARED_BEFORE
    assert audit_json(cassette(project, "test_removes_a_teammates_alias"), capsys)["exit"] == 0


def test_a_foreign_change_declared_on_purpose_stays_and_is_listed(
    standin_sdk, project, tmp_path, capsys
):
    _shared(tmp_path)
    result = record(project, standin_sdk, "-k", "moves_prod_on_purpose")
    assert result.returncode == 0, out(result)
    assert "changes alias" not in result.stdout  # declared: no warning
    assert aliases_of(standin_sdk.live(), "shared") == {
        "v0": [],
        "v1": ["latest", "prod", "staging"],
    }
    report = audit_json(cassette(project, "test_moves_prod_on_purpose"), capsys)
    assert report["exit"] == 0, report
    (audited,) = report["cassettes"]
    assert [c["status"] for c in audited["foreign_changes"]] == ["declared"]


def test_a_teammates_run_config_changed_through_the_api_comes_back(standin_sdk, project, capsys):
    import wandb

    with wandb.init(project="proj", id="teammate", config={"lr": 0.1}) as run:
        run.log({"theirs": 1})
    result = record(project, standin_sdk, "-k", "updates_a_teammates_run_config")
    assert result.returncode == 0, out(result)
    assert wandb.Api().run(f"{standin_sdk.entity}/proj/teammate").config == {"lr": 0.1}
    report = audit_json(cassette(project, "test_updates_a_teammates_run_config"), capsys)
    assert report["exit"] == 0, report


def test_a_delete_of_a_teammates_run_declared_on_purpose_passes_the_audit(
    standin_sdk, project, capsys
):
    import wandb

    with wandb.init(project="proj", id="teammate") as run:
        run.log({"theirs": 1})
    result = record(project, standin_sdk, "-k", "deletes_a_teammates_run_on_purpose")
    assert result.returncode == 0, out(result)
    assert standin_sdk.live()["runs"] == []
    report = audit_json(cassette(project, "test_deletes_a_teammates_run_on_purpose"), capsys)
    assert report["exit"] == 0, report
    (audited,) = report["cassettes"]
    assert [c["status"] for c in audited["foreign_changes"]] == ["declared"]


# -- 4. a lost answer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [{"status": 504}, {"drop": True}, {"truncate": True}],
    ids=["504", "dropped", "truncated"],
)
def test_a_run_whose_creation_answer_was_lost_is_deleted(standin, project, fault, capsys):
    standin.inject_fault("UpsertBucket", after=True, **fault)
    result = record(project, standin, "-k", "test_creates_a_run")
    assert result.returncode == 0, out(result)
    assert standin.live()["runs"] == [], out(result)
    path = cassette(project, "test_creates_a_run")
    assert audit_json(path, capsys)["exit"] == 0
    assert not list((project / ".wandb_cassettes" / "journal").glob("*.jsonl"))


def test_an_artifact_whose_creation_answer_was_cut_is_deleted_by_its_client_id(standin, project):
    standin.inject_fault("CreateArtifact", after=True, truncate=True)
    result = record(project, standin, "-k", "logs_an_artifact")
    assert result.returncode == 0, out(result)
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}, out(result)


# -- 5. new_episodes after a change ------------------------------------------------------------


def test_new_episodes_records_the_change_under_fresh_ids_and_cleans_it_up(standin, project, capsys):
    result = record(project, standin, "-k", "test_creates_a_run")
    assert result.returncode == 0, out(result)
    path = cassette(project, "test_creates_a_run")
    first = cs.load(path)
    assert standin.live()["runs"] == []

    started = time.monotonic()
    changed = record(project, standin, "--record-mode=new_episodes", "-k", "test_creates_a_run",
                     E2E_LR="0.2")  # fmt: skip
    assert changed.returncode == 0, out(changed)
    assert time.monotonic() - started < 60  # no 409 retried for a minute and a half
    assert standin.live()["runs"] == [], out(changed)  # created upstream, then cleaned up
    appended = cs.load(path)
    assert len(appended.interactions) > len(first.interactions)
    assert audit_json(path, capsys)["exit"] == 0
    # The upstream saw a fresh run id; the cassette keeps the recorded one.
    recorded_run = first.metadata["fresh_run_ids"][0]
    assert recorded_run in path.read_text()

    # The appended episode replays (the superseded one stays in the file, unplayed: a warning).
    replayed = run_pytest(project, "--block-network", "-k", "test_creates_a_run",
                          env={"E2E_LR": "0.2"})  # fmt: skip
    assert replayed.returncode == 0, out(replayed)
    assert "recorded interaction(s) never played" in replayed.stdout


# -- 6. no journal, no recording -----------------------------------------------------------------

FULL_DISK = """
import errno, os
import wandb_cassettes.cleanup._journal as journal

_fsync, _calls = os.fsync, []


def fsync(fd):
    _calls.append(fd)
    if len(_calls) > 1:  # the header goes through, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    return _fsync(fd)


journal.os.fsync = fsync
"""


def test_a_journal_that_cannot_be_written_stops_recording_at_once(standin, project):
    (project / "conftest.py").write_text(FULL_DISK)
    started = time.monotonic()
    result = record(project, standin, "-k", "test_creates_a_run")
    took = time.monotonic() - started
    text = out(result)
    assert result.returncode == 1, text
    assert took < 60, f"{took:.0f}s: the SDK must not retry for minutes"
    journal_dir = project / ".wandb_cassettes" / "journal"
    assert f"cannot write the recording journal {journal_dir}" in text
    assert "No space left on device" in text
    assert "OSError" not in result.stderr, result.stderr
    # Nothing that could create reached the upstream, so nothing is left there.
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}
    assert "UpsertBucket" not in {op for _, _, op in standin.requests}


# -- 7. resumed runs, other hosts, undescribable leftovers ---------------------------------


def test_a_resumed_run_is_restored_where_it_can_be_and_reported_where_not(
    standin_sdk, project, capsys
):
    import wandb

    with wandb.init(project="proj", id="teammate", config={"lr": 0.1}) as run:
        run.log({"theirs": 1})
    result = record(project, standin_sdk, "-k", "resumes")
    assert result.returncode == 0, out(result)
    assert [r["name"] for r in standin_sdk.live()["runs"]] == ["teammate"]
    teammate = wandb.Api().run(f"{standin_sdk.entity}/proj/teammate")
    assert "extra" not in teammate.summary and teammate.summary["theirs"] == 1  # restored
    assert teammate.config == {"lr": 0.1}
    report = audit_json(cassette(project, "test_resumes_a_teammates_run"), capsys)
    (audited,) = report["cassettes"]
    assert audited["created"] == []  # its files are the run's, not the test's
    # Its history and files cannot be taken back: the audit fails, naming them.
    assert report["exit"] == 1, report
    verdicts = {c["change"]: c["status"] for c in audited["foreign_changes"]}
    assert verdicts["changed"] == "restored"  # summary (and config) back as they were
    assert verdicts["appended history to"] == "unrestored"
    assert verdicts["uploaded files to"] == "unrestored"


def test_sweep_takes_another_hosts_journals_only_when_named(
    standin_sdk, project, monkeypatch, capsys
):
    import wandb

    with wandb.init(project="proj", id="leftover") as run:
        entity = run.entity
    storage_id = wandb.Api().run(f"{entity}/proj/leftover").storage_id  # swept by identity
    owned = {"kind": "run", "entity": entity, "project": "proj", "local": "leftover",
             "name": f"{entity}/proj/leftover", "server_id": storage_id}  # fmt: skip
    journal = journal_file(project, "otherhost", standin_sdk.base_url, "created", owned)
    assert socket.gethostname() != "otherhost"
    monkeypatch.chdir(project)
    capsys.readouterr()
    assert cli(["sweep"]) == 0
    first = capsys.readouterr().out
    assert "0 journal(s)" in first and "other hosts are not swept from here (otherhost)" in first
    assert "--host NAME" in first
    assert [r["name"] for r in standin_sdk.live()["runs"]] == ["leftover"]
    assert cli(["sweep", "--host", "otherhost"]) == 0
    swept = capsys.readouterr().out
    assert "deleted  run " in swept, swept
    assert standin_sdk.live()["runs"] == []
    assert not journal.exists()


# -- helpers -------------------------------------------------------------------------------


def _killed_mid_test(project: Path, upstream, name: str, flag: Path) -> bool:
    """Run test ``name`` until it touches ``flag``, then SIGKILL its pytest (and wandb-core)."""
    tmp = project / "tmp"
    tmp.mkdir(exist_ok=True)
    kill_when_flagged(project, upstream, flag, "-k", name, TMPDIR_FOR_TEST=str(tmp))
    return True


def _operations(path: Path) -> list[str]:
    from wandb_cassettes.protocol import parse_request

    ops = []
    for ix in cs.load(path):
        gql = parse_request(ix.request_text()) if ix.uri.endswith("/graphql") else None
        if gql is not None:
            ops.append(gql.operation)
    return ops


# -- the promise as a property ----------------------------------------------------------------

MACHINE = Path(support.__file__).with_name("ownership_machine.py")


def _machine(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MACHINE), *args],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_random_sessions_never_delete_what_they_did_not_create():
    """hypothesis drives sessions (teammates' resources, creates, the test's own deletes,
    keep, lost answers, interruptions, changes of the teammates' aliases, metadata,
    descriptions and run configs) through the real SDK; the promise holds after each:
    nothing foreign deleted, and everything that existed before is as it was, or the
    session's audit fails."""
    result = _machine("--examples", "20", "--steps", "5")
    assert result.returncode == 0, result.stderr[-6000:]


@pytest.mark.slow
def test_the_state_machine_catches_a_cleanup_that_does_not_restore():
    result = _machine(
        "--examples", "10", "--steps", "5", "--no-shrink", WANDB_CASSETTES_BREAK_RESTORE="1"
    )
    assert result.returncode == 1, result.stderr[-6000:]
    assert "ownership broken" in result.stderr
    assert "foreign changes not restored" in result.stderr


@pytest.mark.slow
def test_the_state_machine_catches_a_cleanup_that_claims_by_name():
    result = _machine(
        "--examples", "10", "--steps", "5", "--no-shrink", WANDB_CASSETTES_BREAK_OWNERSHIP="1"
    )
    assert result.returncode == 1, result.stderr[-6000:]
    assert "ownership broken" in result.stderr
    assert "did not create" in result.stderr


def test_ledger_reads_the_recorded_cases_the_same_way(standin_sdk, project, tmp_path):
    """The live ledger of a recording and the audit's reading of its file agree."""
    log_versions("proj", "shared-model", ["v0"], tmp_path)
    result = record(project, standin_sdk, "-k", "adds_a_version")
    assert result.returncode == 0, out(result)
    path = cassette(project, "test_adds_a_version_to_the_shared_model")
    ledger = Ledger.from_cassette(cs.load(path))
    assert ledger.leaks() == [] and ledger.foreign_deleted == []


def test_a_recording_against_an_unreachable_upstream_leaves_no_journal_behind(project):
    """What a refused request was to create was not: the next session has nothing to sweep,
    so it does not wait for an upstream that is not there."""
    import socket as sockets

    with sockets.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed
    for attempt in range(2):
        started = time.monotonic()
        result = run_pytest(
            project, "--record-mode=once", "--wandb-upstream", dead, "-k", "test_creates_a_run",
            env={"WANDB_API_KEY": "k" * 40},
        )  # fmt: skip
        took = time.monotonic() - started
        assert result.returncode == 1, out(result)
        assert "cannot reach the upstream" in out(result)
        assert took < 30, f"attempt {attempt + 1}: {took:.0f} s"
        assert "not swept" not in out(result) and "could not sweep" not in out(result)
        journal_dir = project / ".wandb_cassettes" / "journal"
        assert not list(journal_dir.glob("*.jsonl")), [p.read_text() for p in journal_dir.iterdir()]
