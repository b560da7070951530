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
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..errors import CleanupError
from ..ownership import Owned, Restore

__all__ = [
    "CleanupError",
    "CleanupFailure",
    "CleanupReport",
    "WandbArtifactCleaner",
    "delete_owned",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

# How wandb 0.31's public API words "no such project/collection/artifact/run".
_NOT_FOUND_PHRASES = ("not found", "could not find", "does not exist")

DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF = 0.5
"""Seconds before the second try; doubled before each later one."""

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


@dataclass(frozen=True)
class CleanupFailure:
    """A resource that could not be deleted, and the last error."""

    resource: str
    error: Exception
    attempts: int

    def __str__(self) -> str:
        tries = "try" if self.attempts == 1 else "tries"
        # One line per failure: SDK messages often end in (or contain) newlines.
        message = " ".join(str(self.error).split()) or repr(self.error)
        error = f"{type(self.error).__name__}: {message}"
        return f"{self.resource}: {error} (after {self.attempts} {tries})"


@dataclass
class CleanupReport:
    """What a cleanup did, resource by resource."""

    deleted: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)
    #: Not deleted on purpose, each with the reason (the evidence of ownership was missing).
    skipped: list[str] = field(default_factory=list)
    #: Not deleted: evidence found on the way showed it was not the recording's.
    not_ours: list[str] = field(default_factory=list)
    #: Not deletable through W&B's API (a sweep: cancelled instead), each with the reason.
    left_by_design: list[str] = field(default_factory=list)
    failed: list[CleanupFailure] = field(default_factory=list)
    #: Changes to resources the recording did not create, put back as they were.
    restored: list[str] = field(default_factory=list)
    #: Such changes that could not be put back.
    restore_failed: list[CleanupFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing that was to be deleted is left in W&B, and all is restored."""
        return not self.failed and not self.skipped and not self.restore_failed


class _Skip(Exception):
    """A check refused a delete: the resource stays, and the reason is reported."""


class _NotOurs(Exception):
    """Evidence found while cleaning up shows the resource was not the recording's after all."""


class _LeftByDesign(Exception):
    """W&B's API cannot delete it: what could be done was done, the rest is reported."""


class _Resource(Protocol):
    def describe(self) -> str: ...

    def delete(self, api: Any, *, fresh: bool) -> bool:
        """Delete it; False if there was nothing to delete; :class:`_Skip` if it must stay.

        ``fresh`` asks to bypass the public API's caches: a retry must see what
        an earlier, failed-looking attempt may already have deleted.
        """
        ...


# -- the user's explicit list (by name) ---------------------------------------------------


@dataclass(unsafe_hash=True)
class _ArtifactCollection:
    project_path: str
    name: str
    type: str | None
    alias: str
    # Found on the first try and kept: once versions are deleted, the alias
    # used to look the type up may be gone while the collection is not.
    found_type: str | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"artifact {self.project_path}/{self.name} (all versions)"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        path = f"{self.project_path}/{self.name}"
        self.found_type = (
            self.type or self.found_type or _find(lambda: api.artifact(f"{path}:{self.alias}").type)
        )
        if self.found_type is None:
            return False
        collection = _find(lambda: api.artifact_collection(self.found_type, path))
        if collection is None:
            return False
        for version in list(collection.artifacts()):
            version.delete(delete_aliases=True)
        collection.delete()
        return True


@dataclass(frozen=True)
class _Run:
    project_path: str
    run_id: str
    delete_artifacts: bool

    def describe(self) -> str:
        extra = " and its logged artifacts" if self.delete_artifacts else ""
        return f"run {self.project_path}/{self.run_id}{extra}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        run = _find(lambda: _load_run(api, f"{self.project_path}/{self.run_id}", fresh))
        if run is None:
            return False
        if self.delete_artifacts:
            self._delete_logged_artifacts(api, run)
        run.delete(delete_artifacts=self.delete_artifacts)
        return True

    @staticmethod
    def _delete_logged_artifacts(api: Any, run: Any) -> None:
        # Version by version, aliases included, rather than relying on what
        # deleteRun(deleteArtifacts) does server-side: the same deletes work
        # on any backend, and they tell which collections may now be empty.
        collections: dict[tuple[str, str], None] = {}
        for artifact in list(run.logged_artifacts()):
            artifact.delete(delete_aliases=True)
            base_name = artifact.source_name.split(":")[0]
            path = f"{artifact.source_entity}/{artifact.source_project}/{base_name}"
            collections[(artifact.type, path)] = None
        # A collection this run filled alone is now an empty shell; one that
        # still has other runs' versions is left alone.
        for type_name, path in collections:
            collection = _find(_collection_lookup(api, type_name, path))
            if collection is not None and not list(collection.artifacts()):
                collection.delete()


def _collection_lookup(api: Any, type_name: str, path: str) -> Callable[[], Any]:
    return lambda: api.artifact_collection(type_name, path)


def _load_run(api: Any, path: str, fresh: bool) -> Any:
    run = api.run(path)
    if fresh:
        run.load(force=True)
    return run


class WandbArtifactCleaner:
    """Track W&B artifacts and runs a test creates, then delete them all.

    Bare names are completed with a default entity and project, taken from the
    first of: the constructor arguments, the active run (``wandb.run``) when a
    name is tracked, ``WANDB_ENTITY``/``WANDB_PROJECT``. A missing entity is
    left for ``wandb.Api()`` to fill in with the API key's default entity.

    Args:
        entity: Default entity for names without one.
        project: Default project for names without one.
        api: A ``wandb.Api`` to use; by default one is made on the first cleanup
            that has something to delete.
        attempts: Tries per resource before it counts as failed.
        backoff: Seconds to wait before the second try, doubled for each later one.
    """

    def __init__(
        self,
        entity: str | None = None,
        project: str | None = None,
        *,
        api: Any = None,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
    ) -> None:
        _check_retries(attempts, backoff)
        self.entity = entity
        self.project = project
        self.attempts = attempts
        self.backoff = backoff
        self._api = api
        # A dict as an ordered set: tracking the same thing twice deletes it once.
        self._artifacts: dict[_ArtifactCollection, None] = {}
        self._runs: dict[_Run, None] = {}

    @property
    def tracked(self) -> list[str]:
        """Descriptions of what the next :meth:`cleanup_all` will delete, in order."""
        return [resource.describe() for resource in self._pending()]

    def track_artifact(self, name_or_path: str, *, type: str | None = None) -> None:
        """Delete every version of this artifact at cleanup.

        Args:
            name_or_path: ``name``, ``project/name`` or ``entity/project/name``,
                optionally with ``:alias`` or ``:vN``. Whatever the alias, all
                versions are deleted; it only says which version to ask for the
                artifact's type when ``type`` is not given.
            type: The artifact type; saves a lookup at cleanup.

        Raises:
            ValueError: The name is malformed, or no project can be determined.
        """
        path, colon, alias = name_or_path.partition(":")
        if ":" in alias or (colon and not alias):
            raise ValueError(f"malformed artifact name {name_or_path!r}")
        project_path, name = self._qualify(path, what="artifact", raw=name_or_path)
        resource = _ArtifactCollection(project_path, name, type, alias or "latest")
        self._artifacts[resource] = None

    def track_run(self, run: Any, *, delete_artifacts: bool = True) -> None:
        """Delete this run at cleanup.

        Args:
            run: ``entity/project/run_id`` (or ``project/run_id``, ``run_id``),
                or a run object: a ``wandb.Run`` or a public-API run.
            delete_artifacts: Also delete every artifact version the run logged.

        Raises:
            ValueError: The path is malformed, or no project can be determined.
        """
        if isinstance(run, str):
            path = run
        else:
            path = "/".join(str(getattr(run, attr) or "") for attr in ("entity", "project", "id"))
        project_path, run_id = self._qualify(path, what="run", raw=str(run))
        self._runs[_Run(project_path, run_id, delete_artifacts)] = None

    def cleanup_all(self) -> CleanupReport:
        """Delete everything tracked: artifacts first, then runs.

        Each resource gets ``attempts`` tries; one that no longer exists counts
        as deleted. Tracked resources are forgotten afterwards, deleted or not,
        so that each failure is reported once.

        Returns:
            The report, when everything was deleted.

        Raises:
            CleanupError: After trying every resource, when any could not be deleted.
        """
        pending = self._pending()
        self._artifacts.clear()
        self._runs.clear()
        report = _run_deletions(pending, self._get_api, self.attempts, self.backoff)
        if report.failed:
            raise CleanupError(report) from report.failed[0].error
        return report

    def _pending(self) -> list[_Resource]:
        return [*self._artifacts, *self._runs]

    def _get_api(self) -> Any:
        if self._api is None:
            self._api = _new_api()
        return self._api

    def _qualify(self, path: str, *, what: str, raw: str) -> tuple[str, str]:
        """Split ``[[entity/]project/]name`` into (``[entity/]project``, name), with defaults."""
        parts = path.split("/")
        if len(parts) > 3 or not all(parts):
            raise ValueError(f"malformed {what} path {raw!r}: expected [[entity/]project/]name")
        *prefix, name = parts
        if len(prefix) == 2:
            return "/".join(prefix), name
        entity, project = self._defaults()
        if prefix:
            project = prefix[0]
        if project is None:
            raise ValueError(
                f"no project for {what} {raw!r}: pass 'entity/project/{name}', "
                "start a run first, set WANDB_PROJECT, or give the cleaner project="
            )
        return (f"{entity}/{project}" if entity else project), name

    def _defaults(self) -> tuple[str | None, str | None]:
        import wandb

        run = wandb.run
        entity = self.entity or (run.entity if run else None) or os.environ.get("WANDB_ENTITY")
        project = self.project or (run.project if run else None) or os.environ.get("WANDB_PROJECT")
        return entity or None, project or None


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
            raise _Skip("its artifact type is unknown, so it cannot be looked up")
        collection = _find(lambda: api.artifact_collection(o.type, o.path))
        if collection is None:
            return False
        if o.server_id and collection.id != o.server_id:
            raise _Skip(f"a different collection ({collection.id}) now has this name")
        ours = self.indices.get(o.path)
        if ours and min(ours) > 0:
            # It had versions before the recording's first (W&B does not reuse numbers):
            # emptied, not new. Not the recording's to delete, and no failure either.
            raise _NotOurs(f"its versions before this recording's (v{min(ours)}) show it existed")
        created = _parse_time(getattr(collection, "created_at", None))
        too_old = self.not_before is not None and created is not None
        if too_old and created < self.not_before - CLOCK_SKEW:  # type: ignore[operator]
            raise _Skip(f"it was created at {created:%Y-%m-%d %H:%M}, before the recording")
        linked = _parse_time(o.created_with)
        if linked is not None and created is not None and created < linked - LINK_SKEW:
            raise _NotOurs(f"it was created at {created:%Y-%m-%d %H:%M:%S}, before its first link")
        versions = list(collection.artifacts())
        if versions:
            raise _Skip(f"it holds {len(versions)} version(s) this recording did not create")
        collection.delete()
        return True


@dataclass(frozen=True)
class _OwnedRun:
    owned: Owned

    def describe(self) -> str:
        return f"run {self.owned.name}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        o = self.owned
        run = _find(lambda: _load_run(api, o.path, fresh))
        if run is None:
            return False
        storage_id = getattr(run, "storage_id", None)
        if o.server_id and storage_id and storage_id != o.server_id:
            raise _Skip(f"a different run ({storage_id}) now has this id")
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
            linked = _find(lambda: api.artifact(f"{path}:v{o.version}"))
            candidates = [linked] if linked is not None else []
        else:
            collection = _find(lambda: api.artifact_collection(o.type or "", path))
            candidates = list(collection.artifacts()) if collection is not None else []
        for linked in candidates:
            if linked.id == o.target_id:
                linked.unlink()
                return True
        return False


@dataclass(frozen=True)
class _OwnedAlias:
    owned: Owned

    def describe(self) -> str:
        return f"alias {self.owned.name}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        from wandb.sdk.artifacts._generated import DELETE_ALIASES_GQL

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
        _graphql(api, DELETE_ALIASES_GQL, variables)
        return True


@dataclass(frozen=True)
class _OwnedSweep:
    owned: Owned

    def describe(self) -> str:
        return f"sweep {self.owned.name}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        """Cancel it: W&B's API deletes no sweep (github.com/wandb/wandb/issues/4536)."""
        from wandb.apis.public.sweeps import _set_sweep_state

        o = self.owned
        try:
            # What `wandb sweep --cancel` does (wandb/cli/cli.py): no agent starts a run of it.
            _set_sweep_state(api, o.local, "CANCELED", entity=o.entity, project=o.project)
        except Exception as exc:
            if _is_not_found(exc):
                return False
            if "already" not in str(exc):  # "Sweep already canceled/finished."
                raise
        raise _LeftByDesign(
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
        raise _Skip(self.reason)


@dataclass(frozen=True)
class _Restorer:
    """Puts a foreign state back: sends the :class:`~.foreign.Restore`'s mutation."""

    restore: Restore

    def describe(self) -> str:
        return f"{self.restore.name}: {self.restore.change}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        _graphql(api, restore_document(self.restore.field), self.restore.variables)
        return True


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
    from wandb.sdk.artifacts._generated import (
        ADD_ALIASES_GQL,
        DELETE_ALIASES_GQL,
        UPDATE_ARTIFACT_GQL,
    )

    documents = {
        "addAliases": ADD_ALIASES_GQL,
        "deleteAliases": DELETE_ALIASES_GQL,
        "updateArtifact": UPDATE_ARTIFACT_GQL,
        "upsertBucket": RESTORE_RUN_GQL,
    }
    if field not in documents:
        raise ValueError(f"no restore sends {field!r}")
    return documents[field]


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
    _check_retries(attempts, backoff)
    pending: list[_Resource] = []
    indices: dict[str, list[int]] = {}
    for o in sorted(resources, key=lambda o: _ORDER.index(o.kind) if o.kind in _ORDER else 99):
        if o.kind == "run_file":
            continue
        pending.append(_deleter(o, not_before, indices))
    holder: list[Any] = [api]

    def get_api() -> Any:
        if holder[0] is None:
            holder[0] = _new_api()
        return holder[0]

    report = _run_deletions(pending, get_api, attempts, backoff)
    if restores is not None:
        restorers: list[_Resource] = [_Restorer(r) for r in restores()]
        restored = _run_deletions(restorers, get_api, attempts, backoff)
        report.restored, report.restore_failed = restored.deleted, restored.failed
    if not report.ok:
        failed = [*report.failed, *report.restore_failed]
        raise CleanupError(report) from (failed[0].error if failed else None)
    return report


def _deleter(
    o: Owned, not_before: datetime.datetime | None, indices: dict[str, list[int]]
) -> _Resource:
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


def _run_deletions(
    pending: list[_Resource], get_api: Callable[[], Any], attempts: int, backoff: float
) -> CleanupReport:
    report = CleanupReport()
    if not pending:
        return report
    try:
        api = get_api()
    except Exception as exc:  # no key, no network: nothing could be deleted
        report.failed = [CleanupFailure(r.describe(), exc, 1) for r in pending]
        return report
    for resource in pending:
        _delete_with_retries(api, resource, report, attempts, backoff)
    return report


def _delete_with_retries(
    api: Any, resource: _Resource, report: CleanupReport, attempts: int, backoff: float
) -> None:
    description = resource.describe()
    for attempt in range(1, attempts + 1):
        try:
            deleted = resource.delete(api, fresh=attempt > 1)
        except _Skip as skip:
            report.skipped.append(f"{description}: not deleted: {skip}")
            return
        except _NotOurs as not_ours:
            report.not_ours.append(f"{description}: not the recording's: {not_ours}")
            return
        except _LeftByDesign as left:
            report.left_by_design.append(f"{description}: {left}")
            return
        except Exception as exc:
            if attempt == attempts:
                report.failed.append(CleanupFailure(description, exc, attempt))
                return
            delay = backoff * 2 ** (attempt - 1)
            _log.warning(
                "deleting %s failed (try %d of %d), retrying in %.2fs: %s",
                description,
                attempt,
                attempts,
                delay,
                exc,
            )
            time.sleep(delay)
        else:
            (report.deleted if deleted else report.already_gone).append(description)
            return


def _check_retries(attempts: int, backoff: float) -> None:
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    if backoff < 0:
        raise ValueError(f"backoff must not be negative, got {backoff}")


# -- talking to W&B ---------------------------------------------------------------------


def _new_api() -> Any:
    import wandb

    return wandb.Api()


def _graphql(api: Any, document: str, variables: dict[str, Any]) -> Any:
    """Run ``document`` through the public API's transport (wandb-core), as the SDK does."""
    # ``Api._service_api`` is private: the SDK has no public method for these
    # operations (delete by id, sweeps, aliases of a version); wandb is pinned to 0.31.x
    # and tests/test_cleanup.py drives each path against the stand-in.
    return api._service_api.execute_graphql(document, variables)


def _delete_artifact_by_id(api: Any, server_id: str) -> bool:
    """``deleteArtifact`` of the version ``server_id`` (with its aliases); False: it is gone.

    The SDK's own document (``DELETE_ARTIFACT_GQL``, which ``Artifact.delete`` sends).
    """
    from wandb.sdk.artifacts._generated import DELETE_ARTIFACT_GQL

    try:
        _graphql(
            api, DELETE_ARTIFACT_GQL, {"input": {"artifactID": server_id, "deleteAliases": True}}
        )
    except Exception as exc:
        if _is_not_found(exc):
            return False
        raise
    return True


def _artifact_by_id(api: Any, server_id: str) -> Any:
    """The artifact version with this server id, or None; never from the SDK's instance cache."""
    from wandb.sdk.artifacts.artifact import Artifact
    from wandb.sdk.artifacts.artifact_instance_cache import artifact_instance_cache

    artifact_instance_cache.pop(server_id, None)
    return _find(lambda: Artifact._from_id(server_id, api._service_api))


def _server_id_of_client_id(api: Any, client_id: str) -> str | None:
    if not client_id:
        return None
    data = _graphql(api, _CLIENT_ID_MAPPING_GQL, {"clientID": client_id})
    mapping = data.get("clientIDMapping") if isinstance(data, dict) else None
    server_id = mapping.get("serverID") if isinstance(mapping, dict) else None
    return server_id if isinstance(server_id, str) and server_id else None


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


def _find(lookup: Callable[[], T]) -> T | None:
    """``lookup()``, or None when the public API says there is no such thing."""
    try:
        return lookup()
    except Exception as exc:
        if _is_not_found(exc):
            return None
        raise


def _is_not_found(exc: BaseException) -> bool:
    """Whether the public API said the resource does not exist (not that it failed).

    The SDK raises a ``ValueError`` for that (``RunNotFoundError``, "... not
    found ...", "Could not find ..."), often wrapped in a ``CommError`` whose
    ``exc`` is the original.
    """
    for error in _causes(exc):
        if isinstance(error, ValueError) and (
            type(error).__name__ == "RunNotFoundError"
            or any(phrase in str(error).lower() for phrase in _NOT_FOUND_PHRASES)
        ):
            return True
    return False


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "exc", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
