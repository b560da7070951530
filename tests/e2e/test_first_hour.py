"""Issue 25: a new user's first hour, and the habits of pytest-recording users.

Each test writes a fresh project, runs pytest in a subprocess as a user would (recording
against a stand-in W&B, replaying with none), and checks what the user sees and what is
left on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.pytest_process import run_pytest, subprocess_env
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes.runtime import sdk_env

INI = "[pytest]\naddopts = -p no:randomly\n"

#: A local HTTP server for the project's own (non-W&B) traffic, which vcr records.
LOCAL_HTTP = """
import http.server
import threading
import urllib.request

import pytest


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_http():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(url + "/hello", timeout=10).read()
"""


#: The local server's port differs from run to run.
VCR_CONFIG = """

@pytest.fixture(scope="module")
def vcr_config():
    return {"match_on": ["method", "path"]}
"""


def project(root: Path, files: dict[str, str], ini: str = INI) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(ini)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- 1. no vcr cassette path ever meets a W&B cassette --------------------------------------

WANDB_AND_VCR = """
import wandb
import pytest
from helpers import get, local_http  # noqa: F401


@pytest.mark.vcr
@pytest.mark.wandb_cassette
def test_both(local_http):
    assert get(local_http) == b"hello"
    run = wandb.init(project="p1")
    run.log({"x": 1})
    run.finish()
"""


@pytest.mark.parametrize(
    "conftest",
    [
        # the vcr_cassette_dir fixture pointing into the W&B cassette folder
        """
        import os
        import pytest

        @pytest.fixture(scope="module")
        def vcr_cassette_dir(request):
            return os.path.join(str(request.config.rootpath), "cassettes", "tests", "test_mod")
        """,
        # a default_cassette_name fixture that gives the W&B file's own name, in that folder
        """
        import os
        import pytest

        @pytest.fixture(scope="module")
        def vcr_cassette_dir(request):
            return os.path.join(str(request.config.rootpath), "cassettes", "tests", "test_mod")

        @pytest.fixture
        def default_cassette_name(request):
            return request.node.name
        """,
    ],
    ids=["vcr_cassette_dir", "default_cassette_name"],
)
def test_a_vcr_cassette_of_the_same_test_never_takes_the_wandb_path(tmp_path, conftest):
    conftest = textwrap.dedent(conftest) + VCR_CONFIG
    root = project(
        tmp_path / "p",
        {
            "tests/helpers.py": LOCAL_HTTP,
            "tests/conftest.py": conftest,
            "tests/test_mod.py": WANDB_AND_VCR,
        },
    )
    with StandinBackend() as upstream:
        recorded = run_pytest(root, "--record-mode=once", upstream=upstream)
    assert recorded.returncode == 0, out(recorded)
    folder = root / "cassettes" / "tests" / "test_mod"
    assert sorted(p.name for p in folder.iterdir()) == ["test_both.wandb.yaml", "test_both.yaml"]
    assert "format: wandb-cassettes/" in (folder / "test_both.wandb.yaml").read_text()
    assert "metadata:" not in (folder / "test_both.yaml").read_text()
    replayed = run_pytest(root, "--block-network")
    assert replayed.returncode == 0, out(replayed)


OTHER_TESTS = """
import wandb
import pytest
from helpers import get, local_http  # noqa: F401


@pytest.mark.wandb_cassette
def test_wandb():
    run = wandb.init(project="p1")
    run.finish()


@pytest.mark.vcr{vcr_args}
{default}
def test_vcr(local_http):
    assert get(local_http) == b"hello"
"""


@pytest.mark.parametrize(
    ("vcr_args", "default"),
    [
        # the marker naming another test's cassette
        ("", '@pytest.mark.default_cassette("test_wandb")'),
        # an extra cassette path of the vcr marker (read by pytest-recording)
        ('("test_wandb.yaml")', ""),
    ],
    ids=["default_cassette_marker", "vcr_marker_path"],
)
@pytest.mark.parametrize("mode", ["once", "rewrite"])
def test_a_vcr_cassette_of_another_test_never_touches_a_wandb_cassette(
    tmp_path, vcr_args, default, mode
):
    conftest = """
        import os
        import pytest

        @pytest.fixture(scope="module")
        def vcr_cassette_dir(request):
            return os.path.join(str(request.config.rootpath), "cassettes", "tests", "test_mod")
        """
    tests = OTHER_TESTS.format(vcr_args=vcr_args, default=default)
    root = project(
        tmp_path / "p",
        {"tests/helpers.py": LOCAL_HTTP, "tests/conftest.py": conftest, "tests/test_mod.py": tests},
    )
    wandb_cassette = root / "cassettes" / "tests" / "test_mod" / "test_wandb.yaml"
    with StandinBackend() as upstream:
        first = run_pytest(root, "--record-mode=once", "-k", "test_wandb", upstream=upstream)
        assert first.returncode == 0, out(first)
        before = digest(wandb_cassette)
        second = run_pytest(root, f"--record-mode={mode}", "-k", "test_vcr", upstream=upstream)
    assert second.returncode != 0, out(second)
    assert "test_wandb.yaml" in out(second) and "W&B cassette" in out(second), out(second)
    assert "_interop.py" not in out(second)  # one line, not the library's traceback
    assert digest(wandb_cassette) == before
    replayed = run_pytest(root, "-k", "test_wandb")
    assert replayed.returncode == 0, out(replayed)


def test_a_wandb_cassette_never_replaces_a_vcr_cassette_at_its_path(tmp_path):
    """The other way round: a vcr cassette already where a W&B test would record."""
    tests = """
    import wandb
    import pytest


    @pytest.mark.wandb_cassette("shared")
    def test_wandb():
        run = wandb.init(project="p1")
        run.finish()
    """
    root = project(tmp_path / "p", {"test_mod.py": tests})
    vcr_file = root / "cassettes" / "test_mod" / "shared.yaml"
    vcr_file.parent.mkdir(parents=True)
    vcr_file.write_text("interactions: []\nversion: 1\n")
    with StandinBackend() as upstream:
        for mode in ("once", "rewrite"):
            result = run_pytest(root, f"--record-mode={mode}", upstream=upstream)
            assert result.returncode == 1, out(result)
            assert "vcr cassette" in out(result), out(result)
            assert vcr_file.read_text() == "interactions: []\nversion: 1\n"


# -- 2. what wandb derives from the machine and the command replays anywhere ---------------

NO_PROJECT = """
import pytest
import wandb
from wandb_cassettes import fast_wandb_test


@pytest.mark.wandb_cassette
def test_readme_fast_upload():
    with fast_wandb_test("upload") as run:
        run.log({"loss": 0.5})


@pytest.mark.wandb_cassette
def test_plain_init():
    run = wandb.init()
    run.log({"loss": 0.5})
    run.finish()
"""


def _git_project(root: Path) -> Path:
    project(root, {"tests/test_noproj.py": NO_PROJECT})
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_a_test_without_a_project_replays_with_another_command_and_folder(tmp_path):
    """Recorded with the venv's ``pytest`` script inside the clone (wandb derives the
    project ``noproj-.venv_bin``), replayed with ``python -m pytest`` (``noproj``) and from
    a clone with another folder name (``ci-checkout``)."""
    root = _git_project(tmp_path / "noproj")
    script = root / ".venv" / "bin" / "pytest"
    script.parent.mkdir(parents=True)
    script.write_text((Path(sys.executable).parent / "pytest").read_text())
    script.chmod(0o755)
    with StandinBackend() as upstream:
        recorded = subprocess.run(
            [str(script), "-p", "no:cacheprovider", "--record-mode=once"],
            cwd=root,
            env=subprocess_env(upstream),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert recorded.returncode == 0, out(recorded)
        projects = {path[1] for path in upstream._state.deleted_runs}
    assert projects == {"noproj-.venv_bin"}, projects  # what the SDK derived, as recorded
    replayed = run_pytest(root, "--block-network")
    assert replayed.returncode == 0, out(replayed)
    elsewhere = tmp_path / "ci-checkout"
    subprocess.run(["cp", "-a", str(root), str(elsewhere)], check=True)
    replayed = run_pytest(elsewhere, "--block-network")
    assert replayed.returncode == 0, out(replayed)


CHILD_SCRIPT = """
import wandb

run = wandb.init()
run.log({"loss": 0.5})
run.finish()
"""

CHILD_TEST = """
import subprocess
import sys

import pytest


@pytest.mark.wandb_cassette
def test_a_script():
    subprocess.run([sys.executable, "scripts/train.py"], check=True)
"""


def test_a_child_process_without_a_project_replays_from_another_folder(tmp_path):
    """A script the test runs derives its own project (``noproj-scripts``): recorded for
    it, replayed in a clone named otherwise (``ci-checkout-scripts`` there)."""
    root = project(
        tmp_path / "noproj", {"tests/test_child.py": CHILD_TEST, "scripts/train.py": CHILD_SCRIPT}
    )
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    with StandinBackend() as upstream:
        recorded = run_pytest(root, "--record-mode=once", upstream=upstream)
        assert recorded.returncode == 0, out(recorded)
        projects = {path[1] for path in upstream._state.deleted_runs}
    assert projects == {"noproj-scripts"}, projects
    elsewhere = tmp_path / "ci-checkout"
    subprocess.run(["cp", "-a", str(root), str(elsewhere)], check=True)
    replayed = run_pytest(elsewhere, "--block-network")
    assert replayed.returncode == 0, out(replayed)


# -- 5. errors a user can act on -------------------------------------------------------------

QUICK = """
import pytest
import wandb


@pytest.mark.wandb_cassette
def test_logs():
    run = wandb.init(project="ci-tests")
    run.log({"a": 1})
    run.finish()
"""


def test_recording_without_a_key_says_so_in_one_line(tmp_path):
    root = project(tmp_path / "p", {"tests/test_quick.py": QUICK})
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    for upstream in ("", "http://127.0.0.1:9"):  # the SDK's default; a loopback one
        env = {"NETRC": str(netrc), "WANDB_CASSETTES_UPSTREAM": upstream}
        result = run_pytest(root, "tests/test_quick.py::test_logs", "--record-mode=once", env=env)
        text = out(result)
        assert result.returncode == 1, text
        assert "cannot record: no W&B API key for" in text and "WANDB_API_KEY" in text, text
        assert str(netrc) in text and "wandb login --host" in text, text
        assert "Traceback" not in text and "site-packages" not in text, text
        assert len(text.splitlines()) < 30, text
        assert not list(root.rglob("*.failed")), "nothing was recorded"


def test_an_unreachable_upstream_fails_in_a_few_lines_and_the_failed_recording_is_named(
    tmp_path,
):
    root = project(tmp_path / "p", {"tests/test_quick.py": QUICK})
    env = {"WANDB_API_KEY": "a" * 40, "WANDB_CASSETTES_UPSTREAM": "http://127.0.0.1:9"}
    result = run_pytest(root, "--record-mode=once", env=env)
    text = out(result)
    assert result.returncode == 1, text
    assert "cannot connect to 127.0.0.1:9" in text, text
    assert "site-packages" not in text and "ConnectionKey" not in text, text
    assert len(text.splitlines()) < 40, text
    failed = root / "cassettes" / "tests" / "test_quick" / "test_logs.yaml.failed"
    assert failed.exists()
    verbose = run_pytest(root, "--record-mode=once", "-v", env=env)
    assert "site-packages/wandb" in out(verbose), "-v shows the SDK's traceback"
    replayed = run_pytest(root)
    text = out(replayed)
    assert replayed.returncode == 1, text
    assert "test_logs.yaml.failed" in text and "cannot connect to 127.0.0.1:9" in text, text


# -- 7. a good pytest citizen: -W error, and runs that execute no test -----------------------

#: The project's conftest tells what the session started (before the plugin stops it).
OBSERVER = """
import json
import os


def pytest_sessionfinish(session):
    from wandb_cassettes.runtime import _process, _watchdog, site_dirs

    process = _process._shared
    pth = [str(p) for d in site_dirs() for p in d.glob(f"wandb_cassettes_child_{os.getpid()}.pth")]
    seen = {
        "relay": bool(process is not None and process.started),
        "watchdog": _watchdog.watchdog_pid(),
        "pth": pth,
    }
    with open(os.environ["OBSERVED"], "w") as fh:
        json.dump(seen, fh)
"""


@pytest.fixture(scope="module")
def recorded_quick(tmp_path_factory) -> Path:
    root = project(
        tmp_path_factory.mktemp("citizen") / "p",
        {"tests/test_quick.py": QUICK, "tests/conftest.py": OBSERVER},
    )
    with StandinBackend() as upstream:
        result = run_pytest(
            root, "--record-mode=once", upstream=upstream, env={"OBSERVED": os.devnull}
        )
    assert result.returncode == 0, out(result)
    return root


@pytest.mark.parametrize("warnings", ["error", "error::ResourceWarning"])
def test_a_session_is_clean_under_w_error(recorded_quick, tmp_path, warnings):
    observed = tmp_path / "seen.json"
    result = run_pytest(recorded_quick, "-W", warnings, env={"OBSERVED": str(observed)})
    assert result.returncode == 0, out(result)
    assert json.loads(observed.read_text())["relay"], "the session replayed through the relay"
    assert "ResourceWarning" not in out(result) and "still running" not in out(result), out(result)


@pytest.mark.parametrize(
    "args",
    [("--co",), ("--collect-only", "-q"), ("-k", "no_such_test"), ("--setup-plan",)],
    ids=["co", "collect-only-q", "k-selects-nothing", "setup-plan"],
)
def test_a_run_that_executes_no_test_starts_nothing(recorded_quick, tmp_path, args):
    observed = tmp_path / "seen.json"
    before = {p.name for p in (recorded_quick / "cassettes").rglob("*")}
    result = run_pytest(recorded_quick, *args, env={"OBSERVED": str(observed)})
    assert result.returncode in (0, 5), out(result)  # 5: no test selected
    seen = json.loads(observed.read_text())
    assert seen == {"relay": False, "watchdog": None, "pth": []}, seen
    assert {p.name for p in (recorded_quick / "cassettes").rglob("*")} == before
    assert not (recorded_quick / ".wandb_cassettes" / "journal").exists() or not any(
        (recorded_quick / ".wandb_cassettes" / "journal").iterdir()
    )


# -- 8. --disable-recording, and the plugin turned off -------------------------------------


def test_disable_recording_sends_wandb_traffic_to_the_real_server(recorded_quick, tmp_path):
    root = tmp_path / "p"
    subprocess.run(["cp", "-a", str(recorded_quick), str(root)], check=True)
    (root / "tests" / "test_new.py").write_text(QUICK.replace("test_logs", "test_no_cassette"))
    cassette = root / "cassettes" / "tests" / "test_quick" / "test_logs.yaml"
    before = digest(cassette)
    files = sorted(str(p) for p in (root / "cassettes").rglob("*"))
    with StandinBackend() as real:
        env = sdk_env(real.base_url, real.api_key, tmp_path / "sdk")
        env["OBSERVED"] = str(tmp_path / "seen.json")
        for mode in ((), ("--record-mode=rewrite",)):
            result = run_pytest(root, "--disable-recording", *mode, env=env)
            text = out(result)
            assert result.returncode == 0, text
            assert text.count("--disable-recording: W&B traffic goes to") == 1, text
            assert json.loads((tmp_path / "seen.json").read_text())["relay"] is False
        runs = real._state.runs
        assert len(runs) == 4, "both tests, twice, reached the real server"
    assert digest(cassette) == before
    assert sorted(str(p) for p in (root / "cassettes").rglob("*")) == files


MARKED_ONLY = """
import pytest


@pytest.mark.wandb_cassette(ignore=["name"])
@pytest.mark.wandb_epochs(5, reason="a schedule")
@pytest.mark.fast
@pytest.mark.integration
def test_marked():
    assert True
"""


def test_the_plugin_turned_off_with_strict_markers(tmp_path):
    root = project(tmp_path / "p", {"tests/test_marked.py": MARKED_ONLY})
    result = run_pytest(root, "-p", "no:wandb_cassettes", "--strict-markers")
    assert result.returncode == 0, out(result)
    assert "wandb_cassette" not in run_pytest(root, "-p", "no:wandb_cassettes", "--fixtures").stdout


# -- 3. --wandb-audit findings in the junit report; 11. every recording session summed up -----

CHECKPOINTS = """
import pytest
import wandb


def _log(tmp_path, name):
    run = wandb.init(project="audited")
    (tmp_path / "w.pt").write_bytes(b"weights")
    artifact = wandb.Artifact(name, type="model")
    artifact.add_file(str(tmp_path / "w.pt"))
    run.log_artifact(artifact)
    run.finish()


@pytest.mark.wandb_cassette
def test_one(tmp_path):
    _log(tmp_path, "one")


@pytest.mark.wandb_cassette
def test_two(tmp_path):
    _log(tmp_path, "two")
"""

#: The automatic cleanup patched out: each recording leaks its run and its artifact.
NO_CLEANUP = """
import wandb_cassettes.runtime._lifecycle as lc

lc.CassetteUse._clean_up = lambda self: None
"""


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_audit_findings_are_a_failed_test_case_in_the_junit_report(tmp_path, workers):
    import xml.etree.ElementTree as ET

    root = project(
        tmp_path / "p", {"tests/test_ckpt.py": CHECKPOINTS, "tests/conftest.py": NO_CLEANUP}
    )
    junit = tmp_path / "junit.xml"
    with StandinBackend() as upstream:
        result = run_pytest(
            root, "--record-mode=once", "--wandb-audit", f"--junitxml={junit}", *workers,
            upstream=upstream,
        )  # fmt: skip
    assert result.returncode == 1, out(result)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None, junit.read_text()
    assert suite.get("failures") == "1", ET.tostring(suite)
    (case,) = [c for c in suite.iter("testcase") if c.get("classname") == "wandb-cassettes"]
    assert case.get("name") == "audit"
    failure = case.find("failure")
    assert failure is not None and "leak" in (failure.text or ""), ET.tostring(case)
    assert "test_one.yaml" in (failure.text or "") and "test_two.yaml" in (failure.text or "")
    assert "2 passed" in result.stdout and "1 failed" in result.stdout, result.stdout


def test_a_clean_audit_adds_no_test_case(tmp_path):
    import xml.etree.ElementTree as ET

    root = project(tmp_path / "p", {"tests/test_ckpt.py": CHECKPOINTS})
    junit = tmp_path / "junit.xml"
    with StandinBackend() as upstream:
        result = run_pytest(
            root, "--record-mode=once", "--wandb-audit", f"--junitxml={junit}", upstream=upstream
        )
    assert result.returncode == 0, out(result)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("tests") == "2"


def _summary(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stdout.splitlines() if line.startswith("wandb-cassettes: ")]
    assert len(lines) == 1, result.stdout
    return lines[0]


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_every_recording_session_ends_with_a_summary_line(tmp_path, workers):
    root = project(tmp_path / "p", {"tests/test_ckpt.py": CHECKPOINTS})
    with StandinBackend() as upstream:
        first = run_pytest(root, "--record-mode=once", *workers, upstream=upstream)
        assert first.returncode == 0, out(first)
        counts = re.fullmatch(
            r"wandb-cassettes: recorded 2 cassette\(s\) \(2 new, 0 replaced\); W&B resources "
            r"created (\d+), deleted (\d+), kept 0, left 0",
            _summary(first),
        )
        assert counts and counts[1] == counts[2] != "0", out(first)
        again = run_pytest(root, "--record-mode=rewrite", "-k", "one", *workers, upstream=upstream)
        assert "recorded 1 cassette(s) (0 new, 1 replaced)" in _summary(again), out(again)
        (root / "tests" / "test_ckpt.py").write_text(
            CHECKPOINTS + "\n\n@pytest.mark.wandb_cassette\ndef test_fails():\n"
            "    wandb.init(project='audited').finish()\n    assert False\n"
        )
        failing = run_pytest(root, "--record-mode=once", *workers, upstream=upstream)
        assert failing.returncode == 1, out(failing)
        counts = re.fullmatch(
            r"wandb-cassettes: recorded 0 cassette\(s\) \(0 new, 0 replaced\), 1 failed "
            r"recording\(s\) kept as \.yaml\.failed; W&B resources created (\d+), "
            r"deleted (\d+), kept 0, left 0",
            _summary(failing),
        )
        assert counts and counts[1] == counts[2] != "0", out(failing)
    replayed = run_pytest(root, "-k", "not fails", *workers)
    assert replayed.returncode == 0, out(replayed)
    assert "wandb-cassettes: recorded" not in replayed.stdout, "a replay records nothing"


# -- 4. the helpers agree with each other and with the README -------------------------------

EPOCHS = """
import pytest
from wandb_cassettes import get_test_epochs, validate_epoch_usage


def test_readme_lines():
    epochs = get_test_epochs()  # 2, or WANDB_CASSETTES_TEST_EPOCHS
    validate_epoch_usage(epochs, "test_x")  # over the limit: EpochLimitError


def test_the_fixture(wandb_epochs):
    assert wandb_epochs() == get_test_epochs()


@pytest.mark.wandb_epochs(3, reason="a schedule over 3 epochs")
def test_a_marked_test_under_a_larger_budget():
    validate_epoch_usage(get_test_epochs(), "test_marked")


def test_more_than_the_budget_still_fails():
    with pytest.raises(Exception, match="EPOCHS|epochs"):
        validate_epoch_usage(max(get_test_epochs(), 2) + 1, "test_more")
"""


@pytest.mark.parametrize("epochs", ["", "1", "3", "7"])
def test_the_epoch_budget_of_the_environment_passes_the_epoch_checks(tmp_path, epochs):
    root = project(tmp_path / "p", {"tests/test_epochs.py": EPOCHS})
    result = run_pytest(root, env={"WANDB_CASSETTES_TEST_EPOCHS": epochs})
    assert result.returncode == 0, out(result)
    assert "4 passed" in result.stdout, result.stdout


# -- 6. the mismatch report compares with the right exchange, in W&B's terms -----------------

MOVED = """
import pytest
import wandb


@pytest.mark.wandb_cassette
def test_moved():
    run = wandb.init(project="ci-tests", config={"lr": 0.1})
    run.config.update({"batch_size": 32})
    run.log({"loss": 1.0})
    run.finish()
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # batch_size moved into init: the init's UpsertBucket differs in one config key,
        # the later one (entity known by then) in the entity: the init's is the right one
        (
            (
                'config={"lr": 0.1})\\n    run.config.update({"batch_size": 32})',
                'config={"lr": 0.1, "batch_size": 32})',
            ),
            "config.batch_size: recorded (absent), sent 32",
        ),
        (('project="ci-tests",', 'project="ci-tests", entity="someone",'), "entity: recorded"),
        (('project="ci-tests",', 'project="ci-tests", id="fixedid1",'), "run: recorded"),
    ],
    ids=["moved-config", "entity", "run-id"],
)
def test_the_mismatch_report_names_the_right_exchange_in_wandb_terms(tmp_path, change, expected):
    root = project(tmp_path / "p", {"tests/test_moved.py": MOVED})
    with StandinBackend() as upstream:
        recorded = run_pytest(root, "--record-mode=once", upstream=upstream)
    assert recorded.returncode == 0, out(recorded)
    test = root / "tests" / "test_moved.py"
    old, new = change
    old = old.replace("\\n", "\n")
    assert old in test.read_text()
    test.write_text(test.read_text().replace(old, new))
    result = run_pytest(root)
    text = out(result)
    assert result.returncode == 1, text
    report = text.split("closest recorded request differs in:", 1)[1].split("\n\n", 1)[0]
    assert expected in report, report
    assert "variables." not in text, report
    assert len(report.strip().splitlines()) == 1, report


# -- 9. pytest-recording's conventions: the folder and the name as fixtures -----------------

PLAIN = """
import pytest
import wandb


@pytest.mark.wandb_cassette
def test_a(wandb_cassette):
    run = wandb.init(project="ci-tests")
    run.log({"loss": 1.0})
    run.finish()
    assert any("UpsertBucket" in line for line in wandb_cassette.played())
    if not wandb_cassette.recorded:
        assert wandb_cassette.unplayed() == [], wandb_cassette.unplayed()
"""

FOLDER_FIXTURE = """
import pytest


@pytest.fixture(scope="module")
def wandb_cassette_dir(request):
    return "cassettes/shared"
"""

NAME_FIXTURE = """
import pytest


@pytest.fixture
def default_wandb_cassette_name(request):
    return "custom-" + request.node.name
"""


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"tests/conftest.py": FOLDER_FIXTURE}, "cassettes/shared/test_a.yaml"),
        (
            {"tests/test_plain.py": NAME_FIXTURE + PLAIN},
            "cassettes/tests/test_plain/custom-test_a.yaml",
        ),
        (
            {"tests/test_plain.py": FOLDER_FIXTURE + NAME_FIXTURE + PLAIN},
            "cassettes/shared/custom-test_a.yaml",
        ),
        (
            {
                "tests/test_plain.py": PLAIN.replace(
                    "@pytest.mark.wandb_cassette\ndef test_a(wandb_cassette):",
                    '@pytest.mark.wandb_cassette\n@pytest.mark.parametrize("default_wandb_'
                    'cassette_name", ["one-test"])\ndef test_a(wandb_cassette, '
                    "default_wandb_cassette_name):",
                )
            },
            "cassettes/tests/test_plain/one-test.yaml",
        ),
    ],
    ids=["folder-in-conftest", "name-in-module", "both-in-module", "name-for-one-test"],
)
def test_the_cassette_folder_and_name_are_fixtures(tmp_path, files, expected):
    root = project(tmp_path / "p", {"tests/test_plain.py": PLAIN, **files})
    with StandinBackend() as upstream:
        recorded = run_pytest(root, "--record-mode=once", upstream=upstream)
    assert recorded.returncode == 0, out(recorded)
    cassettes = [str(p.relative_to(root)) for p in (root / "cassettes").rglob("*.yaml")]
    assert cassettes == [expected], cassettes
    replayed = run_pytest(root, "--block-network")
    assert replayed.returncode == 0, out(replayed)


def test_a_cassette_folder_outside_the_cassette_dir_is_a_usage_error(tmp_path):
    outside = FOLDER_FIXTURE.replace('"cassettes/shared"', '"elsewhere"')
    root = project(tmp_path / "p", {"tests/test_plain.py": outside + PLAIN})
    result = run_pytest(root)
    assert result.returncode != 0
    assert "outside the cassette folder" in out(result) and "elsewhere" in out(result), out(result)


def test_both_plugins_turned_off_with_the_documented_ini_lines(tmp_path):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "options.md").read_text()
    ini = re.search(r"```ini\n(.*?)```", doc, re.S)
    assert ini is not None
    root = project(tmp_path / "p", {"tests/test_marked.py": MARKED_ONLY}, ini=ini[1])
    off = ("-p", "no:wandb_cassettes", "-p", "no:wandb_cassettes_markers", "--strict-markers")
    result = run_pytest(root, *off)
    assert result.returncode == 0, out(result)
    (root / "pytest.ini").write_text("[pytest]\n")
    assert run_pytest(root, *off).returncode != 0, "without them: unknown markers"
