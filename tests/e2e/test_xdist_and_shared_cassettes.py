"""Parallel runs: ``pytest -n 4``, two tests sharing one cassette name, a read-only cassette folder.

* Each xdist worker is its own process, so it starts its own relay and points
  its own SDK at it: recordings never mix, whatever runs beside them.
* Tests that share a cassette name share one recording: the first test of a
  session to reach it records it, the others replay it (in every record mode),
  so a second test never overwrites the first's cassette. Two xdist workers
  both recording the same name write it atomically, one after the other: the
  file is one whole recording, never a mix.
* Replay writes nothing under the cassette folder: checked with a Python audit
  hook in the replaying process (every open-for-write, rename, remove, mkdir,
  chmod under ``cassettes/``), since this suite may run as root, where
  ``chmod a-w`` stops no write; the folder is made read-only all the same.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from support.projects import FAST_RETRIES, FLOW, audit_secrets, make_project, output
from support.pytest_process import run_pytest

from wandb_cassettes import store as cs
from wandb_cassettes.protocol import parse_request

WORKER_TEST = (
    FLOW
    + """

@pytest.mark.wandb_cassette
@pytest.mark.parametrize("n", range(COUNT))
def test_parallel(tmp_path, n):
    flow(tmp_path, project=f"par-{n}", artifact=n == 0)  # one artifact, to keep it quick
    assert os.environ["PYTEST_XDIST_WORKER"]  # really in a worker
"""
)


def _projects(path: Path) -> set[str]:
    """The W&B projects named anywhere in the GraphQL variables of a cassette."""
    from wandb_cassettes.protocol import parse_request

    names: set[str] = set()
    for ix in cs.load(path):
        gql = parse_request(ix.request_text()) if ix.uri.endswith("/graphql") else None
        text = json.dumps(gql.variables) if gql else ""
        names.update(w for w in text.replace('"', " ").split() if w.startswith("par-"))
        if "/files/" in ix.uri and "par-" in ix.uri:
            names.add(ix.uri.split("/files/", 1)[1].split("/")[1])
    return {n.rstrip(",:}") for n in names}


@pytest.mark.slow
def test_xdist_records_and_replays_with_one_relay_per_worker(tmp_path, standin):
    count = 4
    project = make_project(tmp_path / "p", test_par=WORKER_TEST.replace("COUNT", str(count)))
    result = run_pytest(
        project, "-n", "4", "--record-mode=once", upstream=standin, env=FAST_RETRIES
    )
    assert result.returncode == 0, output(result)
    assert f"{count} passed" in result.stdout
    paths = sorted((project / "cassettes" / "test_par").glob("*.yaml"))
    assert len(paths) == count
    for n, path in enumerate(paths):
        # Every exchange of cassette n belongs to test n: no traffic of a neighbour got in.
        assert _projects(path) == {f"par-{n}"}, (path, _projects(path))
        assert cs.load(path).metadata["test"].endswith(f"[{n}]")
    audit_secrets(*paths)
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}

    standin.stop()
    before = {p: p.read_bytes() for p in paths}
    replay = run_pytest(project, "-n", "4")
    assert replay.returncode == 0, output(replay)
    assert f"{count} passed" in replay.stdout
    assert {p: p.read_bytes() for p in paths} == before


SHARED = (
    FLOW
    + """

# Sessions recording at once use projects of their own (here: one per xdist worker): in a
# collection two sessions share, neither may delete it while the other's version is in it.
PROJECT = "shared" + os.environ.get("PYTEST_XDIST_WORKER", "")


@pytest.mark.wandb_cassette("same")
def test_a(tmp_path):
    flow(tmp_path, project=PROJECT)


@pytest.mark.wandb_cassette("same")
def test_b(tmp_path):
    flow(tmp_path, project=PROJECT)


@pytest.mark.wandb_cassette("different")
def test_c(tmp_path):
    flow(tmp_path, project="shared-c")


@pytest.mark.wandb_cassette("different")
def test_d(tmp_path):
    flow(tmp_path, project="shared-d")
"""
)


@pytest.mark.slow
def test_tests_sharing_a_cassette_name_share_one_recording(tmp_path, standin):
    project = make_project(tmp_path / "p", test_shared=SHARED)
    folder = project / "cassettes" / "test_shared"
    result = run_pytest(
        project, "--record-mode=rewrite", "-p", "no:warnings", upstream=standin, env=FAST_RETRIES
    )
    out = output(result)
    # a records "same" and b replays it; c records "different", d (another flow) cannot replay it.
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, out
    assert "3 passed" in out and "1 failed" in out, out
    failure = out.split("test_d _", 1)[1]
    assert f"wandb cassette {folder / 'different.yaml'}" in failure
    assert "no recorded match for GraphQL UpsertBucket" in failure
    same, different = cs.load(folder / "same.yaml"), cs.load(folder / "different.yaml")
    assert same.metadata["test"] == "test_shared.py::test_a"
    assert different.metadata["test"] == "test_shared.py::test_c"
    assert sorted(p.name for p in folder.iterdir()) == ["different.yaml", "same.yaml"]
    audit_secrets(folder / "same.yaml", folder / "different.yaml")
    # d recorded nothing: its requests were answered by the cassette or refused, never sent.
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}

    # Two workers recording the same name at once (--dist each: every worker runs test_a, then
    # test_b): all pass, and the file is one whole recording, the last one written.
    (folder / "same.yaml").unlink()
    result = run_pytest(
        project, "-n", "2", "--dist", "each", "--record-mode=rewrite", "-k", "test_a or test_b",
        upstream=standin, env=FAST_RETRIES,
    )  # fmt: skip
    assert result.returncode == 0, output(result)
    assert "4 passed" in result.stdout
    for worker in ("gw0", "gw1"):  # both workers recorded
        assert len(_runs_started(standin, "shared" + worker)) == 1
    shared = cs.load(folder / "same.yaml")
    assert shared.metadata["test"] == "test_shared.py::test_a"
    # One run's traffic, not two runs mixed (how often wandb-core updated it is timing's).
    texts = [ix.request_text() or "" for ix in shared]
    upserts = [parse_request(text) for text in texts if "upsertBucket" in text]
    assert len({u.variables.get("name") for u in upserts if u is not None}) == 1
    assert len({ix.uri for ix in shared if ix.uri.endswith("/file_stream")}) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["different.yaml", "same.yaml"]
    audit_secrets(folder / "same.yaml")
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}


def _runs_started(standin, project: str) -> set[str]:
    """Runs of ``project`` the stand-in has seen file_stream posts for."""
    return {
        path.split("/")[4]
        for _method, path, _op in standin.requests
        if path.endswith("/file_stream") and path.split("/")[3] == project
    }


#: Replay under an audit hook that notes every write-like operation under cassettes/.
WRITE_WATCH = """
import json, os, sys

CASSETTES = os.path.abspath("cassettes")
WRITES = []
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {
    "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.utime", "os.truncate",
    "shutil.rmtree", "shutil.copyfile", "shutil.move",
}
TWO_PATH_EVENTS = {"os.rename", "os.replace", "os.link", "os.symlink"}


def _under(path):
    try:
        path = os.path.abspath(os.fsdecode(path))
    except TypeError:  # a file descriptor
        return False
    return path == CASSETTES or path.startswith(CASSETTES + os.sep)


def _watch(event, args):
    if event == "open":
        path, _mode, flags = args
        if isinstance(flags, int) and flags & WRITE_FLAGS and _under(path):
            WRITES.append([event, os.fsdecode(path)])
    elif event in PATH_EVENTS and args and _under(args[0]):
        WRITES.append([event, os.fsdecode(args[0])])
    elif event in TWO_PATH_EVENTS and any(_under(a) for a in args[:2]):
        WRITES.append([event, *map(os.fsdecode, args[:2])])


sys.addaudithook(_watch)


def pytest_sessionfinish(session):
    with open(os.environ["WRITES_REPORT"], "w") as fh:
        json.dump(WRITES, fh)
"""


def _tree(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(folder)): (
            p.read_bytes() if p.is_file() else b"",
            p.stat().st_mtime_ns,
            p.stat().st_mode,
        )
        for p in sorted(folder.rglob("*"))
    }


def test_replay_writes_nothing_under_the_cassette_folder(tmp_path, standin):
    project = make_project(
        tmp_path / "p",
        conftest=WRITE_WATCH,
        test_ro=FLOW
        + "\n\n@pytest.mark.wandb_cassette\ndef test_ro(tmp_path):\n    flow(tmp_path)\n",
    )
    report = tmp_path / "writes.json"
    env = {**FAST_RETRIES, "WRITES_REPORT": str(report)}
    recorded = run_pytest(project, "--record-mode=once", upstream=standin, env=env)
    assert recorded.returncode == 0, output(recorded)
    # The watch sees writes: recording wrote the cassette (temporary file, then a rename).
    events = {e[0] for e in json.loads(report.read_text())}
    assert {"open", "os.rename"} <= events, events  # os.replace audits as os.rename
    standin.stop()

    folder = project / "cassettes"
    for p in [folder, *folder.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        before = _tree(folder)
        replay = run_pytest(project, env=env)
        assert replay.returncode == 0, output(replay)
        assert json.loads(report.read_text()) == [], "replay wrote under cassettes/"
        assert _tree(folder) == before
    finally:
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
