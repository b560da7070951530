"""The ledger: one group of tests per rule of ``ledger.RULES``, then leaks, cascades, keep."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import cassette_builders as b

from wandb_cassettes.ownership import RULES, Ledger, Resource
from wandb_cassettes.store import Interaction

E, P, R = "team", "proj", "run00001"
RUN_ID = b.run_storage_id(E, P, R)
A1, A2 = b.artifact_id(1), b.artifact_id(2)
SEQ = b.collection_id(7)


def ledger_of(*interactions: Interaction, keep: tuple[str, ...] = ()) -> Ledger:
    ledger = Ledger(keep)
    for ix in interactions:
        ledger.observe(ix)
    return ledger


def names(resources: list[Resource]) -> list[str]:
    return [r.name for r in resources]


def test_every_rule_has_tests():
    # Adding a rule to the table means adding its tests here (rules are keyed by the
    # mutation field the document sends, not by the operation name the client chose).
    tested = {
        "upsertBucket",
        "createArtifact",
        "commitArtifact",
        "createRunFiles",
        "deleteRun",
        "deleteArtifact",
        "deleteArtifactSequence",
        "deleteArtifactPortfolio",
        "linkArtifact",
        "unlinkArtifact",
        "upsertSweep",
        "addAliases",
        "deleteAliases",
        "upsertModel",
        # they name the run (or sweep) they touch: tests/unit/test_foreign.py
        "createAgent",
        "useArtifact",
        "markRunFilesUploaded",
        "notifyScriptableRunAlert",
        "rewindRun",
        "deleteFiles",
        # the manifest's id names its version: tests/unit/test_ledger_manifests.py
        "createArtifactManifest",
    }
    assert set(RULES) == tested


# -- UpsertBucket ------------------------------------------------------------------


def test_upsert_bucket_inserted_creates_the_run():
    ledger = ledger_of(b.upsert_bucket(E, P, R))
    (run,) = ledger.created
    assert (run.kind, run.name, run.ids, run.created_at) == ("run", f"{E}/{P}/{R}", [RUN_ID], 0)
    assert ledger.leaks() == [run]


def test_upsert_bucket_not_inserted_creates_nothing_but_learns_the_id():
    ledger = ledger_of(b.upsert_bucket(E, P, R, inserted=False), b.delete_run(RUN_ID))
    assert ledger.created == []
    assert names(ledger.deleted) == [f"{E}/{P}/{R}"]


def test_a_run_created_again_after_its_delete_is_alive():
    ledger = ledger_of(b.upsert_bucket(E, P, R), b.delete_run(RUN_ID), b.upsert_bucket(E, P, R))
    assert [(e.index, e.change) for e in ledger.events] == [
        (0, "created"),
        (1, "deleted"),
        (2, "created"),
    ]
    assert [r.created_at for r in ledger.leaks()] == [2]


def test_upsert_bucket_refused_creates_nothing():
    assert ledger_of(b.upsert_bucket(E, P, R, error="permission denied")).created == []


# -- CreateArtifact / CommitArtifact ---------------------------------------------------


def test_create_artifact_first_version_creates_artifact_and_collection():
    ledger = ledger_of(b.create_artifact(E, P, "ds", id=A1, run=R))
    assert [(r.kind, r.created_at) for r in ledger.created] == [
        ("collection", 0),
        ("artifact", 0),
    ]
    collection, artifact = ledger.created
    assert collection.name == f"{E}/{P}/ds"
    assert artifact.ids == [A1]
    assert artifact.container is collection
    assert artifact.logged_by is not None and artifact.logged_by.name == f"{E}/{P}/{R}"


def test_create_artifact_in_existing_collection_creates_only_the_version():
    ledger = ledger_of(b.create_artifact(E, P, "ds", id=A2, latest=A1))
    assert [r.kind for r in ledger.created] == ["artifact"]


def test_create_artifact_deduplicated_creates_nothing():
    # Same digest as the latest version: the server answers that version, COMMITTED.
    ledger = ledger_of(b.create_artifact(E, P, "ds", id=A1, latest=A1, state="COMMITTED"))
    assert ledger.created == []


def test_create_artifact_refused_creates_nothing():
    assert ledger_of(b.create_artifact(E, P, "ds", id=A1, error="quota")).created == []


def test_artifact_is_named_by_id_until_an_answer_gives_its_version():
    ledger = ledger_of(b.create_artifact(E, P, "ds", id=A1, latest=b.artifact_id(9)))
    (artifact,) = ledger.created
    assert artifact.name == f"{E}/{P}/ds@{A1}"
    ledger.observe(b.artifact_by_id(E, P, "ds", A1, 4))
    assert artifact.name == f"{E}/{P}/ds:v4"


def test_commit_artifact_marks_the_version_committed():
    ledger = ledger_of(b.create_artifact(E, P, "ds", id=A1), b.commit_artifact(A1))
    artifact = next(r for r in ledger.created if r.kind == "artifact")
    assert artifact.committed_at == 1
    assert artifact in ledger.leaks() or artifact.container in ledger.leaks()


# -- CreateRunFiles ------------------------------------------------------------------


def test_create_run_files_creates_one_file_each_inside_the_run():
    ledger = ledger_of(
        b.upsert_bucket(E, P, R), b.create_run_files(E, P, R, ["config.yaml", "out.log"])
    )
    run, *files = ledger.created
    assert names(files) == [f"{E}/{P}/{R}/config.yaml", f"{E}/{P}/{R}/out.log"]
    assert all(f.kind == "run_file" and f.container is run and f.created_at == 1 for f in files)
    # The files of a leaked run are reported through the run.
    assert ledger.leaks() == [run]


def test_run_files_of_a_run_created_elsewhere_are_not_created_by_the_test():
    # Resuming a pre-existing run re-uploads its files: they are that run's, not the test's.
    ledger = ledger_of(
        b.upsert_bucket(E, P, R, inserted=False), b.create_run_files(E, P, R, ["config.yaml"])
    )
    assert ledger.created == [] and ledger.leaks() == []


# -- Run / DeleteRun -----------------------------------------------------------------


def test_run_query_learns_the_id_a_later_delete_names():
    other = "UnVuOnYxOm5vdC1iYXNlNjQtb2YtYS1uYW1l"  # an opaque id: no name to decode
    query = b.run_query(E, P, R).response_text()
    assert query is not None
    ix = b.run_query(E, P, R)
    ix.response_body = query.replace(RUN_ID, other)
    ledger = ledger_of(ix, b.delete_run(other))
    assert names(ledger.deleted) == [f"{E}/{P}/{R}"]


def test_delete_run_of_an_unseen_run_decodes_its_storage_id():
    ledger = ledger_of(b.delete_run(b.run_storage_id("someone", "other", "abc")))
    assert names(ledger.deleted) == ["someone/other/abc"]
    assert ledger.created == []


def test_delete_run_deletes_the_run_and_its_files():
    ledger = ledger_of(
        b.upsert_bucket(E, P, R),
        b.create_run_files(E, P, R, ["config.yaml"]),
        b.delete_run(RUN_ID),
    )
    assert ledger.leaks() == []
    assert [r.deleted_at for r in ledger.created] == [2, 2]


def test_delete_run_keeps_the_artifacts_it_logged_without_delete_artifacts():
    ledger = ledger_of(
        b.upsert_bucket(E, P, R),
        b.create_artifact(E, P, "ds", id=A1, run=R, latest=b.artifact_id(9)),
        b.delete_run(RUN_ID, delete_artifacts=False),
    )
    assert [r.kind for r in ledger.leaks()] == ["artifact"]


def test_delete_run_with_delete_artifacts_cascades_to_its_artifacts_only():
    ledger = ledger_of(
        b.upsert_bucket(E, P, R),
        b.create_artifact(E, P, "ds", id=A1, run=R, latest=b.artifact_id(9)),
        b.create_artifact(E, P, "ds", id=A2, run="other-run", latest=A1),
        b.delete_run(RUN_ID, delete_artifacts=True),
    )
    assert [r.ids for r in ledger.leaks()] == [[A2]]
    deleted = {r.ids[0]: r.deleted_at for r in ledger.deleted}
    assert deleted == {RUN_ID: 3, A1: 3}


def test_delete_run_refused_is_not_counted():
    ledger = ledger_of(b.upsert_bucket(E, P, R), b.delete_run(RUN_ID, error="not allowed"))
    assert ledger.deleted == []
    assert names(ledger.leaks()) == [f"{E}/{P}/{R}"]


def test_delete_run_with_http_error_is_not_counted():
    ledger = ledger_of(b.upsert_bucket(E, P, R), b.delete_run(RUN_ID, status=500))
    assert ledger.deleted == []


# -- DeleteArtifact --------------------------------------------------------------------


def test_delete_artifact_deletes_the_version():
    ledger = ledger_of(
        b.create_artifact(E, P, "ds", id=A1, latest=b.artifact_id(9)), b.delete_artifact(A1)
    )
    (artifact,) = ledger.deleted
    assert (artifact.created_at, artifact.deleted_at) == (0, 1)
    assert ledger.leaks() == []


def test_delete_artifact_answered_with_an_error_is_not_counted():
    ledger = ledger_of(
        b.create_artifact(E, P, "ds", id=A1, latest=b.artifact_id(9)),
        b.delete_artifact(A1, error="artifact has aliases"),
    )
    assert ledger.deleted == []
    assert [r.ids for r in ledger.leaks()] == [[A1]]


def test_delete_of_an_artifact_seen_only_in_an_answer_is_named():
    ledger = ledger_of(b.artifact_membership_by_name(E, P, "ds", A1, 2), b.delete_artifact(A1))
    assert names(ledger.deleted) == [f"{E}/{P}/ds:v2"]
    assert ledger.created == []


def test_delete_of_an_unknown_artifact_is_named_by_its_id():
    ledger = ledger_of(b.delete_artifact(A1))
    assert names(ledger.deleted) == [A1]


# -- DeleteArtifactSequence / DeleteArtifactPortfolio ------------------------------------------


def test_delete_artifact_sequence_deletes_the_collection_and_its_versions():
    ledger = ledger_of(
        b.create_artifact(E, P, "ds", id=A1),
        b.create_artifact(E, P, "ds", id=A2, latest=A1),
        b.project_artifact_collection(E, P, "ds", SEQ),
        b.delete_artifact_sequence(SEQ),
    )
    assert len(ledger.created) == 3
    assert all(r.deleted_at == 3 for r in ledger.created)
    assert ledger.leaks() == []


def test_delete_artifact_sequence_refused_is_not_counted():
    ledger = ledger_of(
        b.create_artifact(E, P, "ds", id=A1),
        b.project_artifact_collection(E, P, "ds", SEQ),
        b.delete_artifact_sequence(SEQ, error="boom"),
    )
    assert ledger.deleted == []
    assert names(ledger.leaks()) == [f"{E}/{P}/ds"]


def test_delete_artifact_portfolio_deletes_the_collection():
    portfolio = b.collection_id(8)
    ledger = ledger_of(b.project_artifact_collection(E, P, "linked", portfolio))
    ledger.observe(b.delete_artifact_portfolio(portfolio))
    assert names(ledger.deleted) == [f"{E}/{P}/linked"]


# -- a document's inline arguments count as much as its variables -----------------------


def _inline_upsert(selection: str) -> str:
    """``upsertBucket`` of run ``inline-made`` with every argument written in the document."""
    arguments = f'name: "inline-made", modelName: "{P}", entityName: "{E}"'
    return "mutation Mine { upsertBucket(input: {" + arguments + "}) { " + selection + " } }"


def test_an_inline_delete_of_a_run_is_read_from_the_document():
    """A user's own ``execute_graphql`` with the id written into the document."""
    query = 'mutation Mine { deleteRun(input: {id: "' + RUN_ID + '"}) { clientMutationId } }'
    inline = b.gql_exchange("Mine", query, {}, {"deleteRun": {"clientMutationId": None}})
    ledger = ledger_of(b.run_query(E, P, R), inline)
    assert names(ledger.deleted) == [f"{E}/{P}/{R}"]
    assert names(ledger.foreign_deleted) == [f"{E}/{P}/{R}"]


def test_an_inline_upsert_bucket_creates_a_run_named_by_its_input():
    query = _inline_upsert("bucket { id name } inserted")
    answer = {"upsertBucket": {"bucket": {"id": RUN_ID, "name": "inline-made"}, "inserted": True}}
    ledger = ledger_of(b.gql_exchange("Mine", query, {}, answer))
    assert names(ledger.created) == [f"{E}/{P}/inline-made"]


def test_a_variable_default_is_an_argument_too():
    query = (
        "mutation Mine($id: ID!, $all: Boolean = true) "
        "{ deleteRun(input: {id: $id, deleteArtifacts: $all}) { clientMutationId } }"
    )
    ledger = ledger_of(
        b.upsert_bucket(E, P, R),
        b.create_artifact(E, P, "ds", id=A1, run=R, latest=b.artifact_id(9)),
        b.gql_exchange("Mine", query, {"id": RUN_ID}, {"deleteRun": {"clientMutationId": None}}),
    )
    assert ledger.leaks() == []  # deleteArtifacts defaulted to true: the artifact went too


def test_intents_read_inline_arguments():
    from wandb_cassettes.ownership import intents

    query = _inline_upsert("bucket { id }")
    body = json.dumps({"query": query, "variables": {}})
    assert intents(body) == [{"kind": "run", "entity": E, "project": P, "local": "inline-made"}]


# -- leaks, keep, events ---------------------------------------------------------------


def test_clean_flow_has_no_leaks_and_every_event_in_place():
    ledger = Ledger.from_cassette(b.clean_flow(E, P, R))
    assert ledger.leaks() == []
    created = [(e.index, e.resource.name) for e in ledger.events if e.change == "created"]
    assert created == [
        (0, f"{E}/{P}/{R}"),
        (2, f"{E}/{P}/ds:v3"),
        (7, f"{E}/{P}/{R}/config.yaml"),
        (7, f"{E}/{P}/{R}/wandb-summary.json"),
    ]
    assert names([e.resource for e in ledger.events_at(11)]) == [f"{E}/{P}/ds:v3"]
    assert {e.change for e in ledger.events_at(13)} == {"deleted"}
    assert len(ledger.events_at(13)) == 3


def test_live_observation_equals_offline_reading():
    cas = b.clean_flow()
    live = Ledger()
    for ix in cas.interactions:
        live.observe(ix)
    offline = Ledger.from_cassette(cas)
    assert [(e.index, e.change, e.resource.name) for e in live.events] == [
        (e.index, e.change, e.resource.name) for e in offline.events
    ]


def test_kept_resources_are_not_leaks():
    cas = b.cassette(
        b.upsert_bucket(E, P, R),
        b.create_artifact(E, P, "ds", id=A1, latest=b.artifact_id(9)),
        b.artifact_by_id(E, P, "ds", A1, 5),
        keep=[f"{E}/{P}/ds:v*"],
    )
    ledger = Ledger.from_cassette(cas)
    assert names(ledger.kept) == [f"{E}/{P}/ds:v5"]
    assert names(ledger.leaks()) == [f"{E}/{P}/{R}"]


def test_a_kept_container_keeps_what_is_inside():
    ledger = ledger_of(
        b.upsert_bucket(E, P, R),
        b.create_run_files(E, P, R, ["config.yaml"]),
        keep=(f"{E}/{P}/{R}",),
    )
    assert ledger.leaks() == []
    assert names(ledger.kept) == [f"{E}/{P}/{R}", f"{E}/{P}/{R}/config.yaml"]


@pytest.mark.parametrize(
    ("keep", "expected"), [("one", ["one"]), (["a", "b"], ["a", "b"]), (3, [])]
)
def test_keep_names_read_from_metadata(keep, expected):
    cas = b.cassette()
    cas.metadata["keep"] = keep
    assert list(Ledger.from_cassette(cas).keep) == expected


def test_non_graphql_traffic_is_ignored_but_counted():
    ledger = ledger_of(b.file_stream(E, P, R), b.upsert_bucket(E, P, R))
    assert ledger.created[0].created_at == 1


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(operation=st.sampled_from(sorted(RULES)), variables=_JSON, data=_JSON)
def test_no_answer_makes_observe_raise(operation, variables, data):
    # observe runs on the relay's record path: a surprise there must not lose the exchange.
    ix = b.gql_exchange(operation, f"mutation {operation} {{ x }}", {}, None)
    ix.request_body = json.dumps({"query": f"mutation {operation} {{ x }}", "variables": variables})
    ix.response_body = json.dumps({"data": data})
    Ledger().observe(ix)


# -- ownership by identity (never by name) ------------------------------------------------


def test_a_version_added_to_a_teammates_collection_is_the_only_thing_created():
    # shared-model v0 and v1 exist; the test logs v2: the collection is not its own.
    ledger = ledger_of(
        b.upsert_bucket(E, P, R),
        b.create_artifact(E, P, "shared-model", id=A2, run=R, latest=A1),
    )
    assert [(r.kind, r.name) for r in ledger.created] == [
        ("run", f"{E}/{P}/{R}"),
        ("artifact", f"{E}/{P}/shared-model@{A2}"),
    ]
    assert {r.kind for r in ledger.leftovers()} == {"run", "artifact"}


def test_a_lost_upsert_answer_still_creates_a_run_whose_id_is_fresh():
    # The upstream committed UpsertBucket, its answer was lost, wandb-core retried and
    # was told "inserted: false": the run is ours because we drew its id.
    for how in ("504", "dropped", "truncated"):
        ledger = Ledger(fresh_run_ids={R})
        ledger.observe(b.lost(b.upsert_bucket(E, P, R), how))
        ledger.observe(b.upsert_bucket(E, P, R, inserted=False))
        assert names(ledger.created) == [f"{E}/{P}/{R}"], how
        assert names(ledger.leftovers()) == [f"{E}/{P}/{R}"], how


def test_a_lost_upsert_of_a_run_id_the_test_did_not_draw_creates_nothing():
    # init(id="teammates-run") resumed: no evidence it was ours, so it is never deleted.
    ledger = Ledger(fresh_run_ids=set())
    ledger.observe(b.lost(b.upsert_bucket(E, P, R)))
    ledger.observe(b.upsert_bucket(E, P, R, inserted=False))
    assert ledger.created == []


def test_fresh_run_ids_are_read_from_the_cassette():
    cas = b.cassette(b.lost(b.upsert_bucket(E, P, R)), b.upsert_bucket(E, P, R, inserted=False))
    assert Ledger.from_cassette(cas).created == []
    cas.metadata["fresh_run_ids"] = [R]
    assert names(Ledger.from_cassette(cas).created) == [f"{E}/{P}/{R}"]


def test_a_truncated_create_artifact_answer_leaves_a_version_known_by_its_client_id():
    ledger = ledger_of(b.lost(b.create_artifact(E, P, "ds", id=A1, latest=A2), "truncated"))
    (artifact,) = ledger.created
    assert artifact.unconfirmed and artifact.ids == []
    assert artifact.client_ids == [b.CREATE_ARTIFACT_CLIENT_ID]
    assert "@client:" in artifact.name
    # The cleanup asks the server for the id behind the client id, then deletes it.
    ledger.observe(b.client_id_mapping(b.CREATE_ARTIFACT_CLIENT_ID, A1))
    ledger.observe(b.delete_artifact(A1))
    assert ledger.leaks() == [] and artifact.deleted_at == 2


def test_a_lost_create_that_never_happened_is_forgotten():
    ledger = ledger_of(b.lost(b.create_artifact(E, P, "ds", id=A1, latest=A2)))
    ledger.observe(b.client_id_mapping(b.CREATE_ARTIFACT_CLIENT_ID, None))
    assert ledger.created == [] and ledger.leaks() == []


def test_a_refused_create_creates_nothing_even_with_a_fresh_id():
    ledger = Ledger(fresh_run_ids={R})
    ledger.observe(b.upsert_bucket(E, P, R, error="permission denied"))
    ledger.observe(b.create_artifact(E, P, "ds", id=A1, error="quota"))
    assert ledger.created == []


def test_deletes_of_what_the_cassette_did_not_create_are_foreign():
    ledger = ledger_of(
        b.artifact_membership_by_name(E, P, "shared-model", A1, 0), b.delete_artifact(A1)
    )
    assert names(ledger.foreign_deleted) == [f"{E}/{P}/shared-model:v0"]
    assert ledger.created == []


def test_keep_on_an_artifact_keeps_it_and_its_collection_but_not_the_run():
    ledger = ledger_of(
        b.upsert_bucket(E, P, R),
        b.create_artifact(E, P, "golden-ckpt", id=A1, run=R),
        b.artifact_by_id(E, P, "golden-ckpt", A1, 0),
        keep=(f"*/{P}/golden-ckpt:v*",),
    )
    assert {r.kind for r in ledger.kept} == {"collection", "artifact"}
    assert names(ledger.leftovers()) == [f"{E}/{P}/{R}"]
    artifact = next(r for r in ledger.kept if r.kind == "artifact")
    collection = next(r for r in ledger.kept if r.kind == "collection")
    assert ledger.kept_reason(artifact) == f"matches keep='*/{P}/golden-ckpt:v*'"
    assert ledger.kept_reason(collection) == f"holds kept {artifact.name}"


def test_an_unknown_successful_mutation_is_listed_and_a_declared_one_is_not():
    ix = b.gql_exchange(
        "Mine", "mutation Mine($x: Int) { doSomethingNew(x: $x) { ok } }", {"x": 1}, {"ok": True}
    )
    (unknown,) = ledger_of(ix).unknown
    assert (unknown.field, unknown.operation, unknown.index) == ("doSomethingNew", "Mine", 0)
    assert Ledger(harmless=["doSomethingNew"]).unknown == []
    declared = Ledger(harmless=["doSomethingNew"])
    declared.observe(ix)
    assert declared.unknown == []


def test_the_field_decides_not_the_operation_name():
    # The SDK's generated documents alias the field ("result: deleteArtifact"), and a
    # client may call its operation anything.
    renamed = b.delete_artifact(A1)
    body = json.loads(renamed.request_text() or "{}")
    body["operationName"] = "Whatever"
    body["query"] = body["query"].replace("mutation DeleteArtifact", "mutation Whatever")
    renamed.request_body = json.dumps(body)
    ledger = ledger_of(b.create_artifact(E, P, "ds", id=A1), renamed)
    assert ledger.leaks() == [] or [r.kind for r in ledger.leaks()] == ["collection"]
    assert next(r for r in ledger.created if r.kind == "artifact").deleted_at == 1


# -- registry links, sweeps, aliases, projects ----------------------------------------------


def test_link_of_an_owned_version_is_owned_and_unlink_deletes_it():
    portfolio = b.collection_id(30)
    ledger = ledger_of(
        b.create_artifact(E, P, "ds", id=A1, latest=A2),
        b.link_artifact(A1, "my-models", version=3),
    )
    (link,) = [r for r in ledger.created if r.kind == "link"]
    assert link.name == "org-entity/wandb-registry-model/my-models:v3"
    assert link.target is not None and link.target.ids == [A1]
    ledger.observe(b.project_artifact_collection("org-entity", "wandb-registry-model",
                                                 "my-models", portfolio))  # fmt: skip
    ledger.observe(b.unlink_artifact(A1, portfolio))
    assert link.deleted_at == 3


def test_link_of_a_foreign_version_is_not_owned_but_reported():
    ledger = ledger_of(b.artifact_by_id(E, P, "ds", A1, 0), b.link_artifact(A1, "my-models"))
    assert ledger.created == [] and ledger.leftovers() == []  # the cleanup never unlinks it
    ((name, index),) = ledger.uncertain_links()
    assert index == 1 and "my-models" in name
    kept = ledger_of(b.link_artifact(A1, "my-models"), keep=("*my-models*",))
    assert kept.uncertain_links() == []
    assert [r.kind for r in kept.kept] == ["link"]  # listed as kept, with its reason
    assert kept.kept_reason(kept.kept[0]) == "matches keep='*my-models*'"


def test_an_unlinked_foreign_link_is_a_foreign_delete_and_a_finding():
    # Linked, then unlinked: if the link was there before (a teammate's), the test removed
    # it; nothing read before tells (issue 18: a foreign delete is a finding unless declared).
    portfolio = b.collection_id(30)
    ledger = ledger_of(
        b.artifact_by_id(E, P, "ds", A1, 0),
        b.link_artifact(A1, "my-models"),
        b.project_artifact_collection("org-entity", "wandb-registry-model", "my-models", portfolio),
        b.unlink_artifact(A1, portfolio),
    )
    assert ledger.uncertain_links() == []
    assert [r.kind for r in ledger.foreign_deleted] == ["link"]
    assert [(c.change, c.status) for c in ledger.foreign_changes()] == [("deleted", "unrestored")]


def test_a_new_sweep_is_created_an_update_is_not():
    ledger = ledger_of(b.upsert_sweep(E, P, "sw1"), b.upsert_sweep(E, P, "sw2", id="U3dlZXA6Mg=="))
    assert names(ledger.created) == [f"{E}/{P}/sw1"]


def test_a_sweep_left_running_is_a_leak_a_stopped_one_is_left_by_design():
    running = ledger_of(b.upsert_sweep(E, P, "sw1"))
    assert names(running.leaks()) == [f"{E}/{P}/sw1"] and running.left_by_design() == []
    cancelled = ledger_of(b.upsert_sweep(E, P, "sw1"), b.cancel_sweep(E, P, "sw1"))
    assert cancelled.leaks() == [] and names(cancelled.left_by_design()) == [f"{E}/{P}/sw1"]
    # Finished on its own: the SDK then sends no cancel ("Sweep already finished").
    finished = ledger_of(b.upsert_sweep(E, P, "sw1"), b.sweep_state(E, P, "sw1", "FINISHED"))
    assert finished.leaks() == [] and names(finished.left_by_design()) == [f"{E}/{P}/sw1"]
    still = ledger_of(b.upsert_sweep(E, P, "sw1"), b.sweep_state(E, P, "sw1", "RUNNING"))
    assert names(still.leaks()) == [f"{E}/{P}/sw1"]


def test_an_alias_added_to_a_foreign_version_is_owned_only_if_seen_absent():
    seen = b.artifact_membership_by_name(E, P, "shared", A1, 0)  # answers aliases: []
    ledger = ledger_of(seen, b.add_aliases(A1, "shared", "prod", E, P))
    (alias,) = ledger.created
    assert (alias.kind, alias.name) == ("alias", f"{E}/{P}/shared:prod")
    ledger.observe(b.delete_aliases(A1, "shared", "prod", E, P))
    assert alias.deleted_at == 2
    # Never seen the version's aliases: it may have had it already: not ours to remove.
    assert ledger_of(b.add_aliases(A2, "shared", "prod", E, P)).created == []


def test_a_project_created_on_purpose_is_listed_never_deleted():
    ledger = ledger_of(b.create_project(E, "brand-new"), b.create_project(E, "old", inserted=False))
    assert [(r.kind, r.name) for r in ledger.created] == [("project", f"{E}/brand-new")]
    assert ledger.leftovers() == []  # a cleanup never deletes a project


def test_an_unparseable_uri_in_a_cassette_is_no_exchange_of_the_ledger():
    # A cassette is untrusted input: a hand-edited uri must not stop the ledger that replay
    # (what it answers as often as asked) and the audit build over it.
    odd = b.upsert_bucket(E, P, R)
    odd.uri = "http://[::1"
    ledger = ledger_of(odd, b.upsert_bucket(E, P, R))
    assert [e.index for e in ledger.events] == [1]


def test_a_registry_resource_is_named_by_its_orgs_entity_or_display_name():
    """The SDK reads ``my-org/wandb-registry-model/x`` with the org's display name or its
    entity's (``resolve_org_entity_name``): a ``keep=``/``foreign_changes`` pattern may use
    either, once an answer (``OrgInfoFragment``) told which org is which."""
    org_info = b.gql_exchange(
        "FetchOrgInfoFromEntity",
        "query FetchOrgInfoFromEntity($entity: String!) { entity(name: $entity) "
        "{ organization { name orgEntity { name } } } }",
        {"entity": "ada"},
        {"entity": {"organization": {"name": "Acme Corp", "orgEntity": {"name": "acme-org"}}}},
    )
    link = "acme-org/wandb-registry-model/theirs"
    before = Ledger(keep=("Acme Corp/wandb-registry-model/*",))
    assert not before.is_declared(link)  # no answer said which org this is: never guessed
    ledger = ledger_of(org_info, keep=("Acme Corp/wandb-registry-model/*",))
    assert ledger.spellings(link) == [link, "Acme Corp/wandb-registry-model/theirs"]
    assert ledger.is_declared(link)
    assert not ledger.is_declared("other-org/wandb-registry-model/theirs")
    assert ledger.spellings("acme-org/proj/theirs") == ["acme-org/proj/theirs"]  # no registry


def test_an_alias_given_to_another_version_is_no_longer_the_tests_versions():
    """W&B holds an alias on one version of a collection at a time: ``best`` given to the
    test's version, then to another one, is off the test's (a later ``best`` on it is
    someone else's, which holds its delete back)."""
    ledger = ledger_of(
        b.create_artifact(E, P, "ds", id=A1, aliases=("latest", "best")),
        b.commit_artifact(A1),
    )
    (mine,) = [r for r in ledger.created if r.kind == "artifact"]
    assert mine.aliases == {"latest", "best"}
    ledger.observe(b.add_aliases(A2, "ds", "best", E, P))
    assert mine.aliases == {"latest"}
    ledger.observe(b.add_aliases(A1, "ds", "rc", E, P))
    assert mine.aliases == {"latest", "rc"}
