"""The SDK internals the library uses, in one place (wandb_cassettes/compat), and the
supported window of wandb releases (issue 24). Runs on every SDK of the window in CI
(``make test-sdk SDK=0.29.0``), so that "known in 0.29 to 0.31" is checked, not claimed."""

from __future__ import annotations

import ast
import random
import re
import types
from pathlib import Path

import pytest
import wandb
from wandb_cassettes_standin import StandinBackend

from wandb_cassettes import compat
from wandb_cassettes.compat import _sdk
from wandb_cassettes.errors import ConfigurationError, UnsupportedSdk
from wandb_cassettes.runtime import seeded_ids

PACKAGE = Path(compat.__file__).resolve().parent.parent
MODULE_PATH = re.compile(r"wandb(?:\.[A-Za-z_]\w*)+")


def test_the_installed_sdk_has_the_internals_the_module_says_it_has():
    """Each internal is present from the minor it names on (``since``), and one the
    installed SDK lacks has a fallback: checked on each minor of the window in CI."""
    running = compat.release(wandb.__version__)
    assert running is not None
    lacking = {i.name for i in compat.missing()}
    for internal in compat.INTERNALS:
        assert (internal.name not in lacking) == (running >= internal.since), internal
        assert internal.name not in lacking or internal.fallback, internal


def test_the_installed_sdk_is_inside_the_window_and_the_metadata_allows_it():
    import importlib.metadata

    assert compat.OLDEST <= compat.release(wandb.__version__) <= compat.NEWEST  # type: ignore[operator]
    requires = importlib.metadata.requires("wandb-cassettes") or []
    [spec] = [r for r in requires if r.startswith("wandb") and not r.startswith("wandb-")]
    # The window's oldest minor is the lower bound; no upper cap blocks the next release.
    assert spec.replace(" ", "") == f"wandb>={compat.OLDEST[0]}.{compat.OLDEST[1]}.0", spec


@pytest.mark.parametrize("version", ["0.27.2", "0.28.9", "0.22.3", "0.1"])
def test_an_sdk_older_than_the_window_is_refused_in_one_line(version: str):
    with pytest.raises(UnsupportedSdk) as caught:
        compat.check_version(version)
    message = str(caught.value)
    assert "\n" not in message
    assert f"wandb {version} is older than this library supports: 0.29 to 0.31" in message
    assert isinstance(caught.value, ConfigurationError)


@pytest.mark.parametrize("version", ["0.29.0", "0.30.0", "0.31.0", "0.31.7", "0.29.0rc1"])
def test_the_window_is_accepted_without_a_note(version: str):
    assert compat.check_version(version) is None


@pytest.mark.parametrize("version", ["0.32.0", "0.40.1", "1.0.0"])
def test_a_newer_sdk_is_tried_with_a_note(version: str):
    note = compat.check_version(version)
    assert note is not None and f"wandb {version} is newer" in note and "0.29 to 0.31" in note


@pytest.mark.parametrize("version", ["", "dev", "latest"])
def test_an_unreadable_version_is_refused(version: str):
    with pytest.raises(UnsupportedSdk, match=r"supports 0\.29 to 0\.31"):
        compat.check_version(version)


def test_no_wandb_at_all_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_sdk, "sdk_version", lambda: None)
    with pytest.raises(
        UnsupportedSdk, match=r"wandb is not installed: .* needs wandb 0\.29 to 0\.31"
    ):
        compat.check_version()


def _replace_probe(monkeypatch: pytest.MonkeyPatch, index: int) -> compat.Internal:
    internals = list(compat.INTERNALS)
    gone = internals[index] = _sdk.Internal(
        internals[index].name,
        internals[index].known,
        internals[index].use,
        internals[index].fallback,
        lambda: False,
        at_start=True,
    )
    monkeypatch.setattr(_sdk, "INTERNALS", tuple(internals))
    return gone


def test_a_missing_internal_without_fallback_stops_the_session_naming_it(monkeypatch):
    index = next(i for i, x in enumerate(compat.INTERNALS) if x.name.endswith("runid._random"))
    gone = _replace_probe(monkeypatch, index)
    with pytest.raises(UnsupportedSdk) as caught:
        compat.check_sdk("0.31.0")
    assert gone.name in str(caught.value) and "0.29 to 0.31" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_internal_with_a_fallback_is_a_note(monkeypatch):
    index = next(i for i, x in enumerate(compat.INTERNALS) if x.fallback is not None)
    gone = _replace_probe(monkeypatch, index)
    notes = compat.check_sdk("0.31.0")
    assert notes == [f"wandb 0.31.0 has no {gone.name}: {gone.fallback}"]


def test_every_internal_says_what_it_is_for_and_where_it_is_known():
    for internal in compat.INTERNALS:
        assert internal.name.startswith("wandb."), internal
        assert re.search(r"\b0\.\d+\b", internal.known) and internal.use, internal


def test_an_sdk_without_the_client_id_generator_is_a_clear_error_not_an_attribute_error(
    monkeypatch: pytest.MonkeyPatch,
):
    """wandb 0.22 has no ``runid._random``: the library crashed mid-test (AttributeError)."""
    old = types.ModuleType("wandb.sdk.lib.runid")
    old.generate_id = lambda length=8: "x" * length  # type: ignore[attr-defined]
    monkeypatch.setattr(compat, "runid_module", lambda: old)
    expected = r"runid\._random.*Supported: wandb 0\.29 to 0\.31"
    with pytest.raises(UnsupportedSdk, match=expected), seeded_ids("seed", "test"):
        pass
    old._random = random.Random()  # type: ignore[attr-defined]
    with seeded_ids("seed", "test") as generators:
        assert old.generate_id() == generators.__class__("seed", "test").run_id()


def test_a_missing_sdk_document_or_transport_is_a_clear_error():
    with pytest.raises(
        UnsupportedSdk, match=r"has no wandb\.sdk\.artifacts\._generated\.NO_SUCH_GQL"
    ):
        compat.sdk_document("NO_SUCH_GQL")
    with pytest.raises(UnsupportedSdk, match=r"_service_api\.execute_graphql"):
        compat.execute_graphql(object(), "query X { x }", {})


def test_the_default_server_is_the_sdks_own():
    default = compat.default_base_url()
    assert default.startswith("https://")
    urls = _sdk._import("wandb.sdk.lib.urls")
    assert default == getattr(urls, "DEFAULT_BASE_URL", wandb.Settings().base_url)


def _code_outside_compat() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text()))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "compat" not in path.relative_to(PACKAGE).parts
    ]


def test_only_the_compat_module_reaches_into_sdk_modules():
    """By construction: an import of a ``wandb.<module>`` or a string naming one (a module
    path looked up in ``sys.modules``) outside compat/ is a failure here."""
    found = []
    for path, tree in _code_outside_compat():
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if MODULE_PATH.fullmatch(node.value) else []
            for name in names:
                if name.startswith("wandb.") and not name.startswith("wandb_cassettes"):
                    found.append(
                        f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', 0)}: {name}"
                    )
    assert found == []


def test_the_sweep_cancel_fallback_sends_what_the_sdk_sends(
    standin_sdk: StandinBackend, monkeypatch: pytest.MonkeyPatch
):
    """wandb 0.29 has no public-API ``_set_sweep_state``: the fallback cancels the sweep
    with the same two requests, and says "already" the second time, as the SDK does."""
    sweeps = _sdk._import("wandb.apis.public.sweeps")
    monkeypatch.delattr(sweeps, "_set_sweep_state", raising=False)
    wb = standin_sdk
    sweep_id = wandb.sweep({"method": "grid", "parameters": {"lr": {"values": [1]}}}, project="p")
    api = wandb.Api()
    compat.set_sweep_state(api, sweep_id, "CANCELED", entity=wb.entity, project="p")
    assert [s["state"] for s in wb.live()["sweeps"]] == ["CANCELED"]
    with pytest.raises(Exception, match="Sweep already canceled"):
        compat.set_sweep_state(api, sweep_id, "CANCELED", entity=wb.entity, project="p")
    with pytest.raises(ValueError, match="Could not find sweep"):
        compat.set_sweep_state(api, "nosuchsweep", "CANCELED", entity=wb.entity, project="p")
    wb.delete_sweep(f"{wb.entity}/p/{sweep_id}")


def test_ci_tests_each_older_minor_of_the_window():
    """The Makefile's SDK_OLDER (a CI job each, `make test-sdk`) is the window less its
    newest minor, which the main job tests; each has recorded cassettes to replay."""
    makefile = (PACKAGE.parent / "Makefile").read_text()
    [line] = [x for x in makefile.splitlines() if x.startswith("SDK_OLDER ?=")]
    older = line.split("?=", 1)[1].split()
    minors = [compat.release(v) for v in older]
    expected = [(compat.OLDEST[0], m) for m in range(compat.OLDEST[1], compat.NEWEST[1])]
    assert minors == expected, older
    # The wandb lower bound is test-sdk's first job (the lowest-dependency job leaves wandb
    # to the resolver: it runs the whole suite, which is the newest minor's).
    assert older[0] == f"{compat.OLDEST[0]}.{compat.OLDEST[1]}.0"
    assert "lowest --besides wandb" in makefile
    data = PACKAGE.parent / "tests" / "data" / "sdk_window"
    assert all((data / v / "cassettes").is_dir() for v in older), older


@pytest.mark.parametrize(
    ("token", "pid"),
    [
        ("2-4242-unix-/tmp/wandb-x/socket", 4242),
        ("1-7-tcp-localhost-9000", 7),
        ("", None),
        ("x", None),
    ],
)
def test_the_service_token_names_the_process_that_started_the_service(token, pid):
    assert compat.service_token_pid(token) == pid


@pytest.mark.parametrize(
    ("path", "core"),
    [
        ("/tmp/wandb-12-34/socket", True),
        ("/var/folders/x/T/wandb-a/socket", True),
        ("/tmp/wandb-12-34/other", False),
        ("/tmp/mine/socket", False),
        ("socket", False),
    ],
)
def test_wandb_cores_socket_is_told_by_its_path(path, core):
    assert compat.is_core_socket(path) is core


def test_a_cassette_start_forgets_what_a_sweep_agent_left_on_the_set_up(monkeypatch):
    """A sweep run leaves ``_sweep_config`` on the process's set-up, which every later
    ``wandb.init`` adds to its run's config: the next cassette must not inherit it."""
    import os

    from wandb.sdk import wandb_setup

    class SetUp:
        _pid = os.getpid()
        _settings = object()
        _settings_environ = {"WANDB_PROJECT": "p"}
        _sweep_config = {"lr": 0.1}

    left = SetUp()
    monkeypatch.setattr(wandb_setup, "_singleton", left)
    compat.forget_setup_settings()
    after: tuple[object, ...] = (left._settings, left._settings_environ, left._sweep_config)
    assert after == (None, None, None)
    other = SetUp()
    other._pid = os.getpid() + 1  # a parent's set-up, inherited by fork: not ours to change
    monkeypatch.setattr(wandb_setup, "_singleton", other)
    compat.forget_setup_settings()
    assert other._sweep_config == {"lr": 0.1}
