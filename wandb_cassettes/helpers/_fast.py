"""A throwaway W&B run for a test: quiet, quick to start, deleted afterwards."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from .. import compat
from ._cleaner import WandbArtifactCleaner

if TYPE_CHECKING:
    import wandb


_log = logging.getLogger(__name__)

QUIET_SETTINGS: Mapping[str, Any] = {
    # Console capture, system metrics and machine facts are extra file_stream
    # traffic and uploads per run, and the part of a recording that differs
    # every time (wandb/sdk/wandb_settings.py: x_disable_stats, x_disable_meta...).
    "console": "off",
    "x_disable_stats": True,
    "x_disable_meta": True,
    "x_disable_machine_info": True,
    # Each of these is a file uploaded at finish, or a repository scan at init.
    "save_code": False,
    "disable_code": True,
    "disable_git": True,
    "x_save_requirements": False,
    "quiet": True,
}
"""``wandb.Settings`` fields that keep a test run fast and its recording stable."""


def quiet_settings(overrides: wandb.Settings | Mapping[str, Any] | None = None) -> wandb.Settings:
    """``wandb.Settings`` made of :data:`QUIET_SETTINGS`, with ``overrides`` on top.

    Args:
        overrides: Fields to change; a ``wandb.Settings`` contributes only the
            fields that were set on it.
    """
    import wandb

    if isinstance(overrides, wandb.Settings):
        overrides = overrides.model_dump(include=overrides.model_fields_set)
    return wandb.Settings(**{**QUIET_SETTINGS, **(overrides or {})})


@contextmanager
def fast_wandb_test(
    run_name_prefix: str = "test",
    *,
    project: str | None = None,
    cleaner: WandbArtifactCleaner | None = None,
    **init_kwargs: Any,
) -> Iterator[wandb.Run]:
    """Start a quiet W&B run for a test; finish and delete it afterwards.

    The run is named ``{run_name_prefix}-{run id}`` and started with
    :func:`quiet_settings` (a ``settings=`` in ``init_kwargs`` is laid on top).
    On exit, also when the body raised, the run is finished (exit code 1 after
    an exception), then deleted together with every artifact version it logged.

    Args:
        run_name_prefix: Start of the run's display name.
        project: W&B project; by default ``WANDB_PROJECT`` or wandb's own default.
        cleaner: Track the run on this cleaner instead of deleting it on exit,
            so it stays queryable until that cleaner's ``cleanup_all()`` (for
            the ``wandb_artifact_cleaner`` fixture: the test's teardown).
        **init_kwargs: Passed to ``wandb.init``.

    Yields:
        The run.

    Raises:
        CleanupError: The body succeeded but the run or its artifacts could not
            be deleted. If the body raised, its exception is re-raised instead,
            with the cleanup failure logged and added to it as a note.
    """
    import wandb

    # runid.generate_id, looked up at call time, is the id source the pytest
    # plugin makes deterministic per test; the name then matches on replay.
    run_id = init_kwargs.pop("id", None) or compat.runid_module().generate_id()
    init_kwargs.setdefault("name", f"{run_name_prefix}-{run_id}")
    init_kwargs["settings"] = quiet_settings(init_kwargs.get("settings"))
    if project is not None:
        init_kwargs["project"] = project

    run = wandb.init(id=run_id, **init_kwargs)
    owns_cleaner = cleaner is None
    if cleaner is None:
        cleaner = WandbArtifactCleaner(entity=run.entity, project=run.project)
    cleaner.track_run(run, delete_artifacts=True)
    try:
        yield run
    except BaseException as exc:
        _close_after_error(run, cleaner if owns_cleaner else None, exc)
        raise
    try:
        run.finish()
    finally:
        if owns_cleaner:
            cleaner.cleanup_all()


def _close_after_error(
    run: wandb.Run, cleaner: WandbArtifactCleaner | None, error: BaseException
) -> None:
    # The test's own error is what the user needs to see, so failures here are
    # attached to it instead of replacing it.
    steps: list[Callable[[], object]] = [partial(run.finish, exit_code=1)]
    if cleaner is not None:
        steps.append(cleaner.cleanup_all)
    for step in steps:
        try:
            step()
        except Exception as cleanup_error:
            _log.error("cleanup after a failed test also failed: %s", cleanup_error)
            note = f"cleanup after this error also failed: {cleanup_error!r}"
            if hasattr(error, "add_note"):  # Python 3.11+
                error.add_note(note)
