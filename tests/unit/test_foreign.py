"""What a recording changes of resources it did not create is restored, or a finding.

Ledger-level cases built from wandb 0.31-shaped exchanges (``support/cassette_builders.py``);
the same flows with the real SDK and the stand-in are in ``tests/e2e/test_ownership.py``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from support import cassette_builders as b

from wandb_cassettes.audit import audit_cassette
from wandb_cassettes.errors import ConfigurationError
from wandb_cassettes.ownership import (
    PRIOR,
    Changed,
    Ledger,
    Restore,
    changed_since,
    expected_read,
    unresolved,
)
from wandb_cassettes.protocol import MUTATIONS, NOT_RESTORABLE, RESTORABLE
from wandb_cassettes.runtime import CassetteOptions
from wandb_cassettes.store import Interaction

E, P, RUN = "team", "proj", "teammate"
RUN_ID = b.run_storage_id(E, P, RUN)
V0, V1, MINE = b.artifact_id(1), b.artifact_id(2), b.artifact_id(3)
PROD = f"{E}/{P}/shared:prod"
PATH = Path("cassette.yaml")


def ledger_of(*interactions: Interaction, **options: tuple[str, ...]) -> Ledger:
    ledger = Ledger(**options)  # type: ignore[arg-type]
    for ix in interactions:
        ledger.observe(ix)
    return ledger


def statuses(ledger: Ledger) -> dict[str, str]:
    return {c.name: c.status for c in ledger.foreign_changes()}


def sent(restore: Restore) -> Interaction:
    """The exchange of a restore as the cleanup sends it (the SDK's own documents)."""
    from wandb_cassettes.cleanup import restore_document

    data = {"result": {"success": True}, "upsertBucket": {"bucket": {"id": RUN_ID}}}
    operation = restore.field[0].upper() + restore.field[1:]
    return b.gql_exchange(operation, restore_document(restore.field), restore.variables, data)


# -- by construction -------------------------------------------------------------------------


def test_every_update_and_delete_says_what_it_changes_and_why_it_cannot_be_undone():
    for field, effect in MUTATIONS.items():
        if effect.action in ("update", "delete"):
            assert effect.changes, field
        for aspect in effect.changes:
            assert aspect in RESTORABLE or aspect in NOT_RESTORABLE, (field, aspect)


#: Every field of the table that changes something, with an input naming things no answer
#: showed created: whatever rule reads it, the change is foreign.
CHANGING = sorted(f for f, e in MUTATIONS.items() if e.changes)
_FOREIGN_INPUT = {
    "id": RUN_ID,
    "name": RUN,
    "runName": RUN,
    "sweep": "theirs",
    "artifactID": V0,
    "artifactSequenceID": b.collection_id(9),
    "artifactPortfolioID": b.collection_id(10),
    "artifactPortfolioName": "their-registry",
    "artifactManifestID": b._b64("ArtifactManifest:1"),
    "artifactCollectionName": "shared",
    "entityName": E,
    "projectName": P,
    "aliases": [
        {"alias": "prod", "artifactCollectionName": "shared", "entityName": E, "projectName": P}
    ],
}


def _mutation(field: str) -> Interaction:
    query = f"mutation Any($input: AnyInput!) {{ {field}(input: $input) {{ __typename }} }}"
    return b.gql_exchange("Any", query, {"input": _FOREIGN_INPUT}, {field: {}})


@pytest.mark.parametrize("field", CHANGING)
def test_a_change_to_what_the_recording_did_not_create_is_a_finding_by_construction(field):
    """No rule proves it restored (nothing was read before it): the audit fails, naming it."""
    ledger = ledger_of(_mutation(field))
    changes = ledger.foreign_changes()
    assert changes, f"{field}: no foreign change"
    assert {c.status for c in changes} == {"unrestored"}, changes
    assert all(c.why for c in changes)
    assert unresolved(ledger)
    audit = audit_cassette(b.cassette(_mutation(field)), PATH)
    assert audit.status == "dirty"
    declared = ledger_of(_mutation(field), foreign_changes=("*",))
    assert {c.status for c in declared.foreign_changes()} == {"declared"}
    assert unresolved(declared) == [] and declared.restores() == []


def test_what_the_recording_created_it_may_change():
    ledger = ledger_of(
        b.upsert_bucket(E, P, "mine0001"),
        b.create_artifact(E, P, "own", id=MINE, run="mine0001"),
        b.commit_artifact(MINE),
        b.update_artifact(MINE, description="mine", metadata={"a": 1}),
        b.add_aliases(MINE, "own", "best", E, P),
        b.file_stream_rows(E, P, "mine0001", summary={"loss": 1}),
        b.update_run(b.run_storage_id(E, P, "mine0001"), config="{}"),
    )
    assert ledger.foreign_changes() == []
    assert ledger.prior_reads(f"{b.BASE}/graphql", b.add_aliases(MINE, "own", "x", E, P)
                              .request_text()) == []  # fmt: skip


# -- aliases -----------------------------------------------------------------------------


def _promote() -> list[Interaction]:
    """Issue 18, flow 1: the test logs its version of a teammate's collection, promotes it."""
    return [
        b.upsert_bucket(E, P, "mine0001"),
        b.create_artifact(E, P, "shared", id=MINE, run="mine0001", latest=V1),
        b.commit_artifact(MINE),
        b.prior_alias(E, P, "shared", "prod", V0),
        b.add_aliases(MINE, "shared", "prod", E, P),
        b.delete_artifact(MINE),  # the automatic cleanup: the version goes, prod with it
    ]


def test_an_alias_moved_to_the_tests_version_goes_back_to_the_version_that_held_it():
    ledger = ledger_of(*_promote())
    (restore,) = ledger.restores()
    assert restore.field == "addAliases" and restore.name == PROD
    assert restore.variables["input"]["artifactID"] == V0
    assert statuses(ledger) == {PROD: "unrestored"}  # until the restore is seen
    ledger.observe(sent(restore))
    assert statuses(ledger) == {PROD: "restored"} and ledger.restores() == []
    assert unresolved(ledger) == []


def test_an_alias_whose_state_before_was_not_read_is_a_finding():
    ledger = ledger_of(*(ix for ix in _promote() if PRIOR not in (ix.request_text() or "")))
    assert ledger.restores() == []
    (change,) = ledger.foreign_changes()
    assert change.status == "unrestored" and "not read" in change.why
    assert any(PROD in line for line in unresolved(ledger))


def test_an_alias_given_by_log_artifact_goes_back_too():
    ledger = ledger_of(
        b.upsert_bucket(E, P, "mine0001"),
        b.prior_alias(E, P, "shared", "staging", V1),
        b.create_artifact(
            E, P, "shared", id=MINE, run="mine0001", latest=V1, aliases=("latest", "staging")
        ),
        b.delete_artifact(MINE),
    )
    (restore,) = ledger.restores()
    assert (restore.field, restore.variables["input"]["artifactID"]) == ("addAliases", V1)


# -- latest, moved by content W&B already has ---------------------------------------------

LATEST = f"{E}/{P}/shared:latest"


def _dedup(holder_before: str | None, *, read: bool = True) -> list[Interaction]:
    """The test logs content a teammate's V0 has (V1 holds latest): W&B answers with V0,
    COMMITTED, and the input's aliases (wandb-core's ``latest``, the test's ``mine``) go
    to it. ``holder_before``: what the relay's read of ``latest`` found."""
    reads = [b.prior_alias(E, P, "shared", "latest", holder_before)] if read else []
    return [
        b.upsert_bucket(E, P, "mine0001"),
        *reads,
        b.prior_alias(E, P, "shared", "mine", None),
        b.create_artifact(
            E, P, "shared", id=V0, run="mine0001", state="COMMITTED", aliases=("latest", "mine")
        ),
    ]


def test_latest_moved_onto_a_teammates_version_by_its_content_is_a_finding():
    ledger = ledger_of(*_dedup(V1))
    assert [r.kind for r in ledger.created] == ["run"]  # no version: the teammate's answered
    changes = {c.name: c for c in ledger.foreign_changes()}
    assert changes[LATEST].status == "unrestored" and "latest" in changes[LATEST].why
    assert any(LATEST in line for line in unresolved(ledger))


def test_latest_unread_before_is_a_finding_too():
    (change,) = [c for c in ledger_of(*_dedup(None, read=False)).foreign_changes()
                 if c.name == LATEST]  # fmt: skip
    assert change.status == "unrestored"


def test_latest_already_on_the_version_content_found_is_no_change():
    assert LATEST not in statuses(ledger_of(*_dedup(V0)))


def test_latest_on_the_tests_own_new_version_is_no_foreign_change():
    ledger = ledger_of(
        b.upsert_bucket(E, P, "mine0001"),
        b.prior_alias(E, P, "shared", "latest", V1),
        b.create_artifact(E, P, "shared", id=MINE, run="mine0001", latest=V1),
        b.commit_artifact(MINE),
        b.delete_artifact(MINE),
    )
    assert LATEST not in statuses(ledger)


def test_the_reads_before_come_in_one_order_whatever_the_aliases_order():
    # wandb-core lists aliases in no fixed order: a re-recording must read them alike.
    graphql = f"{b.BASE}/graphql"
    orders = []
    for aliases in (("v-test", "best", "latest"), ("best", "latest", "v-test")):
        ledger = ledger_of(b.upsert_bucket(E, P, "mine0001"))
        logged = b.create_artifact(E, P, "shared", id=MINE, run="mine0001", aliases=aliases)
        reads = [json.loads(r) for r in ledger.prior_reads(graphql, logged.request_text())]
        orders.append([r["variables"]["name"] for r in reads])
    assert orders[0] == orders[1] == ["shared:best", "shared:latest", "shared:v-test"]


def test_the_holder_of_latest_is_read_before_an_artifact_is_logged():
    graphql = f"{b.BASE}/graphql"
    ledger = ledger_of(b.upsert_bucket(E, P, "mine0001"))
    logged = b.create_artifact(E, P, "shared", id=MINE, run="mine0001").request_text()
    reads = [json.loads(r) for r in ledger.prior_reads(graphql, logged)]
    assert [(r["operationName"], r["variables"]["name"]) for r in reads] == [
        (f"{PRIOR}Alias", "shared:latest")
    ]


def test_an_alias_the_test_removes_from_a_teammates_version_comes_back():
    ledger = ledger_of(
        b.prior_alias(E, P, "shared", "staging", V1),
        b.delete_aliases(V1, "shared", "staging", E, P),
    )
    (restore,) = ledger.restores()
    assert (restore.field, restore.variables["input"]["artifactID"]) == ("addAliases", V1)
    ledger.observe(sent(restore))
    assert statuses(ledger) == {f"{E}/{P}/shared:staging": "restored"}


@pytest.mark.parametrize("field", ["deleteAliases", "addAliases"])
def test_latest_taken_off_or_put_on_a_teammates_version_by_the_test_is_a_finding(field):
    # ``a.aliases = []; a.save()`` on a teammate's version removes ``latest`` with the rest:
    # W&B keeps it on the newest version itself, and no API gives it back.
    change = b.delete_aliases if field == "deleteAliases" else b.add_aliases
    ledger = ledger_of(change(V0, "shared", "latest", E, P))
    (found,) = ledger.foreign_changes()
    assert (found.name, found.status) == (f"{E}/{P}/shared:latest", "unrestored")
    assert "latest alias itself" in found.why
    assert ledger.restores() == []
    assert audit_cassette(b.cassette(change(V0, "shared", "latest", E, P)), PATH).exit_code == 1


def test_latest_on_the_tests_own_collection_is_its_own_business():
    ledger = ledger_of(
        b.upsert_bucket(E, P, "mine0001"),
        b.create_artifact(E, P, "own", id=MINE, run="mine0001"),
        b.commit_artifact(MINE),
        b.delete_aliases(MINE, "own", "latest", E, P),
    )
    assert ledger.foreign_changes() == []


def test_an_alias_moved_between_teammates_versions_goes_back():
    ledger = ledger_of(
        b.prior_alias(E, P, "shared", "prod", V0),
        b.add_aliases(V1, "shared", "prod", E, P),
    )
    assert [r.variables["input"]["artifactID"] for r in ledger.restores()] == [V0]
    assert ledger.leftovers() == []  # moved, not created: no delete of it


def test_an_alias_new_to_a_teammates_collection_is_taken_off_again():
    seen = b.artifact_membership_by_name(E, P, "shared", V1, 1)  # answers aliases: []
    ledger = ledger_of(seen, b.prior_alias(E, P, "shared", "rc", None))
    ledger.observe(b.add_aliases(V1, "shared", "rc", E, P))
    # Created (absent before): the cleanup deletes it, which is also its state before.
    assert [r.name for r in ledger.leftovers()] == [f"{E}/{P}/shared:rc"]
    ledger.observe(b.delete_aliases(V1, "shared", "rc", E, P))
    assert ledger.restores() == [] and statuses(ledger) == {f"{E}/{P}/shared:rc": "restored"}


def test_a_declared_change_is_left_and_listed():
    for options in ({"foreign_changes": ("*/shared:prod",)}, {"keep": (PROD,)}):
        ledger = ledger_of(*_promote(), **options)
        assert ledger.restores() == []
        assert statuses(ledger) == {PROD: "declared"} and unresolved(ledger) == []


# -- links ------------------------------------------------------------------------------------

REGISTRY = ("org-entity", "wandb-registry-model", "my-models")


def test_a_link_the_read_shows_new_is_the_tests_and_the_cleanup_unlinks_it():
    ledger = ledger_of(
        b.artifact_by_id(E, P, "shared", V0, 0),
        b.prior_links(V0, [(E, P, "shared")]),
        b.link_artifact(V0, "my-models", version=3),
    )
    assert ledger.uncertain_links() == []
    assert [r.kind for r in ledger.leftovers()] == ["link"]


def test_a_link_that_was_there_before_is_left_alone():
    ledger = ledger_of(
        b.artifact_by_id(E, P, "shared", V0, 0),
        b.prior_links(V0, [(E, P, "shared"), REGISTRY]),
        b.link_artifact(V0, "my-models", version=3),
    )
    assert ledger.uncertain_links() == [] and ledger.leftovers() == []
    assert ledger.foreign_changes() == []


def test_an_unlink_of_a_teammates_link_is_read_first_and_named_by_its_collection():
    """UnlinkArtifactInput names the version and the collection by server ids only: the
    version's collections read before give the link a name a declaration can match."""
    portfolio = b.collection_id(7)
    unlink = b.unlink_artifact(V0, portfolio)
    ledger = ledger_of(b.artifact_by_id(E, P, "shared", V0, 0))
    reads = ledger.prior_reads(unlink.uri, unlink.request_text())
    assert [json.loads(r)["operationName"] for r in reads] == [f"{PRIOR}Links"]
    before = b.prior_links(V0, [(E, P, "shared"), REGISTRY], [b.collection_id(1), portfolio])
    for ix in (before, unlink):
        ledger.observe(ix)
    name = "/".join(REGISTRY)
    (change,) = ledger.foreign_changes()
    assert (change.name, change.kind, change.status) == (name, "portfolio_link", "unrestored")
    declared = ledger_of(
        b.artifact_by_id(E, P, "shared", V0, 0),
        before,
        unlink,
        foreign_changes=(f"*/{REGISTRY[1]}/{REGISTRY[2]}",),
    )
    assert statuses(declared) == {name: "declared"}
    # Not read (an older cassette): still a finding, unnamed.
    assert statuses(ledger_of(unlink)) == {"portfolio_link (unresolved)": "unrestored"}


def test_a_link_whose_collections_were_not_read_stays_uncertain():
    ledger = ledger_of(b.artifact_by_id(E, P, "shared", V0, 0), b.link_artifact(V0, "my-models"))
    assert len(ledger.uncertain_links()) == 1 and ledger.leftovers() == []


# -- a version's fields ---------------------------------------------------------------------


def test_a_teammates_metadata_description_and_tags_are_restored():
    """Issue 18, flow 2: ``api.artifact("shared:v0")``, ``.metadata[...]``, ``.save()``."""
    ledger = ledger_of(
        b.prior_artifact(
            E, P, "shared", V0, 0, description="theirs", metadata={"a": 1}, tags=("x",)
        ),
        b.update_artifact(V0, description="touched", metadata={"a": 2}, tags_to_add=("y",)),
    )
    (restore,) = ledger.restores()
    inp = restore.variables["input"]
    assert restore.field == "updateArtifact" and restore.name == f"{E}/{P}/shared:v0"
    assert (inp["description"], json.loads(inp["metadata"])) == ("theirs", {"a": 1})
    assert inp["tagsToAdd"] == [{"tagName": "x"}] and inp["tagsToDelete"] == [{"tagName": "y"}]
    assert inp["ttlDurationSeconds"] == -1  # inherited, as it was
    ledger.observe(sent(restore))
    assert statuses(ledger) == {f"{E}/{P}/shared:v0": "restored"}


def test_a_description_that_was_never_set_cannot_come_back_and_is_a_finding():
    # W&B reads a null input as "leave it": the nearest a restore can send is "".
    ledger = ledger_of(
        b.prior_artifact(E, P, "shared", V0, 0, metadata={"a": 1}),
        b.update_artifact(V0, description="touched"),
    )
    (restore,) = ledger.restores()
    assert restore.variables["input"]["description"] == ""
    ledger.observe(sent(restore))
    (change,) = ledger.foreign_changes()
    assert change.status == "unrestored"
    assert "description had no value before" in change.why and "cannot unset" in change.why


def test_a_metadata_change_leaves_an_unset_description_alone():
    ledger = ledger_of(
        b.prior_artifact(E, P, "shared", V0, 0, metadata={"a": 1}),
        b.update_artifact(V0, metadata={"a": 2}),
    )
    (restore,) = ledger.restores()
    assert restore.variables["input"]["description"] is None  # null: as it is
    ledger.observe(sent(restore))
    assert statuses(ledger) == {f"{E}/{P}/shared:v0": "restored"}


@pytest.mark.parametrize("field", ["groupName", "jobType", "notes", "description"])
def test_a_run_field_that_was_never_set_is_a_finding_once_the_test_sets_it(field):
    ledger = ledger_of(b.prior_run(E, P, RUN), b.update_run(RUN_ID, **{field: "eval"}))
    (restore,) = ledger.restores()
    assert restore.variables[field] == ""
    ledger.observe(sent(restore))
    (change,) = ledger.foreign_changes()
    assert change.status == "unrestored" and f"{field} had no value before" in change.why
    changed = b.cassette(b.prior_run(E, P, RUN), b.update_run(RUN_ID, **{field: "eval"}))
    assert audit_cassette(changed, PATH).exit_code == 1


def test_a_save_that_changes_nothing_needs_no_restore():
    # Artifact.save() of an alias change sends UpdateArtifact with the fields as they were.
    ledger = ledger_of(
        b.prior_artifact(E, P, "shared", V0, 0, metadata={"a": 1}),
        b.update_artifact(V0, metadata={"a": 1}),
    )
    assert ledger.restores() == [] and unresolved(ledger) == []


_RUN_FILES = (
    "query RunFiles($project: String!, $entity: String!, $name: String!) { project(name: "
    "$project, entityName: $entity) { run(name: $name) { files { edges { node { id name } } "
    "} } } }"
)
_DELETE_FILES = (
    "mutation deleteFiles($files: [ID!]!, $projectId: Int) { deleteFiles(input: {files: "
    "$files, projectId: $projectId}) { success } }"
)


@pytest.mark.parametrize("read_first", [True, False], ids=["named", "unread"])
def test_a_teammates_run_file_the_test_deletes_is_a_finding_named_when_it_was_read(read_first):
    # api.run(path).file("requirements.txt").delete(): RunFiles, then deleteFiles by id.
    files = {"edges": [{"node": {"id": "RmlsZTox", "name": "requirements.txt"}}]}
    read = b.gql_exchange(
        "RunFiles",
        _RUN_FILES,
        {"project": P, "entity": E, "name": RUN},
        {"project": {"run": {"files": files}}},
    )
    delete = b.gql_exchange(
        "deleteFiles",
        _DELETE_FILES,
        {"files": ["RmlsZTox"], "projectId": 1},
        {"deleteFiles": {"success": True}},
    )
    ledger = ledger_of(*([read] if read_first else []), delete)
    (change,) = ledger.foreign_changes()
    assert change.status == "unrestored"
    expected = f"{E}/{P}/{RUN}/requirements.txt" if read_first else "run_file (unresolved)"
    assert change.name == expected
    assert audit_cassette(b.cassette(*([read] if read_first else []), delete), PATH).exit_code == 1


def test_a_teammates_version_the_test_deletes_is_a_finding():
    deleted = [b.artifact_membership_by_name(E, P, "shared", V0, 0), b.delete_artifact(V0)]
    ledger = ledger_of(*deleted)
    (change,) = ledger.foreign_changes()
    assert (change.change, change.status) == ("deleted", "unrestored")
    assert "cannot bring back" in change.why
    assert audit_cassette(b.cassette(*deleted), PATH).exit_code == 1
    declared = b.cassette(*deleted)
    declared.metadata["foreign_changes"] = ["*/shared:v0"]
    audit = audit_cassette(declared, PATH)
    assert audit.exit_code == 0
    assert [c.status for c in audit.foreign_changes] == ["declared"]


# -- a run -------------------------------------------------------------------------------


def test_a_resumed_runs_config_and_summary_are_restored_its_history_is_reported():
    ledger = ledger_of(
        b.prior_run(E, P, RUN, config={"lr": {"value": 0.1}}, summary={"a": 1}),
        b.upsert_bucket(E, P, RUN, inserted=False),  # config "{}": changed
        b.file_stream_rows(E, P, RUN, summary={"a": 1, "extra": 2}),
    )
    (restore,) = ledger.restores()
    assert restore.field == "upsertBucket" and restore.variables["id"] == RUN_ID
    assert json.loads(restore.variables["config"]) == {"lr": {"value": 0.1}}
    assert json.loads(restore.variables["summaryMetrics"]) == {"a": 1}
    ledger.observe(sent(restore))
    by_change = {c.change: c for c in ledger.foreign_changes()}
    assert by_change["changed"].status == "restored"
    history = by_change["appended history to"]
    assert history.status == "unrestored" and "history rows" in history.why


def test_rewinding_a_teammates_run_is_a_lasting_change_never_called_restored():
    # wandb.init(resume_from="<run>?_step=N") on a run the test did not create: W&B drops the
    # history after the step and recomputes the summary (docs.wandb.ai/models/runs/rewind).
    rewind = b.gql_exchange(
        "RewindRun",
        "mutation RewindRun($runName: String!, $entity: String, $project: String, "
        "$metricName: String!, $metricValue: Float!) { rewindRun(input: {runName: $runName, "
        "entityName: $entity, projectName: $project, metricName: $metricName, "
        "metricValue: $metricValue}) { rewoundRun { id } } }",
        {"runName": RUN, "entity": E, "project": P, "metricName": "_step", "metricValue": 1},
        {"rewindRun": {"rewoundRun": {"id": RUN_ID}}},
    )
    ledger = ledger_of(b.prior_run(E, P, RUN, summary={"best": 0.9}), rewind)
    (change,) = ledger.foreign_changes()
    assert change.status == "unrestored" and change.change.startswith("rewound")
    assert "recomputes its summary" in change.why
    assert audit_cassette(b.cassette(b.prior_run(E, P, RUN), rewind), PATH).exit_code == 1


def test_a_run_config_changed_through_the_public_api_is_restored():
    ledger = ledger_of(
        b.prior_run(E, P, RUN, config={"lr": {"value": 0.1}}),
        b.update_run(RUN_ID, config=json.dumps({"lr": {"value": 0.5}})),
    )
    (restore,) = ledger.restores()
    assert set(restore.variables) == {"id", "config"}
    ledger.observe(sent(restore))
    assert unresolved(ledger) == []


def test_reads_before_a_change_are_asked_only_for_what_the_test_did_not_create():
    graphql = f"{b.BASE}/graphql"
    ledger = ledger_of(b.upsert_bucket(E, P, "mine0001"))
    reads = ledger.prior_reads(graphql, b.add_aliases(V0, "shared", "prod", E, P).request_text())
    assert [json.loads(r)["operationName"] for r in reads] == [f"{PRIOR}Alias"]
    reads = ledger.prior_reads(graphql, b.update_artifact(V0, metadata={}).request_text())
    assert [json.loads(r)["operationName"] for r in reads] == [f"{PRIOR}Artifact"]
    resumed = b.upsert_bucket(E, P, RUN, inserted=False).request_text()
    assert [json.loads(r)["operationName"] for r in ledger.prior_reads(graphql, resumed)] == [
        f"{PRIOR}Run"
    ]
    own = b.upsert_bucket(E, P, "mine0001").request_text()
    assert ledger.prior_reads(graphql, own) == []
    stream = f"{b.BASE}/files/{E}/{P}"
    assert ledger.prior_reads(f"{stream}/mine0001/file_stream", b"{}") == []
    assert len(ledger.prior_reads(f"{stream}/{RUN}/file_stream", b"{}")) == 1
    fresh = Ledger(fresh_run_ids={"fresh001"})
    assert fresh.prior_reads(graphql, b.upsert_bucket(E, P, "fresh001").request_text()) == []
    # Read once: the first read is the state before.
    ledger.observe(b.prior_alias(E, P, "shared", "prod", V0))
    assert ledger.prior_reads(graphql, b.add_aliases(V1, "shared", "prod", E, P)
                              .request_text()) == []  # fmt: skip


def test_a_read_after_the_first_change_does_not_become_the_state_before():
    ledger = ledger_of(
        b.prior_alias(E, P, "shared", "prod", V0),
        b.add_aliases(V1, "shared", "prod", E, P),
        b.prior_alias(E, P, "shared", "prod", V1),  # read again: already changed
    )
    assert [r.variables["input"]["artifactID"] for r in ledger.restores()] == [V0]


# -- the marker keyword -----------------------------------------------------------------------


def test_the_foreign_changes_keyword_is_validated_like_the_others():
    options = CassetteOptions.from_mapping({"foreign_changes": ["*/shared:prod"]}, source="t")
    assert options.foreign_changes == ("*/shared:prod",)
    assert CassetteOptions.from_mapping({"foreign_changes": True}, source="t").foreign_changes == (
        "*",
    )
    with pytest.raises(ConfigurationError, match="t: foreign_changes: expected a string"):
        CassetteOptions.from_mapping({"foreign_changes": 3}, source="t")
    merged = options.merged(CassetteOptions(foreign_changes=("*/run",)))
    assert merged.foreign_changes == ("*/shared:prod", "*/run")


# -- a restore is sent only on the state the test left ---------------------------------------


def _now(read: Interaction) -> object:
    """The ``data`` of a read's answer: what the cleanup finds before a restore."""
    return json.loads(read.response_text() or "")["data"]


def _artifact_restore() -> Restore:
    ledger = ledger_of(
        b.prior_artifact(E, P, "shared", V0, 0, description="theirs", metadata={"a": 1}),
        b.update_artifact(V0, description="touched", metadata={"a": 2}, tags_to_add=("y",)),
    )
    (restore,) = ledger.restores()
    return restore


def _journaled(expect: dict[str, object] | None) -> dict[str, object]:
    """As a journal line holds it, and the sweep reads it back."""
    assert expect is not None
    return json.loads(json.dumps(expect))  # type: ignore[no-any-return]


def test_a_version_restore_expects_the_fields_it_sets_as_the_test_left_them():
    expect = _journaled(_artifact_restore().expect)
    document, variables = expected_read(expect) or ("", {})
    assert f"query {PRIOR}Artifact" in document and variables == {"id": V0}
    left = b.prior_artifact(
        E, P, "shared", V0, 0, description="touched", metadata={"a": 2}, tags=("y",)
    )
    assert changed_since(expect, _now(left)) is None
    # A teammate changed what the restore would set since: it is left as it is.
    theirs = b.prior_artifact(
        E, P, "shared", V0, 0, description="touched", metadata={"b": 3}, tags=("y",)
    )
    assert changed_since(expect, _now(theirs)) == Changed(
        "metadata changed since the test left it", ("metadata",)
    )
    retagged = b.prior_artifact(E, P, "shared", V0, 0, description="new", metadata={"a": 2})
    assert changed_since(expect, _now(retagged)) == Changed(
        "description, tags changed since the test left it", ("description", "tags")
    )
    assert changed_since(expect, {"artifact": None}) == Changed("the artifact is no longer there")


def test_a_run_restore_expects_the_fields_it_sets_and_no_other():
    ledger = ledger_of(
        b.prior_run(E, P, RUN, config={"lr": {"value": 0.1}}),
        b.update_run(RUN_ID, config=json.dumps({"lr": {"value": 0.5}})),
    )
    (restore,) = ledger.restores()
    expect = _journaled(restore.expect)
    document, variables = expected_read(expect) or ("", {})
    assert f"query {PRIOR}Run" in document
    assert variables == {"entity": E, "project": P, "name": RUN}
    assert expect["fields"] == {"config": {"lr": {"value": 0.5}}}
    left = b.prior_run(E, P, RUN, config={"lr": {"value": 0.5}}, summary={"other": 1})
    assert changed_since(expect, _now(left)) is None  # the summary: not the restore's
    theirs = b.prior_run(E, P, RUN, config={"lr": {"value": 0.9}})
    assert changed_since(expect, _now(theirs)) == Changed(
        "config changed since the test left it", ("config",)
    )
    gone = b.prior_run(E, P, RUN, exists=False)
    assert changed_since(expect, _now(gone)) == Changed("the run is no longer there")


def test_an_alias_expectation_of_an_older_journal_still_reads():
    old = {"read": {"entity": E, "project": P, "name": "shared:prod"}, "holder": V1}
    document, _ = expected_read(old) or ("", {})
    assert f"query {PRIOR}Alias" in document
    moved = {"project": {"artifactCollectionMembership": {"artifact": {"id": V0}}}}
    assert changed_since(old, moved) == Changed(
        f"the alias moved since the test left it (now on version {V0})"
    )
    assert changed_since(old, {"project": {"artifactCollectionMembership": None}}) is None


@pytest.mark.parametrize(
    "expect",
    [
        {"of": "artifact", "read": {"id": 5}, "fields": {}},
        {"of": "nothing", "read": {"id": V0}, "fields": {}},
        {"of": "run", "read": {"project": P}, "fields": {}},
        {"of": "run", "read": {"project": P, "name": RUN, "entity": ["x"]}, "fields": {}},
        {"of": "alias", "read": "shared:prod"},
    ],
)
def test_an_expectation_this_library_never_writes_is_refused(expect: dict[str, object]):
    with pytest.raises(ValueError, match="not readable"):
        expected_read(expect)


def test_fields_no_answer_showed_are_not_expected():
    from wandb_cassettes.ownership._foreign import UNKNOWN, UNSET, expected_fields

    fields = {"tags": frozenset({"b", "a"}), "notes": UNSET, "config": UNKNOWN}
    assert expected_fields(fields) == {"tags": ["a", "b"], "notes": None}


def test_a_run_restore_does_not_compare_the_summary_nor_null_entries():
    """W&B keeps a summary from history rows too, and answers a config entry with its null
    ``desc``: neither is a change someone made since."""
    ledger = ledger_of(
        b.prior_run(E, P, RUN, config={"lr": {"value": 0.1}}, summary={"loss": 1}),
        b.update_run(
            RUN_ID,
            config=json.dumps({"lr": {"value": 0.5}}),
            summaryMetrics=json.dumps({"loss": 2}),
        ),
    )
    (restore,) = ledger.restores()
    assert {"config", "summaryMetrics"} <= set(restore.variables)
    expect = _journaled(restore.expect)
    assert list(expect["fields"]) == ["config"]  # type: ignore[call-overload]
    now = b.prior_run(E, P, RUN, config={"lr": {"value": 0.5, "desc": None}}, summary={"x": 3})
    assert changed_since(expect, _now(now)) is None


def test_what_someone_changed_since_is_left_out_and_the_rest_goes_back():
    restore = _artifact_restore()
    rest = restore.without(["metadata"])
    assert rest is not None
    inp = rest.variables["input"]
    assert "metadata" not in inp and inp["description"] == "theirs"
    assert inp["tagsToDelete"] == [{"tagName": "y"}]
    assert rest.change == "description, ttl, tags back"
    assert rest.expect is not None and "metadata" not in rest.expect["fields"]
    assert restore.without(["description", "metadata", "ttl", "tags"]) is None
    ledger = ledger_of(
        b.prior_run(E, P, RUN, config={"lr": {"value": 0.1}}),
        b.update_run(RUN_ID, config=json.dumps({"lr": {"value": 0.5}}), notes="test"),
    )
    (run_restore,) = ledger.restores()
    notes_only = run_restore.without(["config"])
    assert notes_only is not None and set(notes_only.variables) == {"id", "notes"}
    assert notes_only.change == "notes back"
    assert run_restore.without(["config", "notes"]) is None


def test_a_field_set_that_had_no_value_is_a_lasting_change_as_soon_as_it_is_set():
    """Journalled as it happens: a killed session's sweep sets it to "" and must not call
    that restored."""
    ledger = ledger_of(
        b.prior_artifact(E, P, "shared", V0, 0, metadata={"a": 1}),  # no description
        b.update_artifact(V0, description="touched", metadata={"a": 1}),
    )
    (change,) = ledger.lasting_changes()
    assert change.name == f"{E}/{P}/shared:v0" and change.status == "unrestored"
    assert "description had no value before" in change.why
    declared = ledger_of(
        b.prior_artifact(E, P, "shared", V0, 0, metadata={"a": 1}),
        b.update_artifact(V0, description="touched", metadata={"a": 1}),
        foreign_changes=(f"{E}/{P}/shared*",),
    )
    assert declared.lasting_changes() == []
    assert len(ledger.foreign_changes()) == 1  # the audit's list holds it once


def test_a_run_summary_goes_back_key_by_key_leaving_what_someone_changed_since():
    """A sweep runs long after: a key a teammate added or changed since stays; each key the
    test changed and nobody touched since takes its value before; W&B's own keys go back."""
    from wandb_cassettes.ownership import restore_as_left

    before = {"acc": 0.9, "loss": 0.3, "_step": 2}
    ledger = ledger_of(
        b.prior_run(E, P, RUN, summary=before),
        b.update_run(RUN_ID, summaryMetrics=json.dumps({**before, "acc": 0.1, "mine": 1})),
    )
    (restore,) = ledger.restores()
    restore = dataclasses.replace(restore, expect=_journaled(restore.expect))
    # Nobody since: the summary before, whole.
    left = b.prior_run(E, P, RUN, summary={**before, "acc": 0.1, "mine": 1})
    sent, changed = restore_as_left(restore, _now(left))
    assert changed is None and sent is not None
    assert json.loads(sent.variables["summaryMetrics"]) == before
    # A teammate changed loss (the test did not) and added f1; the run went on (_step 5).
    theirs = {**before, "acc": 0.1, "mine": 1, "loss": 0.2, "f1": 0.5, "_step": 5}
    sent, changed = restore_as_left(restore, _now(b.prior_run(E, P, RUN, summary=theirs)))
    assert sent is not None and changed is None
    assert json.loads(sent.variables["summaryMetrics"]) == {
        "acc": 0.9, "loss": 0.2, "f1": 0.5, "_step": 2
    }  # fmt: skip
    # A teammate changed acc since: it stays, said; mine goes.
    moved = {**before, "acc": 0.7, "mine": 1}
    sent, changed = restore_as_left(restore, _now(b.prior_run(E, P, RUN, summary=moved)))
    assert sent is not None and changed is not None
    assert json.loads(sent.variables["summaryMetrics"]) == {**before, "acc": 0.7}
    assert changed.why == "summary acc changed since the test left it"


@pytest.mark.parametrize(
    ("prior", "change", "said"),
    [
        (None, b.add_aliases, "added"),
        (V1, b.delete_aliases, "removed"),
        (V0, b.add_aliases, "moved"),
    ],
)
def test_an_alias_change_says_whether_it_was_added_removed_or_moved(prior, change, said):
    ledger = ledger_of(b.prior_alias(E, P, "shared", "rc", prior), change(V1, "shared", "rc", E, P))
    (found,) = ledger.foreign_changes()
    assert found.change == said, found
    assert found.describe().startswith(f"{said} alias {E}/{P}/shared:rc, in a collection it did")
