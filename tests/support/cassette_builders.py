"""Interactions shaped like wandb 0.31 traffic, for tests that need cassettes.

Shapes are those the SDK sends and a W&B server (our stand-in, checked
against recordings) answers: wandb-core's mutations (UpsertBucket,
CreateArtifact, CommitArtifact, CreateRunFiles) and the public API's queries
and deletes, whose query texts are the SDK's own. Server ids are base64 like
the real ones (``Run:v1:<run>:<project>:<entity>``, ``Artifact:<n>``...).

The helpers give the traffic as it goes over the wire (signed URLs and all);
``cassette(*interactions)`` gives it as a cassette stores it (scrubbed).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from wandb.apis._generated import CREATE_PROJECT_GQL
from wandb.sdk.artifacts._generated import (
    ADD_ALIASES_GQL,
    ARTIFACT_BY_ID_GQL,
    ARTIFACT_MEMBERSHIP_BY_NAME_GQL,
    DELETE_ALIASES_GQL,
    DELETE_ARTIFACT_GQL,
    DELETE_ARTIFACT_PORTFOLIO_GQL,
    DELETE_ARTIFACT_SEQUENCE_GQL,
    LINK_ARTIFACT_GQL,
    PROJECT_ARTIFACT_COLLECTION_GQL,
    UNLINK_ARTIFACT_GQL,
)

from wandb_cassettes.redact import scrub_interaction
from wandb_cassettes.store import Cassette, Digest, Interaction

BASE = "https://api.wandb.ai"
STORAGE = "https://storage.googleapis.com/wandb-production.appspot.com"
API_KEY = "0123456789abcdef0123456789abcdef01234567"
CORE_AGENT = "wandb-core"
PUBLIC_AGENT = "W&B Public Client 0.31.0"

# wandb-core's query texts (seen on the wire; only their first lines matter here).
UPSERT_BUCKET_GQL = (
    "mutation UpsertBucket ($id: String, $name: String, $project: String, $entity: String, "
    "$config: JSONString) {\n\tupsertBucket(input: {id:$id,name:$name,modelName:$project,"
    "entityName:$entity,config:$config}) {\n\t\tbucket {\n\t\t\tid\n\t\t\tname\n\t\t}\n"
    "\t\tinserted\n\t}\n}"
)
CREATE_ARTIFACT_GQL = (
    "mutation CreateArtifact ($input: CreateArtifactInput!) {\n\tcreateArtifact(input: $input)"
    " {\n\t\t... CreatedArtifact\n\t}\n}\nfragment CreatedArtifact on CreateArtifactPayload {\n"
    "\tartifact {\n\t\tid\n\t\tstate\n\t\tartifactSequence {\n\t\t\tlatestArtifact {\n"
    "\t\t\t\tid\n\t\t\t}\n\t\t}\n\t}\n}"
)
COMMIT_ARTIFACT_GQL = (
    "mutation CommitArtifact ($artifactID: ID!) {\n\tcommitArtifact(input: "
    "{artifactID:$artifactID}) {\n\t\tartifact {\n\t\t\tid\n\t\t\tdigest\n\t\t}\n\t}\n}"
)
CREATE_RUN_FILES_GQL = (
    "mutation CreateRunFiles ($entity: String!, $project: String!, $run: String!, "
    "$files: [String!]!) {\n\tcreateRunFiles(input: {entityName:$entity,projectName:$project,"
    "runName:$run,files:$files}) {\n\t\trunID\n\t\tuploadHeaders\n\t\tfiles {\n\t\t\tname\n"
    "\t\t\tuploadUrl\n\t\t}\n\t}\n}"
)
# wandb/apis/public/runs.py builds these two at call time.
RUN_GQL = (
    "query Run($project: String!, $entity: String!, $name: String!) {\n"
    "  project(name: $project, entityName: $entity) { run(name: $name) { projectId id name } }\n}"
)
DELETE_RUN_GQL = (
    "\n            mutation DeleteRun(\n                $id: ID!,\n                {decl}\n"
    "            ) {{\n                deleteRun(input: {{\n                    id: $id,\n"
    "                    {arg}\n                }}) {{\n                    clientMutationId\n"
    "                }}\n            }}\n        "
)


# -- ids -------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def run_storage_id(entity: str, project: str, run: str) -> str:
    """The server id of a run, as W&B makes it."""
    return _b64(f"Run:v1:{run}:{project}:{entity}")


def artifact_id(n: int) -> str:
    return _b64(f"Artifact:{n}")


def collection_id(n: int) -> str:
    return _b64(f"ArtifactCollection:{n}")


def project_node(entity: str, project: str) -> dict[str, Any]:
    return {
        "id": _b64("Project:1"),
        "internalId": _b64("ProjectInternalId:1"),
        "name": project,
        "entity": {"name": entity},
    }


def signed_url(path: str, signature: str = "9f86d081884c7d659a2feaa0c55ad015") -> str:
    """A V4-signed GCS URL, the kind CreateArtifactFiles / CreateRunFiles answer with."""
    return (
        f"{STORAGE}/{path}?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        "&X-Goog-Credential=wandb-storage%40wandb-production.iam.gserviceaccount.com"
        "%2F20250101%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20250101T000000Z"
        f"&X-Goog-Expires=86400&X-Goog-SignedHeaders=host&X-Goog-Signature={signature}"
    )


# -- generic exchanges -------------------------------------------------------------


def basic_auth(api_key: str = API_KEY) -> str:
    return "Basic " + _b64(f"api:{api_key}")


def gql_exchange(
    operation: str,
    query: str,
    variables: dict[str, Any],
    data: dict[str, Any] | None,
    *,
    errors: list[str] | None = None,
    status: int = 200,
    agent: str = CORE_AGENT,
    headers: dict[str, list[str]] | None = None,
) -> Interaction:
    """A GraphQL exchange; ``errors`` adds a GraphQL ``errors`` array (data then null)."""
    body: dict[str, Any] = {"data": None if errors else data}
    if errors:
        body["errors"] = [{"message": m, "path": [operation]} for m in errors]
    request_headers = {
        "Content-Type": ["application/json"],
        "User-Agent": [agent],
        **(headers or {}),
    }
    return Interaction(
        method="POST",
        uri=f"{BASE}/graphql",
        request_headers=request_headers,
        request_body=json.dumps(
            {"query": query, "variables": variables, "operationName": operation}
        ),
        status=status,
        reason="OK" if status == 200 else "Error",
        response_headers={"Content-Type": ["application/json"]},
        response_body=json.dumps(body),
    )


def file_stream(entity: str, project: str, run: str, *, complete: bool = False) -> Interaction:
    body: dict[str, Any] = {"files": {"wandb-history.jsonl": {"offset": 0, "content": ["{}"]}}}
    if complete:
        body = {"complete": True, "exitcode": 0}
    return Interaction(
        "POST",
        f"{BASE}/files/{entity}/{project}/{run}/file_stream",
        {"Content-Type": ["application/json"], "User-Agent": [CORE_AGENT]},
        json.dumps(body),
        response_body='{"exitcode": null, "limits": {}}',
    )


def storage_put(url: str, content: bytes = b"hello") -> Interaction:
    return Interaction(
        "PUT",
        url,
        {"Content-Md5": ["XUFAKrxLKna5cZ2REBfFkg=="], "User-Agent": [CORE_AGENT]},
        Digest.of(content),
        response_body="",
    )


# -- wandb-core's mutations ---------------------------------------------------------------


def upsert_bucket(
    entity: str, project: str, run: str, *, inserted: bool = True, error: str | None = None
) -> Interaction:
    bucket = {
        "id": run_storage_id(entity, project, run),
        "name": run,
        "displayName": f"{run}-display",
        "description": None,
        "sweepName": None,
        "project": {
            "id": _b64("Project:1"),
            "name": project,
            "entity": {"id": _b64(f"Entity:{entity}"), "name": entity},
        },
        "historyLineCount": 0,
    }
    variables = {"id": None, "name": run, "project": project, "entity": entity, "config": "{}"}
    data = {"upsertBucket": {"bucket": bucket, "inserted": inserted}}
    return gql_exchange("UpsertBucket", UPSERT_BUCKET_GQL, variables, data, errors=_one(error))


def create_artifact(
    entity: str,
    project: str,
    collection: str,
    *,
    id: str,
    run: str | None = None,
    latest: str | None = None,
    state: str = "PENDING",
    type: str = "dataset",
    error: str | None = None,
    aliases: tuple[str, ...] = ("latest",),
) -> Interaction:
    """``run.log_artifact``'s CreateArtifact; ``latest`` is the collection's latest version id."""
    variables = {
        "input": {
            "aliases": [{"alias": a, "artifactCollectionName": collection} for a in aliases],
            "artifactCollectionName": collection,
            "artifactCollectionNames": None,
            "artifactTypeName": type,
            "clientID": "xl5hfwtgj6ajovlit8nh3jo9lc9qrofpdc6ka0tifaqr7o6nlk46bi9x5gc5xt",
            "sequenceClientID": "g7zrtykdtcmp3gempbyv9dd5g04i0roty5r9knua56rxwexi91by5boe",
            "digest": "dd7407847be9476ef7f98ad707ff0934",
            "digestAlgorithm": "MANIFEST_MD5",
            "enableDigestDeduplication": True,
            "entityName": entity,
            "projectName": project,
            "runName": run,
        }
    }
    data = {
        "createArtifact": {
            "artifact": {
                "id": id,
                "state": state,
                "artifactSequence": {"latestArtifact": {"id": latest} if latest else None},
            }
        }
    }
    return gql_exchange("CreateArtifact", CREATE_ARTIFACT_GQL, variables, data, errors=_one(error))


def commit_artifact(id: str) -> Interaction:
    data = {
        "commitArtifact": {"artifact": {"id": id, "digest": "2f8bdde0391e9466ce3aeac1b4858bb3"}}
    }
    return gql_exchange("CommitArtifact", COMMIT_ARTIFACT_GQL, {"artifactID": id}, data)


def create_run_files(
    entity: str, project: str, run: str, files: list[str], *, error: str | None = None
) -> Interaction:
    variables = {"entity": entity, "project": project, "run": run, "files": files}
    data = {
        "createRunFiles": {
            "runID": run_storage_id(entity, project, run),
            "uploadHeaders": [],
            "files": [
                {"name": f, "uploadUrl": signed_url(f"{entity}/{project}/{run}/{f}")} for f in files
            ],
        }
    }
    return gql_exchange("CreateRunFiles", CREATE_RUN_FILES_GQL, variables, data, errors=_one(error))


# -- the public API (wandb.Api()) ------------------------------------------------------


def _public(
    operation: str,
    query: str,
    variables: dict[str, Any],
    data: dict[str, Any],
    error: str | None = None,
) -> Interaction:
    return gql_exchange(operation, query, variables, data, errors=_one(error), agent=PUBLIC_AGENT)


def artifact_node(
    entity: str, project: str, collection: str, id: str, version: int
) -> dict[str, Any]:
    """An ``ArtifactFragment`` as answers carry it."""
    return {
        "__typename": "Artifact",
        "id": id,
        "artifactSequence": {
            "__typename": "ArtifactSequence",
            "name": collection,
            "project": project_node(entity, project),
        },
        "versionIndex": version,
        "artifactType": {"name": "dataset"},
        "state": "COMMITTED",
        "digest": "2f8bdde0391e9466ce3aeac1b4858bb3",
        "commitHash": "2f8bdde0391e",
        "aliases": [],
    }


def artifact_by_id(
    entity: str, project: str, collection: str, id: str, version: int
) -> Interaction:
    """``artifact.wait()`` / ``api.artifact`` by id."""
    data = {"artifact": artifact_node(entity, project, collection, id, version)}
    return _public("ArtifactByID", ARTIFACT_BY_ID_GQL, {"id": id}, data)


def artifact_membership_by_name(
    entity: str, project: str, collection: str, id: str, version: int
) -> Interaction:
    """``api.artifact("entity/project/collection:vN")``."""
    membership = {
        "__typename": "ArtifactCollectionMembership",
        "id": _b64(f"ArtifactCollectionMembership:{version}"),
        "versionIndex": version,
        "aliases": [],
        "artifactCollection": {
            "__typename": "ArtifactSequence",
            "name": collection,
            "project": project_node(entity, project),
        },
        "artifact": artifact_node(entity, project, collection, id, version),
    }
    variables = {"entity": entity, "project": project, "name": f"{collection}:v{version}"}
    data = {"project": {"artifactCollectionMembership": membership}}
    return _public("ArtifactMembershipByName", ARTIFACT_MEMBERSHIP_BY_NAME_GQL, variables, data)


def project_artifact_collection(
    entity: str, project: str, collection: str, id: str, *, type: str = "dataset"
) -> Interaction:
    """``api.artifact_collection(type, "entity/project/collection")``."""
    node: dict[str, Any] = {
        "__typename": "ArtifactSequence",
        "id": id,
        "name": collection,
        "description": None,
        "project": project_node(entity, project),
        "type": {"name": type},
        "tags": {"edges": []},
    }
    variables = {"entity": entity, "project": project, "type": type, "name": collection}
    data = {"project": {"artifactType": {"artifactCollection": node}}}
    return _public("ProjectArtifactCollection", PROJECT_ARTIFACT_COLLECTION_GQL, variables, data)


def run_query(entity: str, project: str, run: str) -> Interaction:
    """``api.run("entity/project/run")``."""
    node = {"projectId": 1, "id": run_storage_id(entity, project, run), "name": run}
    variables = {"entity": entity, "project": project, "name": run}
    return _public("Run", RUN_GQL, variables, {"project": {"run": node}})


def delete_run(
    id: str, delete_artifacts: bool = False, *, error: str | None = None, status: int = 200
) -> Interaction:
    query = DELETE_RUN_GQL.format(
        decl="$deleteArtifacts: Boolean" if delete_artifacts else "",
        arg="deleteArtifacts: $deleteArtifacts" if delete_artifacts else "",
    )
    variables = {"id": id, "deleteArtifacts": delete_artifacts}
    data = {"deleteRun": {"clientMutationId": None}}
    return gql_exchange(
        "DeleteRun", query, variables, data, errors=_one(error), status=status, agent=PUBLIC_AGENT
    )


def delete_artifact(
    id: str, *, error: str | None = None, delete_aliases: bool = True
) -> Interaction:
    variables = {"input": {"artifactID": id, "deleteAliases": delete_aliases}}
    data = {"result": {"artifact": {"id": id}}}
    return _public("DeleteArtifact", DELETE_ARTIFACT_GQL, variables, data, error)


def _deleted_collection(typename: str) -> dict[str, Any]:
    return {"result": {"artifactCollection": {"__typename": typename, "state": "DELETED"}}}


def delete_artifact_sequence(id: str, *, error: str | None = None) -> Interaction:
    data = _deleted_collection("ArtifactSequence")
    return _public("DeleteArtifactSequence", DELETE_ARTIFACT_SEQUENCE_GQL, {"id": id}, data, error)


def delete_artifact_portfolio(id: str, *, error: str | None = None) -> Interaction:
    data = _deleted_collection("ArtifactPortfolio")
    query = DELETE_ARTIFACT_PORTFOLIO_GQL
    return _public("DeleteArtifactPortfolio", query, {"id": id}, data, error)


def link_artifact(
    id: str,
    portfolio: str,
    *,
    entity: str = "org-entity",
    project: str = "wandb-registry-model",
    version: int = 0,
    membership: str | None = None,
) -> Interaction:
    """``artifact.link("wandb-registry-model/<portfolio>")``: a membership in a portfolio."""
    variables = {
        "input": {
            "artifactID": id,
            "artifactPortfolioName": portfolio,
            "entityName": entity,
            "projectName": project,
            "aliases": [],
        }
    }
    data = {
        "result": {
            "versionIndex": version,
            "artifactMembership": {
                "__typename": "ArtifactCollectionMembership",
                "id": membership or _b64(f"ArtifactCollectionMembership:{portfolio}:{version}"),
                "versionIndex": version,
                "aliases": [],
                "artifactCollection": {
                    "__typename": "ArtifactPortfolio",
                    "name": portfolio,
                    "project": project_node(entity, project),
                },
                "artifact": {"__typename": "Artifact", "id": id},
            },
        }
    }
    return _public("LinkArtifact", LINK_ARTIFACT_GQL, variables, data)  # fmt: skip


def unlink_artifact(id: str, portfolio_id: str) -> Interaction:
    variables = {"input": {"artifactID": id, "artifactPortfolioID": portfolio_id}}
    return _public("UnlinkArtifact", UNLINK_ARTIFACT_GQL, variables, {"result": {"success": True}})


def cancel_sweep(entity: str, project: str, sweep: str) -> Interaction:
    """``_set_sweep_state(..., "CANCELED")`` (wandb/apis/public/sweeps.py), as the cleanup sends."""
    query = (
        "mutation UpsertSweep($id: ID, $state: String, $entityName: String, $projectName: "
        "String) { upsertSweep(input: {id: $id, state: $state, entityName: $entityName, "
        "projectName: $projectName}) { sweep { name } } }"
    )
    variables = {"id": _b64(f"Sweep:{sweep}"), "state": "CANCELED", "entityName": entity,
                 "projectName": project}  # fmt: skip
    return _public("UpsertSweep", query, variables, {"upsertSweep": {"sweep": {"name": sweep}}})


def sweep_state(entity: str, project: str, sweep: str, state: str) -> Interaction:
    """``SweepWithRuns``: the sweep's state, as ``_set_sweep_state`` reads it first."""
    query = (
        "query SweepWithRuns($entity: String, $project: String, $name: String!) "
        "{ project(name: $project, entityName: $entity) { sweep(sweepName: $name) "
        "{ id name state } } }"
    )
    node = {"id": _b64(f"Sweep:{sweep}"), "name": sweep, "state": state}
    variables = {"entity": entity, "project": project, "name": sweep}
    return _public("SweepWithRuns", query, variables, {"project": {"sweep": node}})


def upsert_sweep(entity: str, project: str, sweep: str, *, id: str | None = None) -> Interaction:
    """``wandb.sweep(config)``: wandb/apis/public/sweeps.py's UpsertSweep (no ``id``: new)."""
    query = (
        "mutation UpsertSweep($id: ID, $config: String, $entityName: String, $projectName: "
        "String) { upsertSweep(input: {id: $id, config: $config, entityName: $entityName, "
        "projectName: $projectName}) { sweep { name id project { name entity { name } } } "
        "configValidationWarnings } }"
    )
    variables = {"id": id, "config": "method: grid", "entityName": entity, "projectName": project}
    data = {"upsertSweep": {"sweep": {"name": sweep, "id": _b64(f"Sweep:{sweep}"),
                                      "project": {"name": project, "entity": {"name": entity}}},
                            "configValidationWarnings": []}}  # fmt: skip
    return _public("UpsertSweep", query, variables, data)


def add_aliases(id: str, collection: str, alias: str, entity: str, project: str) -> Interaction:
    variables = {"input": {"artifactID": id, "aliases": [
        {"alias": alias, "artifactCollectionName": collection, "entityName": entity,
         "projectName": project}]}}  # fmt: skip
    return _public("AddAliases", ADD_ALIASES_GQL, variables, {"result": {"success": True}})


def delete_aliases(id: str, collection: str, alias: str, entity: str, project: str) -> Interaction:
    variables = {"input": {"artifactID": id, "aliases": [
        {"alias": alias, "artifactCollectionName": collection, "entityName": entity,
         "projectName": project}]}}  # fmt: skip
    return _public("DeleteAliases", DELETE_ALIASES_GQL, variables, {"result": {"success": True}})


def client_id_mapping(client_id: str, server_id: str | None) -> Interaction:
    """wandb-core's ``ClientIDMapping`` (the cleanup asks it after a lost CreateArtifact)."""
    query = (
        "query ClientIDMapping($clientID: ID!) "
        "{ clientIDMapping(clientID: $clientID) { serverID } }"
    )
    data = {"clientIDMapping": {"serverID": server_id} if server_id else None}
    return gql_exchange("ClientIDMapping", query, {"clientID": client_id}, data)


def create_project(entity: str, project: str, *, inserted: bool = True) -> Interaction:
    """``Api.create_project(name, entity)``: upsertModel (an update when it existed)."""
    node = {"id": _b64("Project:9"), "name": project, "entityName": entity}
    data = {"result": {"project": node, "model": node, "inserted": inserted}}
    variables = {"input": {"name": project, "entityName": entity}}
    return _public("CreateProject", CREATE_PROJECT_GQL, variables, data)


def lost(ix: Interaction, how: str = "504") -> Interaction:
    """``ix`` as a recording keeps it when its answer was lost on the way.

    ``504``: a gateway timeout; ``dropped``: the relay's 502 for a dropped connection;
    ``truncated``: a 200 whose body was cut short.
    """
    import dataclasses

    if how == "truncated":
        text = ix.response_text() or ""
        return dataclasses.replace(ix, response_body=text[: len(text) // 2])
    status = 504 if how == "504" else 502
    return dataclasses.replace(ix, status=status, reason="Error", response_body="upstream failed")


CREATE_ARTIFACT_CLIENT_ID = "xl5hfwtgj6ajovlit8nh3jo9lc9qrofpdc6ka0tifaqr7o6nlk46bi9x5gc5xt"


# -- whole flows ---------------------------------------------------------------------


def cassette(
    *interactions: Interaction, keep: list[str] | None = None, scrubbed: bool = True
) -> Cassette:
    """A cassette of ``interactions``, scrubbed as the relay stores them unless told not to."""
    if scrubbed:
        interactions = tuple(scrub_interaction(ix, [API_KEY]) for ix in interactions)
    metadata: dict[str, Any] = {"format": "wandb-cassettes/1", "upstream": BASE}
    if keep is not None:
        metadata["keep"] = keep
    return Cassette(list(interactions), metadata)


def log_artifact_flow(
    entity: str,
    project: str,
    run: str,
    collection: str,
    *,
    id: str,
    version: int,
    latest: str | None = None,
) -> list[Interaction]:
    """``run.log_artifact(...)`` then ``artifact.wait()``: create, upload, commit, read back."""
    return [
        create_artifact(entity, project, collection, id=id, run=run, latest=latest),
        storage_put(signed_url(f"wandb_artifacts/{version}/data.txt")),
        commit_artifact(id),
        artifact_by_id(entity, project, collection, id, version),
    ]


def clean_flow(entity: str = "team", project: str = "proj", run: str = "run00001") -> Cassette:
    """A test that logs v3 of an existing collection and deletes all it made.

    Indices: 0 UpsertBucket (+run), 1 file_stream, 2-5 the artifact (+v3 at 2),
    6 UpsertBucket, 7 CreateRunFiles (+2 files), 8 PUT, 9 file_stream,
    10 ArtifactMembershipByName, 11 DeleteArtifact (-v3), 12 Run, 13 DeleteRun (-run, -files).
    """
    art = artifact_id(42)
    return cassette(
        upsert_bucket(entity, project, run),
        file_stream(entity, project, run),
        *log_artifact_flow(entity, project, run, "ds", id=art, version=3, latest=artifact_id(41)),
        upsert_bucket(entity, project, run, inserted=False),
        create_run_files(entity, project, run, ["config.yaml", "wandb-summary.json"]),
        storage_put(signed_url(f"{entity}/{project}/{run}/config.yaml")),
        file_stream(entity, project, run, complete=True),
        artifact_membership_by_name(entity, project, "ds", art, 3),
        delete_artifact(art),
        run_query(entity, project, run),
        delete_run(run_storage_id(entity, project, run)),
    )


def _one(error: str | None) -> list[str] | None:
    return [error] if error else None


# -- changes to what the test did not create, and the reads before them (issue 18) -------


def _read(body: bytes, data: dict[str, Any]) -> Interaction:
    """The relay's read of a state before a change (``foreign.prior_*_read``), answered."""
    sent = json.loads(body)
    return gql_exchange(sent["operationName"], sent["query"], sent["variables"], data)


def prior_alias(
    entity: str, project: str, collection: str, alias: str, holder: str | None
) -> Interaction:
    """Which version holds ``collection:alias`` (None: none), read before a change."""
    from wandb_cassettes.ownership import prior_alias_read

    membership = {"artifact": {"id": holder}} if holder else None
    data = {"project": {"artifactCollectionMembership": membership}}
    return _read(prior_alias_read(entity, project, collection, alias), data)


def prior_artifact(
    entity: str,
    project: str,
    collection: str,
    id: str,
    version: int,
    *,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    tags: tuple[str, ...] = (),
) -> Interaction:
    """A version's description, metadata, TTL and tags, read before a change."""
    from wandb_cassettes.ownership import prior_artifact_read

    node = {
        "id": id,
        "versionIndex": version,
        "artifactSequence": {"name": collection, "project": project_node(entity, project)},
        "description": description,
        "metadata": json.dumps(metadata or {}),
        "ttlDurationSeconds": -1,
        "ttlIsInherited": True,
        "tags": [{"name": t} for t in tags],
    }
    return _read(prior_artifact_read(id), {"artifact": node})


def prior_run(
    entity: str,
    project: str,
    run: str,
    *,
    config: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    exists: bool = True,
) -> Interaction:
    """A run's config, summary and the fields UpsertBucket sets, read before a change."""
    from wandb_cassettes.ownership import prior_run_read

    node: dict[str, Any] = {
        "id": run_storage_id(entity, project, run),
        "name": run,
        "config": json.dumps(config or {}),
        "summaryMetrics": json.dumps(summary or {}),
        "tags": [],
        "notes": None,
        "displayName": f"{run}-display",
        "description": None,
        "group": None,
        "jobType": None,
    }
    data = {"model": {"bucket": node if exists else None}}
    return _read(prior_run_read(entity, project, run), data)


def update_artifact(
    id: str,
    *,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    tags_to_add: tuple[str, ...] = (),
    tags_to_delete: tuple[str, ...] = (),
    ttl: int | None = None,
) -> Interaction:
    """``Artifact.save()`` of a logged version: UpdateArtifact (wandb/sdk/artifacts/artifact.py)."""
    from wandb.sdk.artifacts._generated import UPDATE_ARTIFACT_GQL

    variables = {
        "input": {
            "artifactID": id,
            "description": description,
            "metadata": json.dumps(metadata) if metadata is not None else None,
            "ttlDurationSeconds": ttl,
            "tagsToAdd": [{"tagName": t} for t in tags_to_add],
            "tagsToDelete": [{"tagName": t} for t in tags_to_delete],
        }
    }
    return _public(
        "UpdateArtifact", UPDATE_ARTIFACT_GQL, variables, {"result": {"artifact": {"id": id}}}
    )


def update_run(storage_id: str, **fields: Any) -> Interaction:
    """``Run.update()`` / ``run.summary.update()`` of the public API (``config``,
    ``summaryMetrics`` as JSON strings), the document the cleanup restores runs with."""
    from wandb_cassettes.cleanup import RESTORE_RUN_GQL

    variables = {"id": storage_id, **fields}
    data = {"upsertBucket": {"bucket": {"id": storage_id}}}
    return _public("UpsertBucket", RESTORE_RUN_GQL, variables, data)


def file_stream_rows(
    entity: str, project: str, run: str, *, summary: dict[str, Any], history: bool = True
) -> Interaction:
    """A file_stream post with a summary line (and a history row)."""
    files: dict[str, Any] = {"wandb-summary.json": {"offset": 0, "content": [json.dumps(summary)]}}
    if history:
        files["wandb-history.jsonl"] = {"offset": 0, "content": ['{"_step": 0}']}
    return Interaction(
        "POST",
        f"{BASE}/files/{entity}/{project}/{run}/file_stream",
        {"Content-Type": ["application/json"], "User-Agent": [CORE_AGENT]},
        json.dumps({"files": files}),
        response_body='{"exitcode": null, "limits": {}}',
    )


def prior_links(
    id: str, collections: list[tuple[str, str, str]], ids: list[str] | None = None
) -> Interaction:
    """The collections (entity, project, name) a version is in, read before a link or an
    unlink of it; ``ids``: their server ids (collection_id(i + 1) when not given)."""
    from wandb_cassettes.ownership import prior_links_read

    given = ids or [collection_id(i + 1) for i in range(len(collections))]
    edges = [
        {"node": {"artifactCollection": {"__typename": "ArtifactPortfolio", "id": given[i],
                                         "name": name,
                                         "project": {"name": p, "entity": {"name": e}}}}}
        for i, (e, p, name) in enumerate(collections)
    ]  # fmt: skip
    data = {"artifact": {"id": id, "artifactMemberships": {"edges": edges}}}
    return _read(prior_links_read(id), data)


def leaky_flow() -> Cassette:
    """:func:`clean_flow` without its DeleteArtifact: a cassette that leaks ``ds:v3``."""
    flow = clean_flow()
    del flow.interactions[11]  # the DeleteArtifact
    return flow


def blob_project(root: Path, content: bytes, url: str = "https://storage.example/data") -> Path:
    """A project in ``root`` (a ``pytest.ini``) whose cassette one level down in its cassette
    folder keeps a download of ``content`` as a blob, as recording writes it: its path."""
    from wandb_cassettes import store

    (root / "pytest.ini").write_text("[pytest]\n")
    folder = root / "cassettes"
    sha = hashlib.sha256(content).hexdigest()
    blob = folder / store.BLOB_DIR / sha[:2] / sha
    blob.parent.mkdir(parents=True)
    blob.write_bytes(content)
    body = Digest(sha, len(content), f"../{store.BLOB_DIR}/{sha[:2]}/{sha}")
    cassette = Cassette([Interaction("GET", url, response_body=body)], {"format": store.FORMAT})
    return store.save(cassette, folder / "test_mod" / "test_x.yaml")
