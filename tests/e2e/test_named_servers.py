"""Whatever server the code names, its W&B traffic passes the relay (issue 21).

A project names its own W&B server in every way the SDK takes one: ``wandb.login(key=,
host=)``, ``wandb.Settings(base_url=)`` (with ``api_key=`` and without), ``wandb.Api(
overrides={"base_url": ...})`` (with ``api_key=`` and without), ``WANDB_BASE_URL`` set
inside a test (before and after the SDK was set up), a settings file the test brings
(the ``wandb/settings`` of a folder it goes into, a ``WANDB_CONFIG_DIR`` it sets), and a
child process started with only ``PATH`` and ``HOME`` that finds the server in the
settings file ``wandb login --host`` wrote. The session records against one stand-in
(the upstream, its key in the user's netrc) while a second stand-in plays the team's
self-hosted W&B (``H``, its key in the same netrc, as ``wandb login --host`` leaves
it; no ``WANDB_API_KEY``). Recording captures ``H``'s traffic in the cassettes, under
``H``'s URL, and the cleanup leaves both servers empty; replay under
``--block-network`` (in file order, in random order, with two workers) passes while
``H`` and the upstream see no request at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.flows import write_project
from support.pytest_process import PYTEST, run_pytest, subprocess_env
from wandb_cassettes_standin import StandinBackend

NAMED = """
import os
import subprocess
import sys

import pytest
import wandb

H = os.environ["NAMED_SERVER"]
H_KEY = os.environ["NAMED_KEY"]


def _publish(run, tmp_path, name):
    # An artifact the test leaves behind: the cleanup must delete it where it was made.
    path = tmp_path / f"{name}.txt"
    path.write_text(name)
    artifact = wandb.Artifact(name, type="model")
    artifact.add_file(str(path))
    run.log_artifact(artifact).wait()


@pytest.mark.wandb_cassette
def test_login_with_host(tmp_path):
    wandb.login(key=H_KEY, host=H)
    with wandb.init(project="named") as run:
        run.log({"loss": 0.5})
        _publish(run, tmp_path, "login-model")
    assert run.settings.base_url == H  # the code reads back the server it named


@pytest.mark.wandb_cassette
def test_settings_base_url_and_api_key(tmp_path):
    with wandb.init(project="named", settings=wandb.Settings(base_url=H, api_key=H_KEY)) as run:
        _publish(run, tmp_path, "settings-model")


@pytest.mark.wandb_cassette
def test_settings_base_url_key_from_netrc():
    with wandb.init(project="named", settings=wandb.Settings(base_url=H)) as run:
        run.log({"netrc": 1})


@pytest.mark.wandb_cassette
def test_api_overrides_and_api_key(tmp_path):
    with wandb.init(project="named", settings=wandb.Settings(base_url=H, api_key=H_KEY)) as run:
        run.summary["seen"] = 1
    api = wandb.Api(overrides={"base_url": H}, api_key=H_KEY)
    assert api.run(f"{run.entity}/named/{run.id}").id == run.id


@pytest.mark.wandb_cassette
def test_api_overrides_key_from_netrc():
    api = wandb.Api(overrides={"base_url": H})
    assert api.default_entity and api.settings["base_url"] == H


@pytest.mark.wandb_cassette
def test_environment_set_inside_the_test(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_BASE_URL", H)
    monkeypatch.setenv("WANDB_API_KEY", H_KEY)
    with wandb.init(project="named") as run:
        _publish(run, tmp_path, "env-model")


@pytest.mark.wandb_cassette
def test_environment_set_after_the_sdk_was_set_up(monkeypatch):
    wandb.setup()
    monkeypatch.setenv("WANDB_BASE_URL", H)  # wandb.Api reads it at once (api.py)
    assert wandb.Api().default_entity


@pytest.mark.wandb_cassette
def test_settings_file_of_a_folder_the_test_goes_into(tmp_path, monkeypatch):
    # The SDK reads ./wandb/settings of the folder it starts in (wandb_settings.py
    # settings_workspace); the session's WANDB_DIR must not hide it.
    (tmp_path / "wandb").mkdir()
    (tmp_path / "wandb" / "settings").write_text(f"[default]\\nbase_url = {H}\\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_API_KEY", H_KEY)
    with wandb.init(project="named") as run:
        run.log({"workspace": 1})


@pytest.mark.wandb_cassette
def test_settings_file_of_a_config_dir_the_test_sets(tmp_path, monkeypatch):
    (tmp_path / "settings").write_text(f"[default]\\nbase_url = {H}\\n")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path))  # the key: H's netrc entry
    with wandb.init(project="named") as run:
        run.log({"system": 1})


@pytest.mark.wandb_cassette
def test_child_with_only_path_and_home(tmp_path):
    (tmp_path / "train.py").write_text(CHILD)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["CHILD_HOME"]}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "train.py"), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"server {H}" in done.stdout


CHILD = '''
import pathlib, sys
import wandb

with wandb.init(project="child") as run:
    run.log({"loss": 0.25})
    path = pathlib.Path(sys.argv[1]) / "child.txt"
    path.write_text("child")
    artifact = wandb.Artifact("child-model", type="model")
    artifact.add_file(str(path))
    run.log_artifact(artifact).wait()
print("server", run.settings.base_url)
'''


@pytest.mark.wandb_cassette
def test_two_servers_in_one_test(tmp_path):
    # The same names on both servers (and, on two stand-ins, the same server ids).
    with wandb.init(project="named") as run:
        _publish(run, tmp_path, "same-model")
    with wandb.init(project="named", settings=wandb.Settings(base_url=H)) as run:
        _publish(run, tmp_path, "same-model")


def test_unmarked_naming_a_server_is_refused_at_once():
    with pytest.raises(Exception, match="outside any cassette"):
        wandb.init(project="named", settings=wandb.Settings(base_url=H, api_key=H_KEY))


def test_offline(tmp_path):
    run = wandb.init(project="named", mode="offline", dir=str(tmp_path))
    run.log({"offline": 1})
    run.finish()


def test_disabled():
    run = wandb.init(project="named", mode="disabled")
    run.log({"disabled": 1})
    run.finish()
"""

#: The marked tests above (what replays), and all of them.
MARKED = 11
ALL = 14


@dataclass
class Recorded:
    project: Path
    upstream: StandinBackend
    named: StandinBackend
    #: The child's HOME in replay: the settings file `wandb login --host` wrote, no netrc.
    replay_home: Path
    #: What the recording session printed.
    output: str = ""


def _netrc(path: Path, *backends: StandinBackend) -> Path:
    """A netrc with an entry per stand-in, as `wandb login --host` writes them."""
    path.write_text(
        "".join(
            f"machine {b.base_url.split('://', 1)[1]}\n  login user\n  password {b.api_key}\n"
            for b in backends
        )
    )
    path.chmod(0o600)
    return path


def _logged_in_home(home: Path, server: StandinBackend) -> Path:
    """A HOME in which the real `wandb login --host` ran: its settings file names the
    server, its netrc holds the key."""
    home.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "wandb", "login", "--host", server.base_url, server.api_key],
        env={"PATH": os.environ["PATH"], "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    settings = (home / ".config" / "wandb" / "settings").read_text()
    assert f"base_url = {server.base_url}" in settings
    return home


def _env(recorded: Recorded, **extra: str) -> dict[str, str]:
    return {
        "NAMED_SERVER": recorded.named.base_url,
        "NAMED_KEY": recorded.named.api_key,
        "CHILD_HOME": str(recorded.replay_home),
        **extra,
    }


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{result.stdout[-12000:]}\n--- stderr ---\n{result.stderr[-4000:]}"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """The project recorded: the upstream's key and H's in the user's netrc, none in the
    environment; the child's HOME logged in to H with the real `wandb login --host`."""
    root = tmp_path_factory.mktemp("named")
    project = write_project(root / "project", {"test_named.py": NAMED})
    with StandinBackend() as upstream, StandinBackend() as named:
        child_home = _logged_in_home(root / "child-home", named)
        replay_home = root / "replay-home"
        shutil.copytree(child_home / ".config", replay_home / ".config")
        recording = Recorded(project, upstream, named, replay_home)
        netrc = _netrc(root / "netrc", upstream, named)
        before = len(named.requests)
        result = run_pytest(
            project,
            "--record-mode=once",
            env=_env(
                recording,
                CHILD_HOME=str(child_home),
                NETRC=str(netrc),
                WANDB_CASSETTES_UPSTREAM=upstream.base_url,
            ),
        )
        assert result.returncode == 0, _out(result)
        assert re.search(rf"\b{ALL} passed\b", result.stdout), _out(result)
        assert len(named.requests) > before, "nothing reached the named server"
        # The cleanup left both servers as they were: what each test made there is gone.
        empty: dict[str, list[Any]] = {"runs": [], "artifacts": [], "collections": []}
        assert named.live() == empty, _out(result)
        assert upstream.live() == empty, _out(result)
        recording.output = result.stdout
        yield recording


def _cassette(recorded: Recorded, test: str) -> dict[str, Any]:
    path = recorded.project / "cassettes" / "test_named" / f"{test}.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _api_uris(cassette: dict[str, Any]) -> list[str]:
    """The URIs of W&B API requests (GraphQL, file_stream), not of storage."""
    return [
        ix["request"]["uri"]
        for ix in cassette["interactions"]
        if ix["request"]["uri"].split("?")[0].endswith(("/graphql", "/file_stream"))
    ]


def _stable(cassette: dict[str, Any], real: str) -> str:
    """How the cassette names the loopback server ``real`` (its stable form, issue 23): the
    recording line maps each stable origin back to the session's."""
    for part in str(cassette["metadata"]["recording"]).split(";")[1:]:
        name, _, origin = part.partition("=")
        if origin == real:
            return f"http://{name}"
    raise AssertionError(f"{real} is not in the recording line {cassette['metadata']}")


@pytest.mark.parametrize(
    "test",
    [
        "test_login_with_host",
        "test_settings_base_url_and_api_key",
        "test_settings_base_url_key_from_netrc",
        "test_api_overrides_and_api_key",
        "test_api_overrides_key_from_netrc",
        "test_environment_set_inside_the_test",
        "test_environment_set_after_the_sdk_was_set_up",
        "test_settings_file_of_a_folder_the_test_goes_into",
        "test_settings_file_of_a_config_dir_the_test_sets",
        "test_child_with_only_path_and_home",
    ],
)
def test_each_way_of_naming_a_server_is_recorded_under_that_server(
    recorded: Recorded, test: str
) -> None:
    cassette = _cassette(recorded, test)
    uris = _api_uris(cassette)
    assert uris, f"{test}: nothing recorded"
    named = _stable(cassette, recorded.named.base_url)
    assert all(u.startswith(named + "/") for u in uris), uris
    assert cassette["metadata"]["servers"] == [named]
    assert cassette["metadata"]["upstream"] == _stable(cassette, recorded.upstream.base_url)
    assert cassette["metadata"]["wandb_use"]


def test_a_test_on_two_servers_records_and_cleans_up_on_each(recorded: Recorded) -> None:
    cassette = _cassette(recorded, "test_two_servers_in_one_test")
    uris = _api_uris(cassette)
    hosts = {u.split("/graphql")[0].split("/files/")[0] for u in uris}
    servers = [_stable(cassette, s.base_url) for s in (recorded.upstream, recorded.named)]
    assert hosts == set(servers)
    cleanup = [cassette["interactions"][i] for i in cassette["metadata"]["cleanup_interactions"]]
    for mutation in ("mutation DeleteArtifact(", "mutation DeleteArtifactSequence(", "DeleteRun"):
        where = [
            ix["request"]["uri"].rsplit("/graphql")[0]
            for ix in cleanup
            if mutation in str(ix["request"]["body"])
        ]
        # The leftover version, its collection and the run on each server, deleted there.
        assert sorted(where) == sorted(servers)


def test_no_key_is_recorded(recorded: Recorded) -> None:
    for path in (recorded.project / "cassettes").rglob("*.yaml"):
        text = path.read_text()
        for key in (recorded.named.api_key, recorded.upstream.api_key):
            assert key not in text and key[6:] not in text, path


def test_the_audit_finds_every_cassette_clean(recorded: Recorded) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wandb_cassettes", "audit", "cassettes"],
        cwd=recorded.project,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_the_session_summary_counts_what_was_made_on_every_server(recorded: Recorded) -> None:
    """The terminal summary's counts are the audit's, summed: the named server's included."""
    done = subprocess.run(
        [sys.executable, "-m", "wandb_cassettes", "audit", "--format", "json", "cassettes"],
        cwd=recorded.project,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    audited = json.loads(done.stdout)["cassettes"]
    created = sum(len(c["created"]) for c in audited)
    deleted = sum(len(c["deleted"]) for c in audited)
    said = re.search(r"W&B resources created (\d+), deleted (\d+)", recorded.output)
    assert said is not None, recorded.output[-3000:]
    assert (int(said[1]), int(said[2])) == (created, deleted), recorded.output[-3000:]


def _replay(recorded: Recorded, *args: str) -> subprocess.CompletedProcess[str]:
    seen = (len(recorded.named.requests), len(recorded.upstream.requests))
    result = run_pytest(recorded.project, "--block-network", *args, env=_env(recorded))
    assert (len(recorded.named.requests), len(recorded.upstream.requests)) == seen, (
        "a server was reached in replay: " + _out(result)
    )
    return result


def test_replays_with_no_request_to_any_server(recorded: Recorded) -> None:
    result = _replay(recorded)
    assert result.returncode == 0, _out(result)
    assert re.search(rf"\b{ALL} passed\b", result.stdout), _out(result)


def test_replays_with_two_workers(recorded: Recorded) -> None:
    result = _replay(recorded, "-n", "2")
    assert result.returncode == 0, _out(result)
    assert re.search(rf"\b{ALL} passed\b", result.stdout), _out(result)


@pytest.mark.parametrize("seed", ["1", "7"])
def test_replays_in_random_order(recorded: Recorded, seed: str) -> None:
    seen = (len(recorded.named.requests), len(recorded.upstream.requests))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "randomly",
         f"--randomly-seed={seed}", "--block-network", "-v"],
        cwd=recorded.project,
        env=subprocess_env(None, **_env(recorded)),
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert (len(recorded.named.requests), len(recorded.upstream.requests)) == seen
    assert result.returncode == 0, _out(result)
    assert re.search(rf"\b{ALL} passed\b", result.stdout), _out(result)
    order = re.findall(r"::(test_\w+)", result.stdout)
    assert order != sorted(order, key=NAMED.index), "not another order than the file's"


@pytest.mark.parametrize("select", ["offline", "disabled", "offline or disabled"])
def test_offline_and_disabled_tests_pass_whatever_is_selected(
    recorded: Recorded, select: str
) -> None:
    """With no marked test in the selection (-k, --lf, a CI shard) no relay starts: an
    offline or disabled run still reaches its wandb-core through --block-network."""
    result = _replay(recorded, "-k", select)
    assert result.returncode == 0, _out(result)
    assert "passed" in result.stdout and "failed" not in result.stdout, _out(result)


# -- what cannot be taken fails, never passes ---------------------------------------------

ESCAPE = """
import os

import pytest
import wandb

H = os.environ["NAMED_SERVER"]


@pytest.mark.wandb_cassette
def test_traffic_that_escapes(monkeypatch):
    # An SDK path the library would not know: the server it names is not taken.
    from wandb_cassettes.runtime import _servers

    monkeypatch.setattr(_servers.Target, "route", lambda self, base_url: base_url)
    api = wandb.Api(overrides={"base_url": H}, api_key=os.environ["NAMED_KEY"])
    assert api.default_entity
"""


def test_a_test_whose_traffic_reaches_no_relay_fails_naming_where_it_went(tmp_path: Path) -> None:
    project = write_project(tmp_path, {"test_escape.py": ESCAPE})
    with StandinBackend() as upstream, StandinBackend() as named:
        env = {"NAMED_SERVER": named.base_url, "NAMED_KEY": named.api_key}
        recorded = run_pytest(project, "--record-mode=once", upstream=upstream, env=env)
        assert recorded.returncode == 1, _out(recorded)
        said = " ".join(recorded.stdout.split())
        assert "none of its requests reached the wandb-cassettes relay" in said, _out(recorded)
        assert f"server {named.base_url}" in said, _out(recorded)
        assert "nothing was recorded" in said
        cassettes = project / "cassettes" / "test_escape"
        assert not (cassettes / "test_traffic_that_escapes.yaml").exists()
        failed = yaml.safe_load((cassettes / "test_traffic_that_escapes.yaml.failed").read_text())
        assert failed["interactions"] == [] and failed["metadata"]["wandb_use"] == ["api"]
        # The audit tells such an empty cassette from one of a test that used no W&B.
        shutil.copy(
            cassettes / "test_traffic_that_escapes.yaml.failed",
            cassettes / "test_traffic_that_escapes.yaml",
        )
        audit = subprocess.run(
            [sys.executable, "-m", "wandb_cassettes", "audit", "cassettes"],
            cwd=project,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert audit.returncode == 1, audit.stdout + audit.stderr
        assert "no interaction, but the recording's test used W&B online (api)" in audit.stdout
        # Replayed, the same escape fails too (its requests never reach the cassette).
        replayed = run_pytest(project, env=env)
        assert replayed.returncode == 1, _out(replayed)
        assert "nothing was replayed" in " ".join(replayed.stdout.split()), _out(replayed)


NO_KEY = """
import os

import pytest
import wandb


@pytest.mark.wandb_cassette
def test_named_server_without_a_key():
    with wandb.init(project="p", settings=wandb.Settings(base_url=os.environ["NAMED_SERVER"])):
        pass


@pytest.mark.wandb_cassette
def test_plain_http_server_off_this_machine():
    api = wandb.Api(overrides={"base_url": "http://wandb.example.invalid"}, api_key="k" * 40)
    api.default_entity


@pytest.mark.wandb_cassette
def test_a_password_in_the_url():
    named = os.environ["NAMED_SERVER"].replace("://", "://bob:hunter2code@")
    api = wandb.Api(overrides={"base_url": named}, api_key="k" * 40)
    api.default_entity
"""


def test_a_named_server_that_cannot_be_recorded_fails_before_anything_reaches_it(
    tmp_path: Path,
) -> None:
    """No key for it (the session's key never goes to another server), or plain http off
    this machine: the test fails at once, naming the server and why; nothing is sent."""
    project = write_project(tmp_path, {"test_no_key.py": NO_KEY})
    with StandinBackend() as upstream, StandinBackend() as named:
        netrc = _netrc(tmp_path / "netrc", upstream)  # the upstream's key only
        before = len(named.requests)
        result = run_pytest(
            project,
            "--record-mode=once",
            env={
                "NAMED_SERVER": named.base_url,
                "NETRC": str(netrc),
                "WANDB_CASSETTES_UPSTREAM": upstream.base_url,
            },
        )
        assert len(named.requests) == before, "the named server was reached"
        where = named.base_url
    said = " ".join(result.stdout.split())
    assert result.returncode == 1 and "3 failed" in said, _out(result)
    assert not re.search(r"\b\d+ passed\b", said), _out(result)
    assert f"no API key for {where}" in said, _out(result)
    assert "refusing plain-http upstream 'http://wandb.example.invalid'" in said, _out(result)
    assert "holds a user or password" in said, _out(result)
    # Never in the library's own words (the SDK's AuthenticationError and pytest's
    # traceback quote the test's URL as the test wrote it).
    ours = re.findall(
        r"the server the code named \([^)]*\): refusing an upstream URL that holds a user "
        r"or password \('[^']*'\)",
        said,
    )
    assert ours and not any("hunter2code" in m for m in ours), ours


PLAIN = """
import pytest
import wandb


@pytest.mark.wandb_cassette
def test_replayed():
    with wandb.init(project="p") as run:
        run.log({"a": 1})
"""


def test_replay_needs_no_upstream_and_refusing_one_is_a_usage_error(tmp_path: Path) -> None:
    """The user's wandb settings name a plain-http self-hosted server: replay neither reads
    nor refuses it; recording says it cannot, as a usage error (not an INTERNALERROR)."""
    project = write_project(tmp_path / "project", {"test_plain.py": PLAIN})
    with StandinBackend() as upstream:
        assert run_pytest(project, "--record-mode=once", upstream=upstream).returncode == 0
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings").write_text("[default]\nbase_url = http://wandb.corp.example\n")
    env = {"WANDB_CONFIG_DIR": str(config)}
    replayed = run_pytest(project, "--block-network", env=env)
    assert replayed.returncode == 0, _out(replayed)
    recording = subprocess.run(
        [*PYTEST, "--record-mode=rewrite"],
        cwd=project,
        env=subprocess_env(None, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert recording.returncode == 4, _out(recording)
    assert "INTERNALERROR" not in recording.stdout + recording.stderr
    assert "refusing plain-http upstream 'http://wandb.corp.example'" in recording.stderr
    assert str(config / "settings") in recording.stderr  # where it came from


BYPASS = """
import json, os, subprocess, sys, urllib.error, urllib.request

import pytest


@pytest.mark.wandb_cassette
def test_raw_http_to_the_server():
    # No SDK: nothing in this process can tell that this is W&B traffic.
    request = urllib.request.Request(
        os.environ["DIRECT"] + "/graphql",
        data=json.dumps({"query": "query Viewer { viewer { id } }"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=10).read()
    except urllib.error.HTTPError:
        pass  # no key sent: answered 401, but the server saw it all the same


@pytest.mark.wandb_cassette
def test_child_without_site():
    # python -S skips site-packages' .pth files, so the hook of wandb-cassettes never loads.
    subprocess.run([sys.executable, "-S", "-c", "pass"], check=True)
"""


def test_a_marked_test_that_recorded_nothing_says_so(tmp_path: Path):
    """Traffic by a way the relay never sees (a raw HTTP client, a child process without
    Python's site module) leaves an empty cassette: recording says so, per test."""
    (tmp_path / "test_bypass.py").write_text(BYPASS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        env = {"DIRECT": upstream.base_url}
        result = run_pytest(tmp_path, "--record-mode=once", upstream=upstream, env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for test in ("test_raw_http_to_the_server", "test_child_without_site"):
        assert f"test_bypass.py::{test}: recorded no W&B request" in out, out
    assert "python -S" in out


FIXTURE_RUN = """
import pytest, wandb


@pytest.fixture(scope="module")
def shared_run():
    run = wandb.init(project="scoped", reinit="create_new")
    yield run
    run.finish()


@pytest.mark.wandb_cassette
def test_a(shared_run):
    shared_run.log({"a": 1})
"""


def test_a_test_whose_run_is_a_scoped_fixtures_is_not_said_to_record_nothing(tmp_path: Path):
    """Its rows go to the fixture's cassette, as the README says: no word, even under
    ``-W error``; and a test that does record nothing keeps its cassette under it too."""
    (tmp_path / "test_scoped.py").write_text(FIXTURE_RUN)
    (tmp_path / "test_bypass.py").write_text(BYPASS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    with StandinBackend() as upstream:
        env = {"DIRECT": upstream.base_url}
        result = run_pytest(
            tmp_path, "--record-mode=once", "-W", "error", upstream=upstream, env=env
        )
    out = result.stdout + result.stderr
    assert "test_scoped.py::test_a: recorded no W&B request" not in out, out
    assert "test_scoped.py::test_a PASSED" in out or "test_scoped.py ." in out, out
    # Under -W error the warning fails the silent tests, after their cassettes are kept.
    assert (tmp_path / "cassettes" / "test_bypass" / "test_child_without_site.yaml").exists()
