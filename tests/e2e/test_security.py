"""Security through the plugin: a marker's cassette name stays inside the cassette folder,
recording refuses a plain-http upstream off this machine, and no key reaches a cassette.

Scenarios run pytest in a subprocess (the SDK reads its environment once per process),
against the stand-in W&B. The relay's own checks are in ``tests/unit/test_security.py``.
"""

from __future__ import annotations

import pytest
from support.projects import FAST_RETRIES, FLOW, audit_secrets, make_project, output
from support.pytest_process import run_pytest

from wandb_cassettes import store as cs


def test_marker_name_cannot_escape_through_the_plugin(tmp_path, standin):
    """``@pytest.mark.wandb_cassette("../../x")``: recorded and replayed inside ``cassettes/``."""
    project = make_project(
        tmp_path / "p",
        test_escape=FLOW
        + """
@pytest.mark.wandb_cassette("../../escaped")
def test_escape(tmp_path):
    flow(tmp_path)
""",
    )
    before = set(tmp_path.rglob("*"))
    result = run_pytest(project, "--record-mode=once", upstream=standin, env=FAST_RETRIES)
    assert result.returncode == 0, output(result)
    created = {p for p in set(tmp_path.rglob("*")) - before if p.is_file()}
    yamls = [p for p in created if p.suffix == ".yaml"]
    assert len(yamls) == 1, yamls
    assert (project / "cassettes").resolve() in yamls[0].resolve().parents
    assert "escaped" in yamls[0].name
    assert not (tmp_path / "escaped.yaml").exists()
    assert not any(p.name.startswith("escaped") for p in tmp_path.parent.iterdir())
    audit_secrets(yamls[0])
    standin.stop()
    replay = run_pytest(project)
    assert replay.returncode == 0, output(replay)


@pytest.mark.parametrize(
    ("upstream", "refused"),
    [
        ("http://example.com", True),
        ("http://10.0.0.1:8080", True),
        ("ftp://api.wandb.ai", True),
        ("http://127.0.0.1:9", False),
    ],
)
def test_recording_refuses_a_plain_http_upstream_off_this_machine(tmp_path, upstream, refused):
    project = make_project(tmp_path / "p", test_nothing="def test_nothing():\n    pass\n")
    result = run_pytest(project, "--record-mode=once", f"--wandb-upstream={upstream}")
    if refused:
        assert result.returncode == pytest.ExitCode.USAGE_ERROR, output(result)
        assert "--wandb-upstream" in result.stderr
        assert upstream in result.stderr
    else:
        assert result.returncode == 0, output(result)


def test_same_refusal_from_the_environment_variable(tmp_path):
    project = make_project(tmp_path / "p", test_nothing="def test_nothing():\n    pass\n")
    result = run_pytest(
        project, "--record-mode=once", env={"WANDB_CASSETTES_UPSTREAM": "http://example.com"}
    )
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output(result)
    assert "refusing plain-http upstream" in result.stderr


@pytest.mark.parametrize(
    "upstream", ["http://admin:pa55word@127.0.0.1:18080", "https://ci-bot:pa55word@wandb.example"]
)
def test_an_upstream_url_holding_a_password_is_refused_without_showing_it(tmp_path, upstream):
    """It stalled recording (the relay answered 500 for 95 s) and was written to the journal
    as it was, password included."""
    project = make_project(tmp_path / "p", test_nothing="def test_nothing():\n    pass\n")
    result = run_pytest(project, "--record-mode=once", env={"WANDB_CASSETTES_UPSTREAM": upstream})
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output(result)
    assert "holds a user or password" in result.stderr and "WANDB_CASSETTES_UPSTREAM" in (
        result.stderr
    )
    assert "pa55word" not in result.stdout + result.stderr
    assert not (project / ".wandb_cassettes").exists()


def test_no_secret_reaches_a_cassette_recorded_with_the_key_in_odd_places(tmp_path, standin):
    """The API key in the run config, a metric name and an artifact file: scrubbed everywhere."""
    project = make_project(
        tmp_path / "p",
        test_secret=FLOW
        + """
@pytest.mark.wandb_cassette
def test_key_everywhere(tmp_path):
    key = os.environ["WANDB_API_KEY"]
    run = wandb.init(project="secrets", config={"token": key, "note": "Bearer " + key})
    run.log({"value": 1.0})
    run.summary["leak"] = key
    run.finish()
""",
    )
    result = run_pytest(project, "--record-mode=once", upstream=standin, env=FAST_RETRIES)
    assert result.returncode == 0, output(result)
    path = project / "cassettes" / "test_secret" / "test_key_everywhere.yaml"
    text = path.read_text()
    assert standin.api_key not in text
    audit_secrets(path)
    # and the audit would have caught it
    leaked = tmp_path / "leaked.yaml"
    bad = cs.load(path)
    bad.interactions[0].request_headers["X-Note"] = [standin.api_key]
    cs.save(bad, leaked)
    with pytest.raises(AssertionError, match=r"X-Note"):
        audit_secrets(leaked)
