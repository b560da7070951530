"""Issue 7, reliability: shared helpers, and the security cases.

The other cases live beside this file: ``test_reliability_faults.py`` (upstream
faults while recording), ``test_reliability_cassettes.py`` (bad cassettes),
``test_reliability_interrupt.py`` (Ctrl-C, SIGTERM, SIGKILL; the reaper),
``test_reliability_parallel.py`` (xdist, shared names, read-only cassettes),
``test_reliability_big.py`` (a 200 MB upload, 5,000 interactions), and
``test_properties.py`` (property-based tests of the loader and the matcher).

Scenarios that use the plugin run pytest in a subprocess (the SDK reads its
environment once per process), against the stand-in W&B.
"""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from support.projects import (
    FAST_RETRIES,
    FLOW,
    audit_secrets,
    make_project,
    operations,
    output,
    statuses,
)
from support.pytest_process import run_pytest

from wandb_cassettes import runtime as naming
from wandb_cassettes import store as cs
from wandb_cassettes.errors import CassetteError
from wandb_cassettes.record import Relay

# -- security ---------------------------------------------------------------------------------


async def _handle(relay: Relay, peer: object) -> web.StreamResponse:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peer if name == "peername" else default
    )
    request = make_mocked_request("POST", "/graphql", transport=transport)
    return await relay._handle(request)


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        (("127.0.0.1", 5000), True),
        (("::1", 5000, 0, 0), True),
        (("10.1.2.3", 5000), False),
        (("192.168.0.7", 5000), False),
        (("::ffff:10.1.2.3", 5000, 0, 0), False),
        (None, False),
    ],
)
def test_relay_answers_loopback_clients_only(peer, allowed):
    import asyncio

    relay = Relay("https://api.wandb.ai")  # not started: _handle is called directly
    response = asyncio.run(_handle(relay, peer))
    if allowed:
        # No cassette is active: the loopback client gets the relay's own "outside any
        # cassette" refusal (400, which wandb-core does not retry).
        assert response.status == 400
        assert relay.stray == ["POST /graphql"]
    else:
        assert response.status == 403
        assert "loopback clients only" in response.text
        assert relay.stray == []


def test_relay_listens_on_loopback_only():
    with Relay("https://api.wandb.ai") as relay:
        assert relay.url.startswith("http://127.0.0.1:")
        import socket

        port = int(relay.url.rsplit(":", 1)[1])
        addresses = {
            a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        }
        for address in addresses - {"127.0.0.1"} - {a for a in addresses if a.startswith("127.")}:
            with socket.socket() as s, pytest.raises(OSError):
                s.settimeout(2)
                s.connect((address, port))


@pytest.mark.parametrize(
    "name", ["../../x", "../x", "/etc/passwd", "a/../../../b", "..", ".", "", "~root/x", "a\0b"]
)
def test_cassette_name_cannot_escape_the_cassette_folder(tmp_path, name):
    root = tmp_path / "cassettes"
    try:
        path = naming.cassette_path(root, "tests/test_x", name)
    except CassetteError as exc:
        assert "escapes" in str(exc)
        return
    assert root.resolve() in path.parents
    assert path.suffix == ".yaml"


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


def test_helpers_see_what_they_claim(tmp_path):
    """``operations`` names GraphQL operations and storage calls (the fault tests rely on it)."""
    from support.cassette_builders import clean_flow

    path = cs.save(clean_flow(), tmp_path / "c.yaml")
    ops = operations(path)
    assert ops[0] == ("UpsertBucket", 200)
    assert statuses(path, "PUT") == [200, 200]
    assert statuses(path, "DeleteRun") == [200]
