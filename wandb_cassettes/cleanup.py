"""Delete what a test created in W&B: every tracked artifact and run, or a loud error.

Cleanup used to be best-effort and silent, which is how test data piled up in
W&B projects. Here each delete is retried, "already gone" counts as done, and
whatever still could not be deleted after every resource was tried is raised
as one :class:`CleanupError` that names it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pytest

__all__ = [
    "CleanupError",
    "CleanupFailure",
    "CleanupReport",
    "WandbArtifactCleaner",
    "wandb_artifact_cleaner",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

# How wandb 0.31's public API words "no such project/collection/artifact/run".
_NOT_FOUND_PHRASES = ("not found", "could not find")

DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF = 0.5
"""Seconds before the second try; doubled before each later one."""


@dataclass(frozen=True)
class CleanupFailure:
    """A resource that could not be deleted, and the last error."""

    resource: str
    error: Exception
    attempts: int

    def __str__(self) -> str:
        tries = "try" if self.attempts == 1 else "tries"
        # One line per failure: SDK messages often end in (or contain) newlines.
        message = " ".join(str(self.error).split())
        error = f"{type(self.error).__name__}: {message}"
        return f"{self.resource}: {error} (after {self.attempts} {tries})"


@dataclass
class CleanupReport:
    """What :meth:`WandbArtifactCleaner.cleanup_all` did, resource by resource."""

    deleted: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)
    failed: list[CleanupFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing tracked is left in W&B."""
        return not self.failed


class CleanupError(Exception):
    """Some tracked W&B resources could not be deleted. ``report`` has the details."""

    def __init__(self, report: CleanupReport) -> None:
        self.report = report
        lines = "\n".join(f"  - {failure}" for failure in report.failed)
        super().__init__(
            f"could not delete {len(report.failed)} W&B resource(s); "
            f"they are still in W&B:\n{lines}"
        )


class _Resource(Protocol):
    def describe(self) -> str: ...

    def delete(self, api: Any, *, fresh: bool) -> bool:
        """Delete it; False if there was nothing to delete.

        ``fresh`` asks to bypass the public API's caches: a retry must see what
        an earlier, failed-looking attempt may already have deleted.
        """
        ...


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
        return _delete_collection(api, self.found_type, path, only_if_empty=False)


@dataclass(frozen=True)
class _Run:
    project_path: str
    run_id: str
    delete_artifacts: bool

    def describe(self) -> str:
        extra = " and its logged artifacts" if self.delete_artifacts else ""
        return f"run {self.project_path}/{self.run_id}{extra}"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        def lookup() -> Any:
            run = api.run(f"{self.project_path}/{self.run_id}")
            if fresh:
                run.load(force=True)
            return run

        run = _find(lookup)
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
            _delete_collection(api, type_name, path, only_if_empty=True)


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
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        if backoff < 0:
            raise ValueError(f"backoff must not be negative, got {backoff}")
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
        report = CleanupReport()
        if not pending:
            return report
        try:
            api = self._get_api()
        except Exception as exc:  # no key, no network: nothing could be deleted
            report.failed = [CleanupFailure(r.describe(), exc, 1) for r in pending]
        else:
            for resource in pending:
                self._delete_with_retries(api, resource, report)
        if report.failed:
            raise CleanupError(report) from report.failed[0].error
        return report

    def _pending(self) -> list[_Resource]:
        return [*self._artifacts, *self._runs]

    def _get_api(self) -> Any:
        if self._api is None:
            import wandb

            self._api = wandb.Api()
        return self._api

    def _delete_with_retries(self, api: Any, resource: _Resource, report: CleanupReport) -> None:
        description = resource.describe()
        for attempt in range(1, self.attempts + 1):
            try:
                deleted = resource.delete(api, fresh=attempt > 1)
            except Exception as exc:
                if attempt == self.attempts:
                    report.failed.append(CleanupFailure(description, exc, attempt))
                    return
                delay = self.backoff * 2 ** (attempt - 1)
                _log.warning(
                    "deleting %s failed (try %d of %d), retrying in %.2fs: %s",
                    description,
                    attempt,
                    self.attempts,
                    delay,
                    exc,
                )
                time.sleep(delay)
            else:
                (report.deleted if deleted else report.already_gone).append(description)
                return

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


def _find(lookup: Callable[[], T]) -> T | None:
    """``lookup()``, or None when the public API says there is no such thing."""
    try:
        return lookup()
    except Exception as exc:
        if _is_not_found(exc):
            return None
        raise


def _delete_collection(api: Any, type_name: str, path: str, *, only_if_empty: bool) -> bool:
    """Delete each version of a collection (with its aliases), then the collection.

    Returns False when there was nothing to delete.
    """
    collection = _find(lambda: api.artifact_collection(type_name, path))
    if collection is None:
        return False
    versions = list(collection.artifacts())
    if versions and only_if_empty:
        return False
    for version in versions:
        version.delete(delete_aliases=True)
    collection.delete()
    return True


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


@pytest.fixture
def wandb_artifact_cleaner() -> Iterator[WandbArtifactCleaner]:
    """A :class:`WandbArtifactCleaner` whose resources are deleted after the test.

    Cleanup runs whether the test passed or failed; resources that cannot be
    deleted make the test error at teardown, with a :class:`CleanupError` naming them.
    """
    cleaner = WandbArtifactCleaner()
    yield cleaner
    cleaner.cleanup_all()


class _Named(Protocol):
    kind: str
    entity: str
    project: str
    local: str
    type: str | None


def track_leftovers(cleaner: WandbArtifactCleaner, resources: Iterable[_Named]) -> None:
    """Track what a ledger or journal found left behind: runs, and whole collections.

    An artifact version or a collection is tracked as its collection (all
    versions go); a run file goes with its run, so it is not tracked itself.
    """
    for r in resources:
        path = f"{r.entity}/{r.project}/{r.local}"
        if r.kind == "run":
            cleaner.track_run(path, delete_artifacts=True)
        elif r.kind in ("artifact", "collection"):
            # The type finds a collection whose versions are all gone already.
            cleaner.track_artifact(path, type=r.type)
