"""Every use of the wandb SDK's internals, in one place, with the releases each is known for.

The library needs a few things the SDK does not make public: the random generators behind
client-made ids (seeded per cassette), the process's set-up singleton (its settings and
active runs), per-process caches that would make one test depend on another, and a few
GraphQL documents and calls of the public API's transport. Each is reached only through a
function of this module; :data:`INTERNALS` lists them with the releases they were read in
and what happens where one is missing (a fallback, or a clear error at session start).

The supported window (:data:`OLDEST`, :data:`NEWEST`) is the current wandb minor and the
two before it, each tested in CI (``make test-sdk SDK=0.29.0``). Older releases are
refused at session start, in one line (:func:`check_sdk`); newer ones are tried (no upper
cap: a new release should not wait for ours), with each internal checked at session start.

Measured on 0.29.0, 0.30.0 and 0.31.0 (their sources in site-packages); before the window,
0.22 has no ``wandb.sdk.lib.runid._random`` (the library crashed mid-test there).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UnsupportedSdk

#: The oldest wandb minor this library supports (tested in CI: ``make test-sdk``).
OLDEST = (0, 29)
#: The newest wandb minor tested; newer ones are tried, their internals checked at start.
NEWEST = (0, 31)


def _minor(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


#: The supported window, as messages say it.
SUPPORTED = f"{_minor(OLDEST)} to {_minor(NEWEST)}"

#: The SDK module whose generators make run ids and artifact client ids.
RUNID_MODULE = "wandb.sdk.lib.runid"
_SETUP_MODULE = "wandb.sdk.wandb_setup"


#: SDK modules that a test would otherwise import in the middle of a W&B call.
#: ``wandb.sdk.launch``: ``wandb.init`` imports it once the run's telemetry import
#: hooks are installed, which makes it ~2 s slower: every process that runs a test
#: with W&B imports it anyway, so it is imported when the relay starts.
PREWARM_MODULES = ("wandb.sdk.launch",)
#: ``..._models.pagination``: imported by artifact downloads and public-API artifact
#: queries; its generic pydantic models make pydantic (on Python < 3.13) walk the
#: importer's whole stack, reading the source of every frame, so imported from inside a
#: test (pytest's deep stack) it costs ~1 s instead of ~0.1 s. Only a cassette that
#: holds artifact traffic (or any recording) imports it first (0.2 s that a suite of
#: runs without artifacts never pays).
ARTIFACT_PREWARM_MODULES = ("wandb.sdk.artifacts._models.pagination",)
#: (Both in wandb 0.29 to 0.31; only import time moves, so a missing one is skipped.)


@dataclass(frozen=True)
class Internal:
    """One SDK internal the library uses.

    Args:
        name: Where it is in the SDK (module path and attribute).
        known: The releases it was read in.
        use: What the library does with it.
        fallback: What happens where it is missing; None: nothing can replace it, so a
            session that uses cassettes stops at its start, naming it.
        probe: Whether the installed SDK has it (imports the module).
        at_start: Probed by :func:`check_sdk` at session start (the modules ``import
            wandb`` loads anyway); the others are heavy to import (pydantic models,
            the public API), so they are checked where used, with the same clear error
            (:class:`UnsupportedSdk`), and by this library's tests on every SDK of the
            window (:func:`missing`).
    """

    name: str
    known: str
    use: str
    fallback: str | None
    probe: Callable[[], bool]
    at_start: bool = False
    #: The first minor of the window that has it (tests/unit/test_sdk_compat.py checks it on
    #: each minor of the window: present from it on, absent before it).
    since: tuple[int, int] = OLDEST


def _has(module: str, *attributes: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            found: Any = importlib.import_module(module)
        except Exception:
            return False
        for attribute in attributes:  # present, even when None (a set-up not made yet)
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True

    return probe


def _has_random() -> bool:
    module = _import(RUNID_MODULE)
    return isinstance(getattr(module, "_random", None), random.Random)


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:
        return None


_GENERATED = "wandb.sdk.artifacts._generated"
#: Where the SDK hands its server over (issue 21: every request goes through the relay).
SETTINGS_MODULE = "wandb.sdk.wandb_settings"
SERVICE_API_MODULE = "wandb.apis.public.service_api"
TELEMETRY_MODULE = "wandb.analytics.opentelemetry.opentelemetry_proxy"
#: ``auto_project_name``: the project the SDK derives from the program (issue 25).
UTIL_MODULE = "wandb.util"
WBAUTH_MODULE = "wandb.sdk.lib.wbauth"
_URLS_MODULE = "wandb.sdk.lib.urls"

INTERNALS: tuple[Internal, ...] = (
    Internal(
        f"{RUNID_MODULE}.generate_id",
        "0.29 to 0.31 (read; 0.22 has it too)",
        "run ids drawn from the cassette's seed (replaced while a cassette is in use)",
        None,
        _has(RUNID_MODULE, "generate_id"),
        at_start=True,
    ),
    Internal(
        f"{RUNID_MODULE}._random",
        "0.29 to 0.31 (read; 0.22 lacks it)",
        "artifact client ids (generate_fast_id) seeded from the cassette",
        None,
        _has_random,
        at_start=True,
    ),
    Internal(
        f"{_SETUP_MODULE}._singleton (._settings, ._settings_environ, ._sweep_config, "
        "._active_runs, ._pid)",
        "0.29 to 0.31",
        "each cassette's SDK settings applied; runs a test left open finished",
        "settings: the environment only (a test that changes WANDB_* after wandb.setup() "
        "may replay differently); runs: wandb.run only",
        _has(_SETUP_MODULE, "_singleton"),
        at_start=True,
    ),
    Internal(
        "wandb.sdk.artifacts.artifact_instance_cache, artifact_file_cache"
        "._build_artifact_file_cache, _gqlutils._server_features / org_info_from_entity",
        "0.29 to 0.31",
        "per-process caches emptied between cassettes (no test depends on another's)",
        "a cache the SDK lacks is not there to empty",
        _has("wandb.sdk.artifacts.artifact_instance_cache", "artifact_instance_cache"),
    ),
    Internal(
        "wandb.Api()._service_api.execute_graphql",
        "0.29 to 0.31",
        "the cleanup's own GraphQL (deletes by id, aliases, restores) through wandb-core",
        None,
        _has("wandb.apis.public.api", "Api"),
    ),
    Internal(
        f"{_GENERATED}.DELETE_ARTIFACT_GQL, DELETE_ALIASES_GQL, ADD_ALIASES_GQL, "
        "UPDATE_ARTIFACT_GQL",
        "0.29 to 0.31",
        "the cleanup sends the SDK's own documents",
        None,
        _has(_GENERATED, "DELETE_ARTIFACT_GQL"),
    ),
    Internal(
        "wandb.sdk.artifacts.artifact.Artifact._from_id",
        "0.29 to 0.31",
        "the cleanup finds an artifact version by server id",
        None,
        _has("wandb.sdk.artifacts.artifact", "Artifact", "_from_id"),
    ),
    Internal(
        "wandb.apis.public.sweeps._set_sweep_state",
        "0.30 to 0.31 (0.29: InternalApi.set_sweep_state)",
        "the cleanup cancels a sweep the test created (W&B deletes no sweep)",
        "the same two requests sent here: the sweep's state read, then upsertSweep",
        _has("wandb.apis.public.sweeps", "_set_sweep_state"),
        since=(0, 30),
    ),
    Internal(
        "wandb.sdk.lib.urls.DEFAULT_BASE_URL",
        "0.31 (0.29, 0.30: Settings.base_url's default)",
        "where a recording goes when no upstream is given",
        "the default of wandb.Settings' base_url",
        _has("wandb.sdk.lib.urls", "DEFAULT_BASE_URL"),
        since=(0, 31),
    ),
    Internal(
        "wandb.sdk.lib.service.service_token (the WANDB_SERVICE token: <version>-<pid>-...)",
        "0.29 to 0.31",
        "a service another process started (pytest-xdist's controller) is not reused",
        "a token of another form is taken for this process's own service",
        _has("wandb.sdk.lib.service.service_token"),
    ),
    Internal(
        f"{SETTINGS_MODULE}.Settings.to_proto",
        "0.29 to 0.31",
        "the server a run's settings name is routed through the relay (wandb-core sends "
        "everything)",
        None,
        _has(SETTINGS_MODULE, "Settings", "to_proto"),
        at_start=True,
    ),
    Internal(
        f"{SERVICE_API_MODULE}.ServiceApi.base_url",
        "0.29 to 0.31",
        "URLs the public API builds in Python name the relay's route too",
        "the URLs the public API builds go to the server as the SDK names it",
        _has(SERVICE_API_MODULE, "ServiceApi", "base_url"),
    ),
    Internal(
        f"{TELEMETRY_MODULE}.disable",
        "0.30 to 0.31 (0.29 has the proxy without it)",
        "the SDK's own telemetry, posted from Python to the settings' server, turned off",
        "left as the SDK has it",
        _has(TELEMETRY_MODULE, "disable"),
        since=(0, 30),
    ),
    Internal(
        f"{UTIL_MODULE}.auto_project_name",
        "0.29 to 0.31",
        "the project the SDK derives from the program, recorded and replayed",
        "the SDK derives it in replay as it did when recording",
        _has(UTIL_MODULE, "auto_project_name"),
    ),
    Internal(
        f"{_URLS_MODULE}.forge_upstream_url",
        "0.31",
        "a netrc entry stored for the W&B host behind the Forge host is found too",
        "only the server's own host is looked up in netrc",
        _has(_URLS_MODULE, "forge_upstream_url"),
        since=(0, 31),
    ),
    Internal(
        f"{WBAUTH_MODULE}.unauthenticate_session",
        "0.29 to 0.31",
        "the key the SDK took for a replaying session is forgotten when recording starts",
        "the SDK keeps the key it found first",
        _has(WBAUTH_MODULE, "unauthenticate_session"),
    ),
    Internal(
        "wandb.sdk.lib.wbauth.read_netrc_auth",
        "0.29 to 0.31",
        "the API key `wandb login` stored, for recording",
        "no key from netrc (WANDB_API_KEY still works)",
        _has("wandb.sdk.lib.wbauth", "read_netrc_auth"),
    ),
)


@functools.cache
def sdk_version() -> str | None:
    """The installed wandb's version (its distribution metadata: no import), or None.

    Read once per process: each cassette asks (its metadata, the version check), and a
    metadata lookup scans ``sys.path`` (~2 ms a test, measured with py-spy on a replayed
    40-test module); the SDK a process imported does not change under it.
    """
    import importlib.metadata  # only when a cassette is first used (start-up)

    try:
        return importlib.metadata.version("wandb")
    except importlib.metadata.PackageNotFoundError:
        return None


def release(version: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a version string (``"0.31.0"`` -> ``(0, 31)``), or None."""
    m = re.match(r"\s*(\d+)\.(\d+)", version or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_version(version: str | None = None) -> str | None:
    """Refuse an SDK older than the window; a note for one newer than tested, else None.

    Cheap (distribution metadata, no import): call it before anything imports wandb.

    Raises:
        UnsupportedSdk: wandb is missing, unreadable, or older than :data:`OLDEST`; the
            message is one line naming the supported range.
    """
    version = sdk_version() if version is None else version
    if version is None:
        raise UnsupportedSdk(f"wandb is not installed: wandb-cassettes needs wandb {SUPPORTED}")
    found = release(version)
    if found is None:
        raise UnsupportedSdk(
            f"wandb {version}: not a version this library can read; it supports {SUPPORTED}"
        )
    if found < OLDEST:
        raise UnsupportedSdk(
            f"wandb {version} is older than this library supports: {SUPPORTED} "
            f"(pip install 'wandb>={_minor(OLDEST)}')"
        )
    if found > NEWEST:
        return (
            f"wandb {version} is newer than the releases this library was tested with "
            f"({SUPPORTED}): its SDK internals were checked at start; please report a problem"
        )
    return None


def missing(*, at_start_only: bool = False) -> list[Internal]:
    """The internals of :data:`INTERNALS` the installed SDK lacks (probing imports them)."""
    return [i for i in INTERNALS if (i.at_start or not at_start_only) and not i.probe()]


def check_sdk(version: str | None = None) -> list[str]:
    """:func:`check_version`, then the internals probed at start (:attr:`Internal.at_start`).

    Returns notes: the version note, and each internal that is missing but has a
    fallback (said once, at session start).

    Raises:
        UnsupportedSdk: The version is refused, or an internal without a fallback is
            missing (each named, with the releases it is known for).
    """
    note = check_version(version)
    notes = [note] if note else []
    lacking = missing(at_start_only=True)
    fatal = [i for i in lacking if i.fallback is None]
    running = version or sdk_version()
    if fatal:
        names = "; ".join(f"{i.name} (known in {i.known}: {i.use})" for i in fatal)
        raise UnsupportedSdk(
            f"wandb {running} lacks what wandb-cassettes needs: {names}. "
            f"Supported: wandb {SUPPORTED}"
        )
    notes += [f"wandb {running} has no {i.name}: {i.fallback}" for i in lacking]
    return notes


# -- run ids and artifact client ids ------------------------------------------------------


def runid_module() -> Any:
    """``wandb.sdk.lib.runid`` (imported)."""
    return importlib.import_module(RUNID_MODULE)


def fast_random(runid: Any) -> random.Random:
    """The private generator behind ``generate_fast_id`` (artifact client ids).

    Raises:
        UnsupportedSdk: The SDK has none (wandb 0.22); :func:`check_sdk` says so at start.
    """
    generator = getattr(runid, "_random", None)
    if not isinstance(generator, random.Random):
        raise UnsupportedSdk(
            f"wandb {sdk_version()} has no {RUNID_MODULE}._random: artifact client ids "
            f"cannot be seeded. Supported: wandb {SUPPORTED}"
        )
    return generator


# -- wandb-core's service ----------------------------------------------------------------


def service_token_pid(token: str | None) -> int | None:
    """The pid of the process that started the service a ``WANDB_SERVICE`` token names.

    The token is ``<version>-<pid>-unix|tcp-...`` (wandb/sdk/lib/service/service_token.py,
    ``_as_env_string``: 0.29 to 0.31). None when it is not of that form.
    """
    match = re.match(r"\d+-(\d+)-", token or "")
    return int(match.group(1)) if match else None


def is_core_socket(path: str) -> bool:
    """Whether ``path`` is wandb-core's Unix socket: ``<tmp>/wandb-*/socket`` (the SDK's
    service connection, 0.29 to 0.31; ``--block-network`` must let it through)."""
    folder, _, name = path.rstrip("/").rpartition("/")
    return name == "socket" and folder.rpartition("/")[2].startswith("wandb-")


# -- the process's set-up ----------------------------------------------------------------


def setup_singleton(*, own: bool = False) -> Any:
    """The SDK's set-up of this process (``wandb.setup()``), or None when not set up.

    ``own``: only one made by this process (a forked child inherits its parent's).
    Never imports wandb.
    """
    setup = sys.modules.get(_SETUP_MODULE)
    singleton = getattr(setup, "_singleton", None) if setup is not None else None
    if singleton is not None and own and getattr(singleton, "_pid", None) != os.getpid():
        return None
    return singleton


def setup_settings(singleton: Any) -> Any:
    """The settings the set-up read (None: not read yet, or unknown to this SDK)."""
    return getattr(singleton, "_settings", None)


def forget_setup_settings() -> None:
    """Make the set-up read ``WANDB_*`` again at its next ``wandb.init`` (see
    wandb/sdk/wandb_setup.py: its ``settings`` property reloads unset settings).

    Its ``_sweep_config`` goes too: a sweep agent's run leaves it (``config`` reads it
    from ``sweep_param_path`` when set, and never clears it), and every later
    ``wandb.init`` of the process adds it to the run's config (wandb_init.py), so a test
    after a sweep test would log the sweep's parameters (0.29 to 0.31).
    """
    singleton = setup_singleton(own=True)
    if singleton is not None and hasattr(singleton, "_settings"):
        singleton._settings = None
        if hasattr(singleton, "_settings_environ"):
            singleton._settings_environ = None
        if hasattr(singleton, "_sweep_config"):
            singleton._sweep_config = None


def active_runs() -> list[Any]:
    """The runs of this process that are not finished (the set-up's list, else ``wandb.run``)."""
    runs = getattr(setup_singleton(), "_active_runs", None)
    if isinstance(runs, list):
        return list(runs)
    wandb = sys.modules.get("wandb")
    run = getattr(wandb, "run", None) if wandb is not None else None
    return [run] if run is not None else []


def clear_artifact_caches() -> None:
    """Empty the SDK's per-process artifact caches (only those it has, already imported).

    * ``artifact_instance_cache`` (by server id and by client id): two cassettes recorded
      against different servers can share ids;
    * the file cache's builder: ``download(skip_cache=True)`` sets ``_override_cache_path``
      on the process-wide file cache and never unsets it (wandb 0.29 to 0.31,
      ``WandbStoragePolicy.load_file``);
    * ``_gqlutils``'s server features and organization per public-API object
      (``lru_cache``): with a shared ``wandb.Api()``, only the first test would ask.
    """
    caches = sys.modules.get("wandb.sdk.artifacts.artifact_instance_cache")
    if caches is not None:
        for name in ("artifact_instance_cache", "artifact_instance_cache_by_client_id"):
            cache = getattr(caches, name, None)
            if cache is not None:
                cache.clear()
    file_cache = sys.modules.get("wandb.sdk.artifacts.artifact_file_cache")
    builder = getattr(file_cache, "_build_artifact_file_cache", None)
    if builder is not None and hasattr(builder, "cache_clear"):
        builder.cache_clear()
    gqlutils = sys.modules.get("wandb.sdk.artifacts._gqlutils")
    for name in ("_server_features", "org_info_from_entity"):
        cached = getattr(gqlutils, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def default_base_url() -> str:
    """The SDK's default W&B server: ``urls.DEFAULT_BASE_URL`` (0.31: the CoreWeave Forge
    API host), else the default of ``Settings.base_url`` (0.29, 0.30: ``api.wandb.ai``)."""
    urls = _import("wandb.sdk.lib.urls")
    default = getattr(urls, "DEFAULT_BASE_URL", None)
    if isinstance(default, str) and default:
        return default
    from wandb.sdk.wandb_settings import Settings

    return str(Settings.model_fields["base_url"].default)


def forge_host(server: str) -> str | None:
    """The W&B server behind ``server`` when it is the Forge API host (wandb 0.31's
    ``urls.forge_upstream_url``); None where the SDK has no such notion."""
    urls = _import(_URLS_MODULE)
    forge = getattr(urls, "forge_upstream_url", None)
    if not callable(forge):
        return None
    try:
        return str(forge(server))
    except Exception:
        return None


def forget_session_key() -> None:
    """Forget the key the SDK took for this process's session (wandb/sdk/lib/wbauth/
    authenticate.py keeps it in ``_session_auth`` once found), if the SDK is loaded."""
    wbauth = sys.modules.get(WBAUTH_MODULE)
    unauthenticate = getattr(wbauth, "unauthenticate_session", None)
    if callable(unauthenticate):
        with contextlib.suppress(Exception):
            unauthenticate(update_settings=False)


def netrc_api_key(host: str) -> str | None:
    """The key ``wandb login`` stored in netrc for ``host`` (the SDK's own reader)."""
    try:
        from wandb.sdk.lib import wbauth

        return wbauth.read_netrc_auth(host=host) or None
    except Exception:
        return None


# -- the public API's transport ---------------------------------------------------------


def execute_graphql(api: Any, document: str, variables: dict[str, Any]) -> Any:
    """Run ``document`` through a ``wandb.Api``'s transport (wandb-core), as the SDK does.

    ``Api._service_api`` is private (0.29 to 0.31): the SDK has no public method for these
    operations (delete by id, sweeps, aliases of a version).

    Raises:
        UnsupportedSdk: The ``api`` has no such transport.
    """
    service = getattr(api, "_service_api", None)
    if service is None or not hasattr(service, "execute_graphql"):
        raise UnsupportedSdk(
            f"wandb {sdk_version()}: wandb.Api has no _service_api.execute_graphql, which "
            f"the cleanup uses. Supported: wandb {SUPPORTED}"
        )
    return service.execute_graphql(document, variables)


def service_api(api: Any) -> Any:
    """The transport of a ``wandb.Api`` (what ``Artifact._from_id`` takes)."""
    return api._service_api


def sdk_document(name: str) -> str:
    """A GraphQL document the SDK generated (``wandb.sdk.artifacts._generated.<name>``).

    Raises:
        UnsupportedSdk: This SDK has no such document.
    """
    generated = _import(_GENERATED)
    document = getattr(generated, name, None)
    if not isinstance(document, str):
        raise UnsupportedSdk(
            f"wandb {sdk_version()} has no {_GENERATED}.{name}. Supported: wandb {SUPPORTED}"
        )
    return document


def artifact_by_id(api: Any, server_id: str) -> Any:
    """The artifact version with this server id, or None; never from the instance cache."""
    from wandb.sdk.artifacts.artifact import Artifact
    from wandb.sdk.artifacts.artifact_instance_cache import artifact_instance_cache

    artifact_instance_cache.pop(server_id, None)
    return Artifact._from_id(server_id, service_api(api))


#: The fallback of ``_set_sweep_state``: the sweep's id and state, then its change. The
#: documents wandb 0.29's ``InternalApi.set_sweep_state`` and 0.31's ``_set_sweep_state``
#: send (``SweepWithRuns`` reduced to what is read; ``UpsertSweep`` as sent).
_SWEEP_STATE_GQL = """
query SweepWithRuns($entity: String, $project: String, $sweep: String!) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $sweep) { id state }
  }
}
"""
_UPSERT_SWEEP_STATE_GQL = """
mutation UpsertSweep($id: ID, $state: String, $entityName: String, $projectName: String) {
  upsertSweep(input: {id: $id, state: $state, entityName: $entityName,
      projectName: $projectName}) {
    sweep { name }
  }
}
"""


def set_sweep_state(
    api: Any, sweep: str, state: str, *, entity: str | None, project: str | None
) -> None:
    """What ``wandb sweep --cancel`` does: the sweep's state set to ``state``.

    The SDK's ``_set_sweep_state`` (wandb 0.30, 0.31), else the same two requests sent
    here (wandb 0.29 has it only on its internal API, which reads its own settings, not
    ``api``'s). Raises what the SDK raises ("Sweep already canceled.", not found).
    """
    sweeps = _import("wandb.apis.public.sweeps")
    own = getattr(sweeps, "_set_sweep_state", None)
    if own is not None:
        own(api, sweep, state, entity=entity, project=project)
        return
    data = execute_graphql(
        api, _SWEEP_STATE_GQL, {"entity": entity, "project": project, "sweep": sweep}
    )
    found = ((data or {}).get("project") or {}).get("sweep")
    if not found:
        raise ValueError(f"Could not find sweep {sweep}")
    current = str(found.get("state") or "").upper()
    if current not in ("RUNNING", "PAUSED", "PENDING"):
        raise Exception(f"Sweep already {current.lower()}.")
    with contextlib.suppress(KeyError):
        entity = entity or api.settings["entity"]
        project = project or api.settings["project"]
    execute_graphql(
        api,
        _UPSERT_SWEEP_STATE_GQL,
        {"id": found["id"], "state": state, "entityName": entity, "projectName": project},
    )
