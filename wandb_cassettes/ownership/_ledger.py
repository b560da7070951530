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

import fnmatch
import json
import re
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from .. import protocol as graphql
from ..protocol import RESTORABLE, Effect, classify
from ..store import SERVERS_KEY, Cassette, Interaction, server_of
from ._foreign import (
    ARTIFACT_FIELDS,
    ARTIFACT_IDENTITY,
    RUN_FIELDS,
    UNKNOWN,
    ForeignChange,
    ForeignState,
    Restore,
    apply_artifact,
    prior_alias_read,
    prior_artifact_read,
    prior_links_read,
    prior_run_read,
)
from ._model import (
    FOREIGN_CHANGES_KEY,
    FRESH_RUN_IDS_KEY,
    Change,
    Consequence,
    Event,
    Exchange,
    Kind,
    Resource,
    Unknown,
    as_str,
    dig,
    input_of,
    outcome,
    payload_of,
    spellings,
)
from ._rules import (
    QUERY_RULES,
    RULES,
    aliases_of,
    collection_name,
    find_values,
    is_wandb_alias,
    json_line,
    latest_slot,
    learn_ids,
    run_changes,
    run_from_storage_id,
    run_input,
    run_path,
)

#: Containers whose delete takes along what untracked mutations create in them.
_GOES_WITH = frozenset({"run", "artifact", "sweep"})
_FILE_STREAM_RE = re.compile(r"/files/([^/]+)/([^/]+)/([^/]+)/file_stream$")


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
        server: The W&B server whose exchanges this ledger reads (a recording that talks
            to several has one ledger each: ids and names of two servers may coincide);
            None: every exchange.
        start: The index of the first exchange it observes (a ledger opened mid-recording,
            for a server first seen then: indices stay the cassette's).
    """

    def __init__(
        self,
        keep: Iterable[str] = (),
        *,
        fresh_run_ids: Container[str] | Iterable[str] | None = None,
        harmless: Iterable[str] = (),
        foreign_changes: Iterable[str] = (),
        on_foreign: Callable[[str], None] | None = None,
        server: str | None = None,
        start: int = 0,
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
        self.server = server
        self._count = start
        #: The resource each exchange concerned (a rule's subject, a file_stream's run), by index.
        self.subjects: dict[int, Resource] = {}
        self._resources: list[Resource] = []
        self._by_key: dict[tuple[str, str, str, str], Resource] = {}
        self._by_id: dict[str, Resource] = {}
        self._by_client_id: dict[str, Resource] = {}
        #: Organizations' display names, with their entity's name (a registry's entity):
        #: a user may name a registry resource by either (:meth:`spellings`).
        self.org_names: dict[str, str] = {}
        #: Aliases an answer showed each artifact (by server id) to have.
        self._seen_aliases: dict[str, set[str]] = {}
        #: What the traffic changed of resources it did not create (:mod:`.foreign`).
        self.foreign = ForeignState(self.is_declared, on_foreign or (lambda _: None))

    @classmethod
    def from_cassette(
        cls, cassette: Cassette, *, harmless: Iterable[str] = (), server: str | None = None
    ) -> Ledger:
        """The ledger of a recorded cassette, honouring its metadata's ``keep``,
        ``foreign_changes`` and fresh ids (of ``server``'s exchanges only, if given)."""
        fresh = cassette.metadata.get(FRESH_RUN_IDS_KEY) or []
        ledger = cls(
            keep_names(cassette.metadata),
            fresh_run_ids=[str(r) for r in fresh] if isinstance(fresh, list) else (),
            harmless=harmless,
            foreign_changes=keep_names(cassette.metadata, FOREIGN_CHANGES_KEY),
            server=server,
        )
        for ix in cassette.interactions:
            ledger.observe(ix)
        return ledger

    @classmethod
    def per_server(cls, cassette: Cassette, *, harmless: Iterable[str] = ()) -> list[Ledger]:
        """One ledger per W&B server of a recorded cassette: its ``upstream`` and the
        servers its metadata lists (:data:`.store.SERVERS_KEY`); one ledger of every
        exchange for a cassette of one server."""
        servers = cassette_servers(cassette)
        if len(servers) < 2:
            return [cls.from_cassette(cassette, harmless=harmless)]
        return [cls.from_cassette(cassette, harmless=harmless, server=s) for s in servers]

    # -- feeding -------------------------------------------------------------------

    def observe(self, ix: Interaction) -> None:
        """Account for the next exchange (called in recording order)."""
        index = self._count
        self._count += 1
        if self.server is not None and server_of(ix.uri, (self.server,)) is None:
            return  # another server's exchange (or a storage host's: nothing to read)
        # Checked first: parsing every file_stream body as JSON would slow recording down.
        try:
            path = urlsplit(ix.uri).path
        except ValueError:  # a hand-edited uri ("http://[::1"): no request W&B could answer
            return
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
            learn_ids(self, data)
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
                payload_of(data, name),
                arguments[i] if i < len(arguments) else {},
            )
            rule = RULES.get(name)
            subject = rule(self, exchange) if rule is not None else None
            if subject is not None:
                self.subjects.setdefault(index, subject)
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

        effect = classify(ex.field)
        if effect is None or ex.field in self.harmless or not effect.changes:
            return
        if subject is None and effect.target is not None:
            subject = self._target(ex, effect.target)
        at = (ex.index, ex.field)
        for aspect in effect.changes:
            if aspect == "aliases":
                self._give_aliases(ex, effect.action == "delete", subject)
                self._change_aliases(ex, effect.action == "delete", subject)
            elif aspect == "membership":
                continue  # the link's rule judges it: owned, found, or uncertain (reported)
            elif self._owns(subject):
                continue
            elif aspect == "artifact_fields" and subject is not None and subject.ids:
                self._change_artifact(ex, subject)
            elif aspect == "run_fields" and subject is not None and subject.kind == "run":
                self._change_run(at, subject, run_changes(input_of(ex), ex.outcome))
            else:
                kind = subject.kind if subject is not None else str(effect.kind)
                what = subject.name if subject is not None else self._unnamed(ex, kind)
                # A restorable aspect of something the traffic does not name: unresolved.
                known = aspect if aspect not in RESTORABLE else "unresolved"
                self.foreign.lasting_change(what, kind, known, at)

    def _unnamed(self, ex: Exchange, kind: str) -> str:
        """The name of what a change names by server ids the traffic never tied to a
        resource: a link by the collection a read before named
        (:meth:`ForeignState.learn_memberships`), else its kind, unresolved."""
        where = self.foreign.collections.get(as_str(input_of(ex).get("artifactPortfolioID")))
        if kind == "portfolio_link" and where is not None:
            return "/".join(where)
        return f"{kind} (unresolved)"

    def _owns(self, resource: Resource | None) -> bool:
        """Created by the observed traffic, and new (a collection emptied is not)."""
        return resource is not None and resource.owned and not self._preexisted(resource)

    def _target(self, ex: Exchange, argument: str) -> Resource | None:
        """What ``argument`` (anywhere in the input) names by server id; one resource or None."""
        found = {
            id(r): r for r in (self.by_id(i) for i in find_values(input_of(ex), argument)) if r
        }
        if len(found) != 1:
            return None
        return next(iter(found.values()))

    def _give_aliases(self, ex: Exchange, remove: bool, subject: Resource | None) -> None:
        """Note the aliases ``ex`` gave ``subject``, an artifact version, or took off: in its
        own collection on the version, in a portfolio on its link there
        (:attr:`.Resource.aliases`: what their delete may take along); given to any
        version, they are off every other of its collection. A lost answer counts
        as given, never as taken: a name kept too long costs less than a teammate's alias."""
        if ex.outcome == "refused" or (subject is not None and subject.kind != "artifact"):
            return
        inp = input_of(ex)
        for a in aliases_of(inp):
            where = _alias_collection(inp, a, subject)
            holder = None  # a version the traffic never described: known by its id alone
            if subject is not None:
                holder = subject if where == subject.local else self._link_in(subject, where)
            if not remove:
                # W&B holds an alias on one version of a collection at a time: given here,
                # it is off the others (taken off even if the answer was lost).
                named = _alias_where(inp, a)
                slot = (holder.entity, holder.project) if holder is not None else named
                self._take_off_others((*slot, where), a["alias"], holder)
                if holder is not None:
                    holder.aliases.add(a["alias"])
            elif holder is not None and ex.outcome == "succeeded":
                holder.aliases.discard(a["alias"])

    def _take_off_others(
        self, collection: tuple[str, str, str], alias: str, holder: Resource | None
    ) -> None:
        """Take ``alias`` off every version and link in ``collection`` but ``holder``."""
        for r in self._resources:
            if r.aliases and r is not holder and (r.entity, r.project, r.local) == collection:
                r.aliases.discard(alias)

    def _link_in(self, source: Resource, portfolio: str) -> Resource | None:
        """The link of version ``source`` into a portfolio of that name, if the traffic made one."""
        links = (r for r in self._resources if r.kind == "link" and r.target is source)
        return next((r for r in links if r.local == portfolio), None)

    def _change_aliases(self, ex: Exchange, remove: bool, subject: Resource | None) -> None:
        """Aliases set on (or removed from) a version, in collections the test did not create."""
        named = find_values(input_of(ex), "artifactID")
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

        self._wandbs_own_aliases(ex, subject)
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

    def _wandbs_own_aliases(self, ex: Exchange, subject: Resource | None) -> None:
        """``latest`` (or a version name) the test itself set or removed, with a mutation
        whose subject is the alias (the mutation table's kind: ``addAliases``,
        ``deleteAliases``; a logged or linked version gets ``latest`` from W&B, judged
        apart), on a version of a collection it did not create: W&B keeps ``latest`` on
        the newest version by itself, and no API gives it back (``Artifact.save()`` of
        ``aliases = []`` on a teammate's version sends it among the removed ones)."""
        effect = classify(ex.field)
        if effect is None or effect.kind != "alias" or ex.outcome != "succeeded":
            return
        for slot in self._slots(ex, subject, wandbs_own=True):
            if all(slot) and self._owns(self._by_key.get(("collection", *slot[:3]))):
                continue
            name = f"{'/'.join(slot[:3])}:{slot[3]}"
            self.foreign.lasting_change(name, "alias", "latest", (ex.index, ex.field))

    def _slots(
        self, ex: Exchange, subject: Resource | None, *, wandbs_own: bool = False
    ) -> list[tuple[str, str, str, str]]:
        """``(entity, project, collection, alias)`` of each alias in the input (``latest`` and
        version names are W&B's own: those only with ``wandbs_own``); a part the traffic
        does not name is ``""``."""
        inp = input_of(ex)
        found = []
        for a in aliases_of(inp):
            collection = _alias_collection(inp, a, subject)
            entity, project = _alias_where(inp, a)
            if subject is not None:
                entity, project = entity or subject.entity, project or subject.project
            if is_wandb_alias(a["alias"]) == wandbs_own:
                found.append((entity, project, collection, a["alias"]))
        return found

    def _change_artifact(self, ex: Exchange, artifact: Resource) -> None:
        inp = input_of(ex)
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
        self.subjects[index] = run
        if self._owns(run):
            return
        try:
            body = json.loads(ix.request_text() or "{}")
        except ValueError:
            body = None
        files = body.get("files") if isinstance(body, dict) else None
        files = files if isinstance(files, dict) else {}
        at = (index, "file_stream")
        summary = dig(files, "wandb-summary.json", "content")
        if isinstance(summary, list) and summary:
            # W&B keeps the last summary line as the run's summary (wandb-core sends it whole).
            self._change_run(at, run, {"summaryMetrics": json_line(summary[-1])})
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

        reads: list[bytes] = []
        arguments = request.arguments()
        for i, name in enumerate(request.document.fields):
            effect = classify(name)
            if effect is None or not effect.changes:
                continue
            ex = Exchange(-1, name, request.variables, {}, "unknown", None, arguments[i])
            reads += self._reads_for(ex, effect)
        return list(dict.fromkeys(reads))

    def _reads_for(self, ex: Exchange, effect: Effect) -> list[bytes]:
        aspects, target = effect.changes, effect.target
        subject = self._target(ex, target) if target else None
        reads: list[bytes] = []
        if effect.kind == "portfolio_link" and "existence" in aspects:
            # A link deleted: its input names the version and the collection by server ids
            # only (UnlinkArtifactInput: artifactID, artifactPortfolioID; the SDK's
            # _generated/input_types.py); the version's collections read before name it.
            for artifact_id in find_values(input_of(ex), "artifactID"):
                if not self._owns(self.by_id(artifact_id)) and self._unread(
                    "membership", artifact_id
                ):
                    reads.append(prior_links_read(artifact_id))
        if "aliases" in aspects:
            latest = latest_slot(ex)
            # Sorted: wandb-core lists a version's aliases in no fixed order (a Go map), and a
            # re-recording must read them in the same order (issue 23: stable recordings).
            slots = sorted(filter(all, [*self._slots(ex, subject), *([latest] if latest else [])]))
            for slot in dict.fromkeys(slots):
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
            for artifact_id in find_values(input_of(ex), target):
                if not self._owns(self.by_id(artifact_id)) and self._unread(aspect, artifact_id):
                    reads.append(read(artifact_id))
        if "run_fields" in aspects:
            run = run_input(ex)
            if run["id"]:
                named = run_from_storage_id(self, run["id"])
                run = run_path(named) if named is not None else run
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
        return self._pattern_for(name, (*self.keep, *self.foreign_patterns)) is not None

    def _pattern_for(self, name: str, patterns: Iterable[str]) -> str | None:
        """The first of ``patterns`` that names ``name``, in any of its :meth:`spellings`."""
        spellings = self.spellings(name)
        return next(
            (p for p in patterns if any(fnmatch.fnmatchcase(n, p) for n in spellings)), None
        )

    def spellings(self, name: str) -> list[str]:
        """``name`` as a pattern may spell it (:func:`.spellings`, with the orgs the
        traffic showed: :attr:`org_names`)."""
        return spellings(name, self.org_names)

    def foreign_changes(self) -> list[ForeignChange]:
        """Every change to a resource the recording did not create, with its verdict:
        restored (as it was before), declared, or not undone (and why)."""
        return self.foreign.changes(self._exists)

    def lasting_changes(self) -> list[ForeignChange]:
        """The changes to resources the recording did not create that no API undoes, not
        declared: what a session killed before its cassette is audited must still say."""
        return [c for c in self.foreign.lasting_changes() if c.status == "unrestored"]

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
        own = self._kept_itself(resource)
        if own is not None:
            return own
        if resource.container is not None:
            reason = self.kept_reason(resource.container)
            if reason is not None:
                return f"inside kept {resource.container.name}"
        for inner in self._resources:
            if inner.container is resource and self._keeps(inner):
                return f"holds kept {inner.name}"
        return None

    def _kept_itself(self, resource: Resource) -> str | None:
        """Why ``resource`` is kept for itself: a ``keep`` pattern names it, or a kept link
        of it does (W&B deletes a source's links with it); None otherwise."""
        pattern = self._pattern_for(resource.name, self.keep)
        if pattern is not None:
            return f"matches keep={pattern!r}"
        for link in self._resources:
            if link.kind == "link" and link.target is resource and self._keeps(link):
                return f"linked as kept {link.name}"
        return None

    def _keeps(self, resource: Resource) -> bool:
        """Whether ``resource``, the recording's and still there, is kept for itself: what
        holds it, or what it links, is kept with it."""
        live = resource.owned and resource.deleted_at is None
        return live and self._kept_itself(resource) is not None

    def evidence(self) -> dict[int, Consequence]:
        """The exchanges the cleanup and the audit depend on, by index, with what each did.

        Each create and delete (:attr:`events`), each sweep stopped, each change to
        something the recording did not create and did not declare
        (:meth:`foreign_changes`), each link it cannot tell it made
        (:meth:`uncertain_links`) and each mutation nobody classified
        (:attr:`unknown`). How many of these a recording holds is the test's doing.
        Any other exchange (an update of what the recording created, a harmless
        mutation, a change it declared, a query) may come more or less often with
        timing alone: wandb-core sends a run's config and telemetry updates as
        ``upsertBucket`` whenever its timers fire.
        """
        found: dict[int, Consequence] = {}
        for event in self.events:
            what = f"{event.change} {event.resource.kind} {event.resource.name}"
            found.setdefault(event.index, Consequence(what))
        for resource in self._resources:
            if resource.stopped_at is not None:
                what = f"stopped {resource.kind} {resource.name}"
                found.setdefault(resource.stopped_at, Consequence(what))
            if resource.uncertain_at is not None:
                what = f"linked {resource.name}, which may have been linked before"
                found.setdefault(resource.uncertain_at, Consequence(what))
        for unknown in self.unknown:
            what = f"sent {unknown.field}, a mutation nobody classified"
            found.setdefault(unknown.index, Consequence(what))
        for change in self.foreign_changes():
            if change.status == "declared":
                continue
            what = f"{change.change} {change.kind} {change.name}, which the test did not create"
            for index, _field in change.changes:
                found.setdefault(index, Consequence(what, foreign=change.name))
        return found

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


# -- the rules: one per mutation field -------------------------------------------------


# -- queries that name what later mutations refer to ------------------------------------


def cassette_servers(cassette: Cassette) -> list[str]:
    """The W&B servers of a recorded cassette: its ``upstream``, then those its metadata
    lists (strings only: a cassette is untrusted input)."""
    meta = cassette.metadata
    listed = meta.get(SERVERS_KEY)
    others = [s for s in listed if isinstance(s, str) and s] if isinstance(listed, list) else []
    upstream = meta.get("upstream")
    first = [upstream] if isinstance(upstream, str) and upstream else []
    return list(dict.fromkeys([*first, *others]))


def _alias_where(inp: dict[str, Any], alias: dict[str, str]) -> tuple[str, str]:
    """``(entity, project)`` an alias of ``inp`` names (its own, else the input's; ``""``:
    the traffic does not name it)."""
    entity = alias.get("entityName") or as_str(inp.get("entityName"))
    return entity, alias.get("projectName") or as_str(inp.get("projectName"))


def _alias_collection(inp: dict[str, Any], alias: dict[str, str], subject: Resource | None) -> str:
    """The collection an alias of ``inp`` is in: a link's portfolio, the alias's own
    collection, the input's, else the version's (``""``: the traffic does not name it)."""
    return (
        as_str(inp.get("artifactPortfolioName"))
        or alias.get("artifactCollectionName")
        or collection_name(inp)
        or (subject.local if subject is not None else "")
    )
