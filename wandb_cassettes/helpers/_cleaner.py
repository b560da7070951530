"""``wandb_artifact_cleaner``: delete what a test names, at teardown, pass or fail.

The user's explicit list, by name (the seed document's ``WandbArtifactCleaner``): every
version of a tracked artifact, a tracked run and the artifacts it logged. The user named
them, so they go; unlike the automatic cleanup (:mod:`wandb_cassettes.cleanup`), nothing
here asks for evidence of ownership. Deletes go through the cleanup's retry loop: "already
gone" counts as done, what still failed after every try is one
:class:`~wandb_cassettes.errors.CleanupError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..cleanup import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BACKOFF,
    CleanupReport,
    Deletable,
    check_retries,
    find,
    load_run,
    new_api,
    run_deletions,
)
from ..errors import CleanupError, ConfigurationError


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
            self.type or self.found_type or find(lambda: api.artifact(f"{path}:{self.alias}").type)
        )
        if self.found_type is None:
            return False
        collection = find(lambda: api.artifact_collection(self.found_type, path))
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
        run = find(lambda: load_run(api, f"{self.project_path}/{self.run_id}", fresh))
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
            collection = find(_collection_lookup(api, type_name, path))
            if collection is not None and not list(collection.artifacts()):
                collection.delete()


def _collection_lookup(api: Any, type_name: str, path: str) -> Callable[[], Any]:
    return lambda: api.artifact_collection(type_name, path)


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
        check_retries(attempts, backoff)
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
            raise ConfigurationError(f"malformed artifact name {name_or_path!r}")
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
        report = run_deletions(pending, self._get_api, self.attempts, self.backoff)
        if report.failed:
            raise CleanupError(report) from report.failed[0].error
        return report

    def _pending(self) -> list[Deletable]:
        return [*self._artifacts, *self._runs]

    def _get_api(self) -> Any:
        if self._api is None:
            self._api = new_api()
        return self._api

    def _qualify(self, path: str, *, what: str, raw: str) -> tuple[str, str]:
        """Split ``[[entity/]project/]name`` into (``[entity/]project``, name), with defaults."""
        parts = path.split("/")
        if len(parts) > 3 or not all(parts):
            raise ConfigurationError(
                f"malformed {what} path {raw!r}: expected [[entity/]project/]name"
            )
        *prefix, name = parts
        if len(prefix) == 2:
            return "/".join(prefix), name
        entity, project = self._defaults()
        if prefix:
            project = prefix[0]
        if project is None:
            raise ConfigurationError(
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
