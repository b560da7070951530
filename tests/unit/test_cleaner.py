"""``WandbArtifactCleaner`` without a backend: names completed from defaults, bad names and
settings refused, a report of what could not be deleted."""

import pytest

from wandb_cassettes.cleanup import CleanupFailure, CleanupReport
from wandb_cassettes.errors import CleanupError
from wandb_cassettes.helpers import WandbArtifactCleaner


@pytest.fixture
def no_wandb_env(monkeypatch):
    for name in ("WANDB_ENTITY", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)


# --- naming: what gets tracked -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ckpt", "artifact ent/proj/ckpt (all versions)"),
        ("ckpt:v3", "artifact ent/proj/ckpt (all versions)"),
        ("other/ckpt:latest", "artifact ent/other/ckpt (all versions)"),
        ("e2/p2/ckpt", "artifact e2/p2/ckpt (all versions)"),
    ],
)
def test_artifact_names_are_completed_with_defaults(no_wandb_env, name, expected):
    cleaner = WandbArtifactCleaner(entity="ent", project="proj")
    cleaner.track_artifact(name)
    assert cleaner.tracked == [expected]


def test_env_supplies_defaults(monkeypatch):
    monkeypatch.setenv("WANDB_ENTITY", "env-ent")
    monkeypatch.setenv("WANDB_PROJECT", "env-proj")
    cleaner = WandbArtifactCleaner()
    cleaner.track_artifact("a")
    cleaner.track_run("r1")
    assert cleaner.tracked == [
        "artifact env-ent/env-proj/a (all versions)",
        "run env-ent/env-proj/r1 and its logged artifacts",
    ]


def test_constructor_beats_env(monkeypatch, no_wandb_env):
    monkeypatch.setenv("WANDB_PROJECT", "env-proj")
    cleaner = WandbArtifactCleaner(project="mine")
    cleaner.track_artifact("a")
    assert cleaner.tracked == ["artifact mine/a (all versions)"]


def test_missing_project_is_an_error_at_tracking_time(no_wandb_env):
    with pytest.raises(ValueError, match=r"no project for artifact 'a'.*WANDB_PROJECT"):
        WandbArtifactCleaner().track_artifact("a")


@pytest.mark.parametrize("bad", ["", "a/b/c/d", "e//a", "a:", "a:b:c"])
def test_malformed_artifact_names_are_refused(bad):
    with pytest.raises(ValueError, match="malformed"):
        WandbArtifactCleaner(entity="e", project="p").track_artifact(bad)


def test_runs_are_tracked_from_paths_and_objects(no_wandb_env):
    class FakeRun:
        entity, project, id = "e", "p", "abc123"

    cleaner = WandbArtifactCleaner(project="p")
    cleaner.track_run(FakeRun(), delete_artifacts=False)
    cleaner.track_run("e/p/abc123", delete_artifacts=False)  # the same run: tracked once
    cleaner.track_run("xyz")
    assert cleaner.tracked == ["run e/p/abc123", "run p/xyz and its logged artifacts"]


def test_nothing_tracked_needs_no_backend(monkeypatch):
    import wandb

    def no_api(*args, **kwargs):
        raise AssertionError("cleanup_all() created a wandb.Api with nothing to delete")

    monkeypatch.setattr(wandb, "Api", no_api)
    report = WandbArtifactCleaner().cleanup_all()
    assert report.ok
    assert (report.deleted, report.already_gone, report.failed) == ([], [], [])


@pytest.mark.parametrize(
    ("kwargs", "complaint"), [({"attempts": 0}, "attempts"), ({"backoff": -1}, "backoff")]
)
def test_bad_retry_settings(kwargs, complaint):
    with pytest.raises(ValueError, match=complaint):
        WandbArtifactCleaner(**kwargs)


def test_no_api_means_everything_is_reported_left(monkeypatch):
    import wandb

    def no_api(*args, **kwargs):
        raise RuntimeError("no API key configured")

    monkeypatch.setattr(wandb, "Api", no_api)
    cleaner = WandbArtifactCleaner(entity="e", project="p")
    cleaner.track_artifact("a")
    cleaner.track_run("r")

    with pytest.raises(CleanupError) as info:
        cleaner.cleanup_all()

    assert [f.resource for f in info.value.report.failed] == [
        "artifact e/p/a (all versions)",
        "run e/p/r and its logged artifacts",
    ]
    assert "RuntimeError: no API key configured (after 1 try)" in str(info.value)


def test_cleanup_error_lists_every_failure():
    report = CleanupReport(
        failed=[
            CleanupFailure("artifact e/p/a (all versions)", RuntimeError("boom"), 3),
            CleanupFailure("run e/p/r", KeyError("gone?"), 1),
        ]
    )
    message = str(CleanupError(report))
    assert "could not delete 2 W&B resource(s)" in message
    assert "artifact e/p/a (all versions): RuntimeError: boom (after 3 tries)" in message
    assert "run e/p/r: KeyError: 'gone?' (after 1 try)" in message
