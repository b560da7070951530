"""What a test created in W&B and what it deleted, read from its traffic.

A :class:`Ledger` watches GraphQL exchanges, live on the relay's record path
or offline over a cassette (:meth:`Ledger.from_cassette`), and keeps a list
of :class:`Resource` s: runs, artifact versions, artifact collections and run
files, each with the index of the exchange that created it and of the one
that deleted it. What was created and never deleted is a leak, unless the
cassette's metadata lists it under ``keep``.

The rules live in one table, :data:`RULES` (operation name → one small
function). Only answers that succeeded (HTTP 2xx, no GraphQL ``errors``)
count: a delete the server refused deleted nothing. Deletes name server ids
(base64 such as ``UnVuOnYxOi...``), so every successful answer is also read
for ids (:func:`_learn_ids`): the artifacts and collections it describes, the
runs ``UpsertBucket`` and ``Run`` return.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from . import graphql
from .cassette import Cassette, Interaction

Kind = Literal["run", "artifact", "collection", "run_file"]
Change = Literal["created", "deleted"]

#: ``__typename`` s of artifact collections in answers (sequences and portfolios).
COLLECTION_TYPENAMES = frozenset({"ArtifactCollection", "ArtifactSequence", "ArtifactPortfolio"})


@dataclass(eq=False)
class Resource:
    """One W&B object the traffic shows, created here or only referred to.

    ``local`` is the name inside the project: the run id, the collection
    name (also for an artifact version), or ``run_id/path`` for a run file.
    ``container`` is what deleting takes this along with (a run file's run, an
    artifact's collection); ``logged_by`` is the run that logged an artifact.
    """

    kind: Kind
    entity: str
    project: str
    local: str
    ids: list[str] = field(default_factory=list)
    version: int | None = None
    created_at: int | None = None
    deleted_at: int | None = None
    committed_at: int | None = None
    container: Resource | None = None
    logged_by: Resource | None = None
    type: str | None = None  # artifacts and collections: deletes look collections up by type

    @property
    def name(self) -> str:
        """The human name: ``entity/project/run_id``, ``entity/project/collection:v3``..."""
        if not self.entity and not self.project:
            return f"{self.kind} {self.ids[0] if self.ids else self.local}"
        base = f"{self.entity}/{self.project}/{self.local}"
        if self.kind != "artifact":
            return base
        if self.version is not None:
            return f"{base}:v{self.version}"
        # The version index is known only once an answer reports it (ArtifactByID...).
        return f"{base}@{self.ids[0]}" if self.ids else f"{base}:v?"

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>"


@dataclass(frozen=True)
class Event:
    """A resource created or deleted by the exchange at ``index``."""

    index: int
    change: Change
    resource: Resource


@dataclass(frozen=True)
class Exchange:
    """A successful GraphQL exchange, as the rules see it."""

    index: int
    operation: str
    variables: dict[str, Any]
    data: dict[str, Any]


Rule = Callable[["Ledger", Exchange], None]


class Ledger:
    """Resources created and deleted by the exchanges observed so far.

    ``keep`` holds names (``fnmatch`` patterns allowed) of resources the test
    keeps on purpose; a kept container keeps what is inside it.
    """

    def __init__(self, keep: Iterable[str] = ()) -> None:
        self.keep: tuple[str, ...] = tuple(keep)
        self.events: list[Event] = []
        self._count = 0
        self._resources: list[Resource] = []
        self._by_key: dict[tuple[str, str, str, str], Resource] = {}
        self._by_id: dict[str, Resource] = {}

    @classmethod
    def from_cassette(cls, cassette: Cassette) -> Ledger:
        """The ledger of a recorded cassette, honouring its metadata's ``keep``."""
        ledger = cls(keep_names(cassette.metadata))
        for ix in cassette.interactions:
            ledger.observe(ix)
        return ledger

    # -- feeding -------------------------------------------------------------------

    def observe(self, ix: Interaction) -> None:
        """Account for the next exchange (called in recording order)."""
        index = self._count
        self._count += 1
        # Checked first: parsing every file_stream body as JSON would slow recording down.
        if not urlsplit(ix.uri).path.endswith("/graphql"):
            return
        request = graphql.parse_request(ix.request_text())
        if request is None:
            return
        body = ix.response_json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not graphql.succeeded(ix.status, body):
            return
        exchange = Exchange(index, request.operation, request.variables, data)
        _learn_ids(self, exchange)
        rule = RULES.get(request.operation)
        if rule is not None:
            rule(self, exchange)

    # -- results ---------------------------------------------------------------------

    @property
    def resources(self) -> list[Resource]:
        """Every resource seen, created here or not, in order of first mention."""
        return list(self._resources)

    @property
    def created(self) -> list[Resource]:
        """Resources created by the observed exchanges, in order of creation."""
        return self._changed("created")

    @property
    def deleted(self) -> list[Resource]:
        """Resources deleted by the observed exchanges (created here or before)."""
        return self._changed("deleted")

    @property
    def kept(self) -> list[Resource]:
        """Resources created, not deleted, and kept on purpose (``keep``)."""
        return [r for r in self.created if r.deleted_at is None and self.is_kept(r)]

    def leaks(self) -> list[Resource]:
        """Resources created here and left behind.

        What sits in a leaked container (a leaked run's files, a leaked
        collection's versions) is reported through the container only.
        """
        return [
            r
            for r in self.created
            if self._leaked(r) and not (r.container is not None and self._leaked(r.container))
        ]

    def is_kept(self, resource: Resource) -> bool:
        """Whether ``resource`` (or its container) matches a ``keep`` name."""
        if any(fnmatch.fnmatchcase(resource.name, pattern) for pattern in self.keep):
            return True
        return resource.container is not None and self.is_kept(resource.container)

    def events_at(self, index: int) -> list[Event]:
        """What the exchange at ``index`` created or deleted."""
        return [e for e in self.events if e.index == index]

    def _changed(self, change: Change) -> list[Resource]:
        # dict.fromkeys: a resource created again after a delete is listed once.
        return list(dict.fromkeys(e.resource for e in self.events if e.change == change))

    def _leaked(self, r: Resource) -> bool:
        return r.created_at is not None and r.deleted_at is None and not self.is_kept(r)

    # -- bookkeeping used by the rules ---------------------------------------------

    def resource(self, kind: Kind, entity: str, project: str, local: str) -> Resource:
        """The resource with this name, registered on first mention."""
        key = (kind, entity, project, local)
        found = self._by_key.get(key)
        if found is None:
            found = Resource(kind, entity, project, local)
            self._by_key[key] = found
            self._resources.append(found)
        return found

    def by_id(self, server_id: str) -> Resource | None:
        """The resource a server id was seen for, if any."""
        return self._by_id.get(server_id)

    def new_artifact(self, entity: str, project: str, collection: str, server_id: str) -> Resource:
        """Register an artifact version, known by its server id until its version is."""
        artifact = Resource("artifact", entity, project, collection)
        self._resources.append(artifact)
        self.learn_id(artifact, server_id)
        return artifact

    def learn_id(self, resource: Resource, server_id: Any) -> None:
        """Remember that ``server_id`` names ``resource`` (ignores non-strings)."""
        if isinstance(server_id, str) and server_id and server_id not in resource.ids:
            resource.ids.append(server_id)
            self._by_id[server_id] = resource

    def mark_created(self, resource: Resource, index: int) -> None:
        """Mark ``resource`` created; one deleted before lives again (a run id reused)."""
        if resource.created_at is None or resource.deleted_at is not None:
            resource.created_at, resource.deleted_at = index, None
            self.events.append(Event(index, "created", resource))

    def mark_deleted(self, resource: Resource, index: int) -> None:
        """Mark ``resource`` and whatever goes with it deleted (first delete wins)."""
        if resource.deleted_at is not None:
            return
        resource.deleted_at = index
        self.events.append(Event(index, "deleted", resource))
        for inner in self._resources:
            if inner.container is resource:
                self.mark_deleted(inner, index)

    def logged_by(self, run: Resource) -> Iterator[Resource]:
        """The artifact versions ``run`` logged."""
        return (r for r in list(self._resources) if r.logged_by is run)


def keep_names(metadata: dict[str, Any]) -> list[str]:
    """The ``keep`` names in a cassette's metadata (a string or a list of strings)."""
    keep = metadata.get("keep") or []
    if isinstance(keep, str):
        return [keep]
    return [str(k) for k in keep] if isinstance(keep, list) else []


# -- reading answers -------------------------------------------------------------------


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _project_of(node: Any) -> tuple[str, str] | None:
    """(entity, project) of a ``project { name entity { name } }`` selection."""
    entity, project = _get(node, "project", "entity", "name"), _get(node, "project", "name")
    if isinstance(entity, str) and isinstance(project, str):
        return entity, project
    return None


def _walk(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _walk(value)
    elif isinstance(data, list):
        for value in data:
            yield from _walk(value)


def _learn_ids(ledger: Ledger, ex: Exchange) -> None:
    """Map the ids of every artifact and collection an answer describes.

    Artifacts come as ``{id, versionIndex, artifactSequence {name project
    {name entity {name}}}}`` (ArtifactByID, ArtifactMembershipByName,
    ProjectArtifacts...), collections as ``{__typename, id, name, project}``
    (ProjectArtifactCollection(s)...).
    """
    for node in _walk(ex.data):
        server_id = node.get("id")
        if not isinstance(server_id, str):
            continue
        sequence = node.get("artifactSequence")
        if isinstance(sequence, dict):
            _learn_artifact(ledger, node, server_id, sequence)
        elif node.get("__typename") in COLLECTION_TYPENAMES:
            _learn_collection(ledger, node, server_id)


def _learn_artifact(
    ledger: Ledger, node: dict[str, Any], server_id: str, sequence: dict[str, Any]
) -> None:
    where, name = _project_of(sequence), sequence.get("name")
    if where is None or not isinstance(name, str):
        return
    artifact = ledger.by_id(server_id) or ledger.new_artifact(*where, name, server_id)
    if isinstance(node.get("versionIndex"), int):
        artifact.version = node["versionIndex"]
    if artifact.container is None:
        artifact.container = ledger.resource("collection", *where, name)


def _learn_collection(ledger: Ledger, node: dict[str, Any], server_id: str) -> None:
    where, name = _project_of(node), node.get("name")
    if where is not None and isinstance(name, str) and ledger.by_id(server_id) is None:
        ledger.learn_id(ledger.resource("collection", *where, name), server_id)


def _run_from_storage_id(ledger: Ledger, server_id: str) -> Resource | None:
    """A run named by its storage id, which is base64 of ``Run:v1:<run>:<project>:<entity>``."""
    try:
        decoded = base64.b64decode(server_id, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    parts = decoded.split(":")
    if len(parts) != 5 or parts[:2] != ["Run", "v1"]:
        return None
    run = ledger.resource("run", parts[4], parts[3], parts[2])
    ledger.learn_id(run, server_id)
    return run


def _resolve(ledger: Ledger, kind: Kind, server_id: Any) -> Resource | None:
    """The resource a delete names; one never seen is registered by its id alone."""
    if not isinstance(server_id, str) or not server_id:
        return None
    found = ledger.by_id(server_id)
    if found is None and kind == "run":
        found = _run_from_storage_id(ledger, server_id)
    if found is None:
        found = ledger.resource(kind, "", "", server_id)
        ledger.learn_id(found, server_id)
    return found


# -- the rules: one per operation --------------------------------------------------------


def _upsert_bucket(ledger: Ledger, ex: Exchange) -> None:
    """``UpsertBucket`` answered ``inserted: true`` → the run was created."""
    payload = _get(ex.data, "upsertBucket")
    bucket = _get(payload, "bucket")
    v = ex.variables
    where = _project_of(bucket) or (_str(v.get("entity")), _str(v.get("project")))
    run_id = _get(bucket, "name") or v.get("name")
    if not isinstance(run_id, str) or not run_id:
        return
    run = ledger.resource("run", *where, run_id)
    ledger.learn_id(run, _get(bucket, "id"))
    if _get(payload, "inserted") is True:
        ledger.mark_created(run, ex.index)


def _create_artifact(ledger: Ledger, ex: Exchange) -> None:
    """``CreateArtifact`` answered a PENDING artifact → a new version (and collection).

    With digest deduplication the server answers an unchanged artifact with the
    existing, COMMITTED version: nothing was created. The collection is new
    when the answer says it had no latest version before this one.
    """
    inp = ex.variables.get("input")
    inp = inp if isinstance(inp, dict) else ex.variables
    entity, project = _str(inp.get("entityName")), _str(inp.get("projectName"))
    collection_name = _collection_name(inp)
    artifact_node = _get(ex.data, "createArtifact", "artifact")
    server_id = _get(artifact_node, "id")
    if not collection_name or not isinstance(server_id, str):
        return
    existing = ledger.by_id(server_id)
    artifact = existing or ledger.new_artifact(entity, project, collection_name, server_id)
    collection = ledger.resource("collection", entity, project, collection_name)
    sequence = _get(artifact_node, "artifactSequence")
    ledger.learn_id(collection, _get(sequence, "id"))
    artifact.container = collection
    if isinstance(inp.get("artifactTypeName"), str):
        artifact.type = collection.type = inp["artifactTypeName"]
    if isinstance(inp.get("runName"), str) and inp["runName"]:
        artifact.logged_by = ledger.resource("run", entity, project, inp["runName"])
    if existing is not None or _get(artifact_node, "state") not in (None, "PENDING"):
        return
    if isinstance(sequence, dict) and sequence.get("latestArtifact") is None:
        ledger.mark_created(collection, ex.index)
    ledger.mark_created(artifact, ex.index)


def _collection_name(inp: dict[str, Any]) -> str:
    # wandb-core sends one name; older clients sent a list, the first is the sequence.
    name = inp.get("artifactCollectionName")
    if isinstance(name, str):
        return name
    names = inp.get("artifactCollectionNames")
    return names[0] if isinstance(names, list) and names and isinstance(names[0], str) else ""


def _commit_artifact(ledger: Ledger, ex: Exchange) -> None:
    """``CommitArtifact`` → the pending version is committed (still to delete)."""
    artifact = ledger.by_id(_str(ex.variables.get("artifactID")))
    if artifact is not None and artifact.committed_at is None:
        artifact.committed_at = ex.index


def _create_run_files(ledger: Ledger, ex: Exchange) -> None:
    """``CreateRunFiles`` → one run file per file the answer lists."""
    v = ex.variables
    entity, project, run_id = _str(v.get("entity")), _str(v.get("project")), _str(v.get("run"))
    if not run_id:
        return
    run = ledger.resource("run", entity, project, run_id)
    ledger.learn_id(run, _get(ex.data, "createRunFiles", "runID"))
    for name in _run_file_names(ex):
        run_file = ledger.resource("run_file", entity, project, f"{run_id}/{name}")
        run_file.container = run
        ledger.mark_created(run_file, ex.index)


def _run_file_names(ex: Exchange) -> list[str]:
    files = _get(ex.data, "createRunFiles", "files")
    if isinstance(files, list):
        return [f["name"] for f in files if isinstance(f, dict) and isinstance(f.get("name"), str)]
    asked = ex.variables.get("files")
    return [f for f in asked if isinstance(f, str)] if isinstance(asked, list) else []


def _run_query(ledger: Ledger, ex: Exchange) -> None:
    """``Run`` (``api.run(path)``) → learns the run's storage id for a later ``DeleteRun``."""
    node = _get(ex.data, "project", "run")
    v = ex.variables
    name = _get(node, "name") or v.get("name")
    if isinstance(name, str) and name:
        run = ledger.resource("run", _str(v.get("entity")), _str(v.get("project")), name)
        ledger.learn_id(run, _get(node, "id"))


def _delete_run(ledger: Ledger, ex: Exchange) -> None:
    """``DeleteRun`` → the run and its files; with ``deleteArtifacts`` its artifacts too."""
    run = _resolve(ledger, "run", ex.variables.get("id"))
    if run is None:
        return
    ledger.mark_deleted(run, ex.index)
    if ex.variables.get("deleteArtifacts") is True:
        for artifact in ledger.logged_by(run):
            ledger.mark_deleted(artifact, ex.index)


def _delete_artifact(ledger: Ledger, ex: Exchange) -> None:
    """``DeleteArtifact`` → that artifact version."""
    inp = ex.variables.get("input")
    server_id = (inp if isinstance(inp, dict) else ex.variables).get("artifactID")
    artifact = _resolve(ledger, "artifact", server_id)
    if artifact is not None:
        ledger.mark_deleted(artifact, ex.index)


def _delete_collection(ledger: Ledger, ex: Exchange) -> None:
    """``DeleteArtifactSequence`` / ``DeleteArtifactPortfolio`` → the collection, its versions."""
    collection = _resolve(ledger, "collection", ex.variables.get("id"))
    if collection is not None:
        ledger.mark_deleted(collection, ex.index)


RULES: dict[str, Rule] = {
    "UpsertBucket": _upsert_bucket,
    "CreateArtifact": _create_artifact,
    "CommitArtifact": _commit_artifact,
    "CreateRunFiles": _create_run_files,
    "Run": _run_query,
    "DeleteRun": _delete_run,
    "DeleteArtifact": _delete_artifact,
    # ArtifactCollection.delete() sends one or the other (wandb/apis/public/artifacts.py).
    "DeleteArtifactSequence": _delete_collection,
    "DeleteArtifactPortfolio": _delete_collection,
}
"""Operation name → the rule that reads its (successful) exchange."""
