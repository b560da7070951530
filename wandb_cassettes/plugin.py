"""pytest plugin: record the W&B traffic of marked tests into cassettes, replay it offline.

Thin on purpose, as pytest-recording's ``plugin.py`` is over its ``_vcr.py``:
options, markers, fixtures users can override (``wandb_cassette_config``,
like pytest-recording's ``vcr_config``), and hooks that hand each cassette
to :class:`~.lifecycle.CassetteUse`, which does the work::

    @pytest.mark.wandb_cassette
    def test_upload(tmp_path):
        run = wandb.init(project="ci-tests")
        ...

The window: once the test loop starts with a test that uses cassettes to run,
before any session fixture runs, the process's SDK is pointed at the relay
(:class:`~.process.WandbProcess`). A marked test's traffic (its
function-scoped fixtures' included) goes to its cassette; a fixture wider
than a test that sends W&B traffic gets a cassette of its scope
(``<module or conftest folder>/fixture.<name>.yaml``); anything else is
refused at once with a message naming the test or fixture.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from collections.abc import Collection, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import runtime
from .errors import (
    CassetteError,
    CleanupError,
    ConfigurationError,
    MissingCassette,
    UnsupportedSdk,
    WandbCassettesError,
)
from .helpers import EpochCheck, make_epoch_check
from .markers import MARKER, PLUGIN_NAME, register
from .redact import CACHE_FOLDER, CATALOGUE
from .runtime import (
    UPSTREAM_ENV,
    CassetteOptions,
    RecordMode,
    WandbProcess,
    check_upstream,
    explicit_upstream,
    set_shared,
)
from .store import BLOB_DIR

if TYPE_CHECKING:
    from .runtime import CassetteUse

__all__ = [
    "default_wandb_cassette_name",
    "wandb_artifact_cleaner",
    "wandb_cassette",
    "wandb_cassette_config",
    "wandb_cassette_dir",
    "wandb_epochs",
]

_PROCESS = pytest.StashKey["Any"]()
#: pytest-recording's ``--disable-recording``: W&B traffic goes to the real server.
_DISABLED = pytest.StashKey[bool]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_USE = pytest.StashKey["CassetteUse"]()
#: What a finished test's cassette leaves on its item: the upstream failures its teardown
#: report may show. The CassetteUse itself (its cassette, matcher, sessions) is dropped at
#: the end of the test: a 1,000-test suite held every one (+0.16 MB per test).
_UPSTREAM_ERRORS = pytest.StashKey[list[str]]()
_CURRENT = pytest.StashKey[list[str]]()
#: Why this pytest-xdist worker's cassettes cannot start (an unsupported wandb).
_UNSUPPORTED = pytest.StashKey[str]()
_WRITTEN_KEY = "wandb_cassettes_written"
#: The test items running now, by node id (``validate_epoch_usage`` reads their markers).
RUNNING: dict[str, pytest.Item] = {}


# -- options and markers -----------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wandb-cassettes")
    group.addoption(
        "--wandb-upstream",
        default=None,
        help="W&B base URL to record against (env WANDB_CASSETTES_UPSTREAM; default: where "
        "the wandb SDK would go, WANDB_BASE_URL or its default).",
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
    group.addoption(
        "--wandb-same-sdk",
        action="store_true",
        default=False,
        help="Refuse to replay a cassette recorded under another wandb minor (default: "
        "replay tries, and fails on the first request the cassette cannot answer).",
    )
    parser.addini(
        "wandb_cassette_dir",
        "Folder of W&B cassettes, relative to the rootdir (default: cassettes).",
        default="cassettes",
    )
    parser.addini(
        "wandb_cassette_harmless",
        "GraphQL mutation fields of your own that the audit may treat as harmless.",
        type="linelist",
        default=[],
    )
    parser.addini(
        "wandb_cassette_secret_patterns",
        "Regular expressions of secrets of your own, scrubbed when recording and flagged by "
        "the audit (a group named 'secret' picks the part to replace).",
        type="linelist",
        default=[],
    )
    parser.addini(
        "wandb_cassette_same_sdk",
        "Refuse to replay a cassette recorded under another wandb minor (true/false; "
        "default false: replay tries, and fails on a request the cassette cannot answer).",
        default="false",
    )
    parser.addini(
        "wandb_cassette_entropy",
        "Also treat as secrets strings of 20+ token characters whose Shannon entropy reaches "
        "this many bits per character (e.g. 4.5), when recording and in the audit. Off when "
        "empty (the default): digests and ids are that random too.",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):  # turned off, or not installed
        register(config)

    option = config.getoption("--wandb-upstream")
    explicit = option or explicit_upstream()
    source = "--wandb-upstream" if option else f"{UPSTREAM_ENV} or WANDB_BASE_URL"
    # Replay never needs, reads or refuses an upstream: only a session that records checks
    # it (here when the user gave it; else when the relay starts, from the user's settings).
    records = record_mode(config) is not RecordMode.NONE
    try:
        if explicit and records:
            check_upstream(explicit, source=source)
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None
    process = WandbProcess(
        explicit,
        config.rootpath,
        report=lambda m: _report(config, m),
        records=records,
        source=source,
    )
    config.stash[_DISABLED] = bool(config.getoption("--disable-recording", False))
    config.stash[_PROCESS] = process
    config.stash[_CURRENT] = []
    set_shared(process)
    # wandb-core's own socket passes --block-network whatever is selected (offline runs).
    runtime.keep_service_socket_open()
    _keep_compiled_rules(config)


def _keep_compiled_rules(config: pytest.Config) -> None:
    """Keep the credential catalogue's compiled rules in pytest's cache folder, in the
    project (compiling takes seconds; a cached load about 0.3 s). Without pytest's cache
    (``-p no:cacheprovider``, a read-only folder) they are compiled in each process."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return

    try:
        CATALOGUE.use_cache_dir(cache.mkdir(CACHE_FOLDER))
    except OSError:
        return


def pytest_unconfigure(config: pytest.Config) -> None:
    process = config.stash.get(_PROCESS, None)
    if process is not None:
        process.stop()

        set_shared(None)
        runtime.keep_service_socket_open(False)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Said once, at the start of the session: what ``--disable-recording`` means here."""
    if not config.stash.get(_DISABLED, False):
        return None
    where = explicit_upstream() or "the server the wandb SDK is set up for"
    return (
        f"wandb-cassettes: --disable-recording: W&B traffic goes to {where}; "
        "no W&B cassette is recorded or replayed"
    )


@pytest.hookimpl(optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """pytest-recording's hook: keep its VCR out of W&B traffic (see :mod:`.interop`)."""
    runtime.keep_vcr_out_of_wandb(vcr)


def record_mode(config: pytest.Config) -> RecordMode:
    """pytest-recording's ``--record-mode`` (``none`` without pytest-recording)."""
    try:
        return RecordMode.parse(config.getoption("--record-mode", None) or "none")
    except ConfigurationError as exc:
        raise pytest.UsageError(f"--record-mode: {exc}") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Validate every ``wandb_cassette`` marker before anything runs; keep pytest-recording
    off W&B cassettes if a test uses ``@pytest.mark.vcr``."""
    vcr = False
    for item in items:
        marker = item.get_closest_marker(MARKER)
        if marker is not None:
            _options(item, marker)
        vcr = vcr or item.get_closest_marker("vcr") is not None
    if vcr:
        runtime.guard_vcr_cassettes()


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Point the SDK at the relay before any session fixture runs, if a test that uses
    cassettes is about to run.

    Not at the end of collection: a run that executes no test (``--collect-only``,
    which IDEs run to discover tests; ``--setup-plan``; a ``-k`` that selects nothing;
    errors during collection) starts nothing and writes nothing outside the project:
    no relay, no watchdog, no ``.pth`` in site-packages.
    """
    config = session.config
    if (
        config.stash[_DISABLED]
        or config.option.collectonly
        or getattr(config.option, "setupplan", False)
        or (session.testsfailed and not config.option.continue_on_collection_errors)
    ):
        return
    if any(item.get_closest_marker(MARKER) for item in session.items):
        process = config.stash[_PROCESS]
        try:
            relay = process.start()
        except UnsupportedSdk as exc:  # one line, before any test: the supported range
            if not hasattr(config, "workerinput"):
                raise pytest.UsageError(str(exc)) from None
            # A pytest-xdist worker cannot end the session (its controller reports an
            # INTERNALERROR: pytest-dev/pytest-xdist#1239, open in 2026-12): each test that
            # uses a cassette fails with the same line.
            config.stash[_UNSUPPORTED] = str(exc)
            return
        except ConfigurationError as exc:  # the upstream of a session that records
            raise pytest.UsageError(str(exc)) from None
        current = config.stash[_CURRENT]
        relay.context = lambda: current[-1] if current else "code outside any test"


def _ini_options(config: pytest.Config) -> CassetteOptions:
    """What the ini file sets for every cassette."""
    return CassetteOptions.from_mapping(
        {
            "harmless": config.getini("wandb_cassette_harmless"),
            "secret_patterns": config.getini("wandb_cassette_secret_patterns"),
            "entropy": config.getini("wandb_cassette_entropy"),
            "same_sdk": config.getini("wandb_cassette_same_sdk"),
        },
        source="ini",
    )


def _options(item: pytest.Item, marker: pytest.Mark) -> CassetteOptions:
    if len(marker.args) > 1 or (marker.args and not isinstance(marker.args[0], str)):
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.{MARKER} takes one positional argument, the "
            f"cassette name (a string); got {marker.args!r}"
        )
    kwargs = dict(marker.kwargs)
    name = kwargs.pop("name", None)
    if name is not None and not isinstance(name, str):
        raise pytest.UsageError(f"{item.nodeid}: {MARKER}(name=...) must be a string")
    try:
        return CassetteOptions.from_mapping(kwargs, source=f"{item.nodeid}: @pytest.mark.{MARKER}")
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None


# -- reports -----------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    use = item.stash.get(_USE, None)
    if use is None:
        if report.failed and item.stash.get(_UPSTREAM_ERRORS, None):
            _show_upstream_failures(item.stash[_UPSTREAM_ERRORS], report, item.config)
        return report
    if report.when == "call":
        replay = use.replay
        if replay is not None and replay.errors:
            # One report per test: the mismatch is why it failed (the SDK's error about
            # the refused request only echoes it), or why a test that passed must not.
            report.outcome = "failed"
            report.longrepr = use.mismatch_report()
            use.reported = len(replay.errors)
    if report.failed:
        _show_upstream_failures(_upstream_errors(use), report, item.config)
    return report


def _upstream_errors(use: CassetteUse) -> list[str]:
    recording = use.recording
    return list(recording.upstream_errors) if recording is not None else []


UPSTREAM_FAILED = "wandb-cassettes: the upstream failed while recording"


def _show_upstream_failures(
    errors: list[str], report: pytest.TestReport, config: pytest.Config
) -> None:
    """A test that fails while the upstream fails says so, and why, first.

    The SDK's failure is only the echo of the upstream's (its traceback runs through
    wandb's internals, and the SDK logs it again): with ``-v`` they are shown beside
    the failures, without it the failures alone, one line each.
    """
    if not errors:
        return
    text = "\n".join(errors)
    if config.get_verbosity() > 0:
        report.sections.append((UPSTREAM_FAILED, text))
        return
    if any("cannot connect to" in e for e in errors):
        text += "\ncannot reach the upstream: check --wandb-upstream and the network"
    report.longrepr = f"{UPSTREAM_FAILED} (pytest -v shows the SDK's traceback and logs):\n{text}"
    report.sections = [s for s in report.sections if not s[0].startswith("Captured log")]


def _report(config: pytest.Config, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    # Inside a test phase stdout is captured; say it on the terminal all the same.
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.ensure_newline()
        reporter.write_line(f"wandb-cassettes: {message}")


# -- where traffic comes from ----------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    current = item.config.stash[_CURRENT]
    current.append(f"test {item.nodeid}")
    RUNNING[item.nodeid] = item
    try:
        return (yield)
    finally:
        current.pop()
        RUNNING.pop(item.nodeid, None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Runs the test left open are finished as it ends, so that what finishing them sends
    is judged with the test (one report), not later at teardown."""
    try:
        return (yield)
    finally:
        use = item.stash.get(_USE, None)
        if use is not None:
            with contextlib.suppress(Exception):  # the run's own errors show at teardown
                use.finish_runs()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A fixture wider than a test records into (or replays) a cassette of its scope."""
    config = request.config
    process = config.stash[_PROCESS]
    if fixturedef.scope == "function" or not process.started or not _users(fixturedef, config):
        return (yield)
    scoped = ScopedCassette(fixturedef, request)
    current = config.stash[_CURRENT]
    current.append(scoped.describe())
    try:
        scoped.begin()
        request.addfinalizer(scoped.end)  # runs last: after the fixture's own teardown
        try:
            result = yield
        finally:
            scoped.suspend()
        request.addfinalizer(scoped.resume)  # runs first: before the fixture's teardown
        return result
    finally:
        current.pop()


def _users(fixturedef: pytest.FixtureDef[Any], config: pytest.Config) -> bool:
    """A fixture of the project's own (a conftest or a test module), not of a plugin."""
    code = getattr(fixturedef.func, "__code__", None)
    if code is None:
        return False
    path = Path(code.co_filename).resolve()
    return config.rootpath in path.parents and "site-packages" not in path.parts


class ScopedCassette:
    """The cassette of one fixture wider than a test: active in its setup and teardown.

    Between the two it is dormant: it answers only the ``file_stream`` of runs
    it started (a session fixture's run that tests log to); everything else
    goes to the test's cassette.
    """

    def __init__(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
        self.fixturedef = fixturedef
        self.request = request
        self.config = request.config
        self.path = scoped_cassette_path(fixturedef, request)
        self.use: CassetteUse | None = None

    def describe(self) -> str:
        return f"fixture {self.fixturedef.argname!r} ({self.fixturedef.scope} scope)"

    def begin(self) -> None:
        process = self.config.stash[_PROCESS]
        mode = record_mode(self.config)
        command = _record_command_for(self.config, self.request.node.nodeid or ".", mode="{mode}")
        from .runtime import CassetteUse  # the relay stack loads with the first cassette

        use = CassetteUse(
            self.path,
            process,
            mode,
            options=_ini_options(self.config),
            test_id=f"fixture:{self.fixturedef.argname}@{self.request.node.nodeid}",
            record_command=command,
            save_empty=False,
            blob_dir=cassette_dir(self.config) / BLOB_DIR,
            tmp_roots=_tmp_roots(self.config),
            report_dir=process.files / "mismatch",
        )
        try:
            use.start()
        except CassetteError:
            if self.path.exists():
                raise
            # No cassette and nothing to record into: fine as long as the fixture sends
            # no W&B traffic; if it does, the relay refuses it, naming the fixture.
            return
        self.use = use

    def suspend(self) -> None:
        if self.use is not None:
            self.use.suspend()

    def resume(self) -> None:
        if self.use is not None:
            self.use.resume()

    def end(self) -> None:
        use, self.use = self.use, None
        if use is None:
            return
        use.resume()
        use.stop(passed=True)


def scoped_cassette_path(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Path:
    """``<cassette dir>/<module path>/[<Class>.]fixture.<name>.yaml`` (the conftest's folder
    for session and package scope)."""

    config = request.config
    node = request.node
    name = f"fixture.{fixturedef.argname}"
    param_index = getattr(request, "param_index", 0)
    if fixturedef.params:
        name += f"[{param_index}]"
    if fixturedef.scope == "class" and getattr(node, "cls", None) is not None:
        name = f"{node.cls.__name__}.{name}"  # type: ignore[union-attr]
    if fixturedef.scope in ("module", "class"):
        group = _relative(config, Path(node.path)).with_suffix("")
    elif fixturedef.scope == "package":
        group = _relative(config, Path(node.path)).parent
    else:  # session: where the fixture is defined
        group = Path(fixturedef.baseid.split("::")[0] or ".")
    root = cassette_dir(config)
    return runtime.named(lambda full: runtime.cassette_path(root, str(group), name, catalogue=full))


def _relative(config: pytest.Config, path: Path) -> Path:
    try:
        return path.relative_to(config.rootpath)
    except ValueError:
        return Path(path.name)


# -- per test -------------------------------------------------------------------------


def cassette_dir(config: pytest.Config) -> Path:
    """The folder of W&B cassettes: the ini option ``wandb_cassette_dir``, under the rootdir."""
    return Path(config.rootpath, str(config.getini("wandb_cassette_dir")))


def cassette_path_for(item: pytest.Item, vcr_paths: Collection[Path] = ()) -> Path:
    """Where the cassette of ``item`` lives: ``<dir>/<module path>/<name>.yaml``.

    ``vcr_paths``: the files pytest-recording uses for the test (:func:`_vcr_paths`); a
    W&B cassette that would be one of them is named ``<name>.wandb.yaml`` instead.

    Raises:
        pytest.UsageError: Both names are among ``vcr_paths``.
    """
    path = runtime.named(lambda full: _cassette_path_for(item, catalogue=full))
    if path in vcr_paths:
        path = path.with_name(path.stem + ".wandb.yaml")
        if path in vcr_paths:
            raise pytest.UsageError(
                f"{item.nodeid}: pytest-recording's vcr cassettes of this test take both "
                f"names of its W&B cassette ({path.name} too); give it another: "
                f'@pytest.mark.{MARKER}("name")'
            )
    return path


def _vcr_paths(request: pytest.FixtureRequest) -> list[Path]:
    """The files pytest-recording reads and writes for this test, from its own fixtures
    (``vcr_cassette_dir``, ``default_cassette_name``, ``vcr_config``: each overridable per
    module, class or test) and ``vcr`` markers; none for a test without the marker."""
    markers = list(request.node.iter_markers(name="vcr"))
    if not markers:
        return []
    try:
        directory = request.getfixturevalue("vcr_cassette_dir")
        name = request.getfixturevalue("default_cassette_name")
        vcr_config = request.getfixturevalue("vcr_config")
    except pytest.FixtureLookupError:  # pytest-recording is off (-p no:recording)
        return []
    return runtime.vcr_cassette_paths(str(name), str(directory), markers, vcr_config or {})


def _cassette_path_for(item: pytest.Item, *, catalogue: bool) -> Path:
    name = _marker_name(item) or runtime.test_name(
        getattr(item, "cls", None), item.name, catalogue=catalogue
    )
    group = _relative(item.config, item.path).with_suffix("")
    root = cassette_dir(item.config)
    return runtime.cassette_path(root, str(group), name, catalogue=catalogue)


def _marker_name(item: pytest.Item) -> str | None:
    """The name ``@pytest.mark.wandb_cassette("name")`` gives, if any."""
    marker = item.get_closest_marker(MARKER)
    if marker is not None and (marker.args or marker.kwargs.get("name")):
        return str(marker.kwargs.get("name") or marker.args[0])
    return None


def _module_folder(config: pytest.Config, module: Path) -> Path:
    """Where a test module's cassettes go by default: ``<cassette dir>/<module path>``."""
    return cassette_dir(config).resolve() / _relative(config, module).with_suffix("")


def _default_name(item: pytest.Item) -> str:
    """A test's cassette name by default: the marker's, else pytest-recording's."""
    return _marker_name(item) or runtime.test_name(
        getattr(item, "cls", None), item.name, catalogue=False
    )


def _chosen_path(request: pytest.FixtureRequest, vcr_paths: Collection[Path]) -> Path:
    """The test's cassette as the ``wandb_cassette_dir`` and ``default_wandb_cassette_name``
    fixtures (each overridable per conftest, module, class or test) place it.

    Raises:
        pytest.UsageError: The folder is outside the cassette folder (the ini option
            ``wandb_cassette_dir``, where the audit looks and the blobs are kept).
    """
    item = request.node
    config = request.config
    folder = Path(str(request.getfixturevalue("wandb_cassette_dir")))
    name = str(request.getfixturevalue("default_wandb_cassette_name"))
    folder = (config.rootpath / folder).resolve()  # a relative folder: from the rootdir
    if folder == _module_folder(config, item.path) and name == _default_name(item):
        return cassette_path_for(item, vcr_paths)
    root = cassette_dir(config).resolve()
    if folder != root and root not in folder.parents:
        raise pytest.UsageError(
            f"{item.nodeid}: the wandb_cassette_dir fixture gives {folder}, outside the "
            f"cassette folder {root} (the ini option wandb_cassette_dir, where "
            "`wandb-cassettes audit` looks and large bodies are kept): move that one instead"
        )
    group = str(folder.relative_to(root))
    path = runtime.named(lambda full: runtime.cassette_path(root, group, name, catalogue=full))
    if path in vcr_paths:
        path = path.with_name(path.stem + ".wandb.yaml")
    return path


def _record_command_for(config: pytest.Config, nodeid: str, *, mode: str) -> str:
    """The pytest command that records ``nodeid`` again, from the folder pytest was run in.

    Node ids are relative to the rootdir; run from a subfolder (``cd tests``), the
    command names the file relative to where the user is.
    """
    where = Path(config.invocation_params.dir)
    file, sep, rest = nodeid.partition("::")
    if where != config.rootpath:
        file = os.path.relpath(config.rootpath / file, where)
    return f"pytest {shlex.quote(file + sep + rest)} --record-mode={mode}"


def _tmp_roots(config: pytest.Config) -> tuple[str, ...]:
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return ()
    with contextlib.suppress(Exception):
        basetemp = Path(factory.getbasetemp())
        # An xdist worker's basetemp is <the session's basetemp>/popen-gw<n>: a path recorded
        # by another worker (or by none) lies under the session's.
        if re.fullmatch(r"popen-gw\d+", basetemp.name):
            return (str(basetemp), str(basetemp.parent))
        return (str(basetemp),)
    return ()


@pytest.fixture
def wandb_cassette_config() -> dict[str, Any]:
    """Options for every W&B cassette in its scope; override it in a conftest, module or class.

    Returns a mapping of :class:`~.lifecycle.CassetteOptions` keywords, for
    example ``{"ignore": ["config.output_dir"], "keep": []}``; the marker's own
    keywords are added on top (lists add up). pytest-recording's ``vcr_config``
    is the model.
    """
    return {}


@pytest.fixture(scope="module")
def wandb_cassette_dir(request: pytest.FixtureRequest) -> str:
    """The folder of a test module's W&B cassettes; override it in a conftest, a module or a
    class (pytest-recording's ``vcr_cassette_dir`` is the model).

    Returns ``<rootdir>/<ini wandb_cassette_dir>/<module path without .py>``. A relative
    folder is taken from the rootdir; it must lie inside the cassette folder (the ini
    option ``wandb_cassette_dir``), where ``wandb-cassettes audit`` looks and large
    bodies are kept: a folder outside is a usage error.
    """
    return str(_module_folder(request.config, Path(request.node.path)))


@pytest.fixture
def default_wandb_cassette_name(request: pytest.FixtureRequest) -> str:
    """The file name (without ``.yaml``) of a test's W&B cassette; override it in a
    conftest, a module, a class, or for one test (pytest-recording's
    ``default_cassette_name`` is the model).

    Returns the marker's name (``@pytest.mark.wandb_cassette("name")``), else
    pytest-recording's default name, ``Class.test[param]``; a name is made safe for a
    file (a secret or an e-mail address in it is replaced, with a short hash kept).
    """
    return _default_name(request.node)


@pytest.fixture(autouse=True)
def wandb_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteUse | None]:
    """The cassette of a ``@pytest.mark.wandb_cassette`` test (None for other tests).

    A :class:`~wandb_cassettes.runtime.CassetteUse`: ``path`` (the file), ``recorded``
    (True while recording, False while replaying), ``played()`` (the exchanges so far,
    one line each: replayed, or recorded) and ``unplayed()`` (what the cassette holds that
    no request asked for yet), for assertions in the test itself::

        def test_upload(wandb_cassette):
            ...
            assert not wandb_cassette.unplayed()
    """
    item = request.node
    marker = item.get_closest_marker(MARKER)
    config = request.config
    if marker is None or config.stash[_DISABLED]:
        yield None
        return
    unsupported = config.stash.get(_UNSUPPORTED, None)
    if unsupported is not None:
        pytest.fail(unsupported, pytrace=False)
    process = config.stash[_PROCESS]
    fixture_config = request.getfixturevalue("wandb_cassette_config")
    try:
        options = (
            _ini_options(config)
            .merged(
                CassetteOptions.from_mapping(
                    dict(fixture_config or {}), source="wandb_cassette_config"
                )
            )
            .merged(_options(item, marker))
        )
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("--wandb-strict"):
        options = options.merged(CassetteOptions(strict=True))
    if config.getoption("--wandb-same-sdk"):
        options = options.merged(CassetteOptions(same_sdk=True))
    from .runtime import CassetteUse  # the relay stack loads with the first cassette

    use = CassetteUse(
        _chosen_path(request, _vcr_paths(request)),
        process,
        record_mode(config),
        test_id=item.nodeid,
        options=options,
        record_command=_record_command_for(item.config, item.nodeid, mode="{mode}"),
        tmp_roots=_tmp_roots(config),
        report_dir=process.files / "mismatch",
        blob_dir=cassette_dir(config) / BLOB_DIR,
    )
    failure = None
    try:
        use.start()
    except WandbCassettesError as exc:
        failure = _failure(use, exc)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    item.stash[_USE] = use
    try:
        yield use
    finally:
        reports = item.stash.get(_REPORTS, {})
        # No "call" report: the test was interrupted (Ctrl-C, SIGTERM), its recording is partial.
        passed = "call" in reports and all(r.passed for r in reports.values())
        failure = None
        try:
            use.stop(passed=passed)
        except WandbCassettesError as exc:
            failure = _failure(use, exc)
        finally:
            item.stash[_UPSTREAM_ERRORS] = _upstream_errors(use)
            del item.stash[_USE]
        if failure is not None:
            pytest.fail(failure, pytrace=False)


def _failure(use: CassetteUse, exc: WandbCassettesError) -> str:

    if isinstance(exc, CassetteError) and not isinstance(exc, MissingCassette):
        return f"wandb cassette unusable: {exc}"
    if isinstance(exc, CleanupError):
        return (
            f"automatic cleanup after recording {use.path.name} failed; "
            f"these are left on {use.process.upstream}:\n{exc}"
        )
    return str(exc)


@pytest.fixture
def wandb_artifact_cleaner() -> Iterator[Any]:
    """A :class:`~.cleanup.WandbArtifactCleaner` whose resources are deleted after the test.

    Cleanup runs whether the test passed or failed; resources that cannot be
    deleted make the test error at teardown, with a ``CleanupError`` naming them.
    """
    from .helpers import WandbArtifactCleaner  # the SDK's public API loads on first use

    cleaner = WandbArtifactCleaner()
    yield cleaner
    cleaner.cleanup_all()


@pytest.fixture
def wandb_epochs(request: pytest.FixtureRequest) -> EpochCheck:
    """A ``check(epochs=None) -> int`` bound to the current test and its ``wandb_epochs`` marker."""
    return make_epoch_check(request.node)


# -- the audit of what this session wrote ------------------------------------------------

_AUDIT = pytest.StashKey[Any]()


_RECORDED_KEY = "wandb_cassettes_recorded"
#: The audit's test case in reports (junit's ``classname`` ``wandb-cassettes``, name ``audit``).
AUDIT_NODEID = "wandb-cassettes::audit"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker is done; the cassettes it wrote count for the audit, what it
    recorded for the summary."""
    output = getattr(node, "workeroutput", {})
    process = node.config.stash[_PROCESS]
    process.written.extend(Path(p) for p in output.get(_WRITTEN_KEY) or [])
    process.recordings.extend(runtime.Recorded(**r) for r in output.get(_RECORDED_KEY) or [])


@pytest.hookimpl(tryfirst=True)  # before junitxml writes its file: the audit is a test case
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    process = config.stash.get(_PROCESS, None)
    if process is None:
        return
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller audits
        workeroutput[_WRITTEN_KEY] = [str(p) for p in process.written]
        workeroutput[_RECORDED_KEY] = [r.as_dict() for r in process.recordings]
        return
    if not config.getoption("--wandb-audit"):
        return
    from .audit import audit_paths  # only with --wandb-audit (the ledger, every rule)

    options = _ini_options(config)
    report = audit_paths(process.written, options.scrubber(), harmless=options.harmless)
    config.stash[_AUDIT] = report
    if report.exit_code != 0:
        _report_audit_failure(config, report.render_text())
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _report_audit_failure(config: pytest.Config, text: str) -> None:
    """The audit's findings as a failed test case (:data:`AUDIT_NODEID`), through pytest's
    own report hook: ``--junitxml`` counts it among the failures (CI's report views show
    it), as do the terminal's counts and any other reporting plugin."""
    location = ("wandb-cassettes", None, "audit")
    phases: list[tuple[Any, Any, str | None]] = [
        ("setup", "passed", None),
        ("call", "failed", f"wandb-cassettes audit of the cassettes this session wrote:\n{text}"),
        ("teardown", "passed", None),
    ]
    for when, outcome, longrepr in phases:
        report = pytest.TestReport(AUDIT_NODEID, location, {}, outcome, longrepr, when)
        config.hook.pytest_runtest_logreport(report=report)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is not None:
        return
    process = config.stash.get(_PROCESS, None)
    recording = record_mode(config) is not RecordMode.NONE and not (
        config.stash.get(_DISABLED, False) or config.option.collectonly
    )
    ran = any(terminalreporter.stats.get(k) for k in ("passed", "failed"))
    if process is not None and (process.recordings or (recording and ran)):
        terminalreporter.write_sep("-", "wandb-cassettes")
        terminalreporter.write_line(f"wandb-cassettes: {runtime.summarise(process.recordings)}")
    if not config.getoption("--wandb-audit"):
        return
    terminalreporter.section("wandb-cassettes audit")
    report = config.stash.get(_AUDIT, None)
    if report is None or not report.cassettes:
        terminalreporter.write_line("no cassette was written in this session")
        return
    for line in report.render_text().splitlines():
        terminalreporter.write_line(line)
    if report.exit_code:
        written = len(report.cassettes)
        dirty = sum(1 for c in report.cassettes if c.exit_code)
        terminalreporter.write_line(
            f"wandb-cassettes audit FAILED: {dirty} of the {written} cassette(s) written in "
            "this session have findings (above); the session fails",
            red=True,
            bold=True,
        )
