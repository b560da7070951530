"""The pytest plugin end to end: the REAL wandb SDK recorded against a stand-in W&B, then replayed.

Every scenario runs pytest in a subprocess (the SDK reads its environment once
per process) on a throwaway project made of the templates in ``support/flows.py``.
The main project is recorded once per module (``recorded``), with the stand-in
stopped afterwards, and then replayed in several ways. Every subprocess is
checked for ``wandb-core`` processes that outlive it (:func:`pytest_in`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import vcr
import yaml
from support.flows import FLOW, MODES, MODULE_MARKED, VCR_AND_WANDB, write_project
from support.polling import poll
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import store as cs

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")

#: Set in each subprocess; wandb-core inherits it, which tells its processes from others'.
TAG = "CASSETTES_E2E_TAG"

FLOW_TESTS = [
    "test_a_vcr.py::test_own_http_and_wandb",
    "test_flow.py::test_checkpoint_round_trip",
    "test_flow.py::test_big_checkpoint",
    "test_flow.py::test_parametrized[a/b c]",
    "test_flow.py::test_parametrized[x:y?*]",
    "test_flow.py::TestMarkedClass::test_one",
    "test_flow.py::TestMarkedClass::test_key",
    "test_flow.py::test_unmarked",
    "test_module.py::test_by_module_marker",
    "test_module.py::test_named",
]
#: The W&B cassette of each marked test, relative to the project.
CASSETTES = {
    "test_flow.py::test_checkpoint_round_trip": "test_flow/test_checkpoint_round_trip.yaml",
    "test_flow.py::test_big_checkpoint": "test_flow/test_big_checkpoint.yaml",
    "test_flow.py::TestMarkedClass::test_one": "test_flow/TestMarkedClass.test_one.yaml",
    "test_flow.py::TestMarkedClass::test_key": "test_flow/TestMarkedClass.test_key.yaml",
    "test_module.py::test_by_module_marker": "test_module/test_by_module_marker.yaml",
    "test_module.py::test_named": "test_module/a-chosen-name.yaml",
    # Beside pytest-recording's own cassette of the test (test_own_http_and_wandb.yaml).
    "test_a_vcr.py::test_own_http_and_wandb": "test_a_vcr/test_own_http_and_wandb.wandb.yaml",
}


# -- running pytest ---------------------------------------------------------------------


def _tagged_cores(tag: str) -> list[int]:
    """Live wandb-core processes started under the subprocess tagged ``tag``."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "comm").read_text().strip() != "wandb-core":
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{TAG}={tag}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def pytest_in(
    project: Path,
    *args: str,
    upstream: StandinBackend | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """pytest in ``project`` (a subprocess); fails if a wandb-core it started outlives it."""
    tag = uuid.uuid4().hex
    result = run_pytest(
        project, "-p", "no:logging", *args, upstream=upstream, env={**(env or {}), TAG: tag}
    )
    poll(lambda: not _tagged_cores(tag), 10)
    left = _tagged_cores(tag)
    for pid in left:  # ours by the tag: stop them, then fail
        os.kill(pid, signal.SIGKILL)
    assert not left, f"wandb-core {left} outlived `pytest {' '.join(args)}`\n{_out(result)}"
    return result


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout ---\n{result.stdout[-15000:]}\n--- stderr ---\n{result.stderr[-5000:]}"


def _outcomes(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    """(node id, outcome) in the order pytest ran them (``-v`` output, no xdist)."""
    found = re.findall(r"^(\S+::\S+(?: \S+)*?) (PASSED|FAILED|ERROR)", result.stdout, re.M)
    return [(node, outcome) for node, outcome in found]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- the main project, recorded once --------------------------------------------------


@dataclass
class Recorded:
    project: Path
    result: subprocess.CompletedProcess[str]
    api_key: str
    live_after: dict[str, list[dict[str, object]]]

    @property
    def cassettes(self) -> Path:
        return self.project / "cassettes"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """The flow project recorded with ``--record-mode=once``; the stand-in is gone afterwards."""
    project = write_project(
        tmp_path_factory.mktemp("e2e"),
        # test_a_vcr.py runs first: the relay starts while its vcr cassette is active.
        {"test_a_vcr.py": VCR_AND_WANDB, "test_flow.py": FLOW, "test_module.py": MODULE_MARKED},
    )
    with StandinBackend() as wb:
        result = pytest_in(
            project,
            "-v",
            "--record-mode=once",
            upstream=wb,
            env={"E2E_LOCAL_SERVER": "1", "E2E_EXPECT_KEY": wb.api_key},
        )
        live = wb.live()
    yield Recorded(project, result, wb.api_key, live)


@pytest.mark.torch  # the recorded project's test_flow.py saves torch checkpoints
def test_recording_writes_one_clean_cassette_per_test(recorded: Recorded) -> None:
    result = recorded.result
    assert result.returncode == 0, _out(result)
    assert _outcomes(result) == [(node, "PASSED") for node in FLOW_TESTS], _out(result)
    # The tests deleted their runs and artifact versions on the stand-in.
    assert recorded.live_after["runs"] == [] and recorded.live_after["artifacts"] == []

    files = sorted(str(p.relative_to(recorded.cassettes)) for p in recorded.cassettes.rglob("*"))
    files = [f for f in files if f.endswith(".yaml")]
    for expected in CASSETTES.values():
        assert expected in files
    # Parametrized ids become distinct, file-safe names.
    params = [f for f in files if f.startswith("test_flow/test_parametrized[")]
    assert len(params) == 2, files
    for name in params:
        assert not set(name.removeprefix("test_flow/")) & set(' /\\:?*"<>|'), name
    assert not [f for f in files if f.endswith(".failed")]

    key = recorded.api_key
    basic = base64.b64encode(f"api:{key}".encode()).decode()
    sizes = {}
    for node, rel in [*CASSETTES.items(), *((p, p) for p in params)]:
        path = recorded.cassettes / rel
        text = path.read_text()
        assert key not in text and basic not in text and basic.rstrip("=") not in text, rel
        ours = cs.load(path)
        theirs = vcr.cassette.Cassette.load(path=str(path))  # vcrpy reads it as it is
        assert len(theirs) == len(ours) > 0, rel
        if node in CASSETTES:
            assert ours.metadata["test"] == node
        # The stand-in's port is the session's: on the recording line, not in the interactions.
        assert ours.metadata["seed"] and ours.metadata["upstream"] == "http://upstream.invalid"
        assert "upstream.invalid=http://127.0.0.1:" in ours.metadata["recording"]
        sizes[rel] = path.stat().st_size

    # A 10 MB checkpoint adds its size and sha256, not its bytes.
    big = cs.load(recorded.cassettes / CASSETTES["test_flow.py::test_big_checkpoint"])
    uploads = [ix.request_body for ix in big if isinstance(ix.request_body, cs.Digest)]
    assert max(d.size for d in uploads) > 10 * 2**20
    small = sizes[CASSETTES["test_flow.py::test_checkpoint_round_trip"]]
    assert sizes[CASSETTES["test_flow.py::test_big_checkpoint"]] - small < 50_000

    # pytest-recording's own cassette holds the test's own request, no W&B traffic.
    own = yaml.safe_load(
        (recorded.cassettes / "test_a_vcr/test_own_http_and_wandb.yaml").read_text()
    )
    assert [i["request"]["uri"].split("/", 3)[3] for i in own["interactions"]] == ["hello?who=vcr"]


@pytest.mark.torch  # the recorded project's test_flow.py saves torch checkpoints
def test_replay_is_offline_in_another_order_and_plays_everything(recorded: Recorded) -> None:
    before = _digest(recorded.cassettes)
    # No --record-mode (replay is the default), no API key, no stand-in, no network.
    result = pytest_in(
        recorded.project,
        "-v",
        "--block-network",
        "--wandb-strict",
        "-p",
        "randomly",
        "-p",
        "no:cacheprovider",
        "--randomly-seed=1234",
        env={"E2E_EXPECT_KEY": "replay"},
    )
    assert result.returncode == 0, _out(result)
    ran = _outcomes(result)
    assert sorted(ran) == sorted((node, "PASSED") for node in FLOW_TESTS), _out(result)
    assert [node for node, _ in ran] != FLOW_TESTS  # the order did change
    assert "never played" not in result.stdout
    assert _digest(recorded.cassettes) == before  # replay writes nothing


@pytest.mark.slow
@pytest.mark.torch  # the recorded project's test_flow.py saves torch checkpoints
def test_replay_with_xdist_warns_of_unplayed_interactions(recorded: Recorded) -> None:
    # One lookup fewer than recorded: not strict, so a warning naming it.
    result = pytest_in(
        recorded.project,
        "-n",
        "2",
        "--block-network",
        env={"E2E_SKIP_SECOND_LOOKUP": "big"},
    )
    assert result.returncode == 0, _out(result)
    assert re.search(r"\b10 passed\b", result.stdout), _out(result)
    assert "WandbCassetteWarning" in result.stdout
    assert "1 recorded interaction(s) never played" in result.stdout
    assert "GraphQL ArtifactMembershipByName" in result.stdout


@pytest.mark.torch  # the recorded project's test_flow.py saves torch checkpoints
def test_replay_failures_say_what_and_how_to_re_record(recorded: Recorded, tmp_path: Path) -> None:
    project = tmp_path / "changed"
    shutil.copytree(recorded.project, project)
    (project / "test_new.py").write_text(
        "import pytest\n\n\n@pytest.mark.wandb_cassette\ndef test_fresh():\n    pass\n"
    )
    result = pytest_in(
        project,
        "--wandb-strict",
        "-k",
        "test_checkpoint_round_trip or test_big_checkpoint or test_fresh",
        # Another artifact name for one test; one lookup fewer for another.
        env={"E2E_ARTIFACT": "ckpt-renamed", "E2E_SKIP_SECOND_LOOKUP": "big"},
    )
    out = result.stdout
    assert result.returncode == 1, _out(result)
    # One report per test: the mismatch fails the test itself, not its teardown too.
    assert re.search(r"\b1 failed\b.*\b2 error", out), _out(result)

    # The changed test: the operation, its variables, what was recorded, how to re-record.
    cassette = project / "cassettes" / CASSETTES["test_flow.py::test_checkpoint_round_trip"]
    assert f"wandb cassette {cassette}: 2 request(s) had no recorded match" in out, _out(result)
    assert (
        'no recorded match for GraphQL ArtifactType {"entity":"standin-user",'
        '"name":"ckpt-renamed:latest","project":"e2e"}'
    ) in out
    assert "closest recorded request differs in:" in out
    assert 'artifact: recorded "ckpt:latest", sent "ckpt-renamed:latest"' in out
    assert "no recorded match for GraphQL CreateArtifact" in out
    assert "During handling of the above exception" not in out
    assert "pytest test_flow.py::test_checkpoint_round_trip --record-mode=rewrite\n" in out

    # A test without a cassette: the file and the command that records it.
    missing = project / "cassettes" / "test_new" / "test_fresh.yaml"
    assert f"wandb cassette missing: {missing}" in out, _out(result)
    assert "pytest test_new.py::test_fresh --record-mode=once" in out
    assert not missing.exists()

    # --wandb-strict: an interaction left unplayed fails the test that left it.
    big = project / "cassettes" / CASSETTES["test_flow.py::test_big_checkpoint"]
    assert f"{big}: 1 recorded interaction(s) never played" in out, _out(result)
    assert "GraphQL ArtifactMembershipByName" in out


# -- record modes -----------------------------------------------------------------------


def _interactions(path: Path) -> list[str]:
    """The GraphQL operations (or "METHOD url") of a cassette, in order."""
    from wandb_cassettes.replay import interaction_key

    loaded = cs.load(path)
    upstream = loaded.metadata["upstream"]
    return [interaction_key(ix, upstream).name for ix in loaded]


def test_record_modes(tmp_path: Path) -> None:
    """once, new_episodes, rewrite, all; a failing recording never replaces a good cassette."""
    # A cassette folder of our own choosing (the ini option).
    project = write_project(
        tmp_path / "modes", {"test_modes.py": MODES}, ini="[pytest]\nwandb_cassette_dir = tapes\n"
    )
    path = project / "tapes" / "test_modes" / "test_modes.yaml"
    failed = path.with_name(path.name + ".failed")
    with StandinBackend() as wb:

        def run(mode: str, **env: str) -> subprocess.CompletedProcess[str]:
            return pytest_in(project, f"--record-mode={mode}", upstream=wb, env=env)

        result = run("once")
        assert result.returncode == 0, _out(result)
        first = path.read_bytes()
        seed = cs.load(path).metadata["seed"]
        assert "Runs" not in _interactions(path)

        # new_episodes with nothing new: replayed, the upstream untouched, the file unchanged.
        seen = len(wb.requests)
        result = run("new_episodes")
        assert result.returncode == 0, _out(result)
        assert path.read_bytes() == first
        assert len(wb.requests) == seen, wb.requests[seen:]

        # rewrite, test failing: the good cassette stays, the recording goes to .failed.
        # A re-recording draws the ids the cassette stored (its seed).
        result = run("rewrite", E2E_FAIL="1")
        assert result.returncode == 1 and "failing on purpose" in result.stdout, _out(result)
        assert path.read_bytes() == first
        assert failed.exists() and cs.load(failed).metadata["seed"] == seed
        assert f"this recording is kept in {failed}" in result.stdout

        # all, test passing: replaced by a new recording of the same ids; the stale .failed goes.
        result = run("all")
        assert result.returncode == 0, _out(result)
        assert cs.load(path).metadata["seed"] == seed
        assert not failed.exists()
        # The upstream saw a fresh run id each time (W&B refuses the id of a deleted run).
        streamed = [p.split("/")[4] for _m, p, _op in wb.requests if p.endswith("/file_stream")]
        ids = list(dict.fromkeys(streamed))
        assert len(ids) == 3 and ids[0] == cs.load(path).metadata["fresh_run_ids"][0], ids
        second = path.read_bytes()
        before = _interactions(path)

        # new_episodes with a new request: only that goes upstream and is appended.
        seen = len(wb.requests)
        result = run("new_episodes", E2E_EXTRA="1")
        assert result.returncode == 0, _out(result)
        after = _interactions(path)
        assert after[: len(before)] == before and "ProjectArtifactTypes" in after[len(before) :]
        assert {op for _, _, op in wb.requests[seen:]} <= {"ProjectArtifactTypes"}
        assert path.read_bytes() != second

    # Replayed with the stand-in gone, the appended episode plays too.
    result = pytest_in(project, "--wandb-strict", "--block-network", env={"E2E_EXTRA": "1"})
    assert result.returncode == 0, _out(result)


def test_marker_typos_are_a_usage_error_naming_the_valid_keywords(pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.wandb_cassette(nmae="x", keeep=True)
        def test_typos():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*test_typos: @pytest.mark.wandb_cassette: unknown argument(s) 'keeep', 'nmae';"
            " valid: name*"
        ]
    )


def test_the_marker_help_lists_every_keyword(pytester) -> None:
    from wandb_cassettes.runtime import CassetteOptions

    result = pytester.runpytest_subprocess("--markers")
    help_line = next(line for line in result.stdout.lines if "@pytest.mark.wandb_cassette(" in line)
    for key in CassetteOptions.KEYS:
        assert f"{key}=" in help_line, key


def test_a_run_without_cassettes_does_not_import_wandb(pytester) -> None:
    """The plugin costs a project that does not use it nothing: not even ``import wandb``."""
    pytester.makepyfile(
        """
        import sys

        def test_plain():
            assert "wandb" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1)
