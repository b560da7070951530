"""Every GraphQL mutation wandb 0.31 can send, and what it does to W&B.

The ledger (:mod:`.ledger`) must know which exchanges create something that a
test has to clean up. Operation names are chosen by the client and differ
between callers (``CreateProject`` and ``UpsertRegistry`` both send
``upsertModel``), so this table is keyed by the **mutation field** instead:
the top-level field of the ``mutation`` document, which is the server's
name for the operation.

:data:`MUTATIONS` classifies each field the installed SDK can send (its
Python documents under ``wandb/sdk/artifacts/_generated``,
``wandb/apis/_generated``, ``wandb/automations/_generated``,
``wandb/apis/public``, ``wandb/sdk/launch``, ``wandb/sdk/artifacts/_gqlutils.py``,
and the documents compiled into ``wandb/bin/wandb-core``; plus
``createArtifactType`` from wandb 0.28's ``internal_api.py``) as an
:class:`Effect`: it **creates**, **deletes** or **updates** a kind of
resource, or is **harmless** (leaves nothing behind). ``tests/unit/test_mutations.py``
extracts the fields from the installed SDK and fails on any missing here, so
a newer SDK that adds a mutation is noticed.

How the ledger should use it (on the record path, per successful GraphQL
exchange; :func:`mutation_fields` caches parsed documents by text)::

    request = graphql.parse_request(ix.request_text())
    for field, effect in effects(request.query, request.operation):
        if effect is None:
            ...   # unknown mutation: report it ("cannot tell what it left behind")
        elif effect.action == "create":
            ...   # a resource of effect.kind; an upsert (effect.upsert) created one only
                  # when the answer says so (upsertBucket: "inserted": true); what sits
                  # in a container (effect.contained_in) goes with the container's delete;
                  # effect.cleanup names the mutation that undoes it (None: the SDK has none,
                  # so the test must keep it on purpose or clean it up another way)
        elif effect.action == "delete":
            ...   # the resource of effect.kind the input names
        # "update" and "harmless": nothing to clean up

The per-field rules that read ids out of variables and answers stay in the
ledger; this table says which fields need a rule at all and which kind they
concern.

**What it changes of someone else's.** Each effect also says what it changes
on the resource it touches (:attr:`Effect.changes`, an *aspect* per entry) and
which argument names that resource (:attr:`Effect.target`). When that resource
is not one the recording is proven to have created, the change is *foreign*:
the ledger restores it from the state read before the change (the aspects of
:data:`RESTORABLE`) or reports it with the reason of :data:`NOT_RESTORABLE`. An
update or delete whose target cannot be resolved to something created is
foreign too, so an entry added here is judged by construction (fail closed).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from graphql import DocumentNode, FragmentDefinitionNode, SelectionSetNode

Action = Literal["create", "delete", "update", "harmless"]


@dataclass(frozen=True)
class Effect:
    """What a mutation field does.

    ``kind``: the resource kind (``run``, ``artifact``, ``collection``,
    ``portfolio_link``...; None for harmless ones). ``upsert``: creates only
    when nothing by that name existed (the answer tells which). ``contained_in``:
    the kind whose delete takes this along. ``cleanup``: the mutation field
    that undoes a create, if the SDK has one. ``reason``: the evidence.
    ``target``: the input argument holding the server id of what it changes
    (searched at any depth of the input; None: a ledger rule, or the run or
    sweep it names, says). ``changes``: the aspects it changes on that resource
    (or, for a create, on its container) when the recording did not create it:
    keys of :data:`RESTORABLE` or :data:`NOT_RESTORABLE`.
    """

    action: Action
    kind: str | None
    reason: str
    upsert: bool = False
    contained_in: str | None = None
    cleanup: str | None = None
    target: str | None = None
    changes: tuple[str, ...] = ()


#: Aspects of a resource the recording did not create that the automatic cleanup puts
#: back, from the state read just before the change went upstream, and how.
RESTORABLE: Mapping[str, str] = {
    "aliases": "which version of a collection holds each alias the test set or removed "
    "(AddAliases / DeleteAliases)",
    "artifact_fields": "a version's description, metadata, TTL and tags (UpdateArtifact)",
    "run_fields": "a run's config, summary, tags, notes, display name, description, group "
    "and job type (UpsertBucket)",
}

#: Aspects no W&B API puts back, with the reason the audit gives.
NOT_RESTORABLE: Mapping[str, str] = {
    "existence": "W&B's API cannot bring back what was deleted",
    "history": "W&B's API cannot take back logged history rows, console output or system "
    "metrics, nor the run's state",
    "files": "W&B's API cannot give a file its earlier content back",
    "rewound": "a rewind truncates the run's history at the step and recomputes its summary "
    "from what is logged after (docs.wandb.ai/models/runs/rewind): no API gives the dropped "
    "history rows or summary values back",
    "lineage": "W&B's API cannot remove a usage edge from a run the test did not create",
    "alerts": "an alert's notification cannot be taken back",
    "state": "W&B's API cannot set a state back",
    "run_other": "W&B's API cannot set a run's host, program, commit, repository or state back",
    "artifact_other": "no restore is known for these fields of UpdateArtifact",
    "membership": "W&B answers a link that existed before like a new one: only a read of the "
    "version's collections before the link tells whether the test made it",
    "collection_fields": "the collection's state before the change was not read",
    "project_fields": "the project's or registry's state before the change was not read",
    "members": "registry members before the change were not read",
    "sweep": "the sweep's state before the change was not read",
    "launch": "launch queues and agents before the change were not read",
    "automation": "automations before the change were not read",
    "account": "users, teams and keys before the change were not read",
    "unresolved": "the traffic does not show which resource it changed",
    "latest": "W&B manages the latest alias itself (docs.wandb.ai/models/artifacts/"
    "create-a-custom-alias, Alias limits): no API gives it back to the version that held it",
}


def why_not_restorable(aspect: str) -> str:
    """The reason an aspect is not restored (one for an aspect nobody described, too)."""
    return NOT_RESTORABLE.get(aspect, f"no restore is known for {aspect!r}")


def _create(
    kind: str,
    reason: str,
    *,
    cleanup: str | None = None,
    contained_in: str | None = None,
    upsert: bool = False,
    target: str | None = None,
    changes: tuple[str, ...] = (),
) -> Effect:
    return Effect("create", kind, reason, upsert, contained_in, cleanup, target, changes)


def _delete(kind: str, reason: str, *, target: str | None = None) -> Effect:
    return Effect("delete", kind, reason, target=target, changes=("existence",))


def _update(
    kind: str, reason: str, *, changes: tuple[str, ...], target: str | None = None
) -> Effect:
    return Effect("update", kind, reason, target=target, changes=changes)


MUTATIONS: Mapping[str, Effect] = {
    # -- runs ------------------------------------------------------------------------
    "upsertBucket": _create(
        "run",
        "wandb-core UpsertBucket at init/finish (answers 'inserted'); public Run.update() "
        "sends it with an existing id",
        upsert=True,
        cleanup="deleteRun",
        changes=("run_fields",),
    ),
    "deleteRun": _delete("run", "public Run.delete(): deleteRun(input: {id, deleteArtifacts})"),
    "updateRunState": _update(
        "run", "public Run.update_state(): sets a run's state", changes=("state",), target="id"
    ),
    "stopRun": _update(
        "run",
        "public Run.stop() via wandb-core StopRun: sets the stop flag",
        changes=("state",),
        target="id",
    ),
    "rewindRun": _update(
        "run",
        "wandb-core RewindRun (init resume_from): truncates an existing run's history at "
        "the step and recomputes its summary from what is logged after",
        changes=("rewound",),
    ),
    "createRunFiles": _create(
        "run_file",
        "wandb-core / public CreateRunFiles: registers files and returns upload URLs",
        contained_in="run",
        cleanup="deleteFiles",
        changes=("files",),
    ),
    "deleteFiles": _delete("run_file", "public File.delete(): deleteFiles(input: {files})"),
    "markRunFilesUploaded": _update(
        "run_file",
        "wandb-core MarkRunFilesUploaded: flags files createRunFiles registered",
        changes=("files",),
    ),
    "notifyScriptableRunAlert": _create(
        "run_alert",
        "run.alert() via wandb-core: an alert recorded on the run (the notification it sends "
        "cannot be undone)",
        contained_in="run",
        changes=("alerts",),
    ),
    "createCustomChart": _create(
        "custom_chart",
        "wandb-core CreateCustomChart (public API custom chart presets): an entity-level preset",
    ),
    # -- artifacts ---------------------------------------------------------------------
    "createArtifact": _create(
        "artifact",
        "wandb-core CreateArtifact: a PENDING version (and its collection when new); an "
        "unchanged digest answers the existing version; its aliases move to it",
        upsert=True,
        contained_in="collection",
        cleanup="deleteArtifact",
        changes=("aliases",),
    ),
    "deleteArtifact": _delete(
        "artifact",
        "Artifact.delete(): deleteArtifact(input: {artifactID, deleteAliases})",
        target="artifactID",
    ),
    "commitArtifact": _update(
        "artifact",
        "wandb-core CommitArtifact: PENDING -> COMMITTED",
        changes=("state",),
        target="artifactID",
    ),
    "updateArtifact": _update(
        "artifact",
        "Artifact.save() / wandb-core UpdateArtifact: description, metadata, ttl, tags",
        changes=("artifact_fields",),
        target="artifactID",
    ),
    "useArtifact": _create(
        "artifact_usage",
        "run.use_artifact() via wandb-core UseArtifact: a lineage edge run -> artifact",
        contained_in="run",
        changes=("lineage",),
    ),
    "createArtifactFiles": _create(
        "artifact_file",
        "wandb-core CreateArtifactFiles: file records and upload URLs of a pending version",
        contained_in="artifact",
        target="artifactID",
        changes=("files",),
    ),
    "createArtifactManifest": _create(
        "artifact_manifest",
        "wandb-core CreateArtifactManifest: the manifest record of a pending version",
        contained_in="artifact",
        target="artifactID",
        changes=("files",),
    ),
    "updateArtifactManifest": _update(
        "artifact_manifest",
        "wandb-core UpdateArtifactManifest: a new manifest digest",
        changes=("files",),
        target="artifactManifestID",
    ),
    "completeMultipartUploadArtifact": _update(
        "artifact_file",
        "wandb-core CompleteMultipartUploadArtifact: finishes a file's upload",
        changes=("files",),
        target="artifactID",
    ),
    "addAliases": _create(
        "alias",
        "Artifact.save() with new aliases: AddAliases (an alias held by another version of "
        "the collection moves)",
        contained_in="artifact",
        cleanup="deleteAliases",
        target="artifactID",
        changes=("aliases",),
    ),
    "deleteAliases": Effect(
        "delete",
        "alias",
        "Artifact.save() with aliases removed: DeleteAliases",
        target="artifactID",
        changes=("aliases",),
    ),
    "createArtifactType": _create(
        "artifact_type",
        "wandb 0.28 internal_api.py create_artifact_type (a project's artifact type)",
        contained_in="project",
        upsert=True,
    ),
    # -- collections, portfolios, registries ---------------------------------------------
    "linkArtifact": _create(
        "portfolio_link",
        "Artifact.link() / wandb-core LinkArtifact: a version's membership in a portfolio or "
        "registry collection (creates the portfolio when new); its aliases move to it",
        contained_in="collection",
        cleanup="unlinkArtifact",
        target="artifactID",
        changes=("aliases", "membership"),
    ),
    "unlinkArtifact": _delete("portfolio_link", "Artifact.unlink(): UnlinkArtifact"),
    "deleteArtifactSequence": _delete(
        "collection", "ArtifactCollection.delete() of a sequence: DeleteArtifactSequence"
    ),
    "deleteArtifactPortfolio": _delete(
        "collection", "ArtifactCollection.delete() of a portfolio: DeleteArtifactPortfolio"
    ),
    "updateArtifactSequence": _update(
        "collection",
        "ArtifactCollection.save(): name, description of a sequence",
        changes=("collection_fields",),
        target="artifactSequenceID",
    ),
    "updateArtifactPortfolio": _update(
        "collection",
        "ArtifactCollection.save(): name, description of a portfolio",
        changes=("collection_fields",),
        target="artifactPortfolioID",
    ),
    "moveArtifactSequence": _update(
        "collection",
        "ArtifactCollection.save() with a new type: UpdateArtifactSequenceType",
        changes=("collection_fields",),
        target="artifactSequenceID",
    ),
    "createArtifactCollectionTagAssignments": _create(
        "collection_tag",
        "ArtifactCollection.save() with new tags: AddArtifactCollectionTags",
        contained_in="collection",
        cleanup="deleteArtifactCollectionTagAssignments",
    ),
    "deleteArtifactCollectionTagAssignments": Effect(
        "delete",
        "collection_tag",
        "ArtifactCollection.save() with tags removed: DeleteArtifactCollectionTags",
        changes=("collection_fields",),
    ),
    "upsertModel": _create(
        "project",
        "Api.create_project() (CreateProject) and Api.create_registry() / Registry.save() "
        "(UpsertRegistry): a project or registry, or an update of an existing one",
        upsert=True,
        cleanup="deleteModel",
        changes=("project_fields",),
    ),
    "deleteModel": _delete("project", "Registry.delete(): DeleteRegistry", target="id"),
    "renameProject": _update(
        "project", "Registry.save() with a new name: RenameRegistry", changes=("project_fields",)
    ),
    "createProjectMembers": _create(
        "registry_member",
        "Registry.add_members(): CreateRegistryMembers",
        contained_in="project",
        cleanup="deleteProjectMembers",
    ),
    "deleteProjectMembers": _delete(
        "registry_member", "Registry.remove_members(): DeleteRegistryMembers"
    ),
    "updateProjectMember": _update(
        "registry_member",
        "Registry.update_member() for a user: UpdateUserRegistryRole",
        changes=("members",),
    ),
    "updateProjectTeamMember": _update(
        "registry_member",
        "Registry.update_member() for a team: UpdateTeamRegistryRole",
        changes=("members",),
    ),
    # -- sweeps ----------------------------------------------------------------------------
    "upsertSweep": _create(
        "sweep",
        "wandb.sweep() / public UpsertSweep; wandb-core UpsertSweepState updates an existing "
        "sweep's state (no sweep delete mutation in the SDK)",
        upsert=True,
        changes=("sweep",),
    ),
    "createAgent": _create(
        "sweep_agent",
        "wandb.agent(): CreateAgent (public sweeps.py)",
        contained_in="sweep",
        changes=("sweep",),
    ),
    "agentHeartbeat": Effect(
        "harmless", None, "sweep agent Heartbeat: polls for commands, records liveness"
    ),
    "enqueueSweepRun": _create(
        "run_queue_item",
        "wandb-core / public EnqueueSweepRun: a launch queue item for a sweep run",
        contained_in="run_queue",
        cleanup="deleteFromRunQueue",
    ),
    # -- launch ------------------------------------------------------------------------------
    "createRunQueue": _create(
        "run_queue",
        "wandb-core CreateRunQueue (launch create_run_queue)",
        cleanup="deleteRunQueues",
    ),
    "upsertRunQueue": _create(
        "run_queue",
        "wandb-core UpsertRunQueue (launch upsert_run_queue)",
        upsert=True,
        cleanup="deleteRunQueues",
    ),
    "deleteRunQueues": _delete("run_queue", "public RunQueue.delete(): DeleteRunQueue"),
    "createDefaultResourceConfig": _create(
        "resource_config", "wandb-core CreateDefaultResourceConfig (launch queue config)"
    ),
    "pushToRunQueue": _create(
        "run_queue_item",
        "launch_add() via sdk/launch/api.py pushToRunQueue",
        contained_in="run_queue",
        cleanup="deleteFromRunQueue",
    ),
    "pushToRunQueueByName": _create(
        "run_queue_item",
        "launch_add() via sdk/launch/api.py pushToRunQueueByName",
        contained_in="run_queue",
        cleanup="deleteFromRunQueue",
    ),
    "deleteFromRunQueue": _delete(
        "run_queue_item", "public QueuedRun.delete(): DeleteFromRunQueue"
    ),
    "popFromRunQueue": _update(
        "run_queue_item", "launch agent popFromRunQueue: claims a queued item", changes=("launch",)
    ),
    "ackRunQueueItem": _update(
        "run_queue_item",
        "launch agent ackRunQueueItem: binds the item to its run",
        changes=("launch",),
    ),
    "failRunQueueItem": _update(
        "run_queue_item", "launch agent failRunQueueItem", changes=("launch",)
    ),
    "updateRunQueueItemWarning": _update(
        "run_queue_item", "launch agent updateRunQueueItemWarning", changes=("launch",)
    ),
    "createLaunchAgent": _create(
        "launch_agent", "launch agent start: createLaunchAgent (sdk/launch/api.py)"
    ),
    "updateLaunchAgent": _update(
        "launch_agent", "launch agent status: updateLaunchAgent", changes=("launch",)
    ),
    # -- automations ----------------------------------------------------------------------------
    "createFilterTrigger": _create(
        "automation", "Api.create_automation(): CreateAutomation", cleanup="deleteTrigger"
    ),
    "updateFilterTrigger": _update(
        "automation", "Api.update_automation(): UpdateAutomation", changes=("automation",)
    ),
    "deleteTrigger": _delete("automation", "Api.delete_automation(): DeleteAutomation"),
    "createGenericWebhookIntegration": _create(
        "integration",
        "Api.create_integration(): CreateGenericWebhookIntegration (no delete in the SDK)",
    ),
    # -- users, teams, keys ---------------------------------------------------------------------
    "createTeam": _create("team", "Api.create_team(): CreateTeam (no delete in the SDK)"),
    "createInvite": _create("invite", "Team.invite(): CreateInvite", cleanup="deleteInvite"),
    "deleteInvite": _delete("invite", "Member.delete(): DeleteInvite"),
    "createServiceAccount": _create(
        "service_account", "Team.create_service_account(): CreateServiceAccount"
    ),
    "createUser": _create("user", "Api.create_user(): CreateUserFromAdmin"),
    "generateApiKey": _create(
        "api_key", "User.generate_api_key(): GenerateApiKey", cleanup="deleteApiKey"
    ),
    "deleteApiKey": _delete("api_key", "User.delete_api_key(): DeleteApiKey"),
}
"""Mutation field → its :class:`Effect`."""


def classify(field: str) -> Effect | None:
    """The effect of a mutation field; None when it is not in the table."""
    return MUTATIONS.get(field)


def fields_by_action(action: Action) -> list[str]:
    """The mutation fields with this action, sorted."""
    return sorted(f for f, e in MUTATIONS.items() if e.action == action)


# -- reading documents ------------------------------------------------------------------------


def mutation_fields(query: str, operation_name: str | None = None) -> list[str]:
    """The top-level field names (not aliases) of the mutation ``operation_name`` in ``query``.

    Fragments spread at the top level are followed. With no (or an empty)
    ``operation_name``, every mutation of the document counts (a document
    with one operation is the usual case). A query or subscription gives
    ``[]``. A text graphql-core cannot parse (a template, a cut document)
    falls back to the first field after ``mutation Name(...) {``. Parsed
    documents are cached by text: this runs on the recording path.
    """
    if "mutation" not in query:
        return []
    by_operation = _fields_by_operation(query)
    if operation_name:
        return list(by_operation.get(operation_name, ()))
    seen: dict[str, None] = {}
    for fields in by_operation.values():
        seen.update(dict.fromkeys(fields))
    return list(seen)


def effects(query: str, operation_name: str | None = None) -> list[tuple[str, Effect | None]]:
    """Each mutation field of the document with its :class:`Effect` (None: unknown)."""
    return [(f, classify(f)) for f in mutation_fields(query, operation_name)]


@functools.lru_cache(maxsize=512)
def _fields_by_operation(query: str) -> dict[str, tuple[str, ...]]:
    # graphql-core is imported on first use (~90 ms): replay never parses a document.
    from graphql import GraphQLError, parse

    try:
        document = parse(query, no_location=True)
    except (GraphQLError, RecursionError):
        return _fallback(query)
    return _from_document(document)


def _from_document(document: DocumentNode) -> dict[str, tuple[str, ...]]:
    from graphql import FragmentDefinitionNode, OperationDefinitionNode, OperationType

    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    out: dict[str, tuple[str, ...]] = {}
    for i, d in enumerate(document.definitions):
        if isinstance(d, OperationDefinitionNode) and d.operation == OperationType.MUTATION:
            name = d.name.value if d.name else f"<anonymous {i}>"
            out[name] = tuple(dict.fromkeys(_top_fields(d.selection_set, fragments, set())))
    return out


def _top_fields(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    visiting: set[str],
) -> list[str]:
    from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode

    fields: list[str] = []
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            if not sel.name.value.startswith("__"):  # __typename
                fields.append(sel.name.value)
        elif isinstance(sel, InlineFragmentNode):
            fields += _top_fields(sel.selection_set, fragments, visiting)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            if name in fragments and name not in visiting:
                fields += _top_fields(fragments[name].selection_set, fragments, visiting | {name})
    return fields


_FALLBACK_RE = re.compile(
    r"\bmutation\b\s*(?P<name>[A-Za-z_]\w*)?\s*(?:\((?:[^()]|\([^()]*\))*\))?\s*\{+"
    r"\s*(?:[A-Za-z_]\w*\s*:\s*)?(?P<field>[A-Za-z_]\w*)"
)


def _fallback(query: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for i, m in enumerate(_FALLBACK_RE.finditer(query)):
        name = m.group("name") or f"<anonymous {i}>"
        out[name] = (*out.get(name, ()), m.group("field"))
    return out
