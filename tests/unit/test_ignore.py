"""The built-in presets: which run configs carry an integration's signature, what they ignore."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wandb_cassettes import replay as ignore
from wandb_cassettes.errors import ConfigurationError
from wandb_cassettes.replay import MatchRules, request_key


def run_config(*metrics: str, **keys: Any) -> dict[str, Any]:
    """An ``upsertBucket`` config as wandb-core 0.31 sends it (parsed): metrics declared first."""
    declared: list[dict[str, Any]] = [{"1": m, "6": [3], "7": []} for m in metrics]
    if metrics:  # define_metric("*", step_metric=metrics[0]): a glob, no name of its own
        declared.append({"2": "*", "5": 1, "6": [1], "7": []})
    config: dict[str, Any] = {
        "_wandb": {"value": {"cli_version": "0.31.0", "m": declared, "t": {"1": [1, 11]}}}
    }
    config.update({k: {"value": v} for k, v in keys.items()})
    return config


TRAINER = run_config(
    "train/global_step", output_dir="/tmp/x", per_device_train_batch_size=4, learning_rate=5e-5
)
LIGHTNING = run_config("trainer/global_step", lr=0.1)


def test_defined_metrics_reads_the_declarations_wandb_core_sends():
    assert ignore.defined_metrics(TRAINER) == {"train/global_step"}
    assert ignore.defined_metrics(run_config()) == set()
    # Unwrapped, or not a config at all: nothing, no error.
    assert ignore.defined_metrics({"_wandb": {"m": [{"1": "a"}]}}) == {"a"}
    odd: object
    for odd in (None, [], "x", {"_wandb": 1}, {"_wandb": {"value": {"m": [1, {"1": 2}]}}}):
        assert ignore.defined_metrics(odd) == set()


@pytest.mark.parametrize(
    ("configs", "expected"),
    [
        ([TRAINER], ["transformers"]),
        ([LIGHTNING], ["lightning"]),
        # The first upsertBucket of a run has no config yet; a later one has it.
        ([run_config(), TRAINER], ["transformers"]),
        ([TRAINER, LIGHTNING], ["transformers", "lightning"]),
        # A test's own run with the Trainer's keys but not its metric, or the reverse.
        ([run_config(output_dir="/tmp/x", per_device_train_batch_size=4)], []),
        ([run_config("train/global_step", output_dir="/tmp/x")], []),
        # A run of its own that steps on a metric named otherwise.
        ([run_config("global_step", lr=0.1)], []),
        ([run_config(transformers_version="5.0", output_dir="x")], []),
        ([], []),
        (["not a config", None], []),
    ],
)
def test_presets_apply_only_with_the_whole_signature(configs, expected):
    assert ignore.presets_in(configs) == expected


def test_every_preset_has_a_signature_and_valid_paths():
    for preset in ignore.PRESETS:
        assert preset.signature, preset.name
        assert preset.paths and all(p.head in ("config", "metadata") for p in preset.paths)
        assert ignore.preset(preset.name) is preset
    assert ignore.preset("lightning").signature == ("metric:trainer/global_step",)
    with pytest.raises(ConfigurationError, match="known presets: transformers, lightning"):
        ignore.preset("keras")


def create_artifact(**metadata: Any) -> str:
    variables = {"input": {"artifactCollectionName": "model-abc", "metadata": metadata}}
    return json.dumps({"query": "mutation CreateArtifact { x }", "variables": variables})


def upsert_bucket(**config: Any) -> str:
    variables = {"name": "abc", "config": json.dumps({k: {"value": v} for k, v in config.items()})}
    return json.dumps({"query": "mutation UpsertBucket { x }", "variables": variables})


def key(body: str, *presets: str) -> Any:
    return request_key("POST", "/graphql", body, MatchRules(presets=presets))


def test_transformers_preset_ignores_wall_clock_numbers_only():
    def final_model(runtime: float, per_second: float, loss: float) -> str:
        return create_artifact(
            train_runtime=runtime,
            train_samples_per_second=per_second,
            train_steps_per_second=per_second / 4,
            **{"eval/runtime": runtime, "eval/samples_per_second": per_second},
            **{"eval/model_preparation_time": runtime / 10, "train/loss": loss},
            total_flos=218880,
            final_model=True,
        )

    a, b = final_model(1.43, 5.5, 0.69), final_model(0.42, 18.8, 0.69)
    assert key(a) != key(b)
    assert key(a, "transformers") == key(b, "transformers")
    # The training's results are still compared.
    assert key(a, "transformers") != key(final_model(1.43, 5.5, 0.70), "transformers")
    # transformers 4.x: a timestamped logging_dir; the rest of the config is compared.
    first = upsert_bucket(logging_dir="out/runs/Nov29_22-35-41_host", learning_rate=5e-5)
    later = upsert_bucket(logging_dir="out/runs/Nov29_22-36-02_host", learning_rate=5e-5)
    assert key(first) != key(later)
    assert key(first, "transformers") == key(later, "transformers")
    other = upsert_bucket(logging_dir="out/runs/Nov29_22-36-02_host", learning_rate=1e-4)
    assert key(first, "transformers") != key(other, "transformers")


def test_lightning_preset_ignores_the_checkpoint_file_name_only():
    def checkpoint(name: str, score: float) -> str:
        return create_artifact(
            ModelCheckpoint={"monitor": "val_loss", "save_top_k": 1},
            original_filename=name,
            score=score,
        )

    recorded, replayed = (
        checkpoint("epoch=1-step=4.ckpt", 0.5),
        checkpoint("epoch=1-step=4-v1.ckpt", 0.5),
    )
    assert key(recorded) != key(replayed)
    assert key(recorded, "lightning") == key(replayed, "lightning")
    assert key(recorded, "lightning") != key(checkpoint("epoch=1-step=4.ckpt", 0.6), "lightning")
