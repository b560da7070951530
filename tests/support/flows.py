"""Test files that the plugin's end-to-end tests record, replay and change
(``tests/e2e/test_plugin.py``, ``test_interop.py``, ``test_integrations.py``).

Each template is the text of a test module of a throwaway project; the tests
run it with the REAL wandb SDK in a pytest subprocess. Environment variables
(``E2E_*``) change what a test does between its recording and its replay.
"""

from __future__ import annotations

from pathlib import Path

PYTEST_INI = "[pytest]\n"

#: The whole journey of issue 3: run, metrics, a torch checkpoint artifact, the public
#: API, a real download (the SDK cache is dropped first), torch.load, deletes.
FLOW = """
import os
import shutil

import pytest
import torch
import wandb

from wandb_cassettes.runtime import REPLAY_API_KEY

PROJECT = "e2e"


def _train_and_publish(tmp_path, name, numel):
    run = wandb.init(project=PROJECT, config={"lr": 0.1})
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1), "step": step})
    weights = {"weight": torch.randn(numel)}  # fresh random weights: differ in replay
    path = tmp_path / "model.pt"
    torch.save(weights, path)
    artifact = wandb.Artifact(name, type="model")
    artifact.add_file(str(path))
    run.log_artifact(artifact, aliases=["best"]).wait()
    entity, run_id = run.entity, run.id
    run.finish()
    return weights, f"{entity}/{PROJECT}", run_id


def _download_and_delete(tmp_path, weights, where, run_id, name):
    # The SDK keeps what it uploaded in its cache; without it, the download is real HTTP.
    shutil.rmtree(os.environ["WANDB_CACHE_DIR"], ignore_errors=True)
    api = wandb.Api()
    got = api.artifact(f"{where}/{name}:best")
    if os.environ.get("E2E_SKIP_SECOND_LOOKUP") != name:
        api.artifact(f"{where}/{name}:best")  # the same lookup again: one to leave unplayed
    directory = got.download(root=str(tmp_path / "download"))
    loaded = torch.load(os.path.join(directory, "model.pt"))
    assert torch.equal(loaded["weight"], weights["weight"])
    got.delete(delete_aliases=True)
    api.run(f"{where}/{run_id}").delete()


@pytest.mark.wandb_cassette
def test_checkpoint_round_trip(tmp_path):
    name = os.environ.get("E2E_ARTIFACT", "ckpt")
    weights, where, run_id = _train_and_publish(tmp_path, name, 64)
    _download_and_delete(tmp_path, weights, where, run_id, name)


@pytest.mark.wandb_cassette
def test_big_checkpoint(tmp_path):
    # 10 MB of float32 noise: the cassette keeps its size and sha256 only.
    weights, where, run_id = _train_and_publish(tmp_path, "big", 10 * 2**20 // 4)
    _download_and_delete(tmp_path, weights, where, run_id, "big")


@pytest.mark.wandb_cassette
@pytest.mark.parametrize("label", ["a/b c", "x:y?*"])
def test_parametrized(label):
    with wandb.init(project=PROJECT, config={"label": label}) as run:
        run.log({"n": len(label)})
    wandb.Api().run(f"{run.entity}/{PROJECT}/{run.id}").delete()


@pytest.mark.wandb_cassette
class TestMarkedClass:
    def test_one(self):
        with wandb.init(project=PROJECT) as run:
            run.log({"one": 1})
        wandb.Api().run(f"{run.entity}/{PROJECT}/{run.id}").delete()

    def test_key(self):
        expected = os.environ.get("E2E_EXPECT_KEY")
        if expected == "replay":
            assert os.environ["WANDB_API_KEY"] == REPLAY_API_KEY
        elif expected:
            assert os.environ["WANDB_API_KEY"] == expected
        assert wandb.Api().default_entity


def test_unmarked(wandb_cassette):
    assert wandb_cassette is None
"""

#: ``pytestmark`` on a module; a name given to the marker.
MODULE_MARKED = """
import pytest
import wandb

pytestmark = pytest.mark.wandb_cassette


def test_by_module_marker():
    with wandb.init(project="e2e-module") as run:
        run.log({"m": 1})
    wandb.Api().run(f"{run.entity}/e2e-module/{run.id}").delete()


@pytest.mark.wandb_cassette("a-chosen-name")
def test_named():
    with wandb.init(project="e2e-module") as run:
        run.log({"named": 1})
    wandb.Api().run(f"{run.entity}/e2e-module/{run.id}").delete()
"""

#: ``@pytest.mark.vcr`` for the test's own HTTP beside the W&B cassette. The local server
#: (on 127.0.0.1, like the relay) runs only with ``E2E_LOCAL_SERVER``, i.e. while
#: recording; in replay the URL points where nothing listens, so vcrpy must answer.
VCR_AND_WANDB = """
import os
import urllib.request

import pytest
import wandb
from aiohttp import web

from wandb_cassettes.record import BackgroundServer


@pytest.fixture(scope="module")
def vcr_config():
    return {"match_on": ["method", "path", "query"]}


@pytest.fixture
def local_http():
    async def hello(request):
        return web.Response(text="hello " + request.query.get("who", "?"))

    app = web.Application()
    app.router.add_get("/hello", hello)
    if os.environ.get("E2E_LOCAL_SERVER"):
        with BackgroundServer(app) as server:
            yield server.url
    else:
        yield "http://127.0.0.1:9"  # the discard port: nothing answers


@pytest.mark.vcr
@pytest.mark.wandb_cassette
def test_own_http_and_wandb(local_http, tmp_path):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with wandb.init(project="e2e-vcr") as run:
        text = opener.open(local_http + "/hello?who=vcr", timeout=10).read()
        assert text == b"hello vcr"
        path = tmp_path / "notes.txt"
        path.write_text("notes")
        artifact = wandb.Artifact("notes", type="dataset")
        artifact.add_file(str(path))
        run.log_artifact(artifact).wait()
    api = wandb.Api()
    got = api.artifact(f"{run.entity}/e2e-vcr/notes:latest")
    got.delete(delete_aliases=True)
    api.run(f"{run.entity}/e2e-vcr/{run.id}").delete()
"""

#: For the record modes: E2E_FAIL fails the test after its W&B traffic, E2E_EXTRA adds a
#: request the cassette does not have.
MODES = """
import os

import pytest
import wandb


@pytest.mark.wandb_cassette
def test_modes():
    with wandb.init(project="e2e-modes") as run:
        run.log({"a": 1})
    api = wandb.Api()
    if os.environ.get("E2E_EXTRA"):
        assert list(api.artifact_types("e2e-modes")) == []
    api.run(f"{run.entity}/e2e-modes/{run.id}").delete()
    assert not os.environ.get("E2E_FAIL"), "failing on purpose"
"""


def write_project(root: Path, files: dict[str, str], ini: str = PYTEST_INI) -> Path:
    """A project folder with ``pytest.ini`` and the given test files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(ini)
    for name, text in files.items():
        (root / name).write_text(text)
    return root
