"""pytest plugin: record W&B traffic of marked tests into cassettes, replay it offline.

Thin on purpose: pytest-recording owns ``--record-mode`` (and ``--block-network``),
the relay owns HTTP, this module wires them to tests::

    @pytest.mark.wandb_cassette
    def test_upload(tmp_path):
        run = wandb.init(project="ci-tests")
        ...

The first marked test of a process starts one relay and points the SDK at it
(the SDK reads its environment once); each marked test then swaps the relay's
cassette.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import sys
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from . import interop
from .cleanup import wandb_artifact_cleaner
from .env import REPLAY_API_KEY
from .epochs import EPOCHS_MARKER_HELP, wandb_epochs
from .session import ProcessSession

if TYPE_CHECKING:
    from .relay import Recording, Relay, Replay

# The relay, cassette and vcrpy modules load on the first marked test only: a
# suite without cassettes pays nothing, and pytest-recording can still register
# vcrpy's assertion rewriting before vcr is imported.

DEFAULT_UPSTREAM = "https://api.wandb.ai"
UPSTREAM_ENV = "WANDB_CASSETTES_UPSTREAM"
RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")
#: Metadata: indices of the interactions of the automatic cleanup after a recorded test.
CLEANUP_KEY = "cleanup_interactions"


class WandbCassetteWarning(UserWarning):
    """Something in a cassette deserves attention but does not fail the test."""


__all__ = ["CassetteSession", "wandb_artifact_cleaner", "wandb_cassette", "wandb_epochs"]

_STATE = pytest.StashKey["ProcessSession"]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_ACTIVE = pytest.StashKey["CassetteSession"]()
_UPSTREAM_SHOWN = pytest.StashKey[int]()


# -- options and markers -----------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wandb-cassettes")
    group.addoption(
        "--wandb-upstream",
        default=None,
        help=f"W&B base URL to record against (env {UPSTREAM_ENV}; default {DEFAULT_UPSTREAM}).",
    )
    group.addoption(
        "--wandb-audit",
        action="store_true",
        default=False,
        help="Audit the cassettes written in this session; fail it on a leak or a secret.",
    )
    group.addoption(
        "--wandb-strict",
        action="store_true",
        default=False,
        help="Fail a replayed test that leaves recorded interactions unplayed.",
    )
    parser.addini(
        "wandb_cassette_dir", "Folder of W&B cassettes (relative to rootdir).", default="cassettes"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wandb_cassette(name=None): record this test's W&B traffic, replay it offline.",
    )
    config.addinivalue_line("markers", "fast: a fast test (replayed or pure), run in CI.")
    config.addinivalue_line(
        "markers", "integration: a test of real W&B behaviour (replayed in CI)."
    )
    config.addinivalue_line("markers", EPOCHS_MARKER_HELP)
    upstream = (
        config.getoption("--wandb-upstream") or os.environ.get(UPSTREAM_ENV) or DEFAULT_UPSTREAM
    )
    config.stash[_STATE] = ProcessSession(
        check_upstream(upstream), config.rootpath, report=lambda m: _report(config, m)
    )
    interop.allow_wandb_through_network_block()


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.stop()


def check_upstream(url: str) -> str:
    """Refuse an upstream that would send the API key in clear text off this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise pytest.UsageError(f"--wandb-upstream: not an http(s) URL: {url!r}")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise pytest.UsageError(
            f"--wandb-upstream: refusing plain-http upstream {url!r}: the API key would cross "
            "the network unencrypted (use https, or a loopback address)"
        )
    return url.rstrip("/")


def record_mode(config: pytest.Config) -> str:
    mode = config.getoption("--record-mode", None) or "none"
    return str(mode)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    if report.failed and _ACTIVE in item.stash:
        _show_upstream_failures(item, report)
    return report


def _show_upstream_failures(item: pytest.Item, report: pytest.TestReport) -> None:
    """A test that fails while the upstream fails says so beside its traceback."""
    session = item.stash[_ACTIVE].session
    recording = getattr(session, "fallback", session)
    errors = getattr(recording, "upstream_errors", None) or []
    shown = item.stash.get(_UPSTREAM_SHOWN, 0)
    if len(errors) > shown:
        text = "\n".join(errors[shown:])
        report.sections.append(("wandb-cassettes: the upstream failed while recording", text))
        item.stash[_UPSTREAM_SHOWN] = len(errors)


# -- the relay and the SDK environment ----------------------------------------------


def _report(config: pytest.Config, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    # Inside a test phase stdout is captured; say it on the terminal all the same.
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line(f"wandb-cassettes: {message}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None or not session.config.getoption("--wandb-audit") or not state.written:
        return
    from .audit import audit_paths

    report = audit_paths(state.written)
    _report(session.config, "audit of the cassettes written in this session:")
    for line in report.render_text().splitlines():
        _report(session.config, line)
    if report.exit_code != 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_recording_configure(vcr: Any) -> None:
    """pytest-recording's hook: keep its VCR out of W&B traffic (see :mod:`.interop`)."""
    interop.keep_vcr_out_of_wandb(vcr)


# -- per test -------------------------------------------------------------------------


@dataclass
class CassetteSession:
    """What the ``wandb_cassette`` fixture yields to a marked test."""

    path: Path
    mode: str  # "record" | "replay"
    seed: str
    session: Recording | Replay
    #: The test that recorded the cassette: client ids derive from it and the seed, so that
    #: tests sharing one cassette replay the ids it recorded.
    recorded_by: str = ""


def cassette_dir(config: pytest.Config) -> Path:
    return Path(config.rootpath, str(config.getini("wandb_cassette_dir")))


def cassette_path_for(item: pytest.Item) -> Path:
    """Where the cassette of ``item`` lives: ``<dir>/<module path>/<name>.yaml``."""
    from pytest_recording.plugin import get_default_cassette_name

    from . import cassette as cassettes

    marker = item.get_closest_marker("wandb_cassette")
    if marker is not None and (marker.args or marker.kwargs.get("name")):
        name = str(marker.kwargs.get("name") or marker.args[0])
    else:
        name = get_default_cassette_name(getattr(item, "cls", None), item.name)
    try:
        group = item.path.relative_to(item.config.rootpath).with_suffix("")
    except ValueError:
        group = Path(item.path.stem)
    path = cassettes.cassette_path(cassette_dir(item.config), str(group), name)
    # pytest-recording keeps a @pytest.mark.vcr test's own cassettes in
    # <test dir>/cassettes/<module>/: for a module in the rootdir that is this folder.
    vcr_dir = Path(item.path.parent, "cassettes", item.path.stem).resolve()
    if item.get_closest_marker("vcr") is not None and path.parent == vcr_dir:
        path = path.with_name(path.stem + ".wandb.yaml")
    return path


def _record_command(item: pytest.Item) -> str:
    return f"pytest {shlex.quote(item.nodeid)} --record-mode=once --wandb-upstream URL"


@pytest.fixture(autouse=True)
def wandb_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteSession | None]:
    """The cassette of a ``@pytest.mark.wandb_cassette`` test (None for other tests)."""
    item = request.node
    marker = item.get_closest_marker("wandb_cassette")
    if marker is None:
        yield None
        return
    from . import ids

    config = request.config
    mode = record_mode(config)
    if mode not in RECORD_MODES:
        raise pytest.UsageError(f"--record-mode={mode!r}: expected one of {RECORD_MODES}")
    path = cassette_path_for(item)
    relay = config.stash[_STATE].relay()
    # Tests sharing one cassette name share one recording: the first records, the others replay.
    shared = path in config.stash[_STATE].written
    if mode == "none" or (mode in ("once", "new_episodes") and path.exists()) or shared:
        active = _start_replay(item, relay, path, new_episodes=mode == "new_episodes")
    else:
        active = _start_recording(item, relay, path, _keep(marker))
    item.stash[_ACTIVE] = active
    config.stash[_STATE].reset_sdk_files()
    cleanup_error: Exception | None = None
    try:
        with ids.seeded_ids(active.seed, active.recorded_by or item.nodeid):
            yield active
            _finish_active_run()
            cleanup_error = _clean_up_leaks(active)
    finally:
        relay.activate(None)
    _conclude(item, active, config, cleanup_error)


def _keep(marker: pytest.Mark) -> list[str]:
    """``keep=True`` keeps everything the test creates; ``keep=[names]`` keeps those."""
    keep = marker.kwargs.get("keep", ())
    if keep is True:
        return ["*"]
    if isinstance(keep, str):
        return [keep]
    return [str(k) for k in keep or ()]


def _start_replay(
    item: pytest.Item, relay: Relay, path: Path, *, new_episodes: bool
) -> CassetteSession:
    from . import cassette as cassettes
    from .cache import load as load_cached
    from .ledger import keep_names

    if not path.exists():
        pytest.fail(
            f"wandb cassette missing: {path}\nrecord it with:\n  {_record_command(item)}",
            pytrace=False,
        )
    try:
        recorded = load_cached(path)
    except cassettes.CassetteError as exc:
        pytest.fail(f"wandb cassette unusable: {exc}", pytrace=False)
    from wandb import __version__ as running

    mismatch = sdk_mismatch(str(recorded.metadata.get("wandb") or ""), str(running))
    if mismatch:
        command = _record_command(item).replace("=once", "=rewrite")
        pytest.fail(f"wandb cassette {path}: {mismatch}; re-record it:\n  {command}", pytrace=False)
    seed = str(recorded.metadata.get("seed", ""))
    replay = relay.replay(recorded)
    if new_episodes:
        # Requests the cassette cannot answer are recorded and appended to it.
        extra = cassettes.Cassette(metadata=recorded.metadata, path=path)
        replay.fallback = _recording(item, relay, extra, keep_names(recorded.metadata))
    recorded_by = str(recorded.metadata.get("test") or "")
    return CassetteSession(path, "replay", seed, replay, recorded_by)


def sdk_mismatch(recorded: str, running: str) -> str | None:
    """Why a cassette recorded with wandb ``recorded`` must not replay under ``running``.

    The SDK's requests change between major versions, and between minor versions
    before 1.0; a patch release keeps them. None when compatible or unknown.
    """

    def release(version: str) -> tuple[int, int] | None:
        m = re.match(r"\s*(\d+)\.(\d+)", version)
        return (int(m.group(1)), int(m.group(2))) if m else None

    old, new = release(recorded), release(running)
    if old is None or new is None or old == new or (old[0] == new[0] and old[0] >= 1):
        return None
    return (
        f"recorded with wandb {recorded}, but this is wandb {running}: the SDK's requests "
        "differ between these versions"
    )


def _start_recording(
    item: pytest.Item, relay: Relay, path: Path, keep: list[str]
) -> CassetteSession:
    from . import cassette as cassettes
    from . import ids

    seed = ids.new_seed()
    extra: dict[str, Any] = {"seed": seed, "test": item.nodeid}
    if keep:
        extra["keep"] = keep
    fresh = cassettes.Cassette(metadata=cassettes.new_metadata(relay.upstream, **extra), path=path)
    recording = _recording(item, relay, fresh, keep)
    relay.activate(recording)
    return CassetteSession(path, "record", seed, recording, item.nodeid)


def _recording(item: pytest.Item, relay: Relay, fresh: Any, keep: list[str]) -> Recording:
    """A recording session whose ledger feeds the journal as exchanges arrive."""
    from .ledger import Ledger
    from .relay import Recording

    api_key = os.environ.get("WANDB_API_KEY", "")
    if not api_key or api_key == REPLAY_API_KEY:
        pytest.fail(
            f"recording {fresh.path} needs WANDB_API_KEY for {relay.upstream}", pytrace=False
        )
    recording = Recording(fresh, (api_key,))
    recording.ledger = ledger = Ledger(keep)
    journal = item.config.stash[_STATE].journal()

    def observe(ix: Any) -> None:
        seen = len(ledger.events)
        ledger.observe(ix)
        journal.record(ledger.events[seen:], item.nodeid)

    recording.observers.append(observe)
    return recording


def _clean_up_leaks(active: CassetteSession) -> Exception | None:
    """Delete, through the relay (so it is recorded), what the test created and left."""
    from .cleanup import CleanupError, WandbArtifactCleaner, track_leftovers
    from .relay import Recording

    session = active.session
    recording = session if isinstance(session, Recording) else session.fallback
    if recording is None or recording.ledger is None:
        return None
    leaks = recording.ledger.leaks()
    if not leaks:
        return None
    cleaner = WandbArtifactCleaner()
    track_leftovers(cleaner, leaks)
    first = len(recording.cassette.interactions)
    try:
        cleaner.cleanup_all()
    except CleanupError as exc:
        return exc
    finally:
        # Replay runs no cleanup: list its exchanges so they do not count as unplayed.
        offset = 0 if isinstance(session, Recording) else len(session.matcher.cassette)
        cleanup = range(offset + first, offset + len(recording.cassette.interactions))
        meta = recording.cassette.metadata
        meta[CLEANUP_KEY] = [*meta.get(CLEANUP_KEY, ()), *cleanup]
    return None


def _finish_active_run() -> None:
    """A run left open would keep sending after the cassette is switched."""
    if "wandb" not in sys.modules:
        return
    import wandb

    if wandb.run is not None:
        wandb.run.finish()


def _conclude(
    item: pytest.Item,
    active: CassetteSession,
    config: pytest.Config,
    cleanup_error: Exception | None,
) -> None:
    from .relay import Recording

    session = active.session
    recording = session if isinstance(session, Recording) else session.fallback
    if recording is not None:
        _keep_recording(item, active, recording, cleanup_error is None)
    if cleanup_error is not None:
        pytest.fail(
            f"automatic cleanup after recording {active.path.name} failed; "
            f"these are left on {config.stash[_STATE].upstream}:\n{cleanup_error}",
            pytrace=False,
        )
    if not isinstance(session, Recording):
        _check_replay(item, active.path, session)


def _keep_recording(
    item: pytest.Item, active: CassetteSession, recording: Recording, cleaned_up: bool
) -> None:
    """Save a passed test's recording as its cassette; keep any other beside it, as ``.failed``."""
    from . import cassette as cassettes
    from .relay import Replay

    for message in recording.upstream_errors:
        warnings.warn(WandbCassetteWarning(message), stacklevel=1)
    replayed = None if recording is active.session else active.session
    if replayed is not None and not recording.cassette.interactions:
        return  # new_episodes, nothing new: the cassette stays as it is
    reports = item.stash.get(_REPORTS, {})
    # No "call" report: the test was interrupted (Ctrl-C, SIGTERM), its recording is partial.
    passed = "call" in reports and all(r.passed for r in reports.values()) and cleaned_up
    if not passed:
        kept = cassettes.save_failed(recording.cassette, active.path)
        warnings.warn(
            WandbCassetteWarning(
                f"test failed or was interrupted while recording: {active.path} left as "
                f"it was; this recording is kept in {kept}"
            ),
            stacklevel=1,
        )
        return
    full = recording.cassette
    if isinstance(replayed, Replay):
        # new_episodes: what was replayed, then what was recorded after it.
        full = cassettes.Cassette(
            [*replayed.matcher.cassette.interactions, *full.interactions], full.metadata, full.path
        )
    full.metadata["backend"] = cassettes.backend_of(full)
    cassettes.save(full, active.path)
    item.config.stash[_STATE].written.append(active.path)


def _check_replay(item: pytest.Item, path: Path, session: Replay) -> None:
    """Fail on requests the cassette could not answer; report what it holds unplayed."""
    if session.errors:
        details = "\n\n".join(str(e) for e in session.errors)
        pytest.fail(
            f"wandb cassette {path}: {len(session.errors)} request(s) had no recorded "
            f"match\n\n{details}\n\nif the test changed on purpose, re-record it:\n  "
            f"{_record_command(item).replace('=once', '=rewrite')}",
            pytrace=False,
        )
    cleanup = set(session.matcher.cassette.metadata.get(CLEANUP_KEY) or ())
    unplayed = [(i, ix) for i, ix in session.matcher.unplayed() if i not in cleanup]
    if not unplayed:
        return
    from .matching import interaction_key

    upstream = session.matcher.upstream
    lines = "\n".join(
        f"  #{i} {interaction_key(ix, upstream).describe()[:200]}" for i, ix in unplayed[:10]
    )
    message = f"{path}: {len(unplayed)} recorded interaction(s) never played:\n{lines}"
    if item.config.getoption("--wandb-strict"):
        pytest.fail(message, pytrace=False)
    warnings.warn(WandbCassetteWarning(message), stacklevel=1)
