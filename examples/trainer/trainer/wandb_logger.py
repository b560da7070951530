"""Log a training run to W&B: metrics, and each epoch's checkpoint as a versioned artifact."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import wandb
from torch import nn

CHECKPOINT_TYPE = "model"
CHECKPOINT_FILE = "checkpoint.pt"
MAX_ARTIFACT_NAME_LENGTH = 128
_DISALLOWED = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_artifact_name(name: str) -> str:
    """Turn ``name`` into a valid W&B artifact name.

    W&B allows letters, digits, ``-``, ``_`` and ``.``, at most 128 characters.
    Runs of other characters become one ``-``. A longer name is cut and ends
    with a hash of the whole name, so that two long names still differ.

    Raises:
        ValueError: Nothing usable is left of ``name``.
    """
    cleaned = _DISALLOWED.sub("-", name).strip("-")
    if not cleaned.strip("._"):
        raise ValueError(f"no valid artifact name can be made from {name!r}")
    if len(cleaned) <= MAX_ARTIFACT_NAME_LENGTH:
        return cleaned
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{cleaned[: MAX_ARTIFACT_NAME_LENGTH - len(digest) - 1]}-{digest}"


class WandbCheckpointLogger:
    """Metrics and checkpoints of one training run, logged to W&B.

    Each :meth:`log_checkpoint` adds a version to one artifact collection,
    :attr:`checkpoint_name` (by default ``<run name>-checkpoint``), aliased
    ``latest`` and ``epoch-N``; :meth:`cleanup_old_checkpoints` prunes it.

    Args:
        project: W&B project for :meth:`init_run` (else wandb's default).
        entity: W&B entity for :meth:`init_run` (else the API key's default).
        checkpoint_name: Artifact collection for checkpoints; sanitized.
        **init_kwargs: More ``wandb.init`` arguments, e.g. ``settings`` or ``mode``.
    """

    sanitize_artifact_name = staticmethod(sanitize_artifact_name)

    def __init__(
        self,
        project: str | None = None,
        entity: str | None = None,
        *,
        checkpoint_name: str | None = None,
        **init_kwargs: Any,
    ) -> None:
        self.project = project
        self.entity = entity
        self._checkpoint_name = sanitize_artifact_name(checkpoint_name) if checkpoint_name else None
        self._init_kwargs = init_kwargs
        self._run: wandb.Run | None = None
        self._owns_run = False
        self._api: wandb.Api | None = None
        self._staging: tempfile.TemporaryDirectory[str] | None = None
        self._saved = 0
        # Kept after finish(), so that old checkpoints can still be pruned by name.
        self._project_path: str | None = None

    @property
    def run(self) -> wandb.Run:
        """The run being logged to."""
        if self._run is None:
            raise RuntimeError("no run: call init_run() or attach() first")
        return self._run

    @property
    def checkpoint_name(self) -> str:
        """Name of the checkpoint artifact collection."""
        if self._checkpoint_name is None:
            self._checkpoint_name = sanitize_artifact_name(
                f"{self.run.name or self.run.id}-checkpoint"
            )
        return self._checkpoint_name

    def init_run(self, config: Mapping[str, Any], run_name: str) -> wandb.Run:
        """Start a run named ``run_name`` with ``config``; :meth:`finish` ends it."""
        if self._run is not None:
            raise RuntimeError(f"a run is already active: {self._run.path}")
        self._run = wandb.init(
            project=self.project,
            entity=self.entity,
            name=run_name,
            config=dict(config),
            **self._init_kwargs,
        )
        self._adopt(self._run, owns=True)
        return self._run

    def attach(self, run: wandb.Run) -> None:
        """Log into a run started elsewhere; :meth:`finish` then leaves it running."""
        if self._run is not None:
            raise RuntimeError(f"a run is already active: {self._run.path}")
        self._adopt(run, owns=False)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log ``metrics`` to the run's history, at ``step`` if given."""
        self.run.log(dict(metrics), step=step)

    def log_checkpoint(
        self, model: nn.Module, epoch: int, optimizer: torch.optim.Optimizer | None = None
    ) -> wandb.Artifact:
        """Save the model (and optimizer) state and log it as a new checkpoint version.

        Online, returns once the version is committed in W&B, so it can be queried.
        """
        state: dict[str, Any] = {"model_state_dict": model.state_dict(), "epoch": epoch}
        if optimizer is not None:
            state["optimizer_state_dict"] = optimizer.state_dict()
        self._saved += 1
        path = self._staging_dir() / f"{self._saved}-epoch-{epoch}" / CHECKPOINT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)

        artifact = wandb.Artifact(
            self.checkpoint_name, type=CHECKPOINT_TYPE, metadata={"epoch": epoch}
        )
        offline = self.run.offline
        # Online the file is uploaded from where it is ("immutable": each
        # checkpoint has a file of its own, never written again) instead of
        # being copied to W&B's staging folder first. Offline it must outlive
        # finish(), which deletes ours, until `wandb sync`: so it is copied.
        artifact.add_file(
            str(path), name=CHECKPOINT_FILE, policy="mutable" if offline else "immutable"
        )
        self.run.log_artifact(artifact, aliases=["latest", f"epoch-{epoch}"])
        # Offline there is no server to wait for; the version is committed at sync.
        return artifact if offline else artifact.wait()

    def cleanup_old_checkpoints(self, artifact_name: str, keep_latest: int = 1) -> list[str]:
        """Delete all but the ``keep_latest`` newest versions of a checkpoint artifact.

        Args:
            artifact_name: ``name`` (in the run's entity and project) or
                ``entity/project/name``; an ``:alias`` suffix is ignored.
            keep_latest: Newest versions to keep; 0 deletes them all.

        Returns:
            The deleted versions, oldest first, as ``name:vN``.
        """
        if keep_latest < 0:
            raise ValueError(f"keep_latest must be >= 0, got {keep_latest}")
        path = artifact_name.split(":", 1)[0]
        if "/" not in path:
            if self._project_path is None:
                raise RuntimeError(f"no run to find {path!r} in: pass entity/project/{path}")
            path = f"{self._project_path}/{path}"
        versions = sorted(self._get_api().artifacts(CHECKPOINT_TYPE, path), key=_version_number)
        doomed = versions[: max(len(versions) - keep_latest, 0)]
        for artifact in doomed:
            artifact.delete(delete_aliases=True)
        return [artifact.name for artifact in doomed]

    def finish(self) -> None:
        """Finish the run (unless attached) and drop local checkpoint files. Idempotent."""
        run, self._run = self._run, None
        try:
            if run is not None and self._owns_run:
                run.finish()
        finally:
            if self._staging is not None:
                self._staging.cleanup()
                self._staging = None

    def _adopt(self, run: wandb.Run, *, owns: bool) -> None:
        self._run = run
        self._owns_run = owns
        self._project_path = f"{run.entity}/{run.project}"

    def _staging_dir(self) -> Path:
        if self._staging is None:
            self._staging = tempfile.TemporaryDirectory(prefix="trainer-checkpoints-")
        return Path(self._staging.name)

    def _get_api(self) -> wandb.Api:
        if self._api is None:
            self._api = wandb.Api()
        return self._api


def _version_number(artifact: wandb.Artifact) -> int:
    return int(artifact.version.lstrip("v"))
