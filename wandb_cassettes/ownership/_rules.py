"""Evidence, per mutation field: what each recorded answer proves was created or deleted.

:data:`RULES` maps a mutation field (``upsertBucket``, ``createArtifact``,
``linkArtifact``...) to the small function that reads its arguments and its answer and
tells the :class:`~._ledger.Ledger` what it created, deleted or touched; :data:`QUERY_RULES`
maps the queries whose answers name what later mutations refer to (ids, aliases, the
state read before a foreign change). Which fields need a rule at all, and what each
changes, is the mutation table's (:mod:`wandb_cassettes.protocol`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._foreign import (
    ABSENT,
    PRIOR,
    RUN_FIELDS,
    RUN_IDENTITY,
    UNKNOWN,
    ForeignState,
    alias_holder,
    artifact_fields,
    json_value,
    memberships,
    run_fields,
    run_value,
)
from ._model import (
    COLLECTION_TYPENAMES,
    Exchange,
    Kind,
    Outcome,
    Resource,
    as_str,
    dig,
    input_of,
    project_of,
    walk,
)

#: Reads one exchange; returns the resource it touched (for a create in a container, the
#: container; None when it cannot tell).
if TYPE_CHECKING:  # the rules are the ledger's; it imports them
    from ._ledger import Ledger

Rule = Callable[["Ledger", Exchange], "Resource | None"]


def find_values(data: Any, key: str) -> list[str]:
    """Every string under ``key`` anywhere in ``data`` (an input object), in order."""
    found = []
    if isinstance(data, dict):
        for k, value in data.items():
            if k == key and isinstance(value, str) and value:
                found.append(value)
            else:
                found += find_values(value, key)
    elif isinstance(data, list):
        for value in data:
            found += find_values(value, key)
    return list(dict.fromkeys(found))


def is_wandb_alias(alias: str) -> bool:
    """``latest`` (W&B keeps it on the newest version, after deletes too) and version names
    (``v3``) are not aliases a test moves."""
    return alias == "latest" or re.fullmatch(r"v\d+", alias) is not None


def run_changes(inp: dict[str, Any], result: Outcome) -> dict[str, Any]:
    """The run fields an upsertBucket input sets (null: unchanged), as the model compares
    them; a lost answer leaves their values unknown."""
    changed = {k: v for k, v in inp.items() if k not in RUN_IDENTITY and v is not None}
    if result != "succeeded":
        return dict.fromkeys(changed, UNKNOWN)
    return {k: run_value(k, v) if k in RUN_FIELDS else v for k, v in changed.items()}


def json_line(line: Any) -> Any:
    value = json_value(line)
    return value if isinstance(value, dict) else UNKNOWN


def run_path(run: Resource) -> dict[str, str]:
    return {"entity": run.entity, "project": run.project, "name": run.local, "id": ""}


#: Sweep states in which agents may still start runs; any other (CANCELED, FINISHED...) is
#: stopped (wandb/apis/public/sweeps.py: ``_set_sweep_state`` cancels only these, and says
#: "Sweep already canceled/finished" of the others).
ACTIVE_SWEEP_STATES = frozenset({"RUNNING", "PAUSED", "PENDING"})


def _stopped(state: Any) -> bool:
    return isinstance(state, str) and bool(state) and state.upper() not in ACTIVE_SWEEP_STATES


def learn_ids(ledger: Ledger, data: dict[str, Any]) -> None:
    """Map the ids of every artifact and collection an answer describes.

    Artifacts come as ``{id, versionIndex, artifactSequence {name project
    {name entity {name}}}, aliases}`` (ArtifactByID, ArtifactMembershipByName,
    ProjectArtifacts...), collections as ``{__typename, id, name, project}``
    (ProjectArtifactCollection(s)...).
    """
    for node in walk(data):
        _learn_org(ledger, node)
        server_id = node.get("id")
        if not isinstance(server_id, str):
            continue
        _learn_membership_aliases(ledger, node)
        if _stopped(node.get("state")):
            # A sweep an answer shows stopped (SweepWithRuns, before a cancel that the SDK
            # then refuses to send: "Sweep already finished").
            known = ledger.by_id(server_id)
            if known is not None and known.kind == "sweep" and known.stopped_at is None:
                known.stopped_at = ledger.current
        sequence = node.get("artifactSequence")
        if isinstance(sequence, dict):
            _learn_artifact(ledger, node, server_id, sequence)
        elif node.get("__typename") in COLLECTION_TYPENAMES:
            _learn_collection(ledger, node, server_id)


def _learn_org(ledger: Ledger, node: dict[str, Any]) -> None:
    """An organization's display name and its entity's name (``OrgInfoFragment``: ``name
    orgEntity { name }``, which the SDK reads to resolve a registry path:
    wandb/sdk/artifacts/_gqlutils.py ``resolve_org_entity_name`` takes either)."""
    name, entity = node.get("name"), dig(node, "orgEntity", "name")
    if isinstance(name, str) and isinstance(entity, str) and name and entity and name != entity:
        ledger.org_names[name] = entity


def _learn_artifact(
    ledger: Ledger, node: dict[str, Any], server_id: str, sequence: dict[str, Any]
) -> None:
    where, name = project_of(sequence), sequence.get("name")
    if where is None or not isinstance(name, str):
        return
    artifact = ledger.by_id(server_id)
    if artifact is None:
        artifact = ledger.new_artifact(*where, name)
        ledger.learn_id(artifact, server_id)
    if isinstance(node.get("versionIndex"), int):
        artifact.version = node["versionIndex"]
    if artifact.container is None:
        artifact.container = ledger.resource("collection", *where, name)
    type_name = dig(node, "artifactType", "name")  # ArtifactFragment's artifactType { name }
    if isinstance(type_name, str) and type_name:
        artifact.type = artifact.type or type_name
        artifact.container.type = artifact.container.type or type_name
    aliases = node.get("aliases")
    if isinstance(aliases, list):
        seen = ledger._seen_aliases.setdefault(server_id, set())
        seen.update(a["alias"] for a in aliases if isinstance(a, dict) and "alias" in a)


def _learn_membership_aliases(ledger: Ledger, node: dict[str, Any]) -> None:
    """The aliases of a collection membership: ``Api().artifact(name)`` reads them there.

    wandb 0.31 asks ``ArtifactMembershipByName`` with ``includeAliases: false``, so
    the aliases come on the ``ArtifactCollectionMembership`` node, beside its
    ``artifact`` (wandb/sdk/artifacts/_generated/operations.py,
    ``ArtifactMembershipFragment``), not on the artifact node.
    """
    artifact, aliases = node.get("artifact"), node.get("aliases")
    if isinstance(artifact, dict) and isinstance(aliases, list):
        artifact_id = artifact.get("id")
        if isinstance(artifact_id, str):
            seen = ledger._seen_aliases.setdefault(artifact_id, set())
            seen.update(a["alias"] for a in aliases if isinstance(a, dict) and "alias" in a)


def _learn_collection(ledger: Ledger, node: dict[str, Any], server_id: str) -> None:
    where, name = project_of(node), node.get("name")
    if where is not None and isinstance(name, str) and ledger.by_id(server_id) is None:
        ledger.learn_id(ledger.resource("collection", *where, name), server_id)


def run_from_storage_id(ledger: Ledger, server_id: str) -> Resource | None:
    """A run named by its storage id, which is base64 of ``Run:v1:<run>:<project>:<entity>``."""
    try:
        decoded = base64.b64decode(server_id, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    parts = decoded.split(":")
    if len(parts) != 5 or parts[:2] != ["Run", "v1"]:
        return None
    run = ledger.run(parts[4], parts[3], parts[2])
    ledger.learn_id(run, server_id)
    return run


def _resolve(ledger: Ledger, kind: Kind, server_id: Any) -> Resource | None:
    """The resource a delete names; one never seen is registered by its id alone."""
    if not isinstance(server_id, str) or not server_id:
        return None
    found = ledger.by_id(server_id)
    if found is None and kind == "run":
        found = run_from_storage_id(ledger, server_id)
    if found is None:
        found = ledger.resource(kind, "", "", server_id)
        ledger.learn_id(found, server_id)
    return found


def _upsert_bucket(ledger: Ledger, ex: Exchange) -> Resource | None:
    """A run is created by ``inserted: true``, or by a sent upsert of a run id drawn fresh here.

    An upsert naming the run by storage ``id`` updates an existing run (a
    resume, ``run.finish``): never a creation.
    """
    inp = run_input(ex)
    bucket = dig(ex.payload, "bucket")
    where = project_of(bucket) or (inp["entity"], inp["project"])
    run_id = dig(bucket, "name") or inp["name"]
    if (not isinstance(run_id, str) or not run_id) and inp["id"]:
        return _resolve(ledger, "run", inp["id"])  # public Run.update(): by storage id alone
    if not isinstance(run_id, str) or not run_id:
        return None
    run = ledger.run(*where, run_id)
    ledger.learn_id(run, dig(bucket, "id") or inp["id"])
    if ex.outcome == "refused" or inp["id"]:
        return run
    inserted = dig(ex.payload, "inserted") is True
    if ex.outcome == "succeeded" and inserted:
        ledger.mark_created(run, ex.index)
    elif run_id in ledger.fresh_run_ids:
        # Our own fresh id: if the run exists, this recording made it (an answer was lost).
        ledger.mark_created(run, ex.index, unconfirmed=ex.outcome == "unknown")
    return run


def run_input(ex: Exchange) -> dict[str, str]:
    """``upsertBucket``'s ``id``, ``name``, ``entity`` and ``project`` (``""`` when absent).

    The schema's names (``input: {name, modelName, entityName}``) first, then
    wandb-core's variable names (``$name``, ``$project``, ``$entity``) for a
    document that does not parse.
    """
    inp, v = input_of(ex), ex.variables
    pairs = {"id": "id", "name": "name", "entity": "entityName", "project": "modelName"}
    return {key: as_str(inp.get(arg)) or as_str(v.get(key)) for key, arg in pairs.items()}


def _create_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``createArtifact`` answered PENDING → a new version; its collection if it had no latest.

    With digest deduplication the server answers an unchanged artifact with the
    existing, COMMITTED version: nothing was created. When the answer was lost
    the version is owned by its ``clientID``, resolved at cleanup.
    """
    inp = input_of(ex)
    entity, project = as_str(inp.get("entityName")), as_str(inp.get("projectName"))
    collection_of = collection_name(inp)
    if not collection_of or ex.outcome == "refused":
        return None
    client_id = inp.get("clientID")
    collection = ledger.resource("collection", entity, project, collection_of)
    type_name = inp.get("artifactTypeName")
    if isinstance(type_name, str):
        collection.type = type_name
    node = dig(ex.payload, "artifact")
    server_id = dig(node, "id")
    if ex.outcome == "unknown" or not isinstance(server_id, str):
        if ex.outcome == "succeeded" or not isinstance(client_id, str):
            return None  # answered without an id: nothing to go by
        artifact = ledger.by_client_id(client_id) or ledger.new_artifact(
            entity, project, collection_of
        )
        ledger.learn_client_id(artifact, client_id)
        _describe_artifact(ledger, artifact, collection, inp)
        ledger.mark_created(artifact, ex.index, unconfirmed=True)
        return artifact
    existing = ledger.by_id(server_id)
    # Else the version a lost answer left unconfirmed, now answered; else a new one (the
    # same clientID answered with another id is another version).
    pending = ledger.by_client_id(as_str(client_id))
    if existing is not None:
        artifact = existing
    elif pending is not None and not pending.ids:
        artifact = pending
    else:
        artifact = ledger.new_artifact(entity, project, collection_of)
    ledger.learn_id(artifact, server_id)
    ledger.learn_client_id(artifact, client_id)
    _describe_artifact(ledger, artifact, collection, inp)
    if dig(node, "state") not in (None, "PENDING"):
        # Deduplicated: the existing, committed version, which the input's aliases move to.
        _latest_moved(ledger, ex, artifact, server_id)
        return artifact
    if existing is not None and existing.owned and not existing.unconfirmed:
        return artifact
    sequence = dig(node, "artifactSequence")
    if isinstance(sequence, dict) and sequence.get("latestArtifact", True) is None:
        ledger.mark_created(collection, ex.index)
    ledger.mark_created(artifact, ex.index)
    return artifact


def _latest_moved(ledger: Ledger, ex: Exchange, artifact: Resource, server_id: str) -> None:
    """A deduplicated ``createArtifact`` moved ``latest`` onto a version the test did not
    create: a lasting foreign change, unless the relay's read before showed that version
    held it already.

    wandb-core sends ``latest`` among a logged artifact's aliases, and W&B answers content
    it has with the version that has it, putting the input's aliases on it (the stand-in
    does so; a CreateArtifact answered ``COMMITTED`` is that version). Every other alias is
    tracked and put back (``changes=("aliases",)``); ``latest`` is W&B's own and cannot be.
    """
    slot = latest_slot(ex)
    if artifact.owned or slot is None:
        return
    tracked = ledger.foreign.get(ForeignState.alias_key(*slot))
    if tracked is not None and tracked.known and tracked.prior == server_id:
        return  # the version held latest before: nothing moved
    name = f"{slot[0]}/{slot[1]}/{slot[2]}:latest"
    ledger.foreign.lasting_change(name, "alias", "latest", (ex.index, ex.field))


def latest_slot(ex: Exchange) -> tuple[str, str, str, str] | None:
    """``(entity, project, collection, "latest")`` of the collection a ``createArtifact``
    logs into, when its aliases name ``latest`` (wandb-core's always do), else None: the
    relay reads its holder before (:meth:`.Ledger.prior_reads`), and a deduplicated answer
    is judged against that read (:func:`_latest_moved`)."""
    inp = input_of(ex)
    if ex.field != "createArtifact" or not any(a["alias"] == "latest" for a in aliases_of(inp)):
        return None
    return (
        as_str(inp.get("entityName")),
        as_str(inp.get("projectName")),
        collection_name(inp),
        "latest",
    )


def _describe_artifact(
    ledger: Ledger, artifact: Resource, collection: Resource, inp: dict[str, Any]
) -> None:
    artifact.container = collection
    artifact.type = collection.type
    run_name = inp.get("runName")
    if isinstance(run_name, str) and run_name:
        artifact.logged_by = ledger.run(artifact.entity, artifact.project, run_name)


def collection_name(inp: dict[str, Any]) -> str:
    # wandb-core sends one name; older clients sent a list, the first is the sequence.
    name = inp.get("artifactCollectionName")
    if isinstance(name, str):
        return name
    names = inp.get("artifactCollectionNames")
    return names[0] if isinstance(names, list) and names and isinstance(names[0], str) else ""


def _commit_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``commitArtifact`` → the pending version is committed (still to delete)."""
    artifact = ledger.by_id(
        as_str(input_of(ex).get("artifactID") or ex.variables.get("artifactID"))
    )
    if ex.outcome == "succeeded" and artifact is not None and artifact.committed_at is None:
        artifact.committed_at = ex.index
    return artifact


def _create_artifact_manifest(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``createArtifactManifest`` → the manifest's id names the version it describes.

    A later ``updateArtifactManifest`` of it (wandb-core's distributed flow: each writer's
    PATCH manifest gets its digest that way, as wandb's ArtifactSaver did) changes that
    version's files: the test's own version's, or a foreign change of another's.
    """
    artifact = ledger.by_id(
        as_str(input_of(ex).get("artifactID") or ex.variables.get("artifactID"))
    )
    if artifact is not None and ex.outcome == "succeeded":
        ledger.learn_id(artifact, dig(ex.payload, "artifactManifest", "id"))
    return artifact


def _create_run_files(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``createRunFiles`` → one run file per file, inside the run when the run is owned."""
    run = _named_run(ledger, ex)
    if run is None or ex.outcome != "succeeded":
        return run
    ledger.learn_id(run, dig(ex.payload, "runID"))
    if not run.owned:
        return run  # the files of a resumed, pre-existing run belong to that run: foreign
    entity, project, run_id = run.entity, run.project, run.local
    for name in _run_file_names(ex):
        run_file = ledger.resource("run_file", entity, project, f"{run_id}/{name}")
        run_file.container = run
        ledger.mark_created(run_file, ex.index)
    return run


def _named_run(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The run a mutation names by ``entityName``/``projectName``/``runName`` (wandb-core's
    CreateRunFiles, UseArtifact, MarkRunFilesUploaded, NotifyScriptableRunAlert, RewindRun)."""
    inp, v = input_of(ex), ex.variables
    entity = as_str(inp.get("entityName")) or as_str(v.get("entity"))
    project = as_str(inp.get("projectName")) or as_str(v.get("project"))
    run_id = as_str(inp.get("runName")) or as_str(v.get("run"))
    return ledger.run(entity, project, run_id) if run_id else None


def _run_file_names(ex: Exchange) -> list[str]:
    files = dig(ex.payload, "files")
    if isinstance(files, list):
        return [f["name"] for f in files if isinstance(f, dict) and isinstance(f.get("name"), str)]
    asked = input_of(ex).get("files") or ex.variables.get("files")
    return [f for f in asked if isinstance(f, str)] if isinstance(asked, list) else []


def _delete_run(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``deleteRun`` → the run and its files; with ``deleteArtifacts`` its artifacts too."""
    run = _resolve(ledger, "run", input_of(ex).get("id"))
    if run is None or ex.outcome != "succeeded":
        return run
    ledger.mark_deleted(run, ex.index)
    if input_of(ex).get("deleteArtifacts") is True:
        for artifact in ledger.logged_by(run):
            ledger.mark_deleted(artifact, ex.index)
    return run


def _delete_files(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``deleteFiles(input: {files})`` (public ``File.delete()``) → the run files those
    server ids were seen for (:func:`_run_files_query`); one not seen stays unresolved."""
    ids = input_of(ex).get("files")
    files = [ledger.by_id(i) for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
    known = [f for f in files if f is not None and f.kind == "run_file"]
    if not files or len(known) != len(files):
        return None  # the table's rule then reports what it deleted as unresolved
    if ex.outcome == "succeeded":
        for run_file in known:
            ledger.mark_deleted(run_file, ex.index)
    return known[0] if len(known) == 1 else None


def _delete_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``deleteArtifact`` → that artifact version (and, with ``deleteAliases``, its aliases)."""
    artifact = _resolve(ledger, "artifact", input_of(ex).get("artifactID"))
    if artifact is not None and ex.outcome == "succeeded":
        ledger.mark_deleted(artifact, ex.index)
    return artifact


def _delete_collection(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``deleteArtifactSequence`` / ``deleteArtifactPortfolio`` → the collection, its versions."""
    inp = input_of(ex)
    server_id = (
        ex.variables.get("id") or inp.get("artifactSequenceID") or inp.get("artifactPortfolioID")
    )
    collection = _resolve(ledger, "collection", server_id)
    if collection is not None and ex.outcome == "succeeded":
        ledger.mark_deleted(collection, ex.index)
    return collection


def _link_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``linkArtifact`` → a registry link (portfolio membership), owned when the version is ours.

    Linking a pre-existing version may find it linked already (W&B answers the
    existing membership), so only links of owned versions are owned.
    """
    inp = input_of(ex)
    artifact_id = as_str(inp.get("artifactID"))
    source = ledger.by_id(artifact_id) or ledger.by_client_id(as_str(inp.get("clientID")))
    if ex.outcome != "succeeded":
        return source
    membership = dig(ex.payload, "artifactMembership")
    portfolio = dig(membership, "artifactCollection")
    where = project_of(portfolio) or (as_str(inp.get("entityName")), as_str(inp.get("projectName")))
    portfolio_name = dig(portfolio, "name") or inp.get("artifactPortfolioName")
    if source is None and artifact_id:  # a version no answer described: known by its id
        source = ledger.resource("artifact", "", "", artifact_id)
        ledger.learn_id(source, artifact_id)
    if not isinstance(portfolio_name, str) or source is None:
        return source
    version = dig(ex.payload, "versionIndex")
    link = ledger.link(*where, portfolio_name, source)
    if isinstance(version, int):
        link.version = version
    ledger.learn_id(link, dig(membership, "id"))
    before = ledger.foreign.linked_before(artifact_id, (*where, portfolio_name))
    if before is True:
        return source  # it was linked before (the relay read it): nothing new
    if not source.owned and before is None:
        link.uncertain_at = ex.index  # maybe the test's, maybe there before: reported
    else:
        # Of the test's version, or of another version that the read showed unlinked there.
        ledger.mark_created(link, ex.index)
        # The portfolio (a registry collection) is the recording's when its first link is
        # this one (v0) and no earlier answer showed it; the cleanup also checks its age
        # against the link's on W&B's own clock, as a collection made in the UI before the
        # test gets a v0 too (cleanup._OwnedCollection).
        portfolio_resource = ledger.resource("collection", *where, portfolio_name)
        portfolio_resource.type = portfolio_resource.type or source.type
        if version == 0 and not portfolio_resource.ids and portfolio_resource.created_at is None:
            portfolio_resource.portfolio_of = dig(membership, "createdAt") or ""
            ledger.mark_created(portfolio_resource, ex.index)
        link.container = portfolio_resource
    return source


def _unlink_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``unlinkArtifact`` → the link of that version in that portfolio."""
    inp = input_of(ex)
    source = ledger.by_id(as_str(inp.get("artifactID")))
    portfolio = ledger.by_id(as_str(inp.get("artifactPortfolioID")))
    links = [
        r
        for r in ledger.resources
        if r.kind == "link"
        and r.target is source
        and (
            portfolio is None
            or (r.entity, r.project, r.local)
            == (portfolio.entity, portfolio.project, portfolio.local)
        )
    ]
    if ex.outcome == "succeeded":
        for link in links:
            ledger.mark_deleted(link, ex.index)
    return links[0] if len(links) == 1 else None


def _upsert_sweep(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``upsertSweep`` without an ``id`` → a new sweep (with one, an update)."""
    inp = input_of(ex)
    known = ledger.by_id(as_str(inp.get("id")))
    known = known if known is not None and known.kind == "sweep" else None
    sweep = dig(ex.payload, "sweep")
    name = dig(sweep, "name")
    if ex.outcome != "succeeded" or not isinstance(name, str):
        return known
    where = project_of(sweep) or (as_str(inp.get("entityName")), as_str(inp.get("projectName")))
    resource = known or ledger.resource("sweep", *where, name)
    ledger.learn_id(resource, dig(sweep, "id"))
    if not inp.get("id"):
        ledger.mark_created(resource, ex.index)
    elif _stopped(inp.get("state")):
        resource.stopped_at = ex.index  # what `wandb sweep --cancel` and the cleanup send
    return resource


def _create_agent(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``createAgent`` → the sweep it joins, named by ``sweep`` (its name) in its project
    (wandb/apis/public/sweeps.py ``_register_agent``)."""
    inp = input_of(ex)
    name = as_str(inp.get("sweep"))
    where = (as_str(inp.get("entityName")), as_str(inp.get("projectName")))
    return ledger.resource("sweep", *where, name) if name else None


def _add_aliases(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``addAliases`` to a version: an alias is owned when an answer showed it absent before
    (from the version, and from every other version of the collection when that was read)."""
    inp = input_of(ex)
    artifact_id = as_str(inp.get("artifactID"))
    target = ledger.by_id(artifact_id)
    if ex.outcome != "succeeded":
        return target
    before = ledger.seen_aliases(artifact_id)
    for alias in aliases_of(inp):
        resource = _alias(ledger, target, artifact_id, alias)
        where = (resource.entity, resource.project, *resource.local.rsplit(":", 1))
        slot = ledger.foreign.get(ForeignState.alias_key(*where))
        # Held by another version before (the relay read it): moved, not created; the
        # cleanup gives it back to that version (:mod:`.foreign`).
        moved = slot is not None and isinstance(slot.prior, str)
        new = before is not None and alias["alias"] not in before and not moved
        if new and not (target and target.owned):
            ledger.mark_created(resource, ex.index)
        if before is not None:
            before.add(alias["alias"])
    return target


def _delete_aliases(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``deleteAliases`` → those aliases of that version."""
    inp = input_of(ex)
    artifact_id = as_str(inp.get("artifactID"))
    target = ledger.by_id(artifact_id)
    if ex.outcome != "succeeded":
        return target
    for alias in aliases_of(inp):
        ledger.mark_deleted(_alias(ledger, target, artifact_id, alias), ex.index)
        seen = ledger.seen_aliases(artifact_id)
        if seen is not None:
            seen.discard(alias["alias"])
    return target


def aliases_of(inp: dict[str, Any]) -> list[dict[str, str]]:
    aliases = inp.get("aliases")
    if not isinstance(aliases, list):
        return []
    return [a for a in aliases if isinstance(a, dict) and isinstance(a.get("alias"), str)]


def _alias(
    ledger: Ledger, target: Resource | None, artifact_id: str, alias: dict[str, str]
) -> Resource:
    collection = alias.get("artifactCollectionName") or (target.local if target else artifact_id)
    entity = alias.get("entityName") or (target.entity if target else "")
    project = alias.get("projectName") or (target.project if target else "")
    resource = ledger.resource("alias", entity, project, f"{collection}:{alias['alias']}")
    resource.target = target
    if target is not None:
        resource.ids = [artifact_id]
    return resource


def _upsert_model(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``upsertModel`` (``api.create_project``) answered ``inserted: true`` → a new project."""
    project = dig(ex.payload, "project") or dig(ex.payload, "model")
    name = dig(project, "name")
    entity = dig(project, "entityName") or dig(project, "entity", "name")
    if ex.outcome != "succeeded" or not isinstance(name, str):
        return None
    resource = ledger.resource("project", as_str(entity), name, name)
    ledger.learn_id(resource, dig(project, "id"))
    if dig(ex.payload, "inserted") is True:
        ledger.mark_created(resource, ex.index)
    return resource


RULES: dict[str, Rule] = {
    "upsertBucket": _upsert_bucket,
    "createArtifact": _create_artifact,
    "commitArtifact": _commit_artifact,
    "createArtifactManifest": _create_artifact_manifest,
    "createRunFiles": _create_run_files,
    "deleteRun": _delete_run,
    "deleteFiles": _delete_files,
    "deleteArtifact": _delete_artifact,
    # ArtifactCollection.delete() sends one or the other (wandb/apis/public/artifacts.py).
    "deleteArtifactSequence": _delete_collection,
    "deleteArtifactPortfolio": _delete_collection,
    "linkArtifact": _link_artifact,
    "unlinkArtifact": _unlink_artifact,
    "upsertSweep": _upsert_sweep,
    "addAliases": _add_aliases,
    "deleteAliases": _delete_aliases,
    "upsertModel": _upsert_model,
    "createAgent": _create_agent,
    # Name the run they touch (a resumed run's is not the test's).
    "useArtifact": _named_run,
    "markRunFilesUploaded": _named_run,
    "notifyScriptableRunAlert": _named_run,
    "rewindRun": _named_run,
}
"""Mutation field → the rule that reads its exchange (whatever its outcome)."""


def _run_query(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``project { run(name:) { id } }`` (``api.run(path)``) → the run's storage id."""
    node = dig(ex.data, "project", "run")
    v = ex.variables
    name = dig(node, "name") or v.get("name")
    if isinstance(name, str) and name:
        run = ledger.run(as_str(v.get("entity")), as_str(v.get("project")), name)
        ledger.learn_id(run, dig(node, "id"))
    return None


def _run_files_query(ledger: Ledger, ex: Exchange) -> None:
    """``project { run(name:) { files { edges { node { id name } } } } }`` (the public
    ``Run.files()`` / ``Run.file(name)``, wandb/apis/public/files.py ``RunFiles``) → each
    file's server id, so that a ``deleteFiles`` of it is named."""
    v = ex.variables
    run_id = as_str(v.get("name"))
    edges = dig(ex.data, "project", "run", "files", "edges")
    if not run_id or not isinstance(edges, list):
        return None
    for edge in edges:
        node = dig(edge, "node")
        name = dig(node, "name")
        if isinstance(name, str) and name:
            entity, project = as_str(v.get("entity")), as_str(v.get("project"))
            run_file = ledger.resource("run_file", entity, project, f"{run_id}/{name}")
            run_file.container = ledger.run(entity, project, run_id)
            ledger.learn_id(run_file, dig(node, "id"))
    return None


def _client_id_mapping(ledger: Ledger, ex: Exchange) -> None:
    """``clientIDMapping(clientID:) { serverID }`` → confirms (or refutes) a lost creation."""
    client_id = as_str(ex.variables.get("clientID"))
    artifact = ledger.by_client_id(client_id)
    if artifact is None:
        return None
    server_id = dig(ex.data, "clientIDMapping", "serverID")
    if isinstance(server_id, str):
        ledger.learn_id(artifact, server_id)
        artifact.unconfirmed = False
    elif "clientIDMapping" in ex.data:
        ledger.mark_absent(artifact)
    return None


def _prior_alias(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The relay's read of which version held an alias before a change (:mod:`.foreign`)."""
    v = ex.variables
    collection, _, alias = as_str(v.get("name")).rpartition(":")
    where = (as_str(v.get("entity")), as_str(v.get("project")), collection, alias)
    if all(where):
        ledger.foreign.learn(
            ForeignState.alias_key(*where),
            "alias",
            f"{where[0]}/{where[1]}/{collection}:{alias}",
            alias_holder(ex.data),
            **dict(zip(("entity", "project", "collection", "alias"), where, strict=True)),
        )
    return None


def _prior_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The relay's read of a version's fields before a change (:mod:`.foreign`)."""
    node = dig(ex.data, "artifact")
    artifact = ledger.by_id(as_str(dig(node, "id")))
    if isinstance(node, dict) and artifact is not None:
        ledger.foreign.learn(
            ("artifact", node["id"]),
            "artifact",
            artifact.name,
            artifact_fields(node),
            id=node["id"],
        )
    return None


def _prior_links(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The relay's read of the collections a version was in, before a link or an unlink."""
    node = dig(ex.data, "artifact")
    found = memberships(node)
    if found is not None and as_str(dig(node, "id")):
        ledger.foreign.learn_memberships(as_str(dig(node, "id")), found)
    return None


def _prior_run(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The relay's read of a run's fields before a change (:mod:`.foreign`); null: no such run."""
    v = ex.variables
    project, name = as_str(v.get("project")), as_str(v.get("name"))
    if not project or not name or "model" not in ex.data:
        return None
    node = dig(ex.data, "model", "bucket")
    run = run_from_storage_id(ledger, as_str(dig(node, "id"))) if node else None
    label = run.name if run is not None else f"{as_str(v.get('entity'))}/{project}/{name}"
    value = run_fields(node) if isinstance(node, dict) else ABSENT
    ledger.foreign.learn(
        ForeignState.run_key(project, name),
        "run",
        label,
        value,
        id=as_str(dig(node, "id")),
        entity=as_str(v.get("entity")),
        project=project,
        run=name,
    )
    return None


#: Queries by operation name: to learn ids (a query changes nothing), and the relay's reads
#: of the state before a foreign change.
QUERY_RULES: dict[str, Rule] = {
    "Run": _run_query,
    "ClientIDMapping": _client_id_mapping,
    "RunFiles": _run_files_query,
    f"{PRIOR}Alias": _prior_alias,
    f"{PRIOR}Artifact": _prior_artifact,
    f"{PRIOR}Links": _prior_links,
    f"{PRIOR}Run": _prior_run,
}
