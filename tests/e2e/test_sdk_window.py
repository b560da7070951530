"""The supported window of wandb releases (issue 24), end to end with the real SDK.

On whichever wandb runs this file (CI: the newest in the main job, each older minor of
the window in ``make test-sdk SDK=0.29.0``), a quick-start flow, a wider one (downloads
through ``wandb.Api()``, ``use_artifact``, a ``wandb.Table``) and a run with no artifact
(read back through ``wandb.Api()``) record against the stand-in
(left empty by the automatic cleanup), replay with ``--block-network --wandb-strict`` and
audit clean; and the cassettes recorded under every minor of the window (committed under
``tests/data/sdk_window/<wandb version>/``) replay under it.

Re-record those under one SDK (its own venv: ``make build/venv-sdk-0.29.0/.installed
SDK=0.29.0``) with ``PYTHONPATH=tests <venv>/bin/python tests/e2e/test_sdk_window.py record``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import wandb
from support.pytest_process import run_pytest
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import compat

DATA = Path(__file__).resolve().parents[1] / "data" / "sdk_window"
EMPTY: dict[str, list[object]] = {"runs": [], "artifacts": [], "collections": []}

#: The README's quick start.
QUICK_START = """
import pytest
import wandb


@pytest.mark.wandb_cassette
def test_logs_a_checkpoint(tmp_path):
    run = wandb.init(project="ci-tests", config={"lr": 0.1, "epochs": 2})
    for epoch in range(2):
        run.log({"epoch": epoch, "loss": 1.0 / (epoch + 1)})
    (tmp_path / "model.pt").write_bytes(b"weights")
    artifact = wandb.Artifact("model", type="model")
    artifact.add_file(str(tmp_path / "model.pt"))
    run.log_artifact(artifact, aliases=["best"])
    run.finish()
"""

#: Downloads through the public API, use_artifact in a second run, and a wandb.Table.
WIDER = """
import pytest
import wandb


@pytest.mark.wandb_cassette
def test_download_and_use(tmp_path):
    run = wandb.init(project="window", config={"lr": 0.01})
    run.log({"loss": 0.5})
    (tmp_path / "weights.bin").write_bytes(b"weights-v1")
    artifact = wandb.Artifact("checkpoint", type="model")
    artifact.add_file(str(tmp_path / "weights.bin"))
    run.log_artifact(artifact, aliases=["best"]).wait()
    path = f"{run.entity}/{run.project}/checkpoint:best"
    run.finish()

    fetched = wandb.Api().artifact(path)
    fetched.download(root=str(tmp_path / "download"))
    assert (tmp_path / "download" / "weights.bin").read_bytes() == b"weights-v1"

    consumer = wandb.init(project="window", job_type="eval")
    used = consumer.use_artifact("checkpoint:best")
    used.download(root=str(tmp_path / "used"))
    assert (tmp_path / "used" / "weights.bin").read_bytes() == b"weights-v1"
    consumer.finish()


@pytest.mark.wandb_cassette
def test_table():
    run = wandb.init(project="window")
    table = wandb.Table(columns=["step", "loss"], data=[[0, 1.0], [1, 0.5]])
    run.log({"loss": 0.5, "predictions": table})
    run.finish()
"""

#: A run with no artifact, and the run read back through the public API: wandb 0.29 and
#: 0.30 ask the server's features at every ``init``, 0.31 only for artifacts, so a 0.31
#: recording holds that read only because the relay adds it (read_server_features).
RUN_ONLY = """
import pytest
import wandb


@pytest.mark.wandb_cassette
def test_logs_a_run():
    run = wandb.init(project="window", config={"lr": 0.1}, tags=["ci"])
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1)})
    run.summary["best"] = 0.3
    run.finish()


@pytest.mark.wandb_cassette
def test_reads_the_run_back():
    run = wandb.init(project="window", config={"lr": 0.1})
    run.log({"loss": 0.5})
    path = run.path
    run.finish()
    fetched = wandb.Api().run(path)
    assert fetched.config["lr"] == 0.1
    assert [row["loss"] for row in fetched.history(pandas=False)] == [0.5]
"""

FILES = {
    "tests/test_quick_start.py": QUICK_START,
    "tests/test_wider.py": WIDER,
    "tests/test_run_only.py": RUN_ONLY,
}
TESTS = (
    "tests/test_quick_start.py::test_logs_a_checkpoint",
    "tests/test_wider.py::test_download_and_use",
    "tests/test_wider.py::test_table",
    "tests/test_run_only.py::test_logs_a_run",
    "tests/test_run_only.py::test_reads_the_run_back",
)
RUNNING = wandb.__version__


def make_project(folder: Path, cassettes: Path | None = None) -> Path:
    """A project with the flows (and a copy of ``cassettes``, when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    for name, text in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    if cassettes is not None:
        shutil.copytree(cassettes, folder / "cassettes")
    return folder


def record(project: Path) -> subprocess.CompletedProcess[str]:
    """Record every flow of ``project`` against a fresh stand-in, which must end empty."""
    with StandinBackend() as upstream:
        done = run_pytest(project, "--record-mode=rewrite", "-rA", upstream=upstream)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
        assert upstream.live() == EMPTY
    return done


def audit(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wandb_cassettes", "audit", "cassettes/"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def outcomes(out: str) -> dict[str, str]:
    """``{test id: PASSED|FAILED|ERROR}`` from pytest's ``-rA`` short summary."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR"):
            found[rest.split(" - ")[0].strip()] = word
    return found


def recorded_versions() -> list[str]:
    return sorted(p.name for p in DATA.iterdir() if p.is_dir()) if DATA.is_dir() else []


def test_the_flows_record_replay_and_audit_on_this_sdk(tmp_path: Path):
    project = make_project(tmp_path / "project")
    record(project)
    written = sorted((project / "cassettes").rglob("*.yaml"))
    assert len(written) == len(TESTS)
    for path in written:
        assert f"wandb: {RUNNING}" in path.read_text(), path
    replayed = run_pytest(project, "--block-network", "--wandb-strict", "-rA")
    assert outcomes(replayed.stdout) == dict.fromkeys(TESTS, "PASSED"), replayed.stdout[-6000:]
    audited = audit(project)
    assert audited.returncode == 0, audited.stdout[-3000:] + audited.stderr[-3000:]


def test_every_minor_of_the_window_has_recorded_cassettes():
    window = {f"{v[0]}.{v[1]}" for v in (compat.OLDEST, compat.NEWEST)}
    minors = {".".join(v.split(".")[:2]) for v in recorded_versions()}
    assert window <= minors, (window, minors)
    assert len(minors) == compat.NEWEST[1] - compat.OLDEST[1] + 1


def _fails_by_design(recorded: str, test: str) -> bool:
    """wandb 0.29 logs a Table as an artifact it reads back (ArtifactByID,
    FetchArtifactManifest, the manifest: measured), which 0.30 and later neither send
    nor record: a 0.30+ cassette of it cannot answer 0.29 (the issue's measurement)."""
    old = compat.release(RUNNING) < (0, 30)  # type: ignore[operator]
    return test.endswith("test_table") and old and compat.release(recorded) >= (0, 30)  # type: ignore[operator]


@pytest.mark.parametrize("recorded", recorded_versions())
def test_cassettes_recorded_under_each_minor_replay_under_this_sdk(recorded: str, tmp_path: Path):
    """No refusal by version: each request is matched on what it means; what this SDK no
    longer reads is a note; only a request the cassette cannot answer fails, naming both
    SDK versions and the re-record command."""
    project = make_project(tmp_path / "project", DATA / recorded / "cassettes")
    done = run_pytest(project, "--block-network", "--wandb-strict", "-rA")
    out = done.stdout
    expected = {t: "FAILED" if _fails_by_design(recorded, t) else "PASSED" for t in TESTS}
    assert outcomes(out) == expected, out[-8000:]
    other = compat.release(recorded) != compat.release(RUNNING)
    if "FAILED" in expected.values():
        assert f"recorded with wandb {recorded}, replayed with wandb {RUNNING}" in out
        assert "--record-mode=rewrite" in out
        assert "no recorded match for GraphQL" in out
    if other and compat.release(recorded) < (0, 30) <= compat.release(RUNNING):  # type: ignore[operator]
        # The Table's reads that 0.29 sent and 0.30+ does not: a note, not a failure.
        assert "recorded read(s) not sent by this SDK" in out, out[-6000:]
    audited = audit(project)
    assert audited.returncode == 0, audited.stdout[-3000:]


def _another_minor() -> str:
    others = [v for v in recorded_versions() if compat.release(v) != compat.release(RUNNING)]
    return others[-1]


@pytest.mark.parametrize("how", ["--wandb-same-sdk", "ini", "wandb_cassette_config"])
def test_the_exact_minor_refusal_is_opt_in(how: str, tmp_path: Path):
    other = _another_minor()
    project = make_project(tmp_path / "project", DATA / other / "cassettes")
    args = ["--block-network", "-rA", "tests/test_quick_start.py"]
    if how == "--wandb-same-sdk":
        args.append(how)
    elif how == "ini":
        (project / "pytest.ini").write_text("[pytest]\nwandb_cassette_same_sdk = true\n")
    else:
        (project / "tests" / "conftest.py").write_text(
            "import pytest\n\n\n@pytest.fixture\ndef wandb_cassette_config():\n"
            "    return {'same_sdk': True}\n"
        )
    refused = run_pytest(project, *args)
    assert refused.returncode == 1, refused.stdout[-4000:]
    assert f"recorded with wandb {other}, replayed with wandb {RUNNING}" in refused.stdout
    assert "(same_sdk is set); re-record it:" in refused.stdout
    # Not asked: the same cassette replays.
    if how != "--wandb-same-sdk":
        (project / "tests" / "conftest.py").unlink(missing_ok=True)
        (project / "pytest.ini").write_text("[pytest]\n")
    tried = run_pytest(project, "--block-network", "-rA", "tests/test_quick_start.py")
    assert tried.returncode == 0, tried.stdout[-4000:]


def test_new_episodes_on_a_cassette_of_another_minor_is_refused_naming_both(tmp_path: Path):
    """Appending would mix two SDKs' requests in one cassette and send the server requests
    about what only the recording knows: a clear error before any request, not the SDK's."""
    other = _another_minor()
    project = make_project(tmp_path / "project", DATA / other / "cassettes")
    with StandinBackend() as upstream:
        done = run_pytest(
            project, "--record-mode=new_episodes", "tests/test_wider.py", upstream=upstream
        )
        assert upstream.live() == EMPTY  # nothing reached it
    assert done.returncode == 1, done.stdout[-4000:]
    assert f"recorded with wandb {other}, replayed with wandb {RUNNING}" in done.stdout
    assert "new_episodes appends only to a cassette of this wandb minor" in done.stdout
    assert "--record-mode=rewrite" in done.stdout


def test_with_the_refusal_asked_a_cassette_naming_no_version_is_refused(tmp_path: Path):
    """What cannot be told is no pass: the opt-in refusal cannot check such a cassette."""
    same = [v for v in recorded_versions() if compat.release(v) == compat.release(RUNNING)]
    project = make_project(tmp_path / "project", DATA / same[0] / "cassettes")
    cassette = project / "cassettes" / "tests" / "test_quick_start" / "test_logs_a_checkpoint.yaml"
    text = cassette.read_text()
    assert f"  wandb: {same[0]}\n" in text
    cassette.write_text(text.replace(f"  wandb: {same[0]}\n", ""))
    args = ["--block-network", "tests/test_quick_start.py"]
    refused = run_pytest(project, *args, "--wandb-same-sdk")
    assert refused.returncode == 1, refused.stdout[-4000:]
    assert "names no wandb version (''): its SDK cannot be told (same_sdk is set)" in refused.stdout
    assert run_pytest(project, *args).returncode == 0  # not asked: tried, and it replays


def test_the_same_minor_is_never_refused(tmp_path: Path):
    same = [v for v in recorded_versions() if compat.release(v) == compat.release(RUNNING)]
    project = make_project(tmp_path / "project", DATA / same[0] / "cassettes")
    done = run_pytest(project, "--block-network", "--wandb-same-sdk", "tests/test_quick_start.py")
    assert done.returncode == 0, done.stdout[-4000:]


OLD_SDK = "import wandb_cassettes.compat._sdk as sdk\n\nsdk.sdk_version = lambda: '0.27.2'\n"


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_an_sdk_older_than_the_window_stops_at_session_start_in_one_line(
    workers: list[str], tmp_path: Path
):
    """The version as its distribution metadata says it (faked: CI installs no 0.27)."""
    project = make_project(tmp_path / "project")
    (project / "conftest.py").write_text(OLD_SDK)
    (project / "tests" / "test_plain.py").write_text("def test_plain():\n    pass\n")
    line = "wandb 0.27.2 is older than this library supports: 0.29 to 0.31"
    done = run_pytest(project, *workers)
    said = [x for x in (done.stdout + done.stderr).splitlines() if line in x]
    assert "INTERNALERROR" not in done.stdout + done.stderr, done.stdout[-4000:]
    assert "Traceback" not in done.stdout + done.stderr
    if not workers:
        assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
        assert said == [f"ERROR: {line} (pip install 'wandb>=0.29')"], done.stderr
        assert "passed" not in done.stdout  # before any test
    else:  # a worker cannot end the session: each cassette test fails with the line
        assert done.returncode == pytest.ExitCode.TESTS_FAILED
        assert said and "1 passed" in done.stdout
    # A session without cassettes is untouched.
    plain = run_pytest(project, "tests/test_plain.py", *workers)
    assert plain.returncode == 0, plain.stdout[-3000:]


def _record_here() -> None:
    """Record the flows under this venv's wandb into ``DATA/<version>/cassettes``."""
    import os
    import tempfile

    from wandb_cassettes_standin.fidelity import ENV as FIDELITY_ENV

    os.environ.setdefault(FIDELITY_ENV, "1")  # as the suite's conftest.py sets it
    with tempfile.TemporaryDirectory() as folder:
        project = make_project(Path(folder) / "project")
        record(project)
        target = DATA / RUNNING / "cassettes"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(project / "cassettes", target)
        print(f"recorded {len(list(target.rglob('*.yaml')))} cassettes into {target}")


if __name__ == "__main__" and sys.argv[1:] == ["record"]:
    _record_here()
