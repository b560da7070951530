"""The whole test process under the relay: test order, fixtures, children and the shell.

A project written the way ML suites are (an unmarked offline test first, a
session ``wandb.Api()`` fixture, a module fixture that logs a model, a test
that runs ``python train.py``, downloads with ``skip_cache``) is recorded once
against a stand-in, then replayed in the ways CI runs it: ``--block-network``,
random order, ``-n 2``, with a proxy and without the recording's
``WANDB_ENTITY``. A second stand-in plays the user's real W&B
(``WANDB_BASE_URL``): nothing may ever be created on it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

CONFTEST = """
import pytest, wandb


@pytest.fixture(scope="session")
def api():
    return wandb.Api()  # made before any marked test runs


@pytest.fixture(scope="module")
def shared_model(tmp_path_factory):
    weights = tmp_path_factory.mktemp("model") / "weights.txt"
    weights.write_text("shared weights")
    with wandb.init(project="window", job_type="fixture") as run:
        artifact = wandb.Artifact("shared-model", type="model")
        artifact.add_file(str(weights))
        run.log_artifact(artifact).wait()
    yield f"{run.entity}/window/shared-model:latest"
"""

UNMARKED_FIRST = """
import pytest, wandb


def test_offline(tmp_path):
    run = wandb.init(project="window", mode="offline", dir=str(tmp_path))
    run.log({"offline": 1})
    run.finish()


def test_disabled():
    run = wandb.init(project="window", mode="disabled")
    run.log({"disabled": 1})
    run.finish()


def test_online_without_the_marker_fails_fast_and_says_how_to_mark_it():
    import time
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        wandb.init(project="window")
    assert time.monotonic() - started < 20
    assert "outside any cassette" in str(info.value)
    assert "test_a_unmarked_first.py::test_online_without" in str(info.value)
    assert "@pytest.mark.wandb_cassette" in str(info.value)
"""

MARKED = """
import os, subprocess, sys
import pytest, wandb


@pytest.mark.wandb_cassette
def test_uses_the_scoped_fixtures(api, shared_model, tmp_path):
    folder = api.artifact(shared_model).download(root=str(tmp_path / "d"))
    assert open(os.path.join(folder, "weights.txt")).read() == "shared weights"


@pytest.mark.wandb_cassette
def test_runs_a_training_script(tmp_path):
    subprocess.run([sys.executable, "train.py", str(tmp_path)], check=True, timeout=120)
    subprocess.run([sys.executable, "train.py", str(tmp_path)], check=True, timeout=120)


def _publish(tmp_path, name, text):
    path = tmp_path / "weights.txt"
    path.write_text(text)
    with wandb.init(project="window") as run:
        artifact = wandb.Artifact(name, type="model")
        artifact.add_file(str(path))
        run.log_artifact(artifact).wait()
    return f"{run.entity}/window/{name}:latest"


@pytest.mark.wandb_cassette
def test_downloads_skipping_the_cache(tmp_path):
    path = _publish(tmp_path, "first", "first weights")
    folder = wandb.Api().artifact(path).download(root=str(tmp_path / "d"), skip_cache=True)
    assert open(os.path.join(folder, "weights.txt")).read() == "first weights"


@pytest.mark.wandb_cassette
def test_downloads_after_another_test_skipped_the_cache(tmp_path):
    path = _publish(tmp_path, "second", "second weights")
    folder = wandb.Api().artifact(path).download(root=str(tmp_path / "d"))
    assert open(os.path.join(folder, "weights.txt")).read() == "second weights"


@pytest.mark.wandb_cassette
def test_logs_with_the_shells_entity():
    with wandb.init(project="window") as run:
        run.log({"entity": 1})
        assert run.entity == os.environ.get("WANDB_ENTITY", run.entity)
"""

UNMARKED_AFTER = """
import time
import pytest, wandb


def test_online_after_marked_tests_fails_fast():
    started = time.monotonic()
    with pytest.raises(Exception, match="outside any cassette"):
        wandb.init(project="window")
    assert time.monotonic() - started < 20
"""

TRAIN = """
import sys
import wandb

with wandb.init(project="window", job_type="train") as run:
    for step in range(2):
        run.log({"loss": 1.0 / (step + 1)})
"""

#: Test files, named so that without random order the unmarked ones come first and last.
FILES = {
    "conftest.py": CONFTEST,
    "test_a_unmarked_first.py": UNMARKED_FIRST,
    "test_b_marked.py": MARKED,
    "test_c_unmarked_after.py": UNMARKED_AFTER,
    "train.py": TRAIN,
}


@dataclass
class Recorded:
    project: Path
    users_wandb: StandinBackend


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """The project recorded against a stand-in; a second one plays the user's own W&B."""
    project = tmp_path_factory.mktemp("window")
    for name, text in FILES.items():
        (project / name).write_text(text)
    (project / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as users_wandb, StandinBackend() as upstream:
        result = run_pytest(
            project,
            "--record-mode=once",
            upstream=upstream,
            env={"WANDB_BASE_URL": users_wandb.base_url, "WANDB_ENTITY": upstream.entity},
        )
        assert result.returncode == 0, _out(result)
        assert re.search(r"\b9 passed\b", result.stdout), _out(result)
        assert upstream.live() == {"runs": [], "artifacts": [], "collections": []}, _out(result)
        assert users_wandb.requests == []
        yield Recorded(project, users_wandb)


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{result.stdout[-12000:]}\n--- stderr ---\n{result.stderr[-4000:]}"


def _replay(recorded: Recorded, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = run_pytest(
        recorded.project,
        "--block-network",
        *args,
        env={"WANDB_BASE_URL": recorded.users_wandb.base_url, **env},
    )
    assert recorded.users_wandb.requests == [], "the user's own W&B was reached"
    return result


def test_recording_puts_scoped_fixtures_in_cassettes_of_their_scope(recorded: Recorded):
    cassettes = recorded.project / "cassettes"
    assert (cassettes / "fixture.api.yaml").is_file()  # session scope: where it is defined
    assert (cassettes / "test_b_marked" / "fixture.shared_model.yaml").is_file()  # module
    assert not (cassettes / "test_a_unmarked_first").exists()
    assert not list(cassettes.rglob("*.failed"))


def test_replays_with_no_network_in_file_order(recorded: Recorded):
    result = _replay(recorded)
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b9 passed\b", result.stdout), _out(result)


@pytest.mark.parametrize("seed", ["1", "2"])
def test_replays_in_random_order(recorded: Recorded, seed: str):
    from support.pytest_process import subprocess_env

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "randomly",
         f"--randomly-seed={seed}", "--block-network", "-v"],
        cwd=recorded.project,
        env=subprocess_env(WANDB_BASE_URL=recorded.users_wandb.base_url),
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert recorded.users_wandb.requests == []
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b9 passed\b", result.stdout), _out(result)
    order = re.findall(r"^(test_\w+\.py)::", result.stdout, re.M)
    assert order != sorted(order)  # really another order than the files'


def test_replays_with_two_workers(recorded: Recorded):
    result = _replay(recorded, "-n", "2")
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b9 passed\b", result.stdout), _out(result)


def test_replays_through_a_shells_proxy_and_without_its_entity(recorded: Recorded):
    # WANDB_ENTITY was set when recording and is not now (the subprocess environment has no
    # WANDB_ variable): the cassettes say what it was. A proxy nothing listens on would fail
    # any request sent to it.
    proxy = "http://127.0.0.1:9"
    started = time.monotonic()
    result = _replay(
        recorded, HTTP_PROXY=proxy, HTTPS_PROXY=proxy, http_proxy=proxy, https_proxy=proxy
    )
    assert result.returncode == 0, _out(result)
    assert time.monotonic() - started < 120
    cassette = recorded.project / "cassettes" / "test_b_marked"
    assert (
        "WANDB_ENTITY: standin-user"
        in (cassette / "test_logs_with_the_shells_entity.yaml").read_text()
    )


def test_a_child_process_replays_its_own_runs(recorded: Recorded):
    result = _replay(recorded, "-k", "training_script")
    assert result.returncode == 0, _out(result)
    path = recorded.project / "cassettes" / "test_b_marked" / "test_runs_a_training_script.yaml"
    text = path.read_text()
    # Two children, two runs: ids drawn from the cassette's seed, one per child.
    runs = set(re.findall(r"/files/standin-user/window/(\w+)/file_stream", text))
    assert len(runs) == 2, runs
    # The children's working files go with their cassette: sessions leave none behind.
    assert not list((recorded.project / ".wandb_cassettes" / "children").glob("*"))


UNITTEST = """
import os, unittest
import wandb
from wandb_cassettes import use_cassette


class UploadTest(unittest.TestCase):
    @use_cassette("cassettes/upload.yaml", record_mode=os.environ.get("MODE", "none"))
    def test_upload(self):
        with wandb.init(project="unittest") as run:
            run.log({"loss": 0.5})

    def test_block(self):
        with use_cassette("cassettes/block.yaml", record_mode=os.environ.get("MODE", "none")):
            run = wandb.init(project="unittest")
            run.finish()


if __name__ == "__main__":
    unittest.main()
"""


def test_a_unittest_suite_records_and_replays_with_use_cassette(tmp_path: Path):
    (tmp_path / "test_upload.py").write_text(UNITTEST)
    from support.pytest_process import subprocess_env

    def run(mode: str, upstream: StandinBackend | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "unittest", "-v", "test_upload"],
            cwd=tmp_path,
            env=subprocess_env(upstream, MODE=mode),
            capture_output=True,
            text=True,
            timeout=300,
        )

    with StandinBackend() as upstream:
        recorded = run("once", upstream)
        assert recorded.returncode == 0, recorded.stderr[-4000:]
        assert upstream.live() == {"runs": [], "artifacts": [], "collections": []}
    assert (tmp_path / "cassettes" / "upload.yaml").is_file()
    assert (tmp_path / "cassettes" / "block.yaml").is_file()
    replayed = run("none", None)  # the upstream is gone
    assert replayed.returncode == 0, replayed.stderr[-4000:]
    assert "Ran 2 tests" in replayed.stderr and "OK" in replayed.stderr


SHARED_API = """
import os
import pytest, wandb


@pytest.fixture(scope="session")
def api():
    return wandb.Api()


def _logged(name, tmp_path):
    run = wandb.init(project="window")
    path = tmp_path / "f.txt"
    path.write_text(name)
    artifact = wandb.Artifact(name, type="dataset")
    artifact.add_file(str(path))
    run.log_artifact(artifact).wait()
    run.finish()
    return f"{run.entity}/window/{name}:latest"


@pytest.mark.wandb_cassette
def test_a(api, tmp_path):
    api.artifact(_logged("blob-a", tmp_path)).download(root=str(tmp_path / "d"))


@pytest.mark.wandb_cassette
def test_b(api, tmp_path):
    api.artifact(_logged("blob-b", tmp_path)).download(root=str(tmp_path / "d"))
"""


def test_a_session_scoped_api_replays_in_any_order(tmp_path: Path):
    """What the SDK caches per ``wandb.Api()`` object is asked again by every cassette."""
    (tmp_path / "test_shared_api.py").write_text(SHARED_API)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        recorded = run_pytest(tmp_path, "--record-mode=once", upstream=upstream)
        assert recorded.returncode == 0, _out(recorded)
    reverse = ["test_shared_api.py::test_b", "test_shared_api.py::test_a"]
    for order in (reverse, ["test_shared_api.py::test_a"], ["test_shared_api.py::test_b"]):
        replayed = run_pytest(tmp_path, *order, "--block-network", "--wandb-strict")
        assert replayed.returncode == 0, _out(replayed)


SHARED_RUN = """
import pytest, wandb


@pytest.fixture(scope="module")
def shared_run():
    run = wandb.init(project="window", name="module-shared")  # no entity: the server's default
    yield run
    run.finish()


@pytest.mark.wandb_cassette
def test_a(shared_run):
    shared_run.log({"from_test_a": 1})


@pytest.mark.wandb_cassette
def test_b(shared_run):
    shared_run.log({"from_test_b": 2})
"""


def test_a_scoped_runs_file_stream_goes_to_the_fixtures_cassette(tmp_path: Path):
    """A run started without an entity is known by its answer: its file_stream belongs to the
    fixture's cassette, never to a test's. (wandb-core streams these rows at the run's
    finish: the tests log and end; nothing here waits for a row to be sent mid-test.)"""
    (tmp_path / "test_shared_run.py").write_text(SHARED_RUN)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        fast_stream = {"WANDB_X_FILE_STREAM_TRANSMIT_INTERVAL": "0.2"}
        recorded = run_pytest(tmp_path, "--record-mode=once", upstream=upstream, env=fast_stream)
        assert recorded.returncode == 0, _out(recorded)
        assert upstream.live()["runs"] == [], _out(recorded)
    folder = tmp_path / "cassettes" / "test_shared_run"
    fixture = (folder / "fixture.shared_run.yaml").read_text()
    assert "from_test_a" in fixture and "from_test_b" in fixture
    for name in ("test_a.yaml", "test_b.yaml"):
        assert "file_stream" not in (folder / name).read_text(), name
    for order in ([], ["test_shared_run.py::test_b", "test_shared_run.py::test_a"]):
        replayed = run_pytest(tmp_path, *order, "--block-network")
        assert replayed.returncode == 0, _out(replayed)


SETTINGS_IN_TESTS = """
import pytest, wandb


@pytest.mark.wandb_cassette
def test_a_explicit_project():
    with wandb.init(project="explicit") as run:
        assert run.project == "explicit"


@pytest.mark.wandb_cassette
def test_b_project_from_env(monkeypatch):
    monkeypatch.setenv("WANDB_PROJECT", "from-env-b")
    with wandb.init() as run:
        assert run.project == "from-env-b"  # read although another test set wandb up first


def test_c_unmarked_offline(tmp_path):
    with wandb.init(mode="offline", dir=str(tmp_path)) as run:
        assert run.project != "from-env-b"  # what test_b set is gone
"""


def test_settings_a_test_sets_are_read_whatever_ran_before(tmp_path: Path):
    """wandb reads WANDB_* once per process; each cassette makes it read them again."""
    (tmp_path / "test_settings.py").write_text(SETTINGS_IN_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        for test in ("test_a_explicit_project", "test_b_project_from_env"):  # one by one
            alone = run_pytest(tmp_path, f"test_settings.py::{test}", "--record-mode=once",
                               upstream=upstream)  # fmt: skip
            assert alone.returncode == 0, _out(alone)
        together = run_pytest(tmp_path, "--record-mode=rewrite", upstream=upstream)
        assert together.returncode == 0, _out(together)
    replayed = run_pytest(tmp_path, "--block-network")
    assert replayed.returncode == 0, _out(replayed)
    assert re.search(r"\b3 passed\b", replayed.stdout), _out(replayed)


SET_UP_AT_IMPORT = """
import wandb

wandb.setup()  # a conftest that sets wandb up before any test
"""


def test_wandb_set_up_by_a_conftest_before_the_relay_starts(tmp_path: Path):
    (tmp_path / "conftest.py").write_text(SET_UP_AT_IMPORT)
    (tmp_path / "test_settings.py").write_text(SETTINGS_IN_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        recorded = run_pytest(tmp_path, "--record-mode=once", upstream=upstream)
        assert recorded.returncode == 0, _out(recorded)
        assert upstream.live()["runs"] == []
    replayed = run_pytest(tmp_path, "--block-network")
    assert replayed.returncode == 0, _out(replayed)
    assert re.search(r"\b3 passed\b", replayed.stdout), _out(replayed)
