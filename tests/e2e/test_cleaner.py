"""``WandbArtifactCleaner`` against the stand-in with the real SDK: deletes, retries, and the
``wandb_artifact_cleaner`` fixture.
"""

import pytest

from wandb_cassettes.errors import CleanupError
from wandb_cassettes.helpers import WandbArtifactCleaner

# --- against the stand-in backend ---------------------------------------------

PROJECT = "cleanup-tests"


def _log_run(tmp_path, artifacts=(), project=PROJECT):
    """A finished run that logged one version per name in ``artifacts``."""
    import wandb

    from wandb_cassettes.helpers import quiet_settings

    run = wandb.init(project=project, settings=quiet_settings())
    for i, name in enumerate(artifacts):
        path = tmp_path / f"{name}-{i}.txt"
        path.write_text(f"{name} {i}")
        artifact = wandb.Artifact(name, type="model")
        artifact.add_file(str(path))
        run.log_artifact(artifact, aliases=["latest", f"n{i}"])
        artifact.wait()
    run.finish()
    return run


def _operations(wb, name):
    return [r for r in wb.requests if r[2] == name]


def test_deletes_every_version_the_run_and_its_artifacts(standin_sdk, tmp_path):
    run = _log_run(tmp_path, artifacts=["ckpt", "ckpt", "side"])
    assert len(standin_sdk.live()["artifacts"]) == 3
    cleaner = WandbArtifactCleaner(project=PROJECT, backoff=0)
    cleaner.track_artifact("ckpt:latest")
    cleaner.track_run(run)

    report = cleaner.cleanup_all()

    assert report.deleted == [
        f"artifact {PROJECT}/ckpt (all versions)",
        f"run standin-user/{PROJECT}/{run.id} and its logged artifacts",
    ]
    assert report.ok and report.failed == [] and report.already_gone == []
    assert standin_sdk.live() == {"runs": [], "artifacts": [], "collections": []}
    assert cleaner.tracked == []


def test_defaults_come_from_the_active_run(standin_sdk, tmp_path):
    import wandb

    from wandb_cassettes.helpers import quiet_settings

    cleaner = WandbArtifactCleaner(backoff=0)
    with wandb.init(project="from-run", settings=quiet_settings()) as run:
        cleaner.track_artifact("weights")
        cleaner.track_run(run.id)
    assert cleaner.tracked == [
        "artifact standin-user/from-run/weights (all versions)",
        f"run standin-user/from-run/{run.id} and its logged artifacts",
    ]
    report = cleaner.cleanup_all()
    assert report.already_gone == ["artifact standin-user/from-run/weights (all versions)"]
    assert report.deleted == [f"run standin-user/from-run/{run.id} and its logged artifacts"]


def test_already_gone_counts_as_deleted(standin_sdk, tmp_path):
    run = _log_run(tmp_path, artifacts=["ckpt"])
    cleaner = WandbArtifactCleaner(project=PROJECT, backoff=0)
    cleaner.track_artifact("ckpt")
    cleaner.track_artifact("never-logged", type="model")
    cleaner.track_run(run, delete_artifacts=False)
    cleaner.track_run(f"standin-user/{PROJECT}/nosuchrun")
    # Someone else deleted the run first.
    import wandb

    wandb.Api().run(f"standin-user/{PROJECT}/{run.id}").delete()

    report = cleaner.cleanup_all()

    assert report.deleted == [f"artifact {PROJECT}/ckpt (all versions)"]
    assert report.already_gone == [
        f"artifact {PROJECT}/never-logged (all versions)",
        f"run standin-user/{PROJECT}/{run.id}",
        f"run standin-user/{PROJECT}/nosuchrun and its logged artifacts",
    ]
    assert standin_sdk.live()["artifacts"] == []


def test_a_failed_delete_is_retried(standin_sdk, tmp_path):
    _log_run(tmp_path, artifacts=["ckpt", "ckpt"])
    standin_sdk.inject_fault("DeleteArtifact", graphql_error="boom", times=1)
    cleaner = WandbArtifactCleaner(project=PROJECT, backoff=0)
    cleaner.track_artifact("ckpt")

    assert cleaner.cleanup_all().deleted == [f"artifact {PROJECT}/ckpt (all versions)"]
    assert len(_operations(standin_sdk, "DeleteArtifact")) == 3  # 1 refused + 2 versions
    assert standin_sdk.live()["artifacts"] == []


def test_backoff_doubles_between_tries(standin_sdk, tmp_path, monkeypatch):
    slept: list[float] = []
    # the retry loop's sleep (cleanup/_retry.py: time.sleep)
    monkeypatch.setattr("wandb_cassettes.cleanup._retry.time.sleep", slept.append)
    _log_run(tmp_path, artifacts=["ckpt"])
    standin_sdk.inject_fault("DeleteArtifact", graphql_error="boom", times=2)
    cleaner = WandbArtifactCleaner(project=PROJECT, backoff=0.25)
    cleaner.track_artifact("ckpt")

    assert cleaner.cleanup_all().ok
    assert slept == [0.25, 0.5]


def test_failures_are_raised_after_trying_everything(standin_sdk, tmp_path):
    run = _log_run(tmp_path)  # no artifacts: its delete does not touch DeleteArtifact
    _log_run(tmp_path, artifacts=["stuck"])
    standin_sdk.inject_fault("DeleteArtifact", graphql_error="boom", times=None)
    cleaner = WandbArtifactCleaner(project=PROJECT, backoff=0)
    cleaner.track_artifact("stuck")
    cleaner.track_run(run)

    with pytest.raises(CleanupError) as info:
        cleaner.cleanup_all()

    message = str(info.value)
    assert f"artifact {PROJECT}/stuck (all versions):" in message
    assert "boom" in message and "(after 3 tries)" in message
    assert len(_operations(standin_sdk, "DeleteArtifact")) == 3
    report = info.value.report
    assert [f.resource for f in report.failed] == [f"artifact {PROJECT}/stuck (all versions)"]
    assert report.deleted == [f"run standin-user/{PROJECT}/{run.id} and its logged artifacts"]
    assert info.value.__cause__ is report.failed[0].error
    assert [a["collection"] for a in standin_sdk.live()["artifacts"]] == ["stuck"]
    assert cleaner.tracked == []  # reported once, not again by a later cleanup


# --- the fixture ----------------------------------------------------------------


def test_fixture_cleans_up_after_a_failing_test_and_reports_what_it_could_not(
    standin_sdk, pytester, tmp_path
):
    _log_run(tmp_path, artifacts=["stuck"])
    standin_sdk.inject_fault("DeleteArtifact", graphql_error="boom", times=None)
    pytester.makeconftest("from wandb_cassettes.plugin import wandb_artifact_cleaner")
    pytester.makepyfile(
        f"""
        import wandb

        from wandb_cassettes.helpers import quiet_settings

        def test_fails_after_creating_a_run(wandb_artifact_cleaner):
            run = wandb.init(project="{PROJECT}", settings=quiet_settings())
            run.finish()
            wandb_artifact_cleaner.track_run(run)
            assert False, "the test body fails"

        def test_leaves_something_undeletable(wandb_artifact_cleaner):
            wandb_artifact_cleaner.backoff = 0
            wandb_artifact_cleaner.track_artifact("standin-user/{PROJECT}/stuck")
        """
    )
    runs_before = len(standin_sdk.live()["runs"])

    result = pytester.runpytest("-p", "no:wandb_cassettes", "-p", "no:randomly")

    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_something_undeletable*",
            "*CleanupError: could not delete 1 W&B resource(s)*",
            f"*artifact standin-user/{PROJECT}/stuck (all versions): CommError: *boom"
            " (after 3 tries)",
        ]
    )
    # The failing test's run was deleted all the same.
    assert len(standin_sdk.live()["runs"]) == runs_before
