"""What a recording created in W&B, by identity, and what it deleted.

A :class:`Ledger` watches GraphQL exchanges, live on the relay's record path
or offline over a cassette (:meth:`Ledger.from_cassette`), and keeps a list
of :class:`Resource` s: runs, artifact versions, collections, run files,
sweeps, registry links and aliases, each with the index of the exchange that
created it and of the one that deleted it.

**Ownership by identity, never by name.** A resource is *owned* (created by
this recording, so the cleanup may delete it) only on evidence, per kind:

* a run: ``upsertBucket`` answered ``inserted: true``; or its id was drawn
  fresh by this recording (``fresh_run_ids``: 8 random characters from a
  seed drawn for this recording) and an ``upsertBucket`` for it was sent,
  even if its answer was lost (the server committed it, wandb-core retried
  and was told ``inserted: false``);
* an artifact version: ``createArtifact`` answered ``PENDING`` (a new
  version; an unchanged one is answered with the existing, ``COMMITTED``
  version); when the answer was lost, the version is owned by its
  ``clientID`` and found by it at cleanup (``clientIDMapping``);
* a collection: a ``createArtifact`` into it answered ``PENDING`` with
  ``latestArtifact: null`` (the collection had no version: it was new);
* a run file: only inside an owned run (files a test re-uploads to a
  resumed, pre-existing run are that run's, not the test's);
* a sweep: ``upsertSweep`` without an ``id`` (a new sweep) that succeeded;
* a registry link: ``linkArtifact`` of an owned artifact version (a link of
  any other version may have existed before: never deleted, always reported,
  :meth:`Ledger.uncertain_links`);
* an alias: ``addAliases`` of an alias that an earlier answer showed the
  artifact did not have.

Everything else the traffic mentions (a teammate's versions, a collection
that had a latest version, a run resumed by a given id) is *foreign*: the
cleanup never deletes it. **What the traffic changes of it** is judged by the
mutation table (:attr:`.mutations.Effect.changes`), for every successful (or
maybe successful) mutation: a change to something not proven created is a
foreign change, fail closed (:meth:`Ledger.foreign_changes`). The relay reads
the state before the first such change (:meth:`Ledger.prior_reads`); the
cleanup puts it back (:meth:`Ledger.restores`); whatever is not as it was, or
cannot be put back (a delete, history rows...), is a finding unless declared
(``keep`` or ``foreign_changes``), see :mod:`.foreign`.

Mutations are read from the GraphQL document (``deleteArtifact``,
``upsertBucket``...), not from the operation name the client chose. One
table, :data:`RULES`, maps a mutation field to the small function that
reads it; :mod:`.mutations` classifies every mutation the SDK can send, and
a successful mutation that neither knows is listed in :attr:`Ledger.unknown`.

Only answers that succeeded (HTTP 2xx, no GraphQL ``errors``) count as
done; an answer that was lost (5xx, a dropped connection, a truncated body)
leaves the outcome unknown, which for a creating mutation means "maybe
created": owned when the client-chosen id is ours. A definite refusal (4xx,
GraphQL ``errors``) created nothing.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import fnmatch
import json
import re
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from .. import protocol as graphql
from ..store import Cassette, Interaction
from ._foreign import (
    ABSENT,
    ARTIFACT_FIELDS,
    ARTIFACT_IDENTITY,
    PRIOR,
    RUN_FIELDS,
    RUN_IDENTITY,
    UNKNOWN,
    ForeignChange,
    ForeignState,
    Restore,
    apply_artifact,
    artifact_fields,
    json_value,
    prior_alias_read,
    prior_artifact_read,
    prior_links_read,
    prior_run_read,
    run_fields,
    run_value,
)

Kind = Literal[
    "run", "artifact", "collection", "run_file", "sweep", "link", "alias", "project", "other"
]
Change = Literal["created", "deleted"]
Outcome = Literal["succeeded", "refused", "unknown"]

#: ``__typename`` s of artifact collections in answers (sequences and portfolios).
COLLECTION_TYPENAMES = frozenset({"ArtifactCollection", "ArtifactSequence", "ArtifactPortfolio"})
#: Kinds no cleanup deletes: a project (deleting it deletes everything in it) and a sweep
#: (W&B's API has no sweep delete: github.com/wandb/wandb/issues/4536; the cleanup cancels it).
LEFT_BY_DESIGN = frozenset({"project", "sweep"})
#: Containers whose delete takes along what untracked mutations create in them.
_GOES_WITH = frozenset({"run", "artifact", "sweep"})
#: Cassette metadata: run ids drawn fresh by the recording (ownership evidence for lost answers).
FRESH_RUN_IDS_KEY = "fresh_run_ids"
#: Cassette metadata: names of resources the test did not create that it changes on purpose.
FOREIGN_CHANGES_KEY = "foreign_changes"
_FILE_STREAM_RE = re.compile(r"/files/([^/]+)/([^/]+)/([^/]+)/file_stream$")


@dataclass(eq=False)
class Resource:
    """One W&B object the traffic shows, created here or only referred to.

    ``local`` is the name inside the project: the run id, the collection
    name (also for an artifact version), ``run_id/path`` for a run file, the
    sweep id, ``collection:alias`` for an alias. ``container`` is what
    deleting takes this along with (a run file's run, a version's collection);
    ``logged_by`` is the run that logged an artifact version.
    """

    kind: Kind
    entity: str
    project: str
    local: str
    ids: list[str] = field(default_factory=list)
    version: int | None = None
    created_at: int | None = None
    deleted_at: int | None = None
    committed_at: int | None = None
    container: Resource | None = None
    logged_by: Resource | None = None
    type: str | None = None  # artifacts and collections: lookups need the type
    #: Client-chosen ids (an artifact's ``clientID``): how a version whose answer was lost is found.
    client_ids: list[str] = field(default_factory=list)
    #: The creating exchange's answer was lost: created for all we know, to be confirmed at cleanup.
    unconfirmed: bool = False
    #: For links and aliases: the artifact version they attach to.
    target: Resource | None = None
    #: A portfolio (registry collection) the recording created: its first link's ``createdAt``.
    portfolio_of: str | None = None
    #: A link the traffic made that may have existed before (of a version the recording did
    #: not create): the index of the ``linkArtifact`` (see :meth:`Ledger.uncertain_links`).
    uncertain_at: int | None = None
    #: A sweep: the index of the exchange that shows it stopped (cancelled, finished).
    stopped_at: int | None = None

    @property
    def owned(self) -> bool:
        """Created by the observed traffic (on the evidence the module docstring lists)."""
        return self.created_at is not None

    @property
    def name(self) -> str:
        """The human name: ``entity/project/run_id``, ``entity/project/collection:v3``..."""
        if not self.entity and not self.project:  # known by its id only (callers add the kind)
            return self.ids[0] if self.ids else self.local
        if self.kind == "project":
            return f"{self.entity}/{self.project}"
        base = f"{self.entity}/{self.project}/{self.local}"
        if self.kind not in ("artifact", "link"):
            return base
        if self.version is not None:
            return f"{base}:v{self.version}"
        # The version index is known only once an answer reports it (ArtifactByID...).
        if self.ids:
            return f"{base}@{self.ids[0]}"
        return f"{base}@client:{self.client_ids[0][:12]}" if self.client_ids else f"{base}:v?"

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>"


@dataclass(frozen=True)
class Event:
    """A resource created or deleted by the exchange at ``index``."""

    index: int
    change: Change
    resource: Resource


@dataclass(frozen=True)
class Exchange:
    """A GraphQL exchange, as the rules see it."""

    index: int
    field: str
    variables: dict[str, Any]
    data: dict[str, Any]
    outcome: Outcome
    #: The root answer of ``field`` (``data[alias or field]``).
    payload: Any = None
    #: ``field``'s arguments as the server reads them, inline values and variables alike
    #: (:meth:`.graphql.Document.arguments`); empty when the document does not parse.
    arguments: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Unknown:
    """A successful mutation that no rule and no classification knows."""

    index: int
    field: str
    operation: str


#: Reads one exchange; returns the resource it touched (for a create in a container, the
#: container; None when it cannot tell).
Rule = Callable[["Ledger", Exchange], "Resource | None"]


class Ledger:
    """Resources created and deleted by the exchanges observed so far.

    Args:
        keep: Names (``fnmatch`` patterns) of resources kept on purpose: never
            deleted by the cleanup, listed as kept by the audit. A kept
            resource keeps what holds it (a kept version keeps its collection)
            and what it holds (a kept run keeps its files).
        fresh_run_ids: Run ids this recording drew itself (a live set may grow).
        harmless: Mutation fields declared harmless by the user.
        foreign_changes: Names (``fnmatch`` patterns) of resources the test did not create
            that it changes on purpose: not restored, listed as declared by the audit
            (``keep`` patterns declare too).
        on_foreign: Told, in one sentence, of each change to a resource the recording did
            not create as it is observed (the live recording warns with it).
    """

    def __init__(
        self,
        keep: Iterable[str] = (),
        *,
        fresh_run_ids: Container[str] | Iterable[str] | None = None,
        harmless: Iterable[str] = (),
        foreign_changes: Iterable[str] = (),
        on_foreign: Callable[[str], None] | None = None,
    ) -> None:
        self.keep: tuple[str, ...] = tuple(keep)
        self.foreign_patterns: tuple[str, ...] = tuple(foreign_changes)
        #: A live container (``in`` is all that is asked of it) or a fixed set.
        self.fresh_run_ids: Container[str] = (
            fresh_run_ids if isinstance(fresh_run_ids, Container) else set(fresh_run_ids or ())
        )
        self.harmless = frozenset(harmless)
        self.events: list[Event] = []
        self.unknown: list[Unknown] = []
        self._count = 0
        self._resources: list[Resource] = []
        self._by_key: dict[tuple[str, str, str, str], Resource] = {}
        self._by_id: dict[str, Resource] = {}
        self._by_client_id: dict[str, Resource] = {}
        #: Aliases an answer showed each artifact (by server id) to have.
        self._seen_aliases: dict[str, set[str]] = {}
        #: What the traffic changed of resources it did not create (:mod:`.foreign`).
        self.foreign = ForeignState(self.is_declared, on_foreign or (lambda _: None))

    @classmethod
    def from_cassette(cls, cassette: Cassette, *, harmless: Iterable[str] = ()) -> Ledger:
        """The ledger of a recorded cassette, honouring its metadata's ``keep``,
        ``foreign_changes`` and fresh ids."""
        fresh = cassette.metadata.get(FRESH_RUN_IDS_KEY) or []
        ledger = cls(
            keep_names(cassette.metadata),
            fresh_run_ids=[str(r) for r in fresh] if isinstance(fresh, list) else (),
            harmless=harmless,
            foreign_changes=keep_names(cassette.metadata, FOREIGN_CHANGES_KEY),
        )
        for ix in cassette.interactions:
            ledger.observe(ix)
        return ledger

    # -- feeding -------------------------------------------------------------------

    def observe(self, ix: Interaction) -> None:
        """Account for the next exchange (called in recording order)."""
        index = self._count
        self._count += 1
        # Checked first: parsing every file_stream body as JSON would slow recording down.
        path = urlsplit(ix.uri).path
        if not path.endswith("/graphql"):
            if path.endswith("/file_stream"):
                self._file_stream(ix, index, path)
            return
        request = graphql.parse_request(ix.request_text())
        if request is None:
            return
        body = ix.response_json()
        result = outcome(ix.status, body)
        data = body.get("data") if isinstance(body, dict) else None
        data = data if isinstance(data, dict) else {}
        if result == "succeeded":
            _learn_ids(self, data)
            query_rule = QUERY_RULES.get(request.operation)
            if query_rule is not None:
                query = Exchange(index, request.operation, request.variables, data, result)
                query_rule(self, query)
        document = request.document
        if not document.is_mutation:
            return
        arguments = request.arguments()
        for i, name in enumerate(document.fields or ("<unreadable>",)):
            exchange = Exchange(
                index,
                name,
                request.variables,
                data,
                result,
                _payload(data, name),
                arguments[i] if i < len(arguments) else {},
            )
            rule = RULES.get(name)
            subject = rule(self, exchange) if rule is not None else None
            if rule is None and result == "succeeded":
                self._untracked(exchange, request.operation)
            if result != "refused":  # a lost answer may have changed it: judged too
                self._judge(exchange, subject)

    @property
    def current(self) -> int:
        """The index of the exchange being observed (the last one, between observations)."""
        return self._count - 1

    def _untracked(self, ex: Exchange, operation: str) -> None:
        """A successful mutation no rule reads: harmless, part of a tracked thing, or reported.

        :mod:`.mutations` says what it does. A change needs no cleanup; what is
        created inside a run or an artifact version (its files, manifest, usage
        edges) goes with it; anything else created is a leak that no automatic
        delete knows, and a mutation nobody classified is :attr:`unknown`.
        """
        from ..protocol import classify

        if ex.field in self.harmless:
            return
        effect = classify(ex.field)
        if effect is None:
            self.unknown.append(Unknown(ex.index, ex.field, operation))
        elif effect.action == "create" and effect.contained_in not in _GOES_WITH:
            what = f"{effect.kind} created by {ex.field} #{ex.index}"
            self.mark_created(self.resource("other", "", "", what), ex.index)

    # -- what the traffic changed of resources it did not create ----------------------

    def _judge(self, ex: Exchange, subject: Resource | None) -> None:
        """Whatever ``ex`` changes (:attr:`.mutations.Effect.changes`) on a resource the
        recording is not proven to have created is a foreign change (fail closed)."""
        from ..protocol import RESTORABLE, classify

        effect = classify(ex.field)
        if effect is None or ex.field in self.harmless or not effect.changes:
            return
        if subject is None and effect.target is not None:
            subject = self._target(ex, effect.target)
        at = (ex.index, ex.field)
        for aspect in effect.changes:
            if aspect == "aliases":
                self._change_aliases(ex, effect.action == "delete", subject)
            elif aspect == "membership":
                continue  # the link's rule judges it: owned, found, or uncertain (reported)
            elif self._owns(subject):
                continue
            elif aspect == "artifact_fields" and subject is not None and subject.ids:
                self._change_artifact(ex, subject)
            elif aspect == "run_fields" and subject is not None and subject.kind == "run":
                self._change_run(at, subject, _run_changes(_input(ex), ex.outcome))
            else:
                what = subject.name if subject is not None else f"{effect.kind} (unresolved)"
                kind = subject.kind if subject is not None else str(effect.kind)
                # A restorable aspect of something the traffic does not name: unresolved.
                known = aspect if aspect not in RESTORABLE else "unresolved"
                self.foreign.lasting_change(what, kind, known, at)

    def _owns(self, resource: Resource | None) -> bool:
        """Created by the observed traffic, and new (a collection emptied is not)."""
        return resource is not None and resource.owned and not self._preexisted(resource)

    def _target(self, ex: Exchange, argument: str) -> Resource | None:
        """What ``argument`` (anywhere in the input) names by server id; one resource or None."""
        found = {id(r): r for r in (self.by_id(i) for i in _find(_input(ex), argument)) if r}
        if len(found) != 1:
            return None
        return next(iter(found.values()))

    def _change_aliases(self, ex: Exchange, remove: bool, subject: Resource | None) -> None:
        """Aliases set on (or removed from) a version, in collections the test did not create."""
        named = _find(_input(ex), "artifactID")
        holder: Any = UNKNOWN
        if subject is not None and subject.ids:
            holder = subject.ids[0]
        elif len(named) == 1:
            holder = named[0]  # a version no answer described: known by its id
        if ex.outcome != "succeeded":
            holder = UNKNOWN

        def removed(now: Any) -> Any:
            # Off the version only if it held it (who holds it may be unknown).
            if now is UNKNOWN or holder is UNKNOWN:
                return UNKNOWN
            return None if now == holder else now

        for slot in self._slots(ex, subject):
            if not all(slot):  # fail closed: an alias of a collection nothing names
                name = f"{'/'.join(slot[:3])}:{slot[3]}"
                self.foreign.lasting_change(name, "alias", "unresolved", (ex.index, ex.field))
                continue
            if self._owns(self._by_key.get(("collection", *slot[:3]))):
                continue
            entity, project, collection, alias = slot
            self.foreign.change(
                ForeignState.alias_key(*slot),
                "alias",
                f"{entity}/{project}/{collection}:{alias}",
                (ex.index, ex.field),
                removed if remove else (lambda _now: holder),
                entity=entity,
                project=project,
                collection=collection,
                alias=alias,
            )

    def _slots(self, ex: Exchange, subject: Resource | None) -> list[tuple[str, str, str, str]]:
        """``(entity, project, collection, alias)`` of each alias in the input (``latest`` and
        version names are W&B's own); a part the traffic does not name is ``""``."""
        inp = _input(ex)
        found = []
        for a in _aliases(inp):
            collection = (
                _str(inp.get("artifactPortfolioName"))
                or a.get("artifactCollectionName")
                or _collection_name(inp)
                or (subject.local if subject is not None else "")
            )
            entity = a.get("entityName") or _str(inp.get("entityName"))
            project = a.get("projectName") or _str(inp.get("projectName"))
            if subject is not None:
                entity, project = entity or subject.entity, project or subject.project
            if not _w_and_b_alias(a["alias"]):
                found.append((entity, project, collection, a["alias"]))
        return found

    def _change_artifact(self, ex: Exchange, artifact: Resource) -> None:
        inp = _input(ex)
        changed = {k for k, v in inp.items() if v not in (None, [])}
        other = changed - ARTIFACT_FIELDS - ARTIFACT_IDENTITY
        if other:
            self.foreign.lasting_change(
                artifact.name, "artifact", "artifact_other", (ex.index, ex.field)
            )
        server_id = artifact.ids[0]
        self.foreign.change(
            ("artifact", server_id),
            "artifact",
            artifact.name,
            (ex.index, ex.field),
            lambda now: apply_artifact(now, inp, ex.outcome == "succeeded"),
            id=server_id,
        )

    def _change_run(self, at: tuple[int, str], run: Resource, values: dict[str, Any]) -> None:
        """``values``: the run's fields the exchange set (upsertBucket input names)."""
        if any(k not in RUN_FIELDS for k in values):
            self.foreign.lasting_change(run.name, "run", "run_other", at)
        modelled = {k: v for k, v in values.items() if k in RUN_FIELDS}
        if modelled:
            self.foreign.change(
                ForeignState.run_key(run.project, run.local),
                "run",
                run.name,
                at,
                lambda now: {**now, **modelled},
                id=run.ids[0] if run.ids else "",
            )

    def _file_stream(self, ix: Interaction, index: int, path: str) -> None:
        """A file_stream post to a run the recording did not create: its summary is followed
        (restorable), its history, console and state are not (W&B cannot take them back)."""
        m = _FILE_STREAM_RE.search(path)
        if m is None or outcome(ix.status, {}) == "refused":
            return
        run = self.run(*m.groups())
        if self._owns(run):
            return
        try:
            body = json.loads(ix.request_text() or "{}")
        except ValueError:
            body = None
        files = body.get("files") if isinstance(body, dict) else None
        files = files if isinstance(files, dict) else {}
        at = (index, "file_stream")
        summary = _get(files, "wandb-summary.json", "content")
        if isinstance(summary, list) and summary:
            # W&B keeps the last summary line as the run's summary (wandb-core sends it whole).
            self._change_run(at, run, {"summaryMetrics": _json_line(summary[-1])})
        if set(files) - {"wandb-summary.json"} or not isinstance(body, dict) or "complete" in body:
            self.foreign.lasting_change(run.name, "run", "history", at)

    def prior_reads(self, url: str, body: bytes | str | None) -> list[bytes]:
        """What the relay reads upstream before forwarding this request: the state before of
        each foreign state it may change that nothing read yet (:mod:`.foreign`).

        Called on the record path with the request as the client sent it; the reads'
        answers come back through :meth:`observe` before the request is forwarded.
        """
        path = urlsplit(url).path
        if path.endswith("/file_stream"):
            m = _FILE_STREAM_RE.search(path)
            return self._run_read(*m.groups()) if m else []
        if not path.endswith("/graphql"):
            return []
        request = graphql.parse_request(body)
        if request is None or not request.is_mutation:
            return []
        from ..protocol import classify

        reads: list[bytes] = []
        arguments = request.arguments()
        for i, name in enumerate(request.document.fields):
            effect = classify(name)
            if effect is None or not effect.changes:
                continue
            ex = Exchange(-1, name, request.variables, {}, "unknown", None, arguments[i])
            reads += self._reads_for(ex, effect.changes, effect.target)
        return list(dict.fromkeys(reads))

    def _reads_for(self, ex: Exchange, aspects: tuple[str, ...], target: str | None) -> list[bytes]:
        subject = self._target(ex, target) if target else None
        reads: list[bytes] = []
        if "aliases" in aspects:
            for slot in filter(all, self._slots(ex, subject)):
                key = ForeignState.alias_key(*slot)
                collection = self._by_key.get(("collection", *slot[:3]))
                if not self._owns(collection) and self.foreign.needs_read(key):
                    reads.append(prior_alias_read(*slot))
        for aspect, read in (
            ("artifact_fields", prior_artifact_read),
            ("membership", prior_links_read),
        ):
            if aspect not in aspects or not target:
                continue
            for artifact_id in _find(_input(ex), target):
                if not self._owns(self.by_id(artifact_id)) and self._unread(aspect, artifact_id):
                    reads.append(read(artifact_id))
        if "run_fields" in aspects:
            run = _run_input(ex)
            if run["id"]:
                named = _run_from_storage_id(self, run["id"])
                run = _run_path(named) if named is not None else run
            reads += self._run_read(run["entity"], run["project"], run["name"])
        return reads

    def _unread(self, aspect: str, artifact_id: str) -> bool:
        if aspect == "membership":
            return artifact_id not in self.foreign.memberships
        return self.foreign.needs_read(("artifact", artifact_id))

    def _run_read(self, entity: str, project: str, name: str) -> list[bytes]:
        if not project or not name or name in self.fresh_run_ids:
            return []
        known = self.run(entity, project, name)  # the key's default entity may be left out
        if self._owns(known) or not self.foreign.needs_read(ForeignState.run_key(project, name)):
            return []
        return [prior_run_read(entity, project, name)]

    def is_declared(self, name: str) -> bool:
        """Whether ``keep`` or ``foreign_changes`` names ``name`` (a change to it is intended)."""
        patterns = (*self.keep, *self.foreign_patterns)
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)

    def foreign_changes(self) -> list[ForeignChange]:
        """Every change to a resource the recording did not create, with its verdict:
        restored (as it was before), declared, or not undone (and why)."""
        return self.foreign.changes(self._exists)

    def restores(self) -> list[Restore]:
        """What the cleanup sends now to put back every foreign state the traffic changed,
        from the state read before (after the deletes: a version deleted takes its aliases)."""
        return self.foreign.restores(self._exists)

    def _exists(self, server_id: str) -> bool:
        """Not deleted by the observed traffic (as far as it shows)."""
        found = self.by_id(server_id)
        return bool(server_id) and (found is None or found.deleted_at is None)

    # -- results ---------------------------------------------------------------------

    @property
    def resources(self) -> list[Resource]:
        """Every resource seen, created here or not, in order of first mention."""
        return list(self._resources)

    @property
    def created(self) -> list[Resource]:
        """Resources created (owned) by the observed exchanges, in order of creation.

        A collection claimed because the first version logged to it found no
        latest version is given up when an answer shows that version's index
        above 0: the collection had versions before (emptied, not new; W&B
        numbers versions per collection and does not reuse numbers).
        """
        return [r for r in self._changed("created") if not self._preexisted(r)]

    def _preexisted(self, collection: Resource) -> bool:
        if collection.kind != "collection":
            return False
        indices = [
            r.version
            for r in self._resources
            if r.kind == "artifact" and r.container is collection and r.owned
        ]
        known = [i for i in indices if i is not None]
        return bool(known) and min(known) > 0

    @property
    def deleted(self) -> list[Resource]:
        """Resources deleted by the observed exchanges (created here or before)."""
        return self._changed("deleted")

    @property
    def foreign_deleted(self) -> list[Resource]:
        """Resources the traffic deleted that it did not create (aliases: see
        :meth:`foreign_changes`, which judges them by the version that held them)."""
        return [r for r in self.deleted if not self._owns(r) and r.kind != "alias"]

    @property
    def kept(self) -> list[Resource]:
        """Resources created, not deleted, and kept on purpose (``keep``); and links the
        traffic made of versions it did not create, kept so (:meth:`uncertain_links`)."""
        return [
            r
            for r in [*self.created, *self._uncertain_links()]
            if r.deleted_at is None and self.is_kept(r)
        ]

    def leaks(self) -> list[Resource]:
        """Resources created here and left behind, not kept.

        What sits in a leaked container (a leaked run's files, a leaked
        collection's versions) is reported through the container only.
        """
        return [
            r
            for r in self.created
            if self._leaked(r)
            and not _by_design(r)
            and not (r.container is not None and self._leaked(r.container))
        ]

    def uncertain_links(self) -> list[tuple[str, int]]:
        """Links of versions the recording did not create, left linked and not kept.

        W&B answers a ``linkArtifact`` of a version already in the portfolio with the
        existing membership, so nothing in the exchange says whether the test made
        the link or found it: the cleanup leaves it (it could be a teammate's) and
        the audit reports it. Returns ``(name, index of the linkArtifact)``.
        """
        return [
            (r.name, r.uncertain_at)
            for r in self._uncertain_links()
            if r.uncertain_at is not None and not self.is_kept(r) and not self.is_declared(r.name)
        ]

    def _uncertain_links(self) -> list[Resource]:
        """Links of versions the recording did not create, still linked."""
        return [
            r
            for r in self._resources
            if r.kind == "link" and r.uncertain_at is not None and r.deleted_at is None
        ]

    def left_by_design(self) -> list[Resource]:
        """Created here, not deleted, of a kind no cleanup deletes (:data:`LEFT_BY_DESIGN`).

        A sweep counts only once the traffic shows it stopped (the cleanup cancels
        it): a sweep left running is a leak, its agents could still start runs.
        """
        return [r for r in self.created if self._leaked(r) and _by_design(r)]

    def leftovers(self) -> list[Resource]:
        """Everything created here and left, not kept: what the cleanup deletes, one by one.

        Unlike :meth:`leaks`, what sits in a leaked container is listed too (a
        collection is deleted only once the versions the recording created are);
        run files go with their run and projects are never deleted: both left out.
        """
        return [
            r for r in self.created if self._leaked(r) and r.kind not in ("run_file", "project")
        ]

    def is_kept(self, resource: Resource) -> bool:
        """Whether ``resource`` is kept: it matches ``keep``, or holds or sits in what does."""
        return self.kept_reason(resource) is not None

    def kept_reason(self, resource: Resource) -> str | None:
        """Why ``resource`` is kept (the pattern, or the kept resource it goes with), or None."""
        for pattern in self.keep:
            if fnmatch.fnmatchcase(resource.name, pattern):
                return f"matches keep={pattern!r}"
        if resource.container is not None:
            reason = self.kept_reason(resource.container)
            if reason is not None:
                return f"inside kept {resource.container.name}"
        for inner in self._resources:
            if (
                inner.container is resource
                and inner.owned
                and inner.deleted_at is None
                and any(fnmatch.fnmatchcase(inner.name, p) for p in self.keep)
            ):
                return f"holds kept {inner.name}"
        return None

    def events_at(self, index: int) -> list[Event]:
        """What the exchange at ``index`` created or deleted."""
        return [e for e in self.events if e.index == index]

    def _changed(self, change: Change) -> list[Resource]:
        # dict.fromkeys: a resource created again after a delete is listed once.
        return list(dict.fromkeys(e.resource for e in self.events if e.change == change))

    def _leaked(self, r: Resource) -> bool:
        owned = r.owned and not self._preexisted(r)
        return owned and r.deleted_at is None and not self.is_kept(r)

    # -- bookkeeping used by the rules ---------------------------------------------

    def resource(self, kind: Kind, entity: str, project: str, local: str) -> Resource:
        """The resource with this name, registered on first mention."""
        key = (kind, entity, project, local)
        found = self._by_key.get(key)
        if found is None:
            found = Resource(kind, entity, project, local)
            self._by_key[key] = found
            self._resources.append(found)
        return found

    def run(self, entity: str, project: str, run_id: str) -> Resource:
        """The run ``entity/project/run_id``; an empty entity is the key's default one.

        wandb-core leaves the entity to the server when the user gave none, so a
        request (and a lost answer) may name the run without it while a later
        answer names it with it: both are the same run.
        """
        known = self._by_key.get(("run", entity, project, run_id))
        if known is not None:
            return known
        for (kind, e, p, local), found in list(self._by_key.items()):
            if kind == "run" and p == project and local == run_id and (not e or not entity):
                if entity and not e:  # adopt the entity an answer taught
                    del self._by_key[(kind, e, p, local)]
                    found.entity = entity
                    self._by_key[("run", entity, project, run_id)] = found
                return found
        return self.resource("run", entity, project, run_id)

    def by_id(self, server_id: str) -> Resource | None:
        """The resource a server id was seen for, if any."""
        return self._by_id.get(server_id)

    def by_client_id(self, client_id: str) -> Resource | None:
        """The artifact version created with this ``clientID``, if any."""
        return self._by_client_id.get(client_id)

    def new_artifact(self, entity: str, project: str, collection: str) -> Resource:
        """Register an artifact version, known by its ids until its version is."""
        artifact = Resource("artifact", entity, project, collection)
        self._resources.append(artifact)
        return artifact

    def learn_id(self, resource: Resource, server_id: Any) -> None:
        """Remember that ``server_id`` names ``resource`` (ignores non-strings)."""
        if isinstance(server_id, str) and server_id and server_id not in resource.ids:
            resource.ids.append(server_id)
            self._by_id[server_id] = resource

    def learn_client_id(self, resource: Resource, client_id: Any) -> None:
        """Remember that ``client_id`` was sent for ``resource`` (the latest one wins)."""
        if isinstance(client_id, str) and client_id:
            if client_id not in resource.client_ids:
                resource.client_ids.append(client_id)
            self._by_client_id[client_id] = resource

    def mark_created(self, resource: Resource, index: int, *, unconfirmed: bool = False) -> None:
        """Mark ``resource`` created; one deleted before lives again (a run id reused)."""
        if resource.created_at is None or resource.deleted_at is not None:
            resource.created_at, resource.deleted_at = index, None
            resource.unconfirmed = unconfirmed
            self.events.append(Event(index, "created", resource))
        elif not unconfirmed:
            resource.unconfirmed = False

    def mark_deleted(self, resource: Resource, index: int) -> None:
        """Mark ``resource`` and whatever goes with it deleted (first delete wins)."""
        if resource.deleted_at is not None:
            return
        resource.deleted_at = index
        self.events.append(Event(index, "deleted", resource))
        where = (resource.entity, resource.project, resource.local)
        if resource.kind == "artifact":
            self.foreign.gone(resource.ids)
        elif resource.kind == "collection":
            self.foreign.gone((), where)
        elif resource.kind == "link" and resource.target is not None:
            self.foreign.gone(resource.target.ids, where, only_there=True)
        for inner in self._resources:
            if inner.container is resource or inner.target is resource:
                self.mark_deleted(inner, index)

    def mark_absent(self, resource: Resource) -> None:
        """An unconfirmed creation turned out not to have happened: forget it."""
        if resource.unconfirmed and resource.deleted_at is None:
            resource.created_at = None
            resource.unconfirmed = False
            self.events = [e for e in self.events if e.resource is not resource]

    def link(self, entity: str, project: str, portfolio: str, source: Resource) -> Resource:
        """The link of version ``source`` into portfolio ``entity/project/portfolio``."""
        for r in self._resources:
            if (
                r.kind == "link"
                and r.target is source
                and (r.entity, r.project, r.local)
                == (
                    entity,
                    project,
                    portfolio,
                )
            ):
                return r
        link = Resource("link", entity, project, portfolio, target=source, type=source.type)
        self._resources.append(link)
        return link

    def logged_by(self, run: Resource) -> Iterator[Resource]:
        """The artifact versions ``run`` logged."""
        return (r for r in list(self._resources) if r.logged_by is run)

    def seen_aliases(self, artifact_id: str) -> set[str] | None:
        """The aliases an answer showed artifact ``artifact_id`` to have, if any answer did."""
        return self._seen_aliases.get(artifact_id)


def unresolved(ledger: Ledger) -> list[str]:
    """What the traffic changed that is not as it was, one sentence each (audit, recording).

    Each change to a resource the recording did not create that was neither
    restored nor declared (:meth:`Ledger.foreign_changes`), and each link of such a
    version that may have existed before (:meth:`Ledger.uncertain_links`).
    """
    lines = [c.describe() for c in ledger.foreign_changes() if c.status == "unrestored"]
    lines += [
        f"linked {name} (#{index}), a version it did not create: W&B answers a link that "
        "existed before like a new one, so the cleanup leaves it (it may be a teammate's); "
        "unlink it in the test, link a version of the test's own, or keep=[...] it"
        for name, index in ledger.uncertain_links()
    ]
    return lines


def _by_design(r: Resource) -> bool:
    """Left by design: a project, or a sweep the traffic stopped (:data:`LEFT_BY_DESIGN`)."""
    return r.kind == "project" or (r.kind == "sweep" and r.stopped_at is not None)


def keep_names(metadata: dict[str, Any], key: str = "keep") -> list[str]:
    """The ``keep`` (or other ``key``) names in a cassette's metadata (a string or a list)."""
    keep = metadata.get(key) or []
    if isinstance(keep, str):
        return [keep]
    return [str(k) for k in keep] if isinstance(keep, list) else []


# -- reading exchanges -------------------------------------------------------------------


def outcome(status: int, body: Any) -> Outcome:
    """Succeeded, refused (nothing happened), or unknown (the answer was lost or cut)."""
    if 200 <= status < 300:
        if not isinstance(body, dict):
            return "unknown"  # a truncated or garbled answer: the server may have done it
        return "refused" if graphql.response_errors(body) else "succeeded"
    if status >= 500 or status in (408, 429):
        # 5xx: the server (or the relay, for a dropped connection) failed after the
        # request may have been carried out. 408/429 are "not now": refused.
        return "refused" if status in (408, 429) else "unknown"
    return "refused"


def _payload(data: dict[str, Any], name: str) -> Any:
    """The answer of root field ``name``: under its name, or the SDK's alias ``result``."""
    if name in data:
        return data[name]
    if len(data) == 1:
        return next(iter(data.values()))
    return data.get("result")


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _input(ex: Exchange) -> dict[str, Any]:
    """The mutation's ``input`` argument as the server reads it (schema field names).

    Read from the document with the variables substituted, so that inline values
    (``deleteRun(input: {id: "..."})``, a user's own ``execute_graphql``) count as
    much as the SDK's variables. A document that does not parse falls back to the
    ``input`` variable, or the variables themselves.
    """
    inp = ex.arguments.get("input")
    if isinstance(inp, dict):
        return inp
    if ex.arguments:
        return ex.arguments
    inp = ex.variables.get("input")
    return inp if isinstance(inp, dict) else ex.variables


def _find(data: Any, key: str) -> list[str]:
    """Every string under ``key`` anywhere in ``data`` (an input object), in order."""
    found = []
    if isinstance(data, dict):
        for k, value in data.items():
            if k == key and isinstance(value, str) and value:
                found.append(value)
            else:
                found += _find(value, key)
    elif isinstance(data, list):
        for value in data:
            found += _find(value, key)
    return list(dict.fromkeys(found))


def _w_and_b_alias(alias: str) -> bool:
    """``latest`` (W&B keeps it on the newest version, after deletes too) and version names
    (``v3``) are not aliases a test moves."""
    return alias == "latest" or re.fullmatch(r"v\d+", alias) is not None


def _run_changes(inp: dict[str, Any], result: Outcome) -> dict[str, Any]:
    """The run fields an upsertBucket input sets (null: unchanged), as the model compares
    them; a lost answer leaves their values unknown."""
    changed = {k: v for k, v in inp.items() if k not in RUN_IDENTITY and v is not None}
    if result != "succeeded":
        return dict.fromkeys(changed, UNKNOWN)
    return {k: run_value(k, v) if k in RUN_FIELDS else v for k, v in changed.items()}


def _json_line(line: Any) -> Any:
    value = json_value(line)
    return value if isinstance(value, dict) else UNKNOWN


def _run_path(run: Resource) -> dict[str, str]:
    return {"entity": run.entity, "project": run.project, "name": run.local, "id": ""}


def _project_of(node: Any) -> tuple[str, str] | None:
    """(entity, project) of a ``project { name entity { name } }`` selection."""
    entity, project = _get(node, "project", "entity", "name"), _get(node, "project", "name")
    if isinstance(entity, str) and isinstance(project, str):
        return entity, project
    return None


def _walk(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _walk(value)
    elif isinstance(data, list):
        for value in data:
            yield from _walk(value)


#: Sweep states in which agents may still start runs; any other (CANCELED, FINISHED...) is
#: stopped (wandb/apis/public/sweeps.py: ``_set_sweep_state`` cancels only these, and says
#: "Sweep already canceled/finished" of the others).
ACTIVE_SWEEP_STATES = frozenset({"RUNNING", "PAUSED", "PENDING"})


def _stopped(state: Any) -> bool:
    return isinstance(state, str) and bool(state) and state.upper() not in ACTIVE_SWEEP_STATES


def _learn_ids(ledger: Ledger, data: dict[str, Any]) -> None:
    """Map the ids of every artifact and collection an answer describes.

    Artifacts come as ``{id, versionIndex, artifactSequence {name project
    {name entity {name}}}, aliases}`` (ArtifactByID, ArtifactMembershipByName,
    ProjectArtifacts...), collections as ``{__typename, id, name, project}``
    (ProjectArtifactCollection(s)...).
    """
    for node in _walk(data):
        server_id = node.get("id")
        if not isinstance(server_id, str):
            continue
        _learn_membership_aliases(ledger, node)
        if _stopped(node.get("state")):
            # A sweep an answer shows stopped (SweepWithRuns, before a cancel that the SDK
            # then refuses to send: "Sweep already finished").
            known = ledger.by_id(server_id)
            if known is not None and known.kind == "sweep" and known.stopped_at is None:
                known.stopped_at = ledger.current
        sequence = node.get("artifactSequence")
        if isinstance(sequence, dict):
            _learn_artifact(ledger, node, server_id, sequence)
        elif node.get("__typename") in COLLECTION_TYPENAMES:
            _learn_collection(ledger, node, server_id)


def _learn_artifact(
    ledger: Ledger, node: dict[str, Any], server_id: str, sequence: dict[str, Any]
) -> None:
    where, name = _project_of(sequence), sequence.get("name")
    if where is None or not isinstance(name, str):
        return
    artifact = ledger.by_id(server_id)
    if artifact is None:
        artifact = ledger.new_artifact(*where, name)
        ledger.learn_id(artifact, server_id)
    if isinstance(node.get("versionIndex"), int):
        artifact.version = node["versionIndex"]
    if artifact.container is None:
        artifact.container = ledger.resource("collection", *where, name)
    type_name = _get(node, "artifactType", "name")  # ArtifactFragment's artifactType { name }
    if isinstance(type_name, str) and type_name:
        artifact.type = artifact.type or type_name
        artifact.container.type = artifact.container.type or type_name
    aliases = node.get("aliases")
    if isinstance(aliases, list):
        seen = ledger._seen_aliases.setdefault(server_id, set())
        seen.update(a["alias"] for a in aliases if isinstance(a, dict) and "alias" in a)


def _learn_membership_aliases(ledger: Ledger, node: dict[str, Any]) -> None:
    """The aliases of a collection membership: ``Api().artifact(name)`` reads them there.

    wandb 0.31 asks ``ArtifactMembershipByName`` with ``includeAliases: false``, so
    the aliases come on the ``ArtifactCollectionMembership`` node, beside its
    ``artifact`` (wandb/sdk/artifacts/_generated/operations.py,
    ``ArtifactMembershipFragment``), not on the artifact node.
    """
    artifact, aliases = node.get("artifact"), node.get("aliases")
    if isinstance(artifact, dict) and isinstance(aliases, list):
        artifact_id = artifact.get("id")
        if isinstance(artifact_id, str):
            seen = ledger._seen_aliases.setdefault(artifact_id, set())
            seen.update(a["alias"] for a in aliases if isinstance(a, dict) and "alias" in a)


def _learn_collection(ledger: Ledger, node: dict[str, Any], server_id: str) -> None:
    where, name = _project_of(node), node.get("name")
    if where is not None and isinstance(name, str) and ledger.by_id(server_id) is None:
        ledger.learn_id(ledger.resource("collection", *where, name), server_id)


def _run_from_storage_id(ledger: Ledger, server_id: str) -> Resource | None:
    """A run named by its storage id, which is base64 of ``Run:v1:<run>:<project>:<entity>``."""
    try:
        decoded = base64.b64decode(server_id, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    parts = decoded.split(":")
    if len(parts) != 5 or parts[:2] != ["Run", "v1"]:
        return None
    run = ledger.run(parts[4], parts[3], parts[2])
    ledger.learn_id(run, server_id)
    return run


def _resolve(ledger: Ledger, kind: Kind, server_id: Any) -> Resource | None:
    """The resource a delete names; one never seen is registered by its id alone."""
    if not isinstance(server_id, str) or not server_id:
        return None
    found = ledger.by_id(server_id)
    if found is None and kind == "run":
        found = _run_from_storage_id(ledger, server_id)
    if found is None:
        found = ledger.resource(kind, "", "", server_id)
        ledger.learn_id(found, server_id)
    return found


# -- the rules: one per mutation field -------------------------------------------------


def _upsert_bucket(ledger: Ledger, ex: Exchange) -> Resource | None:
    """A run is created by ``inserted: true``, or by a sent upsert of a run id drawn fresh here.

    An upsert naming the run by storage ``id`` updates an existing run (a
    resume, ``run.finish``): never a creation.
    """
    inp = _run_input(ex)
    bucket = _get(ex.payload, "bucket")
    where = _project_of(bucket) or (inp["entity"], inp["project"])
    run_id = _get(bucket, "name") or inp["name"]
    if (not isinstance(run_id, str) or not run_id) and inp["id"]:
        return _resolve(ledger, "run", inp["id"])  # public Run.update(): by storage id alone
    if not isinstance(run_id, str) or not run_id:
        return None
    run = ledger.run(*where, run_id)
    ledger.learn_id(run, _get(bucket, "id") or inp["id"])
    if ex.outcome == "refused" or inp["id"]:
        return run
    inserted = _get(ex.payload, "inserted") is True
    if ex.outcome == "succeeded" and inserted:
        ledger.mark_created(run, ex.index)
    elif run_id in ledger.fresh_run_ids:
        # Our own fresh id: if the run exists, this recording made it (an answer was lost).
        ledger.mark_created(run, ex.index, unconfirmed=ex.outcome == "unknown")
    return run


def _run_input(ex: Exchange) -> dict[str, str]:
    """``upsertBucket``'s ``id``, ``name``, ``entity`` and ``project`` (``""`` when absent).

    The schema's names (``input: {name, modelName, entityName}``) first, then
    wandb-core's variable names (``$name``, ``$project``, ``$entity``) for a
    document that does not parse.
    """
    inp, v = _input(ex), ex.variables
    pairs = {"id": "id", "name": "name", "entity": "entityName", "project": "modelName"}
    return {key: _str(inp.get(arg)) or _str(v.get(key)) for key, arg in pairs.items()}


def _create_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``createArtifact`` answered PENDING → a new version; its collection if it had no latest.

    With digest deduplication the server answers an unchanged artifact with the
    existing, COMMITTED version: nothing was created. When the answer was lost
    the version is owned by its ``clientID``, resolved at cleanup.
    """
    inp = _input(ex)
    entity, project = _str(inp.get("entityName")), _str(inp.get("projectName"))
    collection_name = _collection_name(inp)
    if not collection_name or ex.outcome == "refused":
        return None
    client_id = inp.get("clientID")
    collection = ledger.resource("collection", entity, project, collection_name)
    type_name = inp.get("artifactTypeName")
    if isinstance(type_name, str):
        collection.type = type_name
    node = _get(ex.payload, "artifact")
    server_id = _get(node, "id")
    if ex.outcome == "unknown" or not isinstance(server_id, str):
        if ex.outcome == "succeeded" or not isinstance(client_id, str):
            return None  # answered without an id: nothing to go by
        artifact = ledger.by_client_id(client_id) or ledger.new_artifact(
            entity, project, collection_name
        )
        ledger.learn_client_id(artifact, client_id)
        _describe_artifact(ledger, artifact, collection, inp)
        ledger.mark_created(artifact, ex.index, unconfirmed=True)
        return artifact
    existing = ledger.by_id(server_id)
    # Else the version a lost answer left unconfirmed, now answered; else a new one (the
    # same clientID answered with another id is another version).
    pending = ledger.by_client_id(_str(client_id))
    if existing is not None:
        artifact = existing
    elif pending is not None and not pending.ids:
        artifact = pending
    else:
        artifact = ledger.new_artifact(entity, project, collection_name)
    ledger.learn_id(artifact, server_id)
    ledger.learn_client_id(artifact, client_id)
    _describe_artifact(ledger, artifact, collection, inp)
    if _get(node, "state") not in (None, "PENDING"):
        return artifact  # deduplicated: the existing, committed version
    if existing is not None and existing.owned and not existing.unconfirmed:
        return artifact
    sequence = _get(node, "artifactSequence")
    if isinstance(sequence, dict) and sequence.get("latestArtifact", True) is None:
        ledger.mark_created(collection, ex.index)
    ledger.mark_created(artifact, ex.index)
    return artifact


def _describe_artifact(
    ledger: Ledger, artifact: Resource, collection: Resource, inp: dict[str, Any]
) -> None:
    artifact.container = collection
    artifact.type = collection.type
    run_name = inp.get("runName")
    if isinstance(run_name, str) and run_name:
        artifact.logged_by = ledger.run(artifact.entity, artifact.project, run_name)


def _collection_name(inp: dict[str, Any]) -> str:
    # wandb-core sends one name; older clients sent a list, the first is the sequence.
    name = inp.get("artifactCollectionName")
    if isinstance(name, str):
        return name
    names = inp.get("artifactCollectionNames")
    return names[0] if isinstance(names, list) and names and isinstance(names[0], str) else ""


def _commit_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``commitArtifact`` → the pending version is committed (still to delete)."""
    artifact = ledger.by_id(_str(_input(ex).get("artifactID") or ex.variables.get("artifactID")))
    if ex.outcome == "succeeded" and artifact is not None and artifact.committed_at is None:
        artifact.committed_at = ex.index
    return artifact


def _create_run_files(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``createRunFiles`` → one run file per file, inside the run when the run is owned."""
    run = _named_run(ledger, ex)
    if run is None or ex.outcome != "succeeded":
        return run
    ledger.learn_id(run, _get(ex.payload, "runID"))
    if not run.owned:
        return run  # the files of a resumed, pre-existing run belong to that run: foreign
    entity, project, run_id = run.entity, run.project, run.local
    for name in _run_file_names(ex):
        run_file = ledger.resource("run_file", entity, project, f"{run_id}/{name}")
        run_file.container = run
        ledger.mark_created(run_file, ex.index)
    return run


def _named_run(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The run a mutation names by ``entityName``/``projectName``/``runName`` (wandb-core's
    CreateRunFiles, UseArtifact, MarkRunFilesUploaded, NotifyScriptableRunAlert, RewindRun)."""
    inp, v = _input(ex), ex.variables
    entity = _str(inp.get("entityName")) or _str(v.get("entity"))
    project = _str(inp.get("projectName")) or _str(v.get("project"))
    run_id = _str(inp.get("runName")) or _str(v.get("run"))
    return ledger.run(entity, project, run_id) if run_id else None


def _run_file_names(ex: Exchange) -> list[str]:
    files = _get(ex.payload, "files")
    if isinstance(files, list):
        return [f["name"] for f in files if isinstance(f, dict) and isinstance(f.get("name"), str)]
    asked = _input(ex).get("files") or ex.variables.get("files")
    return [f for f in asked if isinstance(f, str)] if isinstance(asked, list) else []


def _delete_run(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``deleteRun`` → the run and its files; with ``deleteArtifacts`` its artifacts too."""
    run = _resolve(ledger, "run", _input(ex).get("id"))
    if run is None or ex.outcome != "succeeded":
        return run
    ledger.mark_deleted(run, ex.index)
    if _input(ex).get("deleteArtifacts") is True:
        for artifact in ledger.logged_by(run):
            ledger.mark_deleted(artifact, ex.index)
    return run


def _delete_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``deleteArtifact`` → that artifact version (and, with ``deleteAliases``, its aliases)."""
    artifact = _resolve(ledger, "artifact", _input(ex).get("artifactID"))
    if artifact is not None and ex.outcome == "succeeded":
        ledger.mark_deleted(artifact, ex.index)
    return artifact


def _delete_collection(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``deleteArtifactSequence`` / ``deleteArtifactPortfolio`` → the collection, its versions."""
    inp = _input(ex)
    server_id = (
        ex.variables.get("id") or inp.get("artifactSequenceID") or inp.get("artifactPortfolioID")
    )
    collection = _resolve(ledger, "collection", server_id)
    if collection is not None and ex.outcome == "succeeded":
        ledger.mark_deleted(collection, ex.index)
    return collection


def _link_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``linkArtifact`` → a registry link (portfolio membership), owned when the version is ours.

    Linking a pre-existing version may find it linked already (W&B answers the
    existing membership), so only links of owned versions are owned.
    """
    inp = _input(ex)
    artifact_id = _str(inp.get("artifactID"))
    source = ledger.by_id(artifact_id) or ledger.by_client_id(_str(inp.get("clientID")))
    if ex.outcome != "succeeded":
        return source
    membership = _get(ex.payload, "artifactMembership")
    portfolio = _get(membership, "artifactCollection")
    where = _project_of(portfolio) or (_str(inp.get("entityName")), _str(inp.get("projectName")))
    portfolio_name = _get(portfolio, "name") or inp.get("artifactPortfolioName")
    if source is None and artifact_id:  # a version no answer described: known by its id
        source = ledger.resource("artifact", "", "", artifact_id)
        ledger.learn_id(source, artifact_id)
    if not isinstance(portfolio_name, str) or source is None:
        return source
    version = _get(ex.payload, "versionIndex")
    link = ledger.link(*where, portfolio_name, source)
    if isinstance(version, int):
        link.version = version
    ledger.learn_id(link, _get(membership, "id"))
    before = ledger.foreign.linked_before(artifact_id, (*where, portfolio_name))
    if before is True:
        return source  # it was linked before (the relay read it): nothing new
    if not source.owned and before is None:
        link.uncertain_at = ex.index  # maybe the test's, maybe there before: reported
    else:
        # Of the test's version, or of another version that the read showed unlinked there.
        ledger.mark_created(link, ex.index)
        # The portfolio (a registry collection) is the recording's when its first link is
        # this one (v0) and no earlier answer showed it; the cleanup also checks its age
        # against the link's on W&B's own clock, as a collection made in the UI before the
        # test gets a v0 too (cleanup._OwnedCollection).
        portfolio_resource = ledger.resource("collection", *where, portfolio_name)
        portfolio_resource.type = portfolio_resource.type or source.type
        if version == 0 and not portfolio_resource.ids and portfolio_resource.created_at is None:
            portfolio_resource.portfolio_of = _get(membership, "createdAt") or ""
            ledger.mark_created(portfolio_resource, ex.index)
        link.container = portfolio_resource
    return source


def _unlink_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``unlinkArtifact`` → the link of that version in that portfolio."""
    inp = _input(ex)
    source = ledger.by_id(_str(inp.get("artifactID")))
    portfolio = ledger.by_id(_str(inp.get("artifactPortfolioID")))
    links = [
        r
        for r in ledger.resources
        if r.kind == "link"
        and r.target is source
        and (
            portfolio is None
            or (r.entity, r.project, r.local)
            == (portfolio.entity, portfolio.project, portfolio.local)
        )
    ]
    if ex.outcome == "succeeded":
        for link in links:
            ledger.mark_deleted(link, ex.index)
    return links[0] if len(links) == 1 else None


def _upsert_sweep(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``upsertSweep`` without an ``id`` → a new sweep (with one, an update)."""
    inp = _input(ex)
    known = ledger.by_id(_str(inp.get("id")))
    known = known if known is not None and known.kind == "sweep" else None
    sweep = _get(ex.payload, "sweep")
    name = _get(sweep, "name")
    if ex.outcome != "succeeded" or not isinstance(name, str):
        return known
    where = _project_of(sweep) or (_str(inp.get("entityName")), _str(inp.get("projectName")))
    resource = known or ledger.resource("sweep", *where, name)
    ledger.learn_id(resource, _get(sweep, "id"))
    if not inp.get("id"):
        ledger.mark_created(resource, ex.index)
    elif _stopped(inp.get("state")):
        resource.stopped_at = ex.index  # what `wandb sweep --cancel` and the cleanup send
    return resource


def _create_agent(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``createAgent`` → the sweep it joins, named by ``sweep`` (its name) in its project
    (wandb/apis/public/sweeps.py ``_register_agent``)."""
    inp = _input(ex)
    name = _str(inp.get("sweep"))
    where = (_str(inp.get("entityName")), _str(inp.get("projectName")))
    return ledger.resource("sweep", *where, name) if name else None


def _add_aliases(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``addAliases`` to a version: an alias is owned when an answer showed it absent before
    (from the version, and from every other version of the collection when that was read)."""
    inp = _input(ex)
    artifact_id = _str(inp.get("artifactID"))
    target = ledger.by_id(artifact_id)
    if ex.outcome != "succeeded":
        return target
    before = ledger.seen_aliases(artifact_id)
    for alias in _aliases(inp):
        resource = _alias(ledger, target, artifact_id, alias)
        where = (resource.entity, resource.project, *resource.local.rsplit(":", 1))
        slot = ledger.foreign.get(ForeignState.alias_key(*where))
        # Held by another version before (the relay read it): moved, not created; the
        # cleanup gives it back to that version (:mod:`.foreign`).
        moved = slot is not None and isinstance(slot.prior, str)
        new = before is not None and alias["alias"] not in before and not moved
        if new and not (target and target.owned):
            ledger.mark_created(resource, ex.index)
        if before is not None:
            before.add(alias["alias"])
    return target


def _delete_aliases(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``deleteAliases`` → those aliases of that version."""
    inp = _input(ex)
    artifact_id = _str(inp.get("artifactID"))
    target = ledger.by_id(artifact_id)
    if ex.outcome != "succeeded":
        return target
    for alias in _aliases(inp):
        ledger.mark_deleted(_alias(ledger, target, artifact_id, alias), ex.index)
        seen = ledger.seen_aliases(artifact_id)
        if seen is not None:
            seen.discard(alias["alias"])
    return target


def _aliases(inp: dict[str, Any]) -> list[dict[str, str]]:
    aliases = inp.get("aliases")
    if not isinstance(aliases, list):
        return []
    return [a for a in aliases if isinstance(a, dict) and isinstance(a.get("alias"), str)]


def _alias(
    ledger: Ledger, target: Resource | None, artifact_id: str, alias: dict[str, str]
) -> Resource:
    collection = alias.get("artifactCollectionName") or (target.local if target else artifact_id)
    entity = alias.get("entityName") or (target.entity if target else "")
    project = alias.get("projectName") or (target.project if target else "")
    resource = ledger.resource("alias", entity, project, f"{collection}:{alias['alias']}")
    resource.target = target
    if target is not None:
        resource.ids = [artifact_id]
    return resource


def _upsert_model(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``upsertModel`` (``api.create_project``) answered ``inserted: true`` → a new project."""
    project = _get(ex.payload, "project") or _get(ex.payload, "model")
    name = _get(project, "name")
    entity = _get(project, "entityName") or _get(project, "entity", "name")
    if ex.outcome != "succeeded" or not isinstance(name, str):
        return None
    resource = ledger.resource("project", _str(entity), name, name)
    ledger.learn_id(resource, _get(project, "id"))
    if _get(ex.payload, "inserted") is True:
        ledger.mark_created(resource, ex.index)
    return resource


RULES: dict[str, Rule] = {
    "upsertBucket": _upsert_bucket,
    "createArtifact": _create_artifact,
    "commitArtifact": _commit_artifact,
    "createRunFiles": _create_run_files,
    "deleteRun": _delete_run,
    "deleteArtifact": _delete_artifact,
    # ArtifactCollection.delete() sends one or the other (wandb/apis/public/artifacts.py).
    "deleteArtifactSequence": _delete_collection,
    "deleteArtifactPortfolio": _delete_collection,
    "linkArtifact": _link_artifact,
    "unlinkArtifact": _unlink_artifact,
    "upsertSweep": _upsert_sweep,
    "addAliases": _add_aliases,
    "deleteAliases": _delete_aliases,
    "upsertModel": _upsert_model,
    "createAgent": _create_agent,
    # Name the run they touch (a resumed run's is not the test's).
    "useArtifact": _named_run,
    "markRunFilesUploaded": _named_run,
    "notifyScriptableRunAlert": _named_run,
    "rewindRun": _named_run,
}
"""Mutation field → the rule that reads its exchange (whatever its outcome)."""


# -- queries that name what later mutations refer to ------------------------------------


def _run_query(ledger: Ledger, ex: Exchange) -> Resource | None:
    """``project { run(name:) { id } }`` (``api.run(path)``) → the run's storage id."""
    node = _get(ex.data, "project", "run")
    v = ex.variables
    name = _get(node, "name") or v.get("name")
    if isinstance(name, str) and name:
        run = ledger.run(_str(v.get("entity")), _str(v.get("project")), name)
        ledger.learn_id(run, _get(node, "id"))
    return None


def _client_id_mapping(ledger: Ledger, ex: Exchange) -> None:
    """``clientIDMapping(clientID:) { serverID }`` → confirms (or refutes) a lost creation."""
    client_id = _str(ex.variables.get("clientID"))
    artifact = ledger.by_client_id(client_id)
    if artifact is None:
        return None
    server_id = _get(ex.data, "clientIDMapping", "serverID")
    if isinstance(server_id, str):
        ledger.learn_id(artifact, server_id)
        artifact.unconfirmed = False
    elif "clientIDMapping" in ex.data:
        ledger.mark_absent(artifact)
    return None


def _prior_alias(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The relay's read of which version held an alias before a change (:mod:`.foreign`)."""
    v = ex.variables
    collection, _, alias = _str(v.get("name")).rpartition(":")
    where = (_str(v.get("entity")), _str(v.get("project")), collection, alias)
    if all(where):
        holder = _get(ex.data, "project", "artifactCollectionMembership", "artifact", "id")
        ledger.foreign.learn(
            ForeignState.alias_key(*where),
            "alias",
            f"{where[0]}/{where[1]}/{collection}:{alias}",
            holder if isinstance(holder, str) else None,
            **dict(zip(("entity", "project", "collection", "alias"), where, strict=True)),
        )
    return None


def _prior_artifact(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The relay's read of a version's fields before a change (:mod:`.foreign`)."""
    node = _get(ex.data, "artifact")
    artifact = ledger.by_id(_str(_get(node, "id")))
    if isinstance(node, dict) and artifact is not None:
        ledger.foreign.learn(
            ("artifact", node["id"]),
            "artifact",
            artifact.name,
            artifact_fields(node),
            id=node["id"],
        )
    return None


def _prior_links(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The relay's read of the collections a version was in, before a link of it."""
    node = _get(ex.data, "artifact")
    edges = _get(node, "artifactMemberships", "edges")
    if not isinstance(node, dict) or not isinstance(edges, list):
        return None
    where = [_get(e, "node", "artifactCollection") for e in edges]
    if not _str(node.get("id")):
        return None
    ledger.foreign.learn_memberships(
        _str(node.get("id")),
        [
            (*p, c["name"])
            for c in where
            if (p := _project_of(c)) and isinstance(c.get("name"), str)
        ],
    )
    return None


def _prior_run(ledger: Ledger, ex: Exchange) -> Resource | None:
    """The relay's read of a run's fields before a change (:mod:`.foreign`); null: no such run."""
    v = ex.variables
    project, name = _str(v.get("project")), _str(v.get("name"))
    if not project or not name or "model" not in ex.data:
        return None
    node = _get(ex.data, "model", "bucket")
    run = _run_from_storage_id(ledger, _str(_get(node, "id"))) if node else None
    label = run.name if run is not None else f"{_str(v.get('entity'))}/{project}/{name}"
    value = run_fields(node) if isinstance(node, dict) else ABSENT
    ledger.foreign.learn(
        ForeignState.run_key(project, name), "run", label, value, id=_str(_get(node, "id"))
    )
    return None


#: Queries by operation name: to learn ids (a query changes nothing), and the relay's reads
#: of the state before a foreign change.
QUERY_RULES: dict[str, Rule] = {
    "Run": _run_query,
    "ClientIDMapping": _client_id_mapping,
    f"{PRIOR}Alias": _prior_alias,
    f"{PRIOR}Artifact": _prior_artifact,
    f"{PRIOR}Links": _prior_links,
    f"{PRIOR}Run": _prior_run,
}


def intents(body: str | bytes | None) -> list[dict[str, Any]]:
    """What a request may create, by the ids its client chose: the write-ahead journal's entries.

    Read before the request is forwarded, so that a crash or a lost answer
    still leaves a record of what to look for: a run by its name, an artifact
    version by its ``clientID``.
    """
    request = graphql.parse_request(body)
    if request is None or not request.document.is_mutation:
        return []
    found: list[dict[str, Any]] = []
    arguments = request.arguments()
    for i, name in enumerate(request.document.fields):
        ex = Exchange(-1, name, request.variables, {}, "unknown", None, arguments[i])
        if name == "upsertBucket":
            run = _run_input(ex)
            if not run["id"] and run["name"]:
                found.append(
                    {
                        "kind": "run",
                        "entity": run["entity"],
                        "project": run["project"],
                        "local": run["name"],
                    }
                )
        elif name == "createArtifact":
            inp = _input(ex)
            if isinstance(inp.get("clientID"), str):
                found.append(
                    {
                        "kind": "artifact",
                        "entity": _str(inp.get("entityName")),
                        "project": _str(inp.get("projectName")),
                        "local": _collection_name(inp),
                        "client_id": inp["clientID"],
                        "type": inp.get("artifactTypeName"),
                    }
                )
    return found


@dataclass(frozen=True)
class Owned:
    """What the cleanup and the sweep need to find one owned resource again, by identity.

    Built from a :class:`Resource` (:meth:`of`) or read back from a journal
    (:meth:`from_json`). ``server_id`` is the W&B id (a run's storage id, a
    version's or collection's id); ``client_id`` an artifact version's
    ``clientID`` when its answer was lost; ``target_id`` the version a link
    or alias attaches to.
    """

    kind: str
    entity: str
    project: str
    local: str
    name: str
    server_id: str = ""
    client_id: str = ""
    type: str | None = None
    version: int | None = None
    target_id: str = ""
    unconfirmed: bool = False
    #: W&B's timestamp of the answer that created it (a portfolio's first link), to compare
    #: with its ``createdAt`` on the same clock.
    created_with: str = ""

    @classmethod
    def of(cls, r: Resource) -> Owned:
        target = r.target.ids[0] if r.target is not None and r.target.ids else ""
        return cls(
            r.kind,
            r.entity,
            r.project,
            r.local,
            r.name,
            server_id=r.ids[0] if r.ids and r.kind not in ("alias",) else "",
            client_id=r.client_ids[0] if r.client_ids else "",
            type=r.type,
            version=r.version,
            target_id=target or (r.ids[0] if r.kind == "alias" and r.ids else ""),
            unconfirmed=r.unconfirmed,
            created_with=r.portfolio_of or "",
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Owned | None:
        """The record a journal line holds; None for a line of another shape."""
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError:
            return None

    @property
    def path(self) -> str:
        """``entity/project/local``, or ``project/local`` when the entity is the default one."""
        return "/".join(p for p in (self.entity, self.project, self.local) if p)

    @property
    def key(self) -> tuple[str, ...]:
        """Identity in a journal, stable while answers teach more (a version's index, its id)."""
        where = f"{self.entity}/{self.project}/{self.local}"
        if self.kind == "run":
            # The SDK may leave the entity to the server (the key's default entity): an
            # intent then has none, its confirmation has it. Run ids are unique per project.
            return (self.kind, self.project, self.local)
        if self.kind in ("collection", "sweep", "project"):
            return (self.kind, where)
        if self.kind in ("link", "alias"):
            return (self.kind, self.target_id, where)
        if self.client_id:
            return (self.kind, "client:" + self.client_id)
        return (self.kind, self.server_id or self.name)


def describe_json(resource: Resource) -> dict[str, Any]:
    """A resource as the journal and the audit's JSON write it."""
    return {
        "kind": resource.kind,
        "name": resource.name,
        "ids": list(resource.ids),
        "created_at": resource.created_at,
        "deleted_at": resource.deleted_at,
    }


__all__ = [
    "FRESH_RUN_IDS_KEY",
    "RULES",
    "Event",
    "Ledger",
    "Owned",
    "Resource",
    "describe_json",
    "intents",
    "keep_names",
    "outcome",
    "unresolved",
]
