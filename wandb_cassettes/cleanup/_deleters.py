"""Delete what a test created in W&B: by identity, retried, and never silently.

Two ways in, one retry loop:

* :func:`delete_owned` is the automatic cleanup after a recorded test and
  the journal's sweep. It deletes only resources whose creation the
  recording observed (:class:`~.ledger.Owned`), each found again by its
  server id (or, when the answer that carried the id was lost, by the id
  the client chose) and checked before it is deleted: a version is deleted
  alone, a collection only if it is empty and not older than the recording,
  a run without its artifacts (``deleteArtifacts`` off: kept artifacts stay).
  Whatever the checks refuse is *skipped*, with the reason, never deleted.
* :func:`delete_owned` also puts back what the recording changed of resources it
  did not create (an alias moved, a teammate's metadata, a resumed run's config):
  each :class:`~.foreign.Restore` the ledger computes from the state read before
  the change, sent after the deletes (a deleted version takes its aliases along).
* :class:`WandbArtifactCleaner` (the ``wandb_artifact_cleaner`` fixture) is
  the user's explicit list: every version of a tracked artifact, a tracked
  run and its logged artifacts. The user named them, so they go.

Each delete is retried; "already gone" counts as done; what still could not
be deleted after every resource was tried is raised as one
:class:`~.errors.CleanupError` that names it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import compat
from ..errors import CleanupError, JournalError
from ..ownership import (
    Changed,
    Owned,
    Restore,
    expected_read,
    links_read,
    memberships,
    restore_as_left,
)
from ._retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BACKOFF,
    CleanupReport,
    Deletable,
    LeftByDesign,
    NotOurs,
    Skip,
    check_retries,
    find,
    graphql_request,
    is_not_found,
    load_run,
    new_api,
    run_deletions,
)

#: A collection created more than this before the recording started existed before it
#: (W&B's clock and ours may disagree by this much).
CLOCK_SKEW = datetime.timedelta(hours=1)

# wandb-core's own document for it (wandb-core 0.31, ``query ClientIDMapping``): the
# server id of the artifact created with a given clientID, or null.
_CLIENT_ID_MAPPING_GQL = (
    "query ClientIDMapping($clientID: ID!) { clientIDMapping(clientID: $clientID) { serverID } }"
)
#: A portfolio created more than this before its first link (W&B's clock for both) was not
#: created by that link: it was made before (in the web app, say) and is not the recording's.
LINK_SKEW = datetime.timedelta(seconds=60)


# -- the user's explicit list (by name) ---------------------------------------------------


# -- what a recording owns (by identity) ---------------------------------------------------


@dataclass(frozen=True)
class _OwnedVersion:
    owned: Owned
    #: Version indices of the recording's versions, by collection path: evidence for
    #: the collection's delete (shared by the deleters of one cleanup).
    indices: dict[str, list[int]]

    def describe(self) -> str:
        return f"artifact {self.owned.name}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        server_id = self.owned.server_id or _server_id_of_client_id(api, self.owned.client_id)
        if not server_id:
            return False  # its creation never happened (the lost answer was a refusal)
        try:
            artifact = _artifact_by_id(api, server_id)
        except AssertionError:
            # A version never committed (recording stopped before its CommitArtifact): wandb
            # 0.31 cannot build an Artifact of a PENDING version (artifact.py _from_attrs
            # asserts its id, which a draft hides), so it is deleted by its id directly.
            return _delete_artifact_by_id(api, server_id)
        if artifact is None:
            return False
        _same_collection(self.owned, artifact)
        _held_back(
            _aliases_not_given(self.owned, artifact),
            _linked_elsewhere(api, self.owned, server_id),
        )
        version = str(getattr(artifact, "version", "") or "")
        if version[1:].isdigit():
            self.indices.setdefault(_collection_path(self.owned), []).append(int(version[1:]))
        artifact.delete(delete_aliases=True)
        return True


@dataclass(frozen=True)
class _OwnedCollection:
    owned: Owned
    #: Recording start: a collection created long before it is not the recording's.
    not_before: datetime.datetime | None
    #: See :class:`_OwnedVersion`.
    indices: dict[str, list[int]]

    def describe(self) -> str:
        return f"artifact collection {self.owned.name}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        o = self.owned
        if not o.type:
            raise Skip("its artifact type is unknown, so it cannot be looked up")
        collection = find(lambda: api.artifact_collection(o.type, o.path))
        if collection is None:
            return False
        if o.server_id and collection.id != o.server_id:
            raise Skip(f"a different collection ({collection.id}) now has this name")
        ours = self.indices.get(o.path)
        if ours and min(ours) > 0:
            # It had versions before the recording's first (W&B does not reuse numbers):
            # emptied, not new. Not the recording's to delete, and no failure either.
            raise NotOurs(f"its versions before this recording's (v{min(ours)}) show it existed")
        created = _parse_time(getattr(collection, "created_at", None))
        too_old = self.not_before is not None and created is not None
        if too_old and created < self.not_before - CLOCK_SKEW:  # type: ignore[operator]
            raise Skip(f"it was created at {created:%Y-%m-%d %H:%M}, before the recording")
        linked = _parse_time(o.created_with)
        if linked is not None and created is not None and created < linked - LINK_SKEW:
            raise NotOurs(f"it was created at {created:%Y-%m-%d %H:%M:%S}, before its first link")
        versions = list(collection.artifacts())
        if versions:
            # Someone else's, or the recording's own kept or held back: never deleted with it.
            raise Skip(f"it still holds {len(versions)} version(s) this cleanup did not delete")
        collection.delete()
        return True


@dataclass(frozen=True)
class _OwnedRun:
    owned: Owned

    def describe(self) -> str:
        return f"run {self.owned.name}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        o = self.owned
        run = find(lambda: load_run(api, o.path, fresh))
        if run is None:
            return False
        storage_id = getattr(run, "storage_id", None)
        if o.server_id and storage_id and storage_id != o.server_id:
            raise Skip(f"a different run ({storage_id}) now has this id")
        # deleteArtifacts off: the versions it logged are deleted one by one (those the
        # recording created), and the ones kept on purpose stay.
        run.delete(delete_artifacts=False)
        return True


@dataclass(frozen=True)
class _OwnedLink:
    owned: Owned

    def describe(self) -> str:
        return f"registry link {self.owned.name}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        o = self.owned
        path = o.path
        if o.version is not None:
            linked = find(lambda: api.artifact(f"{path}:v{o.version}"))
            candidates = [linked] if linked is not None else []
        else:
            collection = find(lambda: api.artifact_collection(o.type or "", path))
            candidates = list(collection.artifacts()) if collection is not None else []
        for linked in candidates:
            if linked.id == o.target_id:
                _held_back(_aliases_not_given(o, linked))  # its aliases, in its portfolio
                linked.unlink()
                return True
        return False


@dataclass(frozen=True)
class _OwnedAlias:
    owned: Owned

    def describe(self) -> str:
        return f"alias {self.owned.name}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        o = self.owned
        collection, _, alias = o.local.rpartition(":")
        variables = {
            "input": {
                "artifactID": o.target_id,
                "aliases": [
                    {
                        "alias": alias,
                        "artifactCollectionName": collection,
                        "entityName": o.entity,
                        "projectName": o.project,
                    }
                ],
            }
        }
        graphql_request(api, compat.sdk_document("DELETE_ALIASES_GQL"), variables)
        return True


@dataclass(frozen=True)
class _OwnedSweep:
    owned: Owned

    def describe(self) -> str:
        return f"sweep {self.owned.name}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        """Cancel it: W&B's API deletes no sweep (github.com/wandb/wandb/issues/4536)."""
        o = self.owned
        try:
            # What `wandb sweep --cancel` does (wandb/cli/cli.py): no agent starts a run of it.
            compat.set_sweep_state(api, o.local, "CANCELED", entity=o.entity, project=o.project)
        except Exception as exc:
            if is_not_found(exc):
                return False
            if "already" not in str(exc):  # "Sweep already canceled/finished."
                raise
        raise LeftByDesign(
            "cancelled, not deleted: W&B's API has no sweep delete "
            "(github.com/wandb/wandb/issues/4536); delete it in the W&B app"
        )


@dataclass(frozen=True)
class _Undeletable:
    owned: Owned
    reason: str

    def describe(self) -> str:
        return self.owned.name

    def delete(self, api: Any, *, fresh: bool) -> bool:
        raise Skip(self.reason)


@dataclass(frozen=True)
class _Restorer:
    """Puts a foreign state back: sends the :class:`~.foreign.Restore`'s mutation."""

    restore: Restore

    def describe(self) -> str:
        return f"{self.restore.name}: {self.restore.change}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        restore, changed = self._as_left(api)
        if restore is not None:
            graphql_request(api, restore_document(restore.field), restore.variables)
        if changed is not None:
            rest = f"; the rest put back ({restore.change})" if restore is not None else ""
            raise Skip(
                f"{changed.why}: someone changed it after, so it is left as it is{rest}",
                what="not put back",
            )
        return True

    def _as_left(self, api: Any) -> tuple[Restore | None, Changed | None]:
        """The restore to send, and what someone changed since the test left the state (a
        sweep of a killed session runs long after: a restore would undo their change). A
        version's or run's fields someone changed are left out of the restore, the others
        go back; an alias moved, or a version or run gone, is left whole
        (:func:`.ownership.restore_as_left`)."""
        restore = self.restore
        try:
            read = expected_read(restore.expect or {})
            if read is None:
                return restore, None
            return restore_as_left(restore, graphql_request(api, *read))
        except ValueError as exc:
            return None, Changed(str(exc))


#: A run's fields back, as the public API sets them: ``Run.update()`` (config, tags,
#: notes...) and ``HTTPSummary._write`` (the whole summary; W&B replaces it, since a key
#: deleted there is gone after), both in wandb/apis/public/. A null variable leaves a
#: field as it is.
RESTORE_RUN_GQL = """
mutation UpsertBucket($id: String, $config: JSONString, $summaryMetrics: JSONString,
    $tags: [String!], $notes: String, $description: String, $displayName: String,
    $groupName: String, $jobType: String) {
  upsertBucket(input: {id: $id, config: $config, summaryMetrics: $summaryMetrics,
      tags: $tags, notes: $notes, description: $description, displayName: $displayName,
      groupName: $groupName, jobType: $jobType}) {
    bucket { id }
  }
}
"""


def restore_document(field: str) -> str:
    """The document a restore of ``field`` sends: the SDK's own where it has one.

    Raises:
        ValueError: No restore sends ``field``.
    """
    generated = {
        "addAliases": "ADD_ALIASES_GQL",
        "deleteAliases": "DELETE_ALIASES_GQL",
        "updateArtifact": "UPDATE_ARTIFACT_GQL",
    }
    if field == "upsertBucket":
        return RESTORE_RUN_GQL
    if field not in generated:
        raise JournalError(f"no restore sends {field!r}")
    return compat.sdk_document(generated[field])


#: Deletion order: what points at a version, the versions, sweeps, runs, then containers.
_ORDER = ("link", "alias", "artifact", "sweep", "run", "collection", "project", "other")


def delete_owned(
    resources: Iterable[Owned],
    *,
    api: Any = None,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
    not_before: datetime.datetime | None = None,
    restores: Callable[[], Iterable[Restore]] | None = None,
) -> CleanupReport:
    """Delete resources a recording created, each found by its identity and checked first;
    then put back what it changed of others'.

    Args:
        resources: What the ledger (or a journal) shows as created and left.
            Run files go with their run and are not deleted one by one.
        restores: Called once the deletes are done: the restores to send then
            (:meth:`.ledger.Ledger.restores`, which sees the deletes go by).
        api: A ``wandb.Api``; one is made on the first delete otherwise.
        attempts: Tries per resource.
        backoff: Seconds before the second try, doubled for each later one.
        not_before: When the recording started: a collection created well
            before it is not deleted.

    Returns:
        The report: deleted, already gone.

    Raises:
        CleanupError: After trying every resource, when any could not be deleted,
            or was not because a check refused it (``skipped``, each with its reason):
            either way it is still in W&B; or a restore failed.
    """
    check_retries(attempts, backoff)
    pending: list[Deletable] = []
    indices: dict[str, list[int]] = {}
    for o in sorted(resources, key=lambda o: _ORDER.index(o.kind) if o.kind in _ORDER else 99):
        if o.kind == "run_file":
            continue
        pending.append(_deleter(o, not_before, indices))
    holder: list[Any] = [api]

    def get_api() -> Any:
        if holder[0] is None:
            holder[0] = new_api()
        return holder[0]

    report = run_deletions(pending, get_api, attempts, backoff)
    if restores is not None:
        restorers: list[Deletable] = [_Restorer(r) for r in restores()]
        restored = run_deletions(restorers, get_api, attempts, backoff)
        report.restored, report.restore_failed = restored.deleted, restored.failed
        report.skipped += restored.skipped  # a restore a check held back: said, never silent
    if not report.ok:
        failed = [*report.failed, *report.restore_failed]
        raise CleanupError(report) from (failed[0].error if failed else None)
    return report


def _deleter(
    o: Owned, not_before: datetime.datetime | None, indices: dict[str, list[int]]
) -> Deletable:
    if o.kind == "artifact":
        return _OwnedVersion(o, indices)
    if o.kind == "collection":
        return _OwnedCollection(o, not_before, indices)
    if o.kind == "run":
        return _OwnedRun(o)
    if o.kind == "link":
        return _OwnedLink(o)
    if o.kind == "alias":
        return _OwnedAlias(o)
    if o.kind == "sweep":
        return _OwnedSweep(o)
    if o.kind == "project":
        return _Undeletable(
            o,
            "left by design: deleting a project deletes everything in it, "
            "which a cleanup cannot prove this recording owns",
        )
    return _Undeletable(o, "created by a mutation that no automatic delete knows")


# -- the shared retry loop -------------------------------------------------------------


# -- talking to W&B ---------------------------------------------------------------------


def _delete_artifact_by_id(api: Any, server_id: str) -> bool:
    """``deleteArtifact`` of the version ``server_id`` (with its aliases); False: it is gone.

    The SDK's own document (``DELETE_ARTIFACT_GQL``, which ``Artifact.delete`` sends).
    """
    try:
        graphql_request(
            api,
            compat.sdk_document("DELETE_ARTIFACT_GQL"),
            {"input": {"artifactID": server_id, "deleteAliases": True}},
        )
    except Exception as exc:
        if is_not_found(exc):
            return False
        raise
    return True


def _artifact_by_id(api: Any, server_id: str) -> Any:
    """The artifact version with this server id, or None; never from the SDK's instance cache."""
    return find(lambda: compat.artifact_by_id(api, server_id))


def _server_id_of_client_id(api: Any, client_id: str) -> str | None:
    if not client_id:
        return None
    data = graphql_request(api, _CLIENT_ID_MAPPING_GQL, {"clientID": client_id})
    mapping = data.get("clientIDMapping") if isinstance(data, dict) else None
    server_id = mapping.get("serverID") if isinstance(mapping, dict) else None
    return server_id if isinstance(server_id, str) and server_id else None


def _same_collection(o: Owned, artifact: Any) -> None:
    """Raise :class:`NotOurs` when the version a server id names is in another collection
    than the one the ledger (or a journal) says the recording made it in: an id is what
    deletes, the name is what the user reads, and the two must agree."""
    name = str(getattr(artifact, "source_name", "") or getattr(artifact, "name", ""))
    found = (
        str(getattr(artifact, "source_entity", "") or ""),
        str(getattr(artifact, "source_project", "") or ""),
        name.split(":", 1)[0],
    )
    expected = (o.entity, o.project, o.local)
    if any(e and f and e != f for e, f in zip(expected, found, strict=True)):
        raise NotOurs(f"its id names a version of {'/'.join(found)}, not of {_collection_path(o)}")


def _held_back(*reasons: str) -> None:
    """Raise one :class:`Skip` naming every reason a check gave (each is what stays in W&B
    with it, and what to do), so that one sweep says all that holds a delete back."""
    found = [r for r in reasons if r]
    if found:
        raise Skip("; ".join(found) + "; then run `wandb-cassettes sweep`, or delete it yourself")


def _aliases_not_given(o: Owned, artifact: Any) -> str:
    """Why the version (or the link) may not be deleted for an alias the recording did not
    give it (:meth:`.Owned.not_given`), or ``""``: W&B deletes a version's aliases with it
    (the SDK's ``Artifact.delete(delete_aliases=True)``, ``deleteAliases`` in
    ``deleteArtifact``), an unlink the link's, and one a teammate put on the test's version
    or link since would go too. One whose aliases cannot be read is not deleted either."""
    try:
        others = o.not_given(getattr(artifact, "aliases", None))
    except TypeError as exc:
        return f"{exc}, so whose aliases it holds is unknown"
    if not others:
        return ""
    return (
        f"it holds {', '.join(others)}, which this recording did not give it (put on it "
        "since?): deleting it would delete them; move them off"
    )


def _linked_elsewhere(api: Any, o: Owned, server_id: str) -> str:
    """Why the version may not be deleted for a collection it is in besides its own, or
    ``""``: a registry link this cleanup did not unlink before (a teammate's, or the test's
    own held back by its check), which deleting the source would take along, with its
    aliases. The read is the relay's before a link (:func:`.ownership.links_read`); one
    that lists nothing is not taken for "no links"."""
    answer = graphql_request(api, *links_read(server_id))
    found = memberships(answer.get("artifact") if isinstance(answer, dict) else None)
    if found is None:
        return "the collections it is in could not be read, so its links are unknown"
    entity, own = o.entity, (o.project, o.local)
    elsewhere = sorted(
        "/".join(where) for _, where in found if where[1:] != own or entity not in ("", where[0])
    )
    if not elsewhere:
        return ""
    return (
        f"it is linked into {', '.join(elsewhere)}, which this cleanup did not unlink: "
        "deleting it would unlink it too; unlink it"
    )


def _collection_path(o: Owned) -> str:
    """``entity/project/collection`` of an artifact version (its ``local`` is the collection)."""
    return "/".join(p for p in (o.entity, o.project, o.local) if p)


def _parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
