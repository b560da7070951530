"""transformers' Trainer and Lightning's WandbLogger, recorded and replayed with no configuration.

Each test writes a throwaway project whose test trains a tiny model (built
from a config: nothing comes from a hub) with the framework's W&B
integration logging to W&B, model artifact included; records it against the
stand-in W&B; then, in new processes and later (wall-clock values differ):

* replays it offline (``--block-network``, stand-in stopped, ``--wandb-strict``):
  every request matches and every recorded interaction plays, thanks to the
  integration's built-in preset (:data:`wandb_cassettes.replay._ignore.PRESETS`),
  which the recording detected by itself and listed in the cassette;
* audits the cassettes clean (``wandb-cassettes audit``);
* replays once more with the preset taken out of the cassette's metadata:
  that replay fails, naming the volatile field, which shows what the preset is for.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.flows import write_project
from support.integrations import ENV, LIGHTNING_PROJECT, TRANSFORMERS_PROJECT
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import store as cs

#: The projects these tests run train with torch (transformers' Trainer, Lightning).
pytestmark = pytest.mark.torch


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{result.stdout[-15000:]}\n--- stderr ---\n{result.stderr[-5000:]}"


def _pytest(project: Path, *args: str, upstream: StandinBackend | None = None):
    return run_pytest(project, "-p", "no:logging", "-v", *args, upstream=upstream, env=ENV)


def _record_replay_audit(project: Path, tests: int) -> dict[str, dict[str, object]]:
    """Record ``project``, replay it offline and strict, audit it; the cassettes' metadata."""
    with StandinBackend() as wb:
        recorded = _pytest(project, "--record-mode=once", upstream=wb)
        live = wb.live()
    assert recorded.returncode == 0, _out(recorded)
    assert re.search(rf"\b{tests} passed\b", recorded.stdout), _out(recorded)
    # Everything the tests created was deleted at their end (the plugin's cleanup).
    assert live == {"runs": [], "artifacts": [], "collections": []}, live
    folder = project / "cassettes"
    metadata = {
        str(p.relative_to(folder)): cs.load(p).metadata for p in sorted(folder.rglob("*.yaml"))
    }
    assert len(metadata) == tests, metadata

    # Later, in a new process: no upstream, no network, every interaction played.
    replayed = _pytest(project, "--block-network", "--wandb-strict")
    assert replayed.returncode == 0, _out(replayed)
    assert re.search(rf"\b{tests} passed\b", replayed.stdout), _out(replayed)
    assert "no recorded match" not in replayed.stdout, _out(replayed)
    assert "never played" not in replayed.stdout + replayed.stderr, _out(replayed)

    audit = subprocess.run(
        [sys.executable, "-m", "wandb_cassettes", "audit", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    return metadata


def _without_presets(project: Path, copy: Path, ignore: dict[str, list[str]]) -> Path:
    """A copy of ``project`` (its leftover files included) whose cassettes list no preset.

    ``ignore`` gives some cassettes (by file name) ignore paths of their own, so
    that a replay shows the one volatile field left.
    """
    shutil.copytree(project, copy, symlinks=True)
    for path in (copy / "cassettes").rglob("*.yaml"):
        cassette = cs.load(path)
        cassette.metadata.pop("presets", None)
        if path.name in ignore:
            cassette.metadata["ignore"] = ignore[path.name]
        cs.save(cassette, path)
    return copy


def test_transformers_trainer_replays_with_no_configuration(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    project = write_project(tmp_path / "hf", {"test_hf.py": TRANSFORMERS_PROJECT})
    metadata = _record_replay_audit(project, tests=3)
    trainer_runs = [k for k in metadata if k.startswith("test_hf/test_trainer_reports_to_wandb")]
    assert len(trainer_runs) == 2, metadata
    for name in trainer_runs:
        assert metadata[name].get("presets") == ["transformers"], metadata[name]
    # A run of the user's own with the same config keys, in the same process: no preset.
    assert "presets" not in metadata["test_hf/test_own_run_with_trainer_like_keys.yaml"]

    # Without the preset: the Trainer's wall-clock numbers in the model artifact's metadata
    # differ. With those ignored by hand, transformers 5 has no volatile field left (the
    # tempfile folder in the config is normalised), 4.x its logging_dir, a timestamp
    # (sent with the config when the run finishes, at the test's teardown).
    timing = ["metadata.*runtime", "metadata.*_per_second"]
    copy = _without_presets(
        project, tmp_path / "hf-no-preset", {"test_trainer_reports_to_wandb[tempfile].yaml": timing}
    )
    failed = _pytest(copy, "--block-network")
    out = failed.stdout
    assert failed.returncode == 1, _out(failed)
    assert "no recorded match for GraphQL CreateArtifact" in out, _out(failed)
    assert re.search(r"metadata\.train_runtime: recorded [\d.]+, sent [\d.]+", out), _out(failed)
    assert "metadata.train_samples_per_second: recorded" in out
    if int(transformers.__version__.split(".")[0]) >= 5:
        assert out.count(" had no recorded match") == 1, _out(failed)
        assert "test_trainer_reports_to_wandb[tempfile] PASSED" in out, _out(failed)
    else:
        assert out.count(" had no recorded match") == 2, _out(failed)
        assert "no recorded match for GraphQL UpsertBucket" in out, _out(failed)
        found = re.search(r'config\.logging_dir: recorded "(\S+)", sent "(\S+)"', out)
        assert found and found[1] != found[2], _out(failed)


def test_lightning_wandb_logger_replays_with_no_configuration(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    project = write_project(tmp_path / "pl", {"test_pl.py": LIGHTNING_PROJECT})
    metadata = _record_replay_audit(project, tests=2)
    for name, meta in metadata.items():
        assert meta.get("presets") == ["lightning"], (name, meta)
    # The replay found the recording's checkpoints under ./lightning-e2e/<run id>/checkpoints.
    assert list(project.glob("lightning-e2e/*/checkpoints/*-v1.ckpt")), sorted(
        str(p) for p in project.rglob("*.ckpt")
    )

    # Without the preset: the checkpoint file names in the model artifacts' metadata differ.
    failed = _pytest(_without_presets(project, tmp_path / "pl-no-preset", {}), "--block-network")
    out = failed.stdout
    assert failed.returncode == 1, _out(failed)
    assert out.count(" had no recorded match") == 2, _out(failed)
    assert re.search(
        r'metadata\.original_filename: recorded "epoch=1-step=4\.ckpt", '
        r'sent "epoch=1-step=4-v\d\.ckpt"',
        out,
    ), _out(failed)
