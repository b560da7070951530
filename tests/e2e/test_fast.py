"""``fast_wandb_test`` with the real SDK against the stand-in: what the block made is gone
after it, errors in the block and in the cleanup are both said."""

import pytest
import wandb

from wandb_cassettes.errors import CleanupError
from wandb_cassettes.helpers import (
    WandbArtifactCleaner,
    fast_wandb_test,
    quiet_settings,
)

PROJECT = "fast-tests"


@pytest.fixture
def no_sleep(monkeypatch):
    slept: list[float] = []
    # the retry loop's sleep (cleanup/_retry.py: time.sleep)
    monkeypatch.setattr("wandb_cassettes.cleanup._retry.time.sleep", slept.append)
    return slept


def _log_artifact(run, tmp_path, name="ckpt", content="weights"):
    path = tmp_path / f"{name}-{content}.txt"
    path.write_text(content)
    artifact = wandb.Artifact(name, type="model")
    artifact.add_file(str(path))
    run.log_artifact(artifact)
    return artifact.wait()


def _empty(wb):
    return wb.live() == {"runs": [], "artifacts": [], "collections": []}


def test_run_and_its_artifacts_are_gone_after_the_block(standin_sdk, tmp_path):
    with fast_wandb_test("quick", project=PROJECT) as run:
        assert run.project == PROJECT
        assert run.name == f"quick-{run.id}"
        assert run.settings.console == "off" and run.settings.x_disable_stats
        _log_artifact(run, tmp_path)
        assert len(standin_sdk.live()["artifacts"]) == 1

    assert _empty(standin_sdk)
    assert wandb.run is None


def test_init_kwargs_pass_through(standin_sdk):
    with fast_wandb_test(
        project=PROJECT, id="fixedid1", config={"lr": 0.1}, settings={"console": "wrap"}
    ) as run:
        assert (run.id, run.name) == ("fixedid1", "test-fixedid1")
        assert run.config["lr"] == 0.1
        assert run.settings.console == "wrap"
        assert run.settings.x_disable_meta
    assert _empty(standin_sdk)


def test_an_error_in_the_block_is_reraised_after_cleanup(standin_sdk, tmp_path):
    with (
        pytest.raises(RuntimeError, match="training blew up"),
        fast_wandb_test(project=PROJECT) as run,
    ):
        _log_artifact(run, tmp_path)
        raise RuntimeError("training blew up")

    assert _empty(standin_sdk)
    assert wandb.run is None


def test_cleanup_failure_after_success_is_a_chained_cleanup_error(standin_sdk, no_sleep):
    standin_sdk.inject_fault("DeleteRun", graphql_error="no deleting today", times=None)

    with (
        pytest.raises(CleanupError, match=r"run standin-user/fast-tests/\w+") as info,
        fast_wandb_test(project=PROJECT),
    ):
        pass

    assert "no deleting today" in str(info.value)
    assert info.value.__cause__ is info.value.report.failed[0].error
    assert no_sleep == [0.5, 1.0]  # the default backoff, doubled
    assert len(standin_sdk.live()["runs"]) == 1


def test_cleanup_failure_after_an_error_keeps_the_error(standin_sdk, no_sleep):
    standin_sdk.inject_fault("DeleteRun", graphql_error="no deleting today", times=None)

    with pytest.raises(KeyError) as info, fast_wandb_test(project=PROJECT):
        raise KeyError("the real problem")

    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1
    assert "cleanup after this error also failed" in notes[0]
    assert "no deleting today" in notes[0]


def test_a_given_cleaner_defers_deletion_to_it(standin_sdk, tmp_path):
    cleaner = WandbArtifactCleaner(backoff=0)
    with fast_wandb_test(project=PROJECT, cleaner=cleaner) as run:
        _log_artifact(run, tmp_path)

    # Finished but still there: it can be inspected until the cleaner runs.
    assert [r["state"] for r in standin_sdk.live()["runs"]] == ["finished"]
    assert wandb.Api().run(f"standin-user/{PROJECT}/{run.id}").state == "finished"
    assert cleaner.tracked == [f"run standin-user/{PROJECT}/{run.id} and its logged artifacts"]

    cleaner.cleanup_all()
    assert _empty(standin_sdk)


def test_versions_of_other_runs_survive(standin_sdk, tmp_path):
    with wandb.init(project=PROJECT, settings=quiet_settings()) as other:
        _log_artifact(other, tmp_path, name="shared", content="first")

    with fast_wandb_test(project=PROJECT) as run:
        assert _log_artifact(run, tmp_path, name="shared", content="second").version == "v1"

    live = standin_sdk.live()
    assert [(a["collection"], a["version"]) for a in live["artifacts"]] == [("shared", "v0")]
    assert [c["name"] for c in live["collections"]] == ["shared"]
