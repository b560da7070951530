"""The life of one cassette, from start to verdict, without pytest.

:class:`CassetteUse` is what a marked test, a scoped fixture and
:func:`use_cassette` all go through:

1. **start**: decide record or replay (:func:`.record_mode.plan`, the one
   place that decides), load and check the cassette or open the journal,
   push a session on the relay, seed the SDK's ids, apply the cassette's SDK
   settings, forget SDK state left by earlier cassettes;
2. the code under test runs;
3. **stop**: finish the runs it started, delete what a recording created
   and left (by identity, through the relay, so the deletes are recorded),
   pop the session, then save the recording (only if everything passed; a
   failed one is kept as ``<name>.yaml.failed``) or check the replay (no
   request without a recorded answer; what was recorded and never played).

:meth:`CassetteUse.stop` raises the first problem as a
:class:`~.errors.WandbCassettesError`; :func:`use_cassette` is the same as a
context manager and a decorator (vcrpy's ``use_cassette`` is the model).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import os
import shlex
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .. import compat
from .. import replay as ignores
from .. import store as cassettes
from ..cleanup import api_for, delete_owned
from ..errors import (
    CassetteError,
    CleanupError,
    MissingCassette,
    NoMatch,
    RecordingError,
    ReplayError,
    WandbCassettesError,
    WandbCassetteWarning,
)
from ..ownership import (
    FOREIGN_CHANGES_KEY,
    FRESH_RUN_IDS_KEY,
    PRIOR,
    Ledger,
    Owned,
    intents,
    outcome,
    unresolved,
)
from ..protocol import SERVER_FEATURES, parse_request
from ..record import CLEANUP_KEY, IdTranslation, Recording, Replay, Session, stable_form
from ..redact import CassetteScrubber, scrub_text
from ..replay import MatchRules, interaction_key
from ..store import (
    BLOB_DIR,
    SERVERS_KEY,
    USE_KEY,
    BlobStore,
    Digest,
    blob_file,
    load_cached,
    server_of,
)
from . import _children as children
from . import _derived as derived
from . import _ids as ids
from . import _interop as interop
from . import _servers as servers
from ._env import ARTIFACT_SDK_MODULES, apply_settings
from ._naming import safe_name
from ._options import CassetteOptions, Filter
from ._process import Recorded, shared_process
from ._record_mode import Plan, RecordMode, plan

if TYPE_CHECKING:
    from ..cleanup import Journal
    from ..ownership import Ledger
    from ..record import IdTranslation, Recording, Replay
    from ._process import WandbProcess


#: Metadata: the SDK settings the recording ran with (``WANDB_ENTITY``...), applied in replay.
SETTINGS_KEY = "sdk_settings"
#: Metadata: what the recording's client ids derive from (with the seed): a digest of its test.
IDS_KEY = "ids_from"
#: What each kind of online use (:class:`._servers.Use`) is, as a message says it.
_USE_NAMES = {"run": "a run (wandb.init)", "api": "the public API (wandb.Api, wandb.login)"}


def ids_digest(test_id: str) -> str:
    """The id source of a recording of ``test_id`` (16 hex characters of its sha256)."""
    return hashlib.sha256(test_id.encode("utf-8")).hexdigest()[:16]


#: Metadata of a ``.yaml.failed`` recording: why it was not kept as the cassette.
FAILED_KEY = "failed_because"


def _failed_note(path: Path) -> str:
    """What a missing cassette's message adds when a failed recording is beside it."""
    failed = cassettes.failed_path(path)
    if not failed.exists():
        return ""
    try:
        why = str(cassettes.load(failed).metadata.get(FAILED_KEY) or "")
    except CassetteError:
        why = ""
    why = why or "its test failed or was interrupted while recording"
    return f"\na failed recording is beside it, {failed.name}: {why}"


F = TypeVar("F", bound=Callable[..., Any])

#: What a ``before_record`` filter is: an exchange in, the exchange to store (or None) out.


@dataclass
class CassetteUse:
    """One cassette in use: :meth:`start`, the code under test, :meth:`stop`.

    Args:
        path: The cassette file.
        process: This process's runtime (relay, journal).
        mode: The session's record mode.
        test_id: Whom client ids derive from (the pytest node id, a fixture's id).
        options: See :class:`CassetteOptions`.
        record_command: The command that (re-)records this cassette, for messages.
        tmp_roots: Temporary folders normalised by matching (pytest's basetemp).
        report_dir: Where a mismatch writes the full variables it compared.
        save_empty: Whether a recording with no exchange is saved.
        blob_dir: Where downloads too large for the YAML go.
    """

    path: Path
    process: WandbProcess
    mode: RecordMode = RecordMode.NONE
    test_id: str = ""
    options: CassetteOptions = field(default_factory=CassetteOptions)
    record_command: str = ""
    tmp_roots: tuple[str, ...] = ()
    report_dir: Path | None = None
    #: Save a recording with no exchange (a test's: yes; a scoped fixture's: only if it talked).
    save_empty: bool = True
    #: Where large downloads are kept (:mod:`.blobs`); default ``_blobs`` beside the cassette.
    blob_dir: Path | None = None

    plan: Plan | None = field(default=None, init=False)
    session: Recording | Replay | None = field(default=None, init=False)
    seed: str = field(default="", init=False)
    #: How many replay errors were already reported (the plugin attached them to the
    #: test's own failure); later ones (a run finished at teardown) are still raised.
    reported: int = field(default=0, init=False)
    _ids: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, init=False)
    _generators: ids.Generators | None = field(default=None, init=False)
    _runs_before: set[int] = field(default_factory=set, init=False)
    _drawn: set[str] = field(default_factory=set, init=False)
    _started_at: datetime.datetime | None = field(default=None, init=False)
    _children: Path | None = field(default=None, init=False)
    #: The recording's ledgers and journals, by W&B server (its upstream first).
    _books: dict[str, _Book] = field(default_factory=dict, init=False)
    #: The online uses of W&B while this cassette was active (not dormant), and where
    #: in :data:`._servers.USES` the current stretch began.
    _uses: list[servers.Use] = field(default_factory=list, init=False)
    _uses_from: int | None = field(default=None, init=False)
    #: What the SDK derived from the machine (:mod:`._derived`): recorded, or replayed.
    _derived: dict[str, str] = field(default_factory=dict, init=False)
    #: Whether the cassette existed when this use started (a recording replaces it).
    _existed: bool = field(default=False, init=False)

    # -- start ------------------------------------------------------------------------

    @property
    def recording(self) -> Recording | None:
        """The recording session (also the fallback of a ``new_episodes`` replay)."""

        if isinstance(self.session, Recording):
            return self.session
        return getattr(self.session, "fallback", None)

    @property
    def recorded(self) -> bool:
        """Whether this use records the cassette (else it replays it)."""
        return self.plan is Plan.RECORD

    def played(self) -> list[str]:
        """The exchanges so far, one line each (``GraphQL UpsertBucket {...}``,
        ``PUT https://...``): replayed from the cassette, or recorded into it."""
        replay = self.replay
        if replay is not None:
            upstream = replay.matcher.upstream
            return [
                interaction_key(ix, upstream).describe(200) for _, ix in replay.matcher.played()
            ]
        recording = self.recording
        if recording is None:
            return []
        upstream = self.process.upstream
        return [interaction_key(ix, upstream).describe(200) for ix in recording.cassette]

    def unplayed(self) -> list[str]:
        """Recorded exchanges no request has asked for yet (replay; none when recording),
        one line each, as :meth:`played`; the interactions of the automatic cleanup of
        the recording (which replay does not run) are left out, and so are the reads
        whose being unplayed says nothing of the test (a server's features)."""
        replay = self.replay
        if replay is None:
            return []
        upstream = replay.matcher.upstream
        return [interaction_key(ix, upstream).describe(200) for _, ix in _unplayed(replay)]

    @property
    def replay(self) -> Replay | None:

        return self.session if isinstance(self.session, Replay) else None

    def start(self) -> None:
        """Record or replay from now on.

        Raises:
            CassetteError: The cassette is missing (mode ``none``), unusable, or
                recorded with an incompatible wandb.
            JournalError: Recording, and the journal cannot be written.
        """
        mode = self.options.record_mode or self.mode
        self._existed = self.path.exists()
        self.plan = plan(
            mode,
            exists=self.path.exists(),
            recorded_this_session=self.path in self.process.recorded,
        )
        if self.path in interop.VCR_PATHS or (
            self.plan is Plan.RECORD and cassettes.cassette_kind(self.path) == "vcr"
        ):
            raise self._vcr_cassette()
        if self.plan is Plan.MISSING:
            raise MissingCassette(self.path, self._command("once"), _failed_note(self.path))
        relay = self.process.relay()
        if self.plan in (Plan.RECORD, Plan.REPLAY_AND_RECORD_MISSES):
            self.process.ensure_recording()  # ConfigurationError: not an upstream to record to
        settings: dict[str, str]
        if self.plan is Plan.RECORD:
            # A re-recording draws the ids the cassette holds (a review then sees only what
            # changed); the upstream gets fresh twins of them (W&B refuses a deleted run's id).
            stored = self._stored_seed()
            self.seed = stored or ids.new_seed()
            self.session = self._new_recording(self._fresh_cassette(), translate=bool(stored))
            settings = self.process.user_settings
        else:
            recorded = self._load()
            self.seed = str(recorded.metadata.get("seed", ""))
            self.session = relay.replay_session(recorded, self._rules(recorded.metadata))
            self.session.blob_root = self._cassette_folder()
            if self.plan is Plan.REPLAY_AND_RECORD_MISSES:
                extra = cassettes.Cassette(metadata=dict(recorded.metadata), path=self.path)
                self.session.fallback = self._new_recording(extra, translate=True)
                self.session.translation = self.session.fallback.translation
            raw = recorded.metadata.get(SETTINGS_KEY) or {}
            settings = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
            found = recorded.metadata.get(derived.DERIVED_KEY) or {}
            self._derived = (
                {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
            )
        self._started_at = datetime.datetime.now(datetime.UTC)

        if self.plan is Plan.RECORD or _holds_artifacts(self.session):
            self.process.prewarm(ARTIFACT_SDK_MODULES)
        self.process.reset_sdk_state()
        apply_settings(settings)
        derived.begin(self._derived, replay=self.plan is not Plan.RECORD)
        self._runs_before = {id(r) for r in _active_runs()}
        relay.push(self.session)
        self._children = _fresh_folder(self.process.files / "children", f"{os.getpid()}-")
        self._generators = ids.Generators(self.seed, self._id_source())
        self._enter_ids()

    def _enter_ids(self) -> None:
        assert self._generators is not None and self._children is not None
        self._ids.enter_context(ids.seeded_ids(self._generators, drawn=self._drawn))
        self._ids.enter_context(
            children.child_env(
                self.seed,
                self._id_source(),
                self._children,
                self._derived,
                replay=self.replay is not None,
            )
        )
        self._uses_from = len(servers.USES)

    def _close_uses(self) -> None:
        """The uses of W&B since :meth:`_enter_ids` are this cassette's."""
        if self._uses_from is not None:
            self._uses += servers.USES[self._uses_from :]
            self._uses_from = None

    def suspend(self) -> None:
        """Stop answering all but the file_stream of this cassette's runs (a scoped fixture
        between its setup and its teardown); ids go back to the SDK's."""
        if self.session is not None and not self.session.dormant:
            self.session.dormant = True
            self._close_uses()
            self._ids.close()

    def resume(self) -> None:
        """Answer everything again, ids going on where :meth:`suspend` left them."""
        if self.session is not None and self.session.dormant:
            self.session.dormant = False
            derived.begin(self._derived, replay=self.plan is not Plan.RECORD)
            self._enter_ids()

    def _id_source(self) -> str:
        """Client ids derive from the test that recorded the cassette (shared names replay).

        A recording draws them from a digest of its test id (scrubbed) and stores the
        digest in the metadata (:data:`IDS_KEY`); replay reads it back, so the ids never
        depend on how the stored test id was scrubbed later (a secret learned from the
        traffic, an email address in a parametrize id). Cassettes without the digest
        derive them from the stored test id, as they were recorded.
        """
        replay = self.replay
        if replay is not None:
            meta = replay.matcher.cassette.metadata
            return str(meta.get(IDS_KEY) or meta.get("test") or self._scrubbed(self.test_id))
        return ids_digest(self._scrubbed(self.test_id))

    def _scrubbed(self, text: str) -> str:
        """``text`` as a cassette or a message may hold it: secrets replaced."""
        return self.options.scrubber([os.environ.get("WANDB_API_KEY") or ""]).scrub_text(text)

    def _stored_seed(self) -> str:
        """The seed of the cassette this recording replaces, when it derives ids as this one
        would (same test); empty when there is none or it cannot be read."""
        if not self.path.exists():
            return ""
        try:
            meta = load_cached(self.path, self.process.files / "cache").metadata
        except CassetteError:
            return ""
        seed = meta.get("seed")
        same_test = meta.get(IDS_KEY) == ids_digest(self._scrubbed(self.test_id))
        return seed if isinstance(seed, str) and seed and same_test else ""

    def _load(self) -> cassettes.Cassette:
        """The cassette to replay: this process's own recording of it, else the file."""
        mine = self.process.recorded.get(self.path)
        if mine is not None:
            return cassettes.loads(mine, self.path)
        recorded = load_cached(self.path, self.process.files / "cache")
        if not recorded.metadata and cassettes.cassette_kind(self.path) == "vcr":
            raise self._vcr_cassette()
        version = str(recorded.metadata.get("wandb") or "")
        mismatch = sdk_mismatch(version, _running_sdk())
        if self.options.same_sdk and compat.release(version) is None:
            mismatch = f"names no wandb version ({version!r}): its SDK cannot be told"
        if mismatch and self.options.same_sdk:
            raise CassetteError(
                self.path, f"{mismatch} (same_sdk is set); re-record it:\n  {self._command()}"
            )
        if mismatch and self.plan is Plan.REPLAY_AND_RECORD_MISSES:
            # Appending would mix two SDKs' requests in one cassette under the old version's
            # name, and send the server what the old recording alone knows of (an artifact
            # id of the cassette: the SDK then fails on the server's answer, naming neither).
            raise CassetteError(
                self.path,
                f"{mismatch}; new_episodes appends only to a cassette of this wandb minor: "
                f"re-record it whole:\n  {self._command()}",
            )
        root = self._cassette_folder()
        for index, ix in enumerate(recorded.interactions):
            body = ix.response_body
            if isinstance(body, Digest) and body.blob:
                # Unusable at once (not when first served): a reference out of the folder.
                blob_file(self.path, body, root, f"interaction {index}: ")
        return recorded

    def _vcr_cassette(self) -> CassetteError:
        """A vcr cassette is at this path: never read as, nor replaced by, a W&B one."""
        return CassetteError(
            self.path,
            "pytest-recording uses this file as a vcr cassette (no wandb-cassettes metadata, "
            "or a vcr cassette of this session); it is left as it is: give the W&B cassette "
            'another name (@pytest.mark.wandb_cassette("name")) or the vcr cassette another '
            "folder or name (vcr_cassette_dir, default_cassette_name)",
        )

    def _cassette_folder(self) -> Path:
        """Where this cassette's ``_blobs/`` is: the plugin's cassette folder, else its own."""
        return self.blob_dir.parent if self.blob_dir is not None else self.path.parent

    def _rules(self, metadata: dict[str, Any]) -> Any:

        recorded_ignore = metadata.get("ignore") or []
        presets = metadata.get("presets") or []
        ignore = (*self.options.ignore, *(str(p) for p in recorded_ignore))
        # The live request is scrubbed as the recording was, so that a value the
        # recording redacted matches whatever value the test sends in its place.
        scrubber = self.options.scrubber([os.environ.get("WANDB_API_KEY") or ""])
        return MatchRules(
            ignore=tuple(dict.fromkeys(ignore)),
            presets=tuple(str(p) for p in presets),
            tmp_roots=self.tmp_roots,
            scrubber=scrubber,
            harmless=self.options.harmless,
        )

    def _fresh_cassette(self) -> cassettes.Cassette:
        extra: dict[str, Any] = {
            "seed": self.seed,
            "test": self._scrubbed(self.test_id),
            IDS_KEY: self._id_source(),  # recording: the digest of that test id
        }
        if self.options.keep:
            extra["keep"] = list(self.options.keep)
        if self.options.foreign_changes:
            extra[FOREIGN_CHANGES_KEY] = list(self.options.foreign_changes)
        if self.options.ignore:
            extra["ignore"] = list(self.options.ignore)
        if self.process.user_settings:
            extra[SETTINGS_KEY] = dict(self.process.user_settings)
        metadata = cassettes.new_metadata(self.process.upstream, **extra)
        return cassettes.Cassette(metadata=metadata, path=self.path)

    def _new_recording(self, cassette: cassettes.Cassette, *, translate: bool = False) -> Recording:
        """A recording whose ledger feeds the write-ahead journal as exchanges pass.

        ``translate`` (ids drawn from a stored seed: a re-recording, ``new_episodes``): the
        upstream sees fresh twins of the client's ids (:class:`.IdTranslation`); the ledger
        and the cassette see the client's, the journal the upstream's, where a sweep must
        look for them.
        """

        upstream_journal = self.process.journal()  # JournalError: no journal, no recording
        upstream_journal.keep_patterns(self.options.keep, self.test_id)  # kept if it dies
        scrubber = self.options.scrubber([self.process.api_key or ""], hooks=True)

        recording = Recording(cassette, CassetteScrubber(scrubber))
        recording.blobs = BlobStore(self.blob_dir or self.path.parent / BLOB_DIR)
        fresh = _FreshRunIds(self._drawn, lambda: self._children)
        translation = recording.translation = IdTranslation(fresh) if translate else None
        fresh.translation = translation
        who = self._scrubbed(self.test_id)
        home = self.process.upstream

        def warn(change: str) -> None:
            # As it happens (on the relay's thread, while the test waits for the answer).
            warnings.warn(WandbCassetteWarning(f"{who}: {change}"), stacklevel=2)

        def book(server: str, start: int) -> _Book:
            """The ledger and the journal of one W&B server, from exchange ``start`` on."""
            ledger = Ledger(
                self.options.keep,
                fresh_run_ids=fresh,
                harmless=self.options.harmless,
                foreign_changes=self.options.foreign_changes,
                on_foreign=warn,
                server=server if recording.servers or server != home else None,
                start=start,
            )
            if server == home:
                return _Book(server, ledger, upstream_journal)
            journal = self.process.journal(server)
            journal.keep_patterns(self.options.keep, self.test_id)
            return _Book(server, ledger, journal)

        self._books = {home: book(home, 0)}
        recording.ledger = self._books[home].ledger
        observed = [0]

        def book_of(url: str) -> _Book:
            """The book of the server ``url`` is on (one first seen now gets its own)."""
            for server in sorted(recording.servers - self._books.keys()):
                self._books[server] = book(server, observed[0])
                self._books[home].ledger.server = home  # the others' exchanges are not its
            known = server_of(url, self._books)
            return self._books[known or home]

        def prior_reads(url: str, body: bytes) -> list[bytes]:
            # The state before a change to something the test did not create, read first.
            reads: list[bytes] = book_of(url).ledger.prior_reads(url, body)
            return reads

        recording.prior_reads = prior_reads
        upstream = translation.owned_to_upstream if translation is not None else None

        def planned(body: str | bytes | None) -> list[Owned]:
            return [
                Owned(
                    kind=i["kind"],
                    entity=i["entity"],
                    project=i["project"],
                    local=i["local"],
                    name=f"{i['entity']}/{i['project']}/{i['local']}",
                    client_id=i.get("client_id", ""),
                    type=i.get("type"),
                    unconfirmed=True,
                )
                for i in intents(body)
                if i["kind"] != "run" or i["local"] in fresh
            ]

        def before_forward(method: str, url: str, body: bytes) -> None:
            book_of(url).journal.intend(planned(body), self.test_id)

        def observe(ix: Any) -> None:
            on = book_of(ix.uri)
            observed[0] += 1
            for each in list(self._books.values()):
                seen = len(each.ledger.events)
                each.ledger.observe(ix)
                each.journal.record(each.ledger.events[seen:], each.ledger, self.test_id, upstream)
                each.journal.restores(each.ledger.restores(), self.test_id)
                each.journal.lasting(each.ledger.lasting_changes(), self.test_id)
            # Only GraphQL mutations have intents (as the ledger, checked before any body).
            graphql = urlsplit(ix.uri).path.endswith("/graphql")
            if graphql and outcome(ix.status, ix.response_json()) == "refused":
                # Refused (a 4xx, GraphQL errors, an upstream nothing answered at): what
                # the request was to create was not, and no later sweep must look for it.
                refused = planned(ix.request_text())
                on.journal.absent([upstream(o) for o in refused] if upstream else refused)

        recording.before_forward = before_forward
        recording.observers.append(observe)
        return recording

    # -- stop -------------------------------------------------------------------------

    def stop(self, *, passed: bool) -> None:
        """Finish, clean up, then save the recording or check the replay.

        Args:
            passed: Whether the code under test succeeded: only then is a
                recording saved as the cassette.

        Raises:
            WandbCassettesError: The first problem: the cleanup failed (what is
                left is named), recording stopped, or the replay asked for what
                the cassette cannot answer.
        """
        if self.session is None:
            return
        relay = self.process.relay()
        cleanup_error: CleanupError | None = None
        unheard: WandbCassettesError | None = None
        silent = False
        try:
            with self._ids:
                self.finish_runs()
                self._close_uses()
                unheard = self._unheard()
                silent = unheard is None and self._silent(relay.sessions)
                if isinstance(self.session, Recording):
                    relay.read_server_features(self.session)
                cleanup_error = self._clean_up()
        finally:
            relay.pop(self.session)
            derived.end(self._derived)
            self.process.restore_environment()
            self.process.discard_finished_runs(_run_folders(_active_runs()))
        recording = self.recording
        problems: list[WandbCassettesError] = [unheard] if unheard is not None else []
        if recording is not None:
            if recording.fatal is not None:
                problems.append(recording.fatal)
            exposed = self._secret_in_name(recording) or self._unscrubbed(recording)
            if exposed is not None:
                problems.append(exposed)  # nothing is written under that name, .failed neither
            else:
                self._keep_recording(recording, passed and cleanup_error is None and not problems)
        if cleanup_error is not None:
            problems.insert(0, cleanup_error)
        replay = self.replay
        if replay is not None:
            problems += self._check_replay(replay)
        if self._children is not None:  # the children's run ids: read, no longer needed
            shutil.rmtree(self._children, ignore_errors=True)
            with contextlib.suppress(OSError):
                self._children.parent.rmdir()  # when no other cassette's children remain
        if silent:  # last: under -W error the warning raises, and all else is done by then
            self._warn_silent()
        if problems:
            raise problems[0]

    def uses(self) -> list[servers.Use]:
        """How the code under test used W&B online while this cassette was active, its
        child processes included (:mod:`._servers`)."""
        found = list(self._uses)
        if self._uses_from is not None:
            found += servers.USES[self._uses_from :]
        if self._children is not None:
            found += servers.read_uses(self._children)
        return found

    def _unheard(self) -> WandbCassettesError | None:
        """The code used W&B online, and none of its requests reached the relay: whatever
        the cause, the cassette holds nothing of it, and that is never a pass."""
        session = self.session
        used = self.uses()
        if session is None or session.requests or not used:
            return None
        kinds = sorted({u.kind for u in used})
        what = ", ".join(_USE_NAMES.get(k, k) for k in kinds)
        where = ", ".join(sorted({u.server for u in used}))
        done = "recorded" if isinstance(session, Recording) else "replayed"
        error = RecordingError if isinstance(session, Recording) else ReplayError
        return error(
            f"{self._scrubbed(self.test_id)}: used W&B online ({what}, server {where}), but "
            f"none of its requests reached the wandb-cassettes relay, so nothing was {done}: "
            f"they went to {where} directly, or nowhere. The cassette {self.path} is not "
            "written; this is an SDK path wandb-cassettes does not know to take: please "
            "report it"
        )

    def _silent(self, sessions: list[Any]) -> bool:
        """A marked test's recording that holds no exchange, with no scope cassette beneath
        it (a module fixture's run: its rows go to the fixture's cassette, as they should)."""
        session = self.session
        if not isinstance(session, Recording) or session.requests or not self.save_empty:
            return False
        return all(s is session for s in sessions)

    def _warn_silent(self) -> None:
        """Said, since nothing can tell whether the test's code talked to W&B by a way the
        relay never saw (a child process started without Python's ``site`` module, whose
        hook then never loads; a raw HTTP client) or did not talk to W&B at all."""
        warnings.warn(
            WandbCassetteWarning(
                f"{self._scrubbed(self.test_id)}: recorded no W&B request, so {self.path} "
                "holds no interaction. If the test talks to W&B, its traffic did not reach "
                "the wandb-cassettes relay (a child process started with `python -S`, which "
                "skips the hook wandb-cassettes installs, or a raw HTTP client) and went "
                "straight to the server; if it does not, it needs no wandb_cassette marker"
            ),
            stacklevel=3,
        )

    def finish_runs(self) -> None:
        """Finish the runs started since :meth:`start` (integrations leave theirs open):
        a run left open would keep sending after the cassette is gone. Idempotent."""
        _finish_runs(self._runs_before)

    def _clean_up(self) -> CleanupError | None:
        """Delete, through the relay (so it is recorded), what the recording created and left,
        on each W&B server it talked to (there, with that server's key)."""
        recording = self.recording
        if recording is None or not self._books:
            return None
        first = len(recording.cassette.interactions)
        errors: list[CleanupError] = []
        left = False
        recording.cleaning = True
        try:
            for book in list(self._books.values()):
                error, leaks = self._clean_up_on(book, recording)
                left = left or leaks
                if error is not None:
                    errors.append(error)
        finally:
            recording.cleaning = False
            # Replay runs no cleanup: list its exchanges so they do not count as unplayed.
            replay = self.replay
            offset = len(replay.matcher.cassette) if replay is not None else 0
            cleanup = range(offset + first, offset + len(recording.cassette.interactions))
            meta = recording.cassette.metadata
            if left or cleanup:
                meta[CLEANUP_KEY] = [*meta.get(CLEANUP_KEY, ()), *cleanup]
        for server in self._books:
            if server != self.process.upstream:
                self.process.sweep_server(server)  # what interrupted recordings left there
        return errors[0] if errors else None

    def _clean_up_on(self, book: _Book, recording: Recording) -> tuple[CleanupError | None, bool]:
        """:meth:`_clean_up` on one server: the error, and whether anything was left."""
        ledger = book.ledger
        kept = [(Owned.of(r), ledger.kept_reason(r) or "") for r in ledger.kept]
        with contextlib.suppress(RecordingError):
            book.journal.keep(kept, self.test_id)
        leaks = ledger.leftovers()
        try:
            if leaks or ledger.restores():
                # The deletes first: a version deleted takes the aliases it held, which the
                # restores (computed from what the ledger saw of the deletes) then put back.
                home = book.server == self.process.upstream
                delete_owned(
                    [Owned.of(r) for r in leaks],
                    api=None
                    if home
                    else api_for(book.server, self.process.server_key(book.server)),
                    not_before=self._started_at,
                    restores=ledger.restores,
                )
        except CleanupError as exc:
            return exc, bool(leaks)
        finally:
            recording.notes += [f"{self.test_id}: {line}" for line in unresolved(ledger)]
        return None, bool(leaks)

    def _secret_in_name(self, recording: Recording) -> RecordingError | None:
        """The cassette's file name holds a value the recording learned to be a secret.

        A parametrize id is scrubbed by the rules' shapes before it names a file;
        a value recognised only by its context in the traffic (``"api_token": ...``
        in a run config) is known only once recorded: then nothing is saved.
        """
        scrubber = recording.scrub.scrubber
        scrubbed = scrubber.scrub_text(self.path.name)
        if scrubbed == self.path.name:
            return None
        return RecordingError(
            f"{scrubber.scrub_text(self.test_id)}: recording not saved: its cassette's file name "
            f"({self.path.parent / scrubbed}) would hold a value this recording found to be "
            "a secret; give the parametrized test ids without it "
            "(@pytest.mark.parametrize(..., ids=[...]))"
        )

    def _unscrubbed(self, recording: Recording) -> RecordingError | None:
        """Warn of each secret in a body kept as recorded (a blob, a binary body); refuse
        the recording when one is the key in use.

        Such a body cannot be scrubbed (replay serves its bytes), and only this recording
        knows its key for sure: an audit in CI, without it, would call the cassette clean.
        """
        found = recording.unscrubbed_secrets()
        recording.notes += [f"{self.test_id}: {line}" for _, line in found]
        key = [line for rule, line in found if rule == "wandb-api-key"]
        if not key:
            return None
        return RecordingError(
            f"{self.test_id}: recording not saved: {key[0].split(' holds ')[0]} holds this "
            "recording's W&B API key, which no scrubbing can take out of a body kept byte "
            "for byte; download a fixture without it, or leave the exchange out with a "
            "before_record hook"
        )

    def _keep_recording(self, recording: Recording, passed: bool) -> None:
        """Save a passed recording as the cassette; keep any other beside it, as ``.failed``."""
        # A failed test's report shows the upstream's failures already (the plugin's
        # makereport); a passed one is warned of them.
        for message in [*(recording.upstream_errors if passed else ()), *recording.notes]:
            warnings.warn(WandbCassetteWarning(message), stacklevel=3)
        replay = self.replay
        if not recording.cassette.interactions and (replay is not None or not self.save_empty):
            return  # nothing new (new_episodes), or nothing at all to keep
        self._summarise(
            recording, "failed" if not passed else "replaced" if self._existed else "new"
        )
        if not passed:
            failed = recording.finished()
            _list_servers(failed, recording)
            self._describe(failed, recording)  # auditable as it is (its fresh run ids)
            failed.metadata[FAILED_KEY] = self._scrubbed(
                "; ".join(recording.upstream_errors[:3])
                or "the test failed or was interrupted while recording (its report says why)"
            )
            kept = cassettes.save_failed(failed, self.path)
            warnings.warn(
                WandbCassetteWarning(
                    f"test failed or was interrupted while recording: {self.path} left as "
                    f"it was; this recording is kept in {kept}"
                ),
                stacklevel=3,
            )
            return
        finished = recording.finished()
        _list_servers(finished, recording)  # before the stable form, which renames them
        full = self._stable(finished, recording, reorder=replay is None)
        if replay is not None:
            # new_episodes: what was replayed, then what was recorded after it.
            full = cassettes.Cassette(
                [*replay.matcher.cassette.interactions, *full.interactions],
                full.metadata,
                full.path,
            )
        self._describe(full, recording)
        text = cassettes.dumps(full)
        cassettes.write_atomic(self.path, text)
        cassettes.failed_path(self.path).unlink(missing_ok=True)  # an older failed attempt
        self.process.written.append(self.path)
        self.process.recorded[self.path] = text

    def _stable(
        self, cassette: cassettes.Cassette, recording: Recording, *, reorder: bool
    ) -> cassettes.Cassette:
        """``cassette`` in its stable form (:mod:`..record._stable`): what this session was
        goes to one metadata line, so that re-recording an unchanged test writes it again."""
        now = datetime.datetime.now(datetime.UTC)
        session = Session(
            upstream=self.process.upstream,
            relay=self.process.relay().url,
            started=self._started_at or now,
            ended=now,
            workdir=str(self.process.workdir),
        )
        return stable_form(
            cassette,
            session,
            timings=recording.timings,
            uploads=recording.uploads,
            harmless=self.options.harmless,
            reorder=reorder,
        )

    def _summarise(self, recording: Recording, kept: str) -> None:
        """Add what this recording did to the session's summary (:class:`.process.Recorded`)."""
        # Every server the test's code named counts, not only the upstream (issue 21).
        ledgers = [b.ledger for b in self._books.values()]
        counts: dict[str, int] = {}
        if ledgers:
            counts = {
                "created": sum(len(ledger.created) for ledger in ledgers),
                "deleted": sum(len(ledger.deleted) for ledger in ledgers),
                "kept_on_purpose": sum(len(ledger.kept) for ledger in ledgers),
                "left": sum(len(ledger.leaks()) for ledger in ledgers),
                "left_by_design": sum(len(ledger.left_by_design()) for ledger in ledgers),
            }
        self.process.recordings.append(Recorded(str(self.path), kept, **counts))

    def _describe(self, full: cassettes.Cassette, recording: Recording) -> None:
        """Metadata that replay and the audit need: backend, fresh ids, presets."""

        meta = full.metadata
        meta["backend"] = cassettes.backend_of(full)
        uses = sorted({u.kind for u in self.uses()})
        if uses:
            meta[USE_KEY] = uses  # the audit tells an empty cassette of a test that used W&B
        fresh = sorted(self._drawn | children.drawn_run_ids(self._children or Path()))
        if fresh:
            meta[FRESH_RUN_IDS_KEY] = fresh
        presets = ignores.presets_in(_run_configs(full))
        if presets:
            meta["presets"] = presets
        found = {**children.derived_values(self._children or Path()), **self._derived}
        if found:
            meta[derived.DERIVED_KEY] = found

    def _check_replay(self, replay: Replay) -> list[WandbCassettesError]:
        """Requests the cassette could not answer; what it holds that was never played."""
        problems: list[WandbCassettesError] = []
        if replay.fatal is not None:
            problems.append(replay.fatal)
        if len(replay.errors) > self.reported:
            problems.append(ReplayError(self.mismatch_report(replay)))
        upstream = replay.matcher.upstream
        unplayed = [(i, ix, interaction_key(ix, upstream)) for i, ix in _unplayed(replay)]
        other_sdk = self._sdk_versions(replay)
        if other_sdk:
            # Reads an older (or newer) SDK sent that this one does not: nothing of the
            # test's depends on them (nothing asked for them), so they are a note, never a
            # failure; a change (a mutation, an upload) never played still is one.
            reads = [(i, k) for i, _ix, k in unplayed if k.safe]
            unplayed = [u for u in unplayed if not u[2].safe]
            if reads and not replay.errors:
                lines = "\n".join(f"  #{i} {k.describe(200)}" for i, k in reads[:10])
                warnings.warn(
                    WandbCassetteWarning(
                        f"{self.path}: {len(reads)} recorded read(s) not sent by this SDK "
                        f"({other_sdk}; a note, not a failure):\n{lines}"
                    ),
                    stacklevel=3,
                )
        if unplayed and not replay.errors:
            lines = "\n".join(f"  #{i} {k.describe(200)}" for i, _ix, k in unplayed[:10])
            message = f"{self.path}: {len(unplayed)} recorded interaction(s) never played:\n{lines}"
            if other_sdk:
                message += f"\n{other_sdk}; re-record it:\n  {self._command()}"
            if self.options.strict:
                problems.append(ReplayError(message))
            else:
                warnings.warn(WandbCassetteWarning(message), stacklevel=3)
        return problems

    @staticmethod
    def _sdk_versions(replay: Replay) -> str | None:
        """Both SDK versions, when the cassette was recorded by another release line."""
        recorded = str(replay.matcher.cassette.metadata.get("wandb") or "")
        return sdk_mismatch(recorded, _running_sdk())

    def mismatch_report(self, replay: Replay | None = None) -> str:
        """The message of a replay that asked for what the cassette cannot answer."""
        replay = replay or self.replay
        if replay is None or not replay.errors:
            return ""

        secrets = [k for k in (os.environ.get("WANDB_API_KEY"),) if k]
        details = "\n\n".join(scrub_text(str(e), secrets) for e in replay.errors)
        full = self._write_full_variables(replay)
        alone = all(getattr(e, "rerecord", True) for e in replay.errors)
        advice = (
            "if the test changed on purpose, re-record it:\n  " + self._command()
            if alone
            else "if other differences are deliberate, re-record it:\n  " + self._command()
        )
        where = f"\nfull variables of each request: {full}" if full else ""
        other_sdk = self._sdk_versions(replay)
        if other_sdk:
            # The difference may be the test's (a value it sends) as well as the SDK's:
            # both are said, and which way re-recording goes for a project that keeps the
            # older SDK supported (README: record under the oldest minor you support).
            advice = (
                f"{other_sdk}. If the difference above is the test's (a value it sends), "
                "undo it or re-record; if it is the SDK's, re-record under the oldest wandb "
                "your project supports (newer SDKs replay it); this records under wandb "
                f"{_running_sdk()}:\n  {self._command()}"
            )
        return (
            f"wandb cassette {self.path}: {len(replay.errors)} request(s) had no recorded "
            f"match\n\n{details}\n\n{advice}{where}"
        )

    def _write_full_variables(self, replay: Replay) -> Path | None:

        if self.report_dir is None:
            return None
        secrets = [k for k in (os.environ.get("WANDB_API_KEY"),) if k]
        blocks = []
        for error in replay.errors:
            if not isinstance(error, NoMatch):
                continue
            closest = replay.matcher.closest_keys(error.key, 1)
            blocks.append(
                "sent:\n"
                + _pretty(error.key.detail)
                + "\nclosest recorded:\n"
                + (_pretty(closest[0].detail) if closest else "(none)")
            )
        if not blocks:
            return None
        path = self.report_dir / (safe_name(self.path.stem) + ".mismatch.txt")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(scrub_text("\n\n".join(blocks), secrets) + "\n", encoding="utf-8")
        except OSError:
            return None
        return path

    def _command(self, mode: str = "rewrite") -> str:
        default = f"pytest --record-mode={{mode}} -k {shlex.quote(self.path.stem)}"
        return self._scrubbed((self.record_command or default).format(mode=mode))


@dataclass
class _Book:
    """What a recording keeps of one W&B server it talks to: its ledger, its journal."""

    server: str
    ledger: Ledger
    journal: Journal


class _FreshRunIds:
    """Run ids this recording drew, its children's and new_episodes' fresh twins included."""

    def __init__(self, drawn: set[str], folder: Callable[[], Path | None]) -> None:
        self._drawn = drawn
        self._folder = folder
        #: The fresh twins the upstream sees for them (a translated recording), if any.
        self.translation: IdTranslation | None = None

    def __contains__(self, run_id: object) -> bool:
        if run_id in self._drawn:
            return True
        translation = self.translation
        if translation is not None and isinstance(run_id, str) and translation.is_fresh(run_id):
            return True
        if not isinstance(run_id, str):
            return False
        return run_id in self._children()

    def __iter__(self) -> Iterator[str]:
        """The ids drawn so far, the children's included (the translation pairs each)."""
        self._children()
        return iter(list(self._drawn))

    def _children(self) -> set[str]:
        folder = self._folder()
        if folder is None:
            return set()
        found = children.drawn_run_ids(folder)
        self._drawn |= found
        return found


def _unplayed(replay: Replay) -> list[tuple[int, cassettes.Interaction]]:
    """``(index, interaction)`` of each recorded exchange no request asked for that says
    something of the test: not the recording's cleanup (replay runs none), nor
    :func:`_never_unplayed`."""
    cleanup = set(replay.matcher.cassette.metadata.get(CLEANUP_KEY) or ())
    return [
        (i, ix)
        for i, ix in replay.matcher.unplayed()
        if i not in cleanup and not _never_unplayed(ix)
    ]


def _never_unplayed(ix: cassettes.Interaction) -> bool:
    """An exchange whose being unplayed says nothing of the test: the relay's own read of
    a state before a foreign change (no SDK sends it), and a server's features, which an
    SDK asks as its caching goes (wandb 0.29 at every ``init``, 0.31 before artifacts),
    never because of what the test did (:meth:`.Relay.read_server_features`)."""

    text = ix.request_text() or ""
    if PRIOR not in text and SERVER_FEATURES not in text:
        return False
    request = parse_request(text)
    if request is None:
        return False
    return request.operation.startswith(PRIOR) or request.operation == SERVER_FEATURES


def _pretty(detail: str) -> str:
    try:
        return json.dumps(json.loads(detail), indent=2, sort_keys=True)
    except ValueError:
        return detail


def _fresh_folder(parent: Path, prefix: str) -> Path:
    """A new, empty folder in ``parent``: the children of one cassette number themselves
    in it (``child-0``, ``child-1``...), so a folder left by another session whose pid and
    object address happened to be this one's (pids wrap at ``/proc/sys/kernel/pid_max``,
    32768 by default) would shift every child's ids.

    ``parent`` is shared by the sessions of one project (pytest-xdist's workers), and the
    last cassette to end removes it once empty (:meth:`CassetteUse.stop`): removed between
    this ``mkdir`` and ``mkdtemp``, it is made again.
    """
    for _ in range(_FOLDER_ATTEMPTS - 1):
        parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


#: How often :func:`_fresh_folder` makes its parent again (each time another session removed
#: it in between, which takes that session's whole teardown).
_FOLDER_ATTEMPTS = 20


def _list_servers(cassette: cassettes.Cassette, recording: Recording) -> None:
    """List in ``cassette``'s metadata the W&B servers besides its upstream that the code
    named (issue 21): each interaction's uri says which server it went to."""
    meta = cassette.metadata
    listed = meta.get(SERVERS_KEY)
    before = {str(s) for s in listed} if isinstance(listed, list) else set()
    named = sorted((before | recording.servers) - {str(meta.get("upstream") or "")})
    if named:
        meta[SERVERS_KEY] = named


def _run_configs(cassette: cassettes.Cassette) -> list[Any]:
    """The parsed ``config`` of every ``upsertBucket`` the cassette sent."""

    configs = []
    for ix in cassette.interactions:
        text = ix.request_text()
        if not text or "upsertBucket" not in text:
            continue
        request = parse_request(text)
        config = request.variables.get("config") if request else None
        if isinstance(config, str):
            with contextlib.suppress(ValueError):
                configs.append(json.loads(config))
    return configs


def _active_runs() -> list[Any]:
    """The runs of this process that are not finished (wandb's own list, when it has one)."""
    return compat.active_runs()


def _holds_artifacts(session: Recording | Replay | None) -> bool:
    """Whether a replayed cassette holds artifact traffic: a GraphQL operation named after
    artifacts (``CreateArtifact``, ``ArtifactByName``, ``FetchArtifactManifest``...)."""
    matcher = getattr(session, "matcher", None)
    if matcher is None:
        return True
    for ix in matcher.cassette.interactions:
        text = ix.request_text() or ""
        if "rtifact" in text and "operationName" in text:
            body = cassettes.json_or_none(text)
            name = body.get("operationName") if isinstance(body, dict) else None
            if isinstance(name, str) and "rtifact" in name:
                return True
    return False


def _run_folders(runs: list[Any]) -> list[Path]:
    """The SDK's folders of ``runs`` (``run.dir`` is the run's ``files`` folder in it)."""
    folders = []
    for run in runs:
        with contextlib.suppress(Exception):  # a run the SDK is tearing down
            folders.append(Path(run.dir).parent)
    return folders


def _finish_runs(before: set[int]) -> None:
    """Finish the runs started since ``before``: a run left open would keep sending."""
    for run in reversed(_active_runs()):
        if id(run) not in before:
            run.finish()


def sdk_mismatch(recorded: str, running: str) -> str | None:
    """Whether a cassette recorded with wandb ``recorded`` was made by another SDK release
    line than ``running``: another major, or another minor before 1.0 (a patch release
    keeps its requests). None when the same line or unknown.

    Replay tries such a cassette all the same (matching compares what a request means,
    not how the SDK spelled it): this only words the notes and the mismatch report, and
    the refusal of the opt-in ``same_sdk`` setting.
    """
    old, new = compat.release(recorded), compat.release(running)
    if old is None or new is None or old == new or (old[0] == new[0] and old[0] >= 1):
        return None
    return (
        f"recorded with wandb {recorded}, replayed with wandb {running}: the SDK's requests "
        "may differ between these versions"
    )


def _running_sdk() -> str:
    """The installed wandb's version ("" when unknown)."""
    return compat.sdk_version() or ""


# -- the pytest-free API ------------------------------------------------------------------


class use_cassette:
    """Record or replay the W&B traffic of a block of code, with cleanup and the journal.

    A context manager and a decorator, for ``unittest`` suites and scripts::

        with wandb_cassettes.use_cassette("cassettes/upload.yaml", record_mode="once"):
            run = wandb.init(project="ci-tests")
            ...

        @wandb_cassettes.use_cassette("cassettes/test_x.yaml")
        def test_x(self): ...

    Args:
        path: The cassette file (``.yaml``).
        record_mode: ``none`` (replay; the default), ``once``, ``new_episodes``,
            ``all`` or ``rewrite`` (see :mod:`.record_mode`).
        upstream: The W&B server recordings go to (default: where the SDK would
            go; see :func:`.process.default_upstream`). The first use in a
            process fixes it for the process.
        ignore: Values replay does not compare (:mod:`.ignore`).
        keep: Resources kept on purpose (``True``: everything).
        foreign_changes: Resources the block did not create that it changes on
            purpose: not restored by the cleanup (``True``: any).
        before_record: Filters of exchanges before they are stored.
        same_sdk: Refuse a cassette recorded under another wandb minor (see
            :class:`CassetteOptions`).

    Raises:
        CassetteError: On entry, the cassette is missing or unusable.
        WandbCassettesError: On exit, the cleanup failed, recording stopped, or the
            replay asked for what the cassette cannot answer. An exception of the
            block itself wins: the recording is then kept as ``.failed``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        record_mode: str | RecordMode = "none",
        upstream: str | None = None,
        ignore: Sequence[str] = (),
        keep: Sequence[str] | bool = (),
        foreign_changes: Sequence[str] | bool = (),
        before_record: Sequence[Filter] | Filter = (),
        same_sdk: bool = False,
    ) -> None:
        self.path = Path(path).resolve()
        self.mode = RecordMode.parse(record_mode)
        self.upstream = upstream
        self.options = CassetteOptions.from_mapping(
            {
                "ignore": ignore,
                "keep": keep,
                "foreign_changes": foreign_changes,
                "before_record": before_record,
                "same_sdk": same_sdk,
            },
            source=f"use_cassette({str(path)!r})",
        )
        self._use: CassetteUse | None = None

    def __enter__(self) -> CassetteUse:

        process = shared_process(self.upstream, Path.cwd())
        use = CassetteUse(
            self.path,
            process,
            self.mode,
            test_id=str(self.path),
            options=self.options,
            record_command=f"use_cassette({str(self.path)!r}, record_mode={{mode!r}})",
            report_dir=process.files / "mismatch",
        )
        use.start()
        self._use = use
        return use

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        use, self._use = self._use, None
        if use is None:
            return
        try:
            use.stop(passed=kind is None)
        except WandbCassettesError:
            if kind is None:
                raise  # the block's own exception wins; ours would hide it

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
