"""What a recording changes of W&B resources it did not create: before, now, and back.

The ledger (:mod:`.ledger`) judges every successful mutation by what it changes
(:attr:`.mutations.Effect.changes`) on what it touches. A change to something the
recording is not proven to have created is *foreign*. For the aspects of
:data:`.mutations.RESTORABLE` this module keeps a model per touched state:

* **before**: read by the relay just before the first change of it goes upstream,
  with the documents of :func:`prior_alias_read`, :func:`prior_artifact_read` and
  :func:`prior_run_read` (operation names starting with :data:`PRIOR`); the reads
  are recorded in the cassette like any exchange, so the audit judges from the same
  evidence, offline;
* **now**: the state before with every change applied, the test's and the
  cleanup's alike (an alias moved to a version, then that version deleted: the
  alias is on no version);
* **back**: the mutation that puts it back (:class:`Restore`), which the automatic
  cleanup sends through the relay, recorded too.

After the session a tracked state equal to its state before is restored (or was
never really changed). Any other, and every change of an aspect no W&B API undoes
(:data:`.mutations.NOT_RESTORABLE`), is a finding unless the test declares it
(``keep`` or ``foreign_changes`` patterns on the resource's name).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..protocol import why_not_restorable
from ._model import as_str, dig, project_of

#: Operation names of the relay's reads of the state before a foreign change. The SDK
#: never sends them, so replay never expects them (see ``CassetteUse._check_replay``).
PRIOR = "WandbCassettesPrior"

# The selections are the SDK's own, so W&B's schema has them:
# - which version holds an alias: ``project { artifactCollectionMembership(name:) }``, as
#   ``Api().artifact("entity/project/collection:alias")`` asks it (ArtifactMembershipByName,
#   wandb/sdk/artifacts/_generated/operations.py);
# - a version's description, metadata, TTL and tags: the fields of ``ArtifactFragment``
#   (ArtifactByID, the same file), which ``Artifact._assign_attrs`` reads;
# - the collections a version is linked to: ``artifact { artifactMemberships }``, as
#   ``Artifact.linked_artifacts`` asks it (FetchLinkedArtifacts, the same file);
# - a run's fields: ``model(name:, entityName:) { bucket(name:, missingOk: true) }``, as
#   wandb-core's RunResumeStatus asks it (a null entity is the key's default one), with
#   the fields of the public API's ``RunFragment`` (wandb/apis/public/runs.py).
#: Which version holds an alias: the relay's read before a change, and the cleanup's before
#: a restore (:attr:`Restore.expect`); variables from :func:`alias_read`.
ALIAS_HOLDER_GQL = (
    f"query {PRIOR}Alias($entity: String!, $project: String!, $name: String!) "
    "{ project(name: $project, entityName: $entity) "
    "{ artifactCollectionMembership(name: $name) { artifact { id } } } }"
)
_ARTIFACT_GQL = (
    f"query {PRIOR}Artifact($id: ID!) {{ artifact(id: $id) {{ id versionIndex "
    "artifactSequence { name project { name entity { name } } } "
    "description metadata ttlDurationSeconds ttlIsInherited tags { name } } }"
)
_LINKS_GQL = (
    f"query {PRIOR}Links($id: ID!) {{ artifact(id: $id) {{ id artifactMemberships {{ edges "
    "{ node { artifactCollection { __typename id name project { name entity { name } } } } } } } }"
)
_RUN_GQL = (
    f"query {PRIOR}Run($project: String, $entity: String, $name: String!) "
    "{ model(name: $project, entityName: $entity) { bucket(name: $name, missingOk: true) "
    "{ id name config summaryMetrics tags notes displayName description group jobType } } }"
)

#: The read of each kind of state a restore expects (:func:`expected_read`).
_EXPECT_DOCUMENTS = {"alias": ALIAS_HOLDER_GQL, "artifact": _ARTIFACT_GQL, "run": _RUN_GQL}

#: upsertBucket's input field -> the Run field a read answers it as (wandb/apis/public/runs.py
#: ``Run.update`` sends the first, ``RunFragment`` reads the second).
RUN_FIELDS = {
    "config": "config",
    "summaryMetrics": "summaryMetrics",
    "tags": "tags",
    "notes": "notes",
    "displayName": "displayName",
    "description": "description",
    "groupName": "group",
    "jobType": "jobType",
}
#: upsertBucket's input fields that name the run rather than change it.
RUN_IDENTITY = frozenset({"id", "name", "modelName", "entityName", "clientMutationId"})
#: UpdateArtifactInput's fields the model follows (wandb/sdk/artifacts/_generated/input_types.py).
ARTIFACT_FIELDS = frozenset(
    {"description", "metadata", "ttlDurationSeconds", "tagsToAdd", "tagsToDelete"}
)
ARTIFACT_IDENTITY = frozenset({"artifactID", "clientMutationId"})
#: ``latest`` is W&B's own: the server keeps it on the newest version (after deletes too).
_VERSION_NAME = re.compile(r"v\d+")


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: No read came before the first change: the state before is not known.
UNREAD: Any = _Marker("unread")
#: The read found nothing there (a run that did not exist yet): nothing foreign to restore.
ABSENT: Any = _Marker("absent")
#: A value no exchange showed (a lost answer): never equal to anything.
UNKNOWN: Any = _Marker("unknown")
#: A text field W&B answered as null (a run's group, a version's description never set). No
#: input sets it back: W&B reads a null input as "leave it as it is" (the SDK's own
#: ``Run.update`` sends each field's value, wandb/apis/public/runs.py; wandb-core sends null
#: for every field it does not set, as recordings show). The nearest a restore can send is
#: ``""``, which is not the state before: the audit says so.
UNSET: Any = _Marker("unset")

Kind = Literal["alias", "artifact", "run"]
Status = Literal["restored", "declared", "unrestored"]


@dataclass
class Tracked:
    """One foreign state the traffic touched: its value before, now, and the changes."""

    kind: Kind
    name: str
    #: What a restore needs: an alias's entity/project/collection/alias, a version's or a
    #: run's server id.
    ident: dict[str, str] = field(default_factory=dict)
    prior: Any = UNREAD
    current: Any = UNREAD
    #: ``(index, mutation field)`` of each change.
    changes: list[tuple[int, str]] = field(default_factory=list)
    #: A change left it unlike its state before (a save that set the same fields did not).
    differed: bool = False

    @property
    def known(self) -> bool:
        """Whether the state before was read (and was there)."""
        return self.prior is not UNREAD and self.prior is not ABSENT

    @property
    def as_before(self) -> bool:
        return self.known and self.current == self.prior


@dataclass(frozen=True)
class Restore:
    """A mutation the cleanup sends to put a foreign state back.

    ``field`` is the mutation field (``addAliases``, ``deleteAliases``,
    ``updateArtifact``, ``upsertBucket``), ``variables`` its variables as the
    SDK's own document for it takes them (see ``cleanup.restore_document``).
    """

    name: str
    change: str
    field: str
    variables: dict[str, Any]
    #: Sent only if the state is still as the test left it (:func:`expected_read`,
    #: :func:`changed_since`): ``{"of": "alias", "read": <ALIAS_HOLDER_GQL's variables>,
    #: "holder": <version id or None>}``, or ``{"of": "artifact" | "run", "read": <the
    #: read's variables>, "fields": {<field>: <value as the test left it>}}`` for the
    #: fields the restore sets. A sweep runs long after (a killed session's next one): a
    #: teammate may have changed it since, and putting it back would undo that.
    expect: dict[str, Any] | None = None

    def without(self, fields: Iterable[str]) -> Restore | None:
        """This restore with ``fields`` (of :attr:`Changed.fields`) left as they are, since
        someone changed them after the test; None when it would put nothing else back."""
        drop = set(fields)
        inputs = _ARTIFACT_INPUTS if self.field == "updateArtifact" else None
        if inputs is not None:
            inp = {
                k: v
                for k, v in self.variables["input"].items()
                if not any(k in inputs.get(name, ()) for name in drop)
            }
            variables: dict[str, Any] = {"input": inp}
            kept = [n for n, keys in inputs.items() if any(inp.get(k) for k in keys)]
        elif self.field == "upsertBucket":
            variables = {k: v for k, v in self.variables.items() if k not in drop}
            kept = [k for k in variables if k != "id"]
        else:
            return None
        if not kept:
            return None
        expect = self.expect
        if expect is not None:
            left = {k: v for k, v in expect.get("fields", {}).items() if k not in drop}
            expect = {**expect, "fields": left}
        return dataclasses.replace(
            self, change=f"{', '.join(kept)} back", variables=variables, expect=expect
        )


#: UpdateArtifactInput's fields that set each field of :func:`artifact_fields`.
_ARTIFACT_INPUTS = {
    "description": ("description",),
    "metadata": ("metadata",),
    "ttl": ("ttlDurationSeconds",),
    "tags": ("tagsToAdd", "tagsToDelete"),
}


@dataclass(frozen=True)
class Changed:
    """What someone changed since the test left a state (:func:`changed_since`)."""

    why: str
    #: The fields of a version or run that changed; empty: the whole of it (an alias moved,
    #: a version or run gone).
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForeignChange:
    """A change to a resource the recording did not create, and what became of it."""

    name: str
    kind: str
    #: What changed ("alias moved", "history rows appended", "deleted"...).
    change: str
    #: ``(index, mutation field)`` of the exchanges that changed it.
    changes: tuple[tuple[int, str], ...]
    status: Status
    #: Why it was not undone (empty when restored).
    why: str = ""

    def describe(self) -> str:
        """One line: the resource, the change, the exchanges, the verdict."""
        at = ", ".join(f"#{i} {f}" for i, f in self.changes)
        whose = "in a collection" if self.kind == "alias" else "which"
        what = f"{self.change} {self.kind} {self.name}, {whose} it did not create ({at})"
        if self.status == "restored":
            return f"{what}: restored by the cleanup from the state read before"
        if self.status == "declared":
            return f"{what}: declared ({self.why})"
        return (
            f"{what}: not undone: {self.why}; undo it in the test, or declare it "
            "(foreign_changes=[...] or keep=[...])"
        )


def _alias_change(tracked: Tracked) -> str:
    """How an alias changed: on a version where it was on none ("added"), off the one that
    held it ("removed"), else "moved"."""
    if tracked.prior is None:
        return "added"
    return "removed" if tracked.current is None else "moved"


# -- the reads of the state before ---------------------------------------------------------


def _body(query: str, variables: dict[str, Any]) -> bytes:
    operation = query.split("(", 1)[0].split()[-1]
    return json.dumps({"query": query, "variables": variables, "operationName": operation}).encode()


def alias_read(entity: str, project: str, collection: str, alias: str) -> dict[str, str]:
    """The variables of :data:`ALIAS_HOLDER_GQL` for ``collection:alias``; :func:`alias_holder`
    reads its answer."""
    return {"entity": entity, "project": project, "name": f"{collection}:{alias}"}


def alias_holder(data: Any) -> str | None:
    """The id of the version an :data:`ALIAS_HOLDER_GQL` answer (its ``data``) names."""
    found = dig(data, "project", "artifactCollectionMembership", "artifact", "id")
    return found if isinstance(found, str) else None


#: The variables each read of an expected state needs, as strings (:func:`expected_read`).
_EXPECT_VARIABLES = {"alias": ("entity", "project", "name"), "artifact": ("id",)}
_EXPECT_VARIABLES["run"] = ("project", "name")  # entity: null is the key's default entity


def expected_read(expect: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The document and variables that read the state a :class:`Restore` expects; None:
    nothing to check (a state no answer showed when the test left it).

    An expectation without ``"of"`` is an alias's (journals written before the others).

    Raises:
        ValueError: ``expect`` is not one this library writes: no restore is sent on it.
    """
    read = expect.get("read")
    if read is None:
        return None
    of = expect.get("of", "alias")
    names = _EXPECT_VARIABLES.get(of) if isinstance(of, str) else None
    if names is None or not isinstance(read, dict):
        raise ValueError("its expected state is not readable")
    if not all(isinstance(read.get(k), str) for k in names) or not all(
        isinstance(v, str) or v is None for v in read.values()
    ):
        raise ValueError("its expected state is not readable")
    return _EXPECT_DOCUMENTS[of], read


def changed_since(expect: dict[str, Any], data: Any) -> Changed | None:
    """What of the state a read (its ``data``) found is no longer as the test left it, or
    None.

    An alias now on no version is as the test left it (the version it left it on was
    deleted with the test's versions). A version or run no longer there, or a field
    now unlike the test's value, is a change someone made since.

    Raises:
        ValueError: ``expect`` is not one this library writes.
    """
    of = expect.get("of", "alias")
    if of == "alias":
        holder = alias_holder(data)
        if holder is not None and holder != expect.get("holder"):
            return Changed(f"the alias moved since the test left it (now on version {holder})")
        return None
    fields = expect.get("fields")
    if not isinstance(fields, dict):
        raise ValueError("its expected state is not readable")
    node = dig(data, "artifact") if of == "artifact" else dig(data, "model", "bucket")
    if not isinstance(node, dict):
        return Changed(f"the {of} is no longer there")
    now = expected_fields(artifact_fields(node) if of == "artifact" else run_fields(node))
    moved = sorted(
        name
        for name, value in fields.items()
        if name not in now or _comparable(now[name]) != _comparable(value)
    )
    if moved:
        return Changed(f"{', '.join(moved)} changed since the test left it", tuple(moved))
    return None


def restore_as_left(restore: Restore, data: Any) -> tuple[Restore | None, Changed | None]:
    """The restore to send, given what a read of its state (``data``, of the read
    :func:`expected_read` names) found, and what someone changed since the test left it.

    An alias moved, or a version or run gone: nothing is sent; nor for an alias that was on
    no version before and is on none now (the version the test gave it to was deleted, with
    its aliases). Fields someone changed are
    left out, the others go back (:meth:`Restore.without`). A run's summary goes back key
    by key: each key the test changed takes its value before, unless someone changed it
    since (then it is left, and said); keys nobody but the test touched, or added since,
    stay as they are now (W&B's own ``_`` keys, which a resumed run moves, go back).

    Raises:
        ValueError: The expectation is not one this library writes.
    """
    expect = restore.expect or {}
    changed = changed_since(expect, data)
    if changed is not None and not changed.fields:
        return None, changed
    if restore.field == "deleteAliases" and alias_holder(data) is None:
        # On no version now (its version was deleted, and the alias with it): as before.
        return None, None
    rest = restore.without(changed.fields) if changed is not None else restore
    left = expect.get("summary")
    if rest is None or "summaryMetrics" not in rest.variables or not isinstance(left, dict):
        return rest, changed
    now = dig(data, "model", "bucket", "summaryMetrics")
    summary, kept = _summary_back(rest.variables["summaryMetrics"], left, now)
    rest = dataclasses.replace(rest, variables={**rest.variables, "summaryMetrics": summary})
    if kept:
        why = f"summary {', '.join(kept)} changed since the test left it"
        changed = Changed(
            f"{changed.why}; {why}" if changed else why, changed.fields if changed else ()
        )
    return rest, changed


#: A key a summary does not hold (:func:`_summary_back`).
_MISSING: Any = _Marker("missing")


def _summary_back(before: Any, left: dict[str, Any], now: Any) -> tuple[Any, list[str]]:
    """The summaryMetrics input that puts back each key the test changed (``before``: the
    input with the summary before the test, ``left``: as the test left it, ``now``: as a
    read found it), and the keys someone changed since (left as they are)."""
    prior, current = json_value(before), json_value(now)
    if not isinstance(prior, dict) or not isinstance(current, dict):
        return before, []
    merged, kept = dict(current), []
    own = {k for k in current if str(k).startswith("_")}  # W&B's: all go back as they were
    for key in sorted(set(prior) | set(left) | own, key=str):
        was, test, is_ = (_comparable(d.get(key, _MISSING)) for d in (prior, left, current))
        ours = str(key).startswith("_")
        if was == test and not ours:
            continue  # the test left it as it was
        if is_ != test and not ours:
            kept.append(str(key))
            continue
        if key in prior:
            merged[key] = prior[key]
        else:
            merged.pop(key, None)
    return json.dumps(merged), kept


def _comparable(value: Any) -> Any:
    """A value with its null entries left out, at any depth: a JSON field an answer gives as
    ``{"value": 1, "desc": null}`` is what an input ``{"value": 1}`` set."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def expected_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as an expectation keeps them (JSON, in a journal): tags sorted, an unset text
    null; a value no answer showed (:data:`UNKNOWN`) left out, since nothing can be
    compared with it."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if value is UNKNOWN:
            continue
        if isinstance(value, frozenset):
            value = sorted(value, key=str)
        out[name] = None if value is UNSET else value
    return out


def _fields_expect(
    of: str, read: dict[str, Any], current: dict[str, Any], names: Iterable[str]
) -> dict[str, Any] | None:
    """The expectation of a restore of ``names`` (their values as the test left them)."""
    fields = expected_fields({n: current[n] for n in names if n in current})
    return {"of": of, "read": read, "fields": fields} if fields else None


def prior_alias_read(entity: str, project: str, collection: str, alias: str) -> bytes:
    """The body of a read of which version holds ``collection:alias`` now."""
    return _body(ALIAS_HOLDER_GQL, alias_read(entity, project, collection, alias))


def prior_artifact_read(artifact_id: str) -> bytes:
    """The body of a read of a version's description, metadata, TTL and tags."""
    return _body(_ARTIFACT_GQL, {"id": artifact_id})


def prior_links_read(artifact_id: str) -> bytes:
    """The body of a read of the collections a version is in (its registry links)."""
    return _body(_LINKS_GQL, {"id": artifact_id})


def links_read(artifact_id: str) -> tuple[str, dict[str, Any]]:
    """The read of :func:`prior_links_read` as the cleanup sends it: the document and its
    variables."""
    return _LINKS_GQL, {"id": artifact_id}


def memberships(node: Any) -> list[tuple[str, tuple[str, str, str]]] | None:
    """``(server id, (entity, project, name))`` of each collection an ``artifact`` node
    answering :func:`links_read` is in (its own sequence, then each registry link; an id
    the answer gave no value is ``""``); None when the node lists none (unreadable)."""
    edges = dig(node, "artifactMemberships", "edges")
    if not isinstance(edges, list):
        return None
    where = [dig(e, "node", "artifactCollection") for e in edges]
    return [
        (as_str(c.get("id")), (*p, c["name"]))
        for c in where
        if (p := project_of(c)) and isinstance(c.get("name"), str)
    ]


def prior_run_read(entity: str, project: str, name: str) -> bytes:
    """The body of a read of a run's config, summary and the fields UpsertBucket sets."""
    return _body(_RUN_GQL, {"entity": entity or None, "project": project, "name": name})


# -- values as the model compares them ------------------------------------------------------


def json_value(value: Any) -> Any:
    """A JSON string's value (``None`` and ``""``: an empty object); other values as they are."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(value: Any) -> Any:
    """A string field as an answer gives it: null is :data:`UNSET`, not ``""``."""
    return UNSET if value is None else value


def _text_input(value: Any) -> Any:
    """The input that sets a string field to ``value``; ``""`` for :data:`UNSET`."""
    return "" if value is UNSET else value


def _tags(value: Any) -> Any:
    if value is None:
        return frozenset()
    if isinstance(value, list):
        return frozenset(t.get("name") if isinstance(t, dict) else t for t in value)
    return UNKNOWN


def _ttl(seconds: Any, inherited: Any = False) -> Any:
    """A TTL as the SDK reads it (``Artifact._ttl_duration_seconds_to_gql``): inherited (-1),
    disabled (-2 or not positive) or a number of seconds."""
    if inherited is True or seconds == -1:
        return "inherit"
    if isinstance(seconds, int):
        return seconds if seconds > 0 else "disabled"
    return UNKNOWN


def _ttl_to_input(ttl: Any) -> int:
    """The ``ttlDurationSeconds`` input of a TTL (-1 inherit, -2 disabled: the SDK's values)."""
    if ttl == "inherit":
        return -1
    return -2 if ttl == "disabled" else int(ttl)


def artifact_fields(node: dict[str, Any]) -> dict[str, Any]:
    """The fields of an ``Artifact`` answer the model follows."""
    return {
        "description": _text(node.get("description")),
        "metadata": json_value(node.get("metadata")),
        "ttl": _ttl(node.get("ttlDurationSeconds"), node.get("ttlIsInherited")),
        "tags": _tags(node.get("tags")),
    }


def apply_artifact(now: dict[str, Any], inp: dict[str, Any], succeeded: bool) -> dict[str, Any]:
    """A version's fields after an UpdateArtifact input (null: unchanged; a lost answer: the
    fields it set are unknown)."""
    after = dict(now)
    for key, value in inp.items():
        if value is None or key not in ARTIFACT_FIELDS:
            continue
        if not succeeded:
            after["tags" if key.startswith("tags") else _FIELD_OF.get(key, key)] = UNKNOWN
        elif key == "description":
            after["description"] = _text(value)
        elif key == "metadata":
            after["metadata"] = json_value(value)
        elif key == "ttlDurationSeconds":
            after["ttl"] = _ttl(value)
        elif isinstance(after.get("tags"), frozenset) and isinstance(value, list):
            names = {t.get("tagName") for t in value if isinstance(t, dict)}
            tags = after["tags"]
            after["tags"] = tags | names if key == "tagsToAdd" else tags - names
        else:
            after["tags"] = UNKNOWN
    return after


_FIELD_OF = {"ttlDurationSeconds": "ttl"}


def run_fields(node: dict[str, Any]) -> dict[str, Any]:
    """The fields of a ``Run`` answer the model follows, by their upsertBucket input names."""
    return {inp: run_value(inp, node.get(read)) for inp, read in RUN_FIELDS.items()}


def run_value(name: str, value: Any) -> Any:
    """An upsertBucket input value as the model compares it."""
    if name in ("config", "summaryMetrics"):
        return json_value(value)
    if name == "tags":
        return _tags(value)
    return _text(value)


# -- the model -------------------------------------------------------------------------


class ForeignState:
    """Every foreign state the traffic touched or read, with its value before and now.

    Args:
        declared: Whether a resource name is declared (``keep`` or ``foreign_changes``).
        warn: Told once per change as it is observed (the live recording warns with it).
    """

    def __init__(self, declared: Callable[[str], bool], warn: Callable[[str], None]) -> None:
        self.declared = declared
        self.warn = warn
        self.tracked: dict[tuple[str, ...], Tracked] = {}
        #: A version's collections (entity, project, name), read before the first link of it.
        self.memberships: dict[str, frozenset[tuple[str, str, str]]] = {}
        #: Collections by server id, as those reads named them: what an unlink names.
        self.collections: dict[str, tuple[str, str, str]] = {}
        #: Changes no API undoes, by (resource name, aspect): kind, what, the exchanges.
        self.lasting: dict[tuple[str, str], tuple[str, str, list[tuple[int, str]]]] = {}

    # -- keys ----------------------------------------------------------------------

    @staticmethod
    def alias_key(entity: str, project: str, collection: str, alias: str) -> tuple[str, ...]:
        return ("alias", entity, project, collection, alias)

    @staticmethod
    def run_key(project: str, name: str) -> tuple[str, ...]:
        # The SDK may leave the entity to the server; run ids are unique per project
        # (as ledger.Owned.key).
        return ("run", project, name)

    def get(self, key: tuple[str, ...]) -> Tracked | None:
        return self.tracked.get(key)

    def needs_read(self, key: tuple[str, ...]) -> bool:
        """Whether a read before the next change of ``key`` would still tell its state before."""
        found = self.tracked.get(key)
        return found is None or (found.prior is UNREAD and not found.changes)

    def _track(self, key: tuple[str, ...], kind: Kind, name: str) -> Tracked:
        found = self.tracked.get(key)
        if found is None:
            found = self.tracked[key] = Tracked(kind, name)
        return found

    # -- the state before (from the relay's reads) ----------------------------------

    def learn(self, key: tuple[str, ...], kind: Kind, name: str, value: Any, **ident: str) -> None:
        """A read's answer: the state before, unless a change came first (then it is not)."""
        tracked = self._track(key, kind, name)
        tracked.ident.update({k: v for k, v in ident.items() if v})
        if name:
            tracked.name = name
        if tracked.prior is UNREAD and not tracked.changes:
            tracked.prior = value

    def learn_memberships(
        self, artifact_id: str, collections: Iterable[tuple[str, tuple[str, str, str]]]
    ) -> None:
        """A read of the collections a version is in, ``(server id, (entity, project,
        name))`` each (``""``: the answer gave no id), before a link or an unlink of it:
        the first wins."""
        collections = list(collections)
        self.memberships.setdefault(artifact_id, frozenset(where for _, where in collections))
        self.collections.update((i, where) for i, where in collections if i)

    def linked_before(self, artifact_id: str, where: tuple[str, str, str]) -> bool | None:
        """Whether the version was in collection ``where`` before (None: not read)."""
        found = self.memberships.get(artifact_id)
        return None if found is None else where in found

    # -- changes ----------------------------------------------------------------------

    def change(
        self,
        key: tuple[str, ...],
        kind: Kind,
        name: str,
        at: tuple[int, str],
        apply: Callable[[Any], Any],
        **ident: str,
    ) -> None:
        """A change of a tracked state: ``apply`` maps its value now to its value after."""
        tracked = self._track(key, kind, name)
        tracked.ident.update({k: v for k, v in ident.items() if v})
        tracked.name = name or tracked.name  # later answers name it better (its entity)
        if tracked.prior is ABSENT:
            return  # it did not exist before: the recording made it, nothing foreign
        if not tracked.changes:
            tracked.current = _copy(tracked.prior) if tracked.known else _empty(kind)
        tracked.changes.append(at)
        tracked.current = apply(tracked.current)
        if not tracked.differed and not tracked.as_before:
            tracked.differed = True  # the first change that made a difference: said now
            if not self.declared(tracked.name):
                how = (
                    "the cleanup restores it from the state read before"
                    if tracked.known
                    else "its state before was not read, so nothing can restore it"
                )
                self.warn(
                    f"changes {kind} {tracked.name}, which it did not create "
                    f"(#{at[0]} {at[1]}): {how}"
                )

    def lasting_change(self, name: str, kind: str, aspect: str, at: tuple[int, str]) -> None:
        """A change no API undoes (a delete, history rows...): reported, once warned."""

        key = (name, aspect)
        if key not in self.lasting:
            self.lasting[key] = (kind, _WHAT.get(aspect, "changed"), [])
            if not self.declared(name):
                self.warn(
                    f"{self.lasting[key][1]} {kind} {name}, which it did not create "
                    f"(#{at[0]} {at[1]}): {why_not_restorable(aspect)}; the audit fails unless "
                    "the test declares it"
                )
        self.lasting[key][2].append(at)

    def gone(
        self,
        ids: Iterable[str],
        where: tuple[str, str, str] | None = None,
        *,
        only_there: bool = False,
    ) -> None:
        """Versions (their ids) are gone, or every alias of collection ``where`` is; with
        ``only_there`` (a link), only the aliases the versions held in ``where``."""
        holders = set(ids)
        for key, tracked in self.tracked.items():
            if tracked.kind != "alias" or not tracked.changes:
                continue
            there = where is not None and key[1:4] == where
            held = tracked.current in holders
            if (held and (there or not only_there)) or (there and not holders):
                tracked.current = None

    # -- results -------------------------------------------------------------------

    def restores(self, exists: Callable[[str], bool]) -> list[Restore]:
        """What the cleanup sends now to put every touched, undeclared state back.

        ``exists(server_id)``: whether a version or run was not deleted by the traffic.
        """
        out = []
        for tracked in self.tracked.values():
            if not tracked.differed or tracked.as_before or not tracked.known:
                continue
            if self.declared(tracked.name):
                continue
            restore = _RESTORERS[tracked.kind](tracked, exists)
            if restore is not None:
                out.append(restore)
        return out

    def changes(self, exists: Callable[[str], bool]) -> list[ForeignChange]:
        """Every foreign change, with what became of it (after all exchanges so far)."""

        out = []
        for tracked in self.tracked.values():
            if not tracked.differed or tracked.prior is ABSENT:
                continue  # untouched, made by the test, or set as it was
            what = _alias_change(tracked) if tracked.kind == "alias" else "changed"
            status, why = self._verdict(tracked.name, tracked.as_before, _why(tracked, exists))
            out.append(
                ForeignChange(tracked.name, tracked.kind, what, tuple(tracked.changes), status, why)
            )
        return out + self._lasting()

    def lasting_changes(self) -> list[ForeignChange]:
        """The changes no API undoes (history appended, files uploaded, a delete, a text
        field set that had no value), with their verdict: declared, or not undone. Known
        as soon as the change is observed: the journal keeps them for a killed session
        (whose cleanup never ran, nor its audit)."""
        out = self._lasting()
        for tracked in self.tracked.values():
            unset = _unset_changed(tracked)
            if unset and tracked.known:
                status, why = self._verdict(tracked.name, False, _cannot_unset(unset))
                changes = tuple(tracked.changes)
                out.append(
                    ForeignChange(tracked.name, tracked.kind, "changed", changes, status, why)
                )
        return out

    def _lasting(self) -> list[ForeignChange]:
        out = []
        for (name, aspect), (kind, what, at) in self.lasting.items():
            status, why = self._verdict(name, False, why_not_restorable(aspect))
            out.append(ForeignChange(name, kind, what, tuple(at), status, why))
        return out

    def _verdict(self, name: str, as_before: bool, why: str) -> tuple[Status, str]:
        if as_before:
            return "restored", ""
        if self.declared(name):
            return "declared", "keep or foreign_changes names it"
        return "unrestored", why


#: How the audit words a lasting change, by aspect.
_WHAT = {
    "existence": "deleted",
    "history": "appended history to",
    "rewound": "rewound (history after the step dropped, summary recomputed)",
    "files": "uploaded files to",
    "lineage": "added lineage to",
    "alerts": "sent an alert on",
    "state": "changed the state of",
    "membership": "linked",
    "run_other": "changed fields (host, program, commit...) of",
    "artifact_other": "changed fields of",
    "latest": "moved",
}


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _empty(kind: Kind) -> Any:
    return UNKNOWN if kind == "alias" else {}


def _why(tracked: Tracked, exists: Callable[[str], bool]) -> str:
    if tracked.prior is UNREAD:
        return "its state before the change was not read (the read failed or is missing)"
    if tracked.kind == "alias" and isinstance(tracked.prior, str) and not exists(tracked.prior):
        return "the version that held it was deleted"
    if tracked.kind != "alias" and not exists(tracked.ident.get("id", "")):
        return "it was deleted"
    if tracked.kind == "alias" and tracked.current is UNKNOWN:
        return "which version holds it now is unknown (an answer was lost)"
    if unset := _unset_now_empty(tracked):
        return _cannot_unset(unset)
    return "the cleanup did not put it back (no restore was recorded, or it failed)"


def _cannot_unset(fields: list[str]) -> str:
    return (
        f"{', '.join(fields)} had no value before, and W&B's API cannot unset a field (a "
        "null input leaves it as it is: wandb/apis/public/runs.py Run.update); the "
        'cleanup can only set it to ""'
    )


def _unset_changed(tracked: Tracked) -> list[str]:
    """The fields that had no value before (:data:`UNSET`) and the traffic set: no restore
    can take them back to none."""
    prior, current = tracked.prior, tracked.current
    if not isinstance(prior, dict) or not isinstance(current, dict):
        return []
    return [n for n, v in prior.items() if v is UNSET and current.get(n, UNSET) is not UNSET]


def _unset_now_empty(tracked: Tracked) -> list[str]:
    """Of :func:`_unset_changed`, those that hold ``""`` now: the nearest a restore can send."""
    return [n for n in _unset_changed(tracked) if tracked.current.get(n) == ""]


def _restore_alias(tracked: Tracked, exists: Callable[[str], bool]) -> Restore | None:
    i = tracked.ident
    target = [
        {
            "alias": i["alias"],
            "artifactCollectionName": i["collection"],
            "entityName": i["entity"],
            "projectName": i["project"],
        }
    ]
    prior, current = tracked.prior, tracked.current
    read = alias_read(i["entity"], i["project"], i["collection"], i["alias"])
    expect = None if current is UNKNOWN else {"of": "alias", "read": read, "holder": current}
    if isinstance(prior, str):
        if not exists(prior):
            return None
        change = f"alias {i['alias']} back on the version that held it"
        variables = {"input": {"artifactID": prior, "aliases": target}}
        return Restore(tracked.name, change, "addAliases", variables, expect)
    if isinstance(current, str):
        change = f"alias {i['alias']} off the version the test gave it to"
        variables = {"input": {"artifactID": current, "aliases": target}}
        return Restore(tracked.name, change, "deleteAliases", variables, expect)
    return None


def _restore_artifact(tracked: Tracked, exists: Callable[[str], bool]) -> Restore | None:
    artifact_id = tracked.ident.get("id", "")
    prior, current = tracked.prior, tracked.current
    if not exists(artifact_id) or prior["tags"] is UNKNOWN:
        return None
    now_tags = current.get("tags", UNKNOWN)
    extra = now_tags - prior["tags"] if isinstance(now_tags, frozenset) else frozenset()
    description = prior["description"]
    inp: dict[str, Any] = {
        "artifactID": artifact_id,
        # Null leaves it as it is: sent only when it changed (an unset one cannot come back).
        "description": None
        if current.get("description") == description
        else _text_input(description),
        "metadata": json.dumps(prior["metadata"]),
        "tagsToAdd": [{"tagName": t} for t in sorted(prior["tags"])],
        "tagsToDelete": [{"tagName": t} for t in sorted(extra)],
    }
    if prior["ttl"] is not UNKNOWN:
        inp["ttlDurationSeconds"] = _ttl_to_input(prior["ttl"])
    sets = ["metadata", "tags"]  # in the fields' names of artifact_fields
    sets += ["description"] if inp["description"] is not None else []
    sets += ["ttl"] if "ttlDurationSeconds" in inp else []
    expect = _fields_expect("artifact", {"id": artifact_id}, current, sets)
    return Restore(
        tracked.name,
        "description, metadata, TTL and tags back",
        "updateArtifact",
        {"input": inp},
        expect,
    )


def _restore_run(tracked: Tracked, exists: Callable[[str], bool]) -> Restore | None:
    storage_id = tracked.ident.get("id", "")
    if not storage_id or not exists(storage_id):
        return None
    prior, current = tracked.prior, tracked.current
    variables: dict[str, Any] = {"id": storage_id}
    for name, value in prior.items():
        if name in current and current[name] != value:
            variables[name] = run_input(name, value)
    names = [n for n in variables if n != "id"]
    i = tracked.ident
    read = {"entity": i.get("entity") or None, "project": i.get("project"), "name": i.get("run")}
    # The summary is not compared whole: W&B keeps it from the history rows too (a resumed
    # run's file_stream). Its keys are, one by one, when it goes back (restore_as_left).
    compared = [n for n in names if n != "summaryMetrics"]
    expect = None
    if read["project"] and read["name"]:
        fields = expected_fields({n: current[n] for n in compared if n in current})
        left = current.get("summaryMetrics") if "summaryMetrics" in variables else None
        summary = {"summary": left} if isinstance(left, dict) else {}
        expect = {"of": "run", "read": read, "fields": fields, **summary}
    return Restore(tracked.name, f"{', '.join(names)} back", "upsertBucket", variables, expect)


def run_input(name: str, value: Any) -> Any:
    if name in ("config", "summaryMetrics"):
        return json.dumps(value)
    if name == "tags":
        return sorted(value)
    return _text_input(value)


_RESTORERS: dict[str, Callable[[Tracked, Callable[[str], bool]], Restore | None]] = {
    "alias": _restore_alias,
    "artifact": _restore_artifact,
    "run": _restore_run,
}
