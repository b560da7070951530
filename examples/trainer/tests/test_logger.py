"""WandbCheckpointLogger against W&B: recorded once, replayed offline (hence also ``fast``)."""

from pathlib import Path

import pytest
import torch
import wandb
from trainer import TinyRegressor, sanitize_artifact_name
from trainer.train import TrainConfig, train
from trainer.wandb_logger import CHECKPOINT_FILE, CHECKPOINT_TYPE

from wandb_cassettes.helpers import fast_wandb_test

# --- naming: pure ---------------------------------------------------------------


@pytest.mark.fast
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model-v1.2_final", "model-v1.2_final"),
        ("my run/epoch #3", "my-run-epoch-3"),
        ("ünïcode:name", "n-code-name"),
        ("--edge--", "edge"),
    ],
)
def test_sanitize_keeps_only_allowed_characters(name, expected):
    assert sanitize_artifact_name(name) == expected


@pytest.mark.fast
def test_sanitize_cuts_long_names_but_keeps_them_distinct():
    a, b = sanitize_artifact_name("x" * 200 + "a"), sanitize_artifact_name("x" * 200 + "b")
    assert len(a) == len(b) == 128
    assert a != b
    assert sanitize_artifact_name("y" * 128) == "y" * 128


@pytest.mark.fast
@pytest.mark.parametrize("name", ["", "///", "..", "#"])
def test_sanitize_refuses_names_with_nothing_usable(name):
    with pytest.raises(ValueError, match="no valid artifact name"):
        sanitize_artifact_name(name)


# --- against W&B ----------------------------------------------------------------


def _versions(api, path):
    return sorted(api.artifacts(CHECKPOINT_TYPE, path), key=lambda a: int(a.version[1:]))


def _outputs(model):
    probe = torch.linspace(-1, 1, 12).reshape(3, 4)
    with torch.no_grad():
        return model(probe)


@pytest.mark.integration
@pytest.mark.wandb_cassette
@pytest.mark.fast
class TestWithWandb:
    def test_each_epoch_is_a_checkpoint_version_that_reloads(
        self, logger, wandb_artifact_cleaner, project, epochs, tmp_path
    ):
        config = TrainConfig(epochs=epochs)
        with fast_wandb_test(
            "trainer-ckpt", project=project, cleaner=wandb_artifact_cleaner, config=config.as_dict()
        ) as run:
            logger.attach(run)
            path = f"{run.entity}/{run.project}/{logger.checkpoint_name}"
            wandb_artifact_cleaner.track_artifact(path, type=CHECKPOINT_TYPE)
            result = train(config, logger)

        api = wandb.Api()
        assert [a.version for a in _versions(api, path)] == [f"v{i}" for i in range(epochs)]
        latest = api.artifact(f"{path}:latest")
        assert latest.version == f"v{epochs - 1}"
        assert {"latest", f"epoch-{epochs}"} <= set(latest.aliases)
        assert latest.metadata["epoch"] == epochs
        assert api.artifact(f"{path}:epoch-1").version == "v0"

        state = torch.load(
            Path(latest.download(root=tmp_path)) / CHECKPOINT_FILE, weights_only=True
        )
        assert state["epoch"] == epochs
        restored = TinyRegressor(config.n_features, config.hidden)
        restored.load_state_dict(state["model_state_dict"])
        assert torch.equal(_outputs(restored), _outputs(result.model))
        optimizer = torch.optim.SGD(restored.parameters(), lr=1.0)
        optimizer.load_state_dict(state["optimizer_state_dict"])
        assert optimizer.param_groups[0]["lr"] == config.lr

    def test_cleanup_old_checkpoints_keeps_the_newest(
        self, logger, wandb_artifact_cleaner, project, epochs
    ):
        with fast_wandb_test(
            "trainer-prune", project=project, cleaner=wandb_artifact_cleaner
        ) as run:
            logger.attach(run)
            name = logger.checkpoint_name
            path = f"{run.entity}/{run.project}/{name}"
            # The run's own cleanup finds no versions left to trace the then
            # empty collection by; tracked with its type, the cleaner removes it.
            wandb_artifact_cleaner.track_artifact(path, type=CHECKPOINT_TYPE)
            train(TrainConfig(epochs=epochs), logger)
            api = wandb.Api()

            older = [f"{name}:v{i}" for i in range(epochs - 1)]
            assert logger.cleanup_old_checkpoints(name, keep_latest=1) == older
            (newest,) = _versions(api, path)
            assert newest.version == f"v{epochs - 1}"
            assert {"latest", f"epoch-{epochs}"} <= set(newest.aliases)

            assert logger.cleanup_old_checkpoints(path, keep_latest=0) == [f"{name}:v{epochs - 1}"]
            assert _versions(api, path) == []

    def test_init_run_logs_config_metrics_and_checkpoints(
        self, logger, wandb_artifact_cleaner, epochs
    ):
        config = TrainConfig(epochs=epochs)
        run = logger.init_run(config.as_dict(), run_name="trainer metrics/#1")
        wandb_artifact_cleaner.track_run(run)
        assert logger.checkpoint_name == "trainer-metrics-1-checkpoint"
        result = train(config, logger)
        logger.finish()

        api_run = wandb.Api().run(f"{run.entity}/{run.project}/{run.id}")
        assert api_run.state == "finished"
        assert api_run.name == "trainer metrics/#1"
        assert api_run.config["epochs"] == epochs
        assert api_run.config["lr"] == config.lr
        assert api_run.summary["train/loss"] == pytest.approx(result.losses[-1])
        assert api_run.summary["epoch"] == epochs
        logged = sorted(a.name for a in api_run.logged_artifacts())
        assert logged == [f"trainer-metrics-1-checkpoint:v{i}" for i in range(epochs)]
