"""The ledger's model: the resources the traffic shows, and the exchanges that show them.

:class:`Resource` is one W&B object (a run, an artifact version, a collection, a run
file, a sweep, a link, an alias, a project) with the index of the exchange that created
it and of the one that deleted it; :class:`Exchange` is a GraphQL exchange as the rules
read it (field, arguments, answer, outcome). The helpers read W&B's answers safely.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import protocol as graphql

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


#: Cassette metadata: run ids drawn fresh by the recording (ownership evidence for lost answers).
FRESH_RUN_IDS_KEY = "fresh_run_ids"


#: Cassette metadata: names of resources the test did not create that it changes on purpose.
FOREIGN_CHANGES_KEY = "foreign_changes"


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
    #: An artifact version or a link: the aliases the traffic gave it (its
    #: ``createArtifact``'s or ``linkArtifact``'s, an ``addAliases``'...), less those it
    #: took off. W&B deletes a version's aliases with it (``deleteArtifact`` with
    #: ``deleteAliases``), and a link's with it, so a delete takes only these along.
    aliases: set[str] = field(default_factory=set)

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
class Consequence:
    """What an exchange did that the cleanup and the audit count (:meth:`.Ledger.evidence`)."""

    #: "created run e/p/r", "changed run e/p/r, which the test did not create"...
    what: str
    #: A change to something the recording did not create: that resource's name, which a
    #: ``foreign_changes`` declaration names (empty for anything else).
    foreign: str = ""


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


def payload_of(data: dict[str, Any], name: str) -> Any:
    """The answer of root field ``name``: under its name, or the SDK's alias ``result``."""
    if name in data:
        return data[name]
    if len(data) == 1:
        return next(iter(data.values()))
    return data.get("result")


def dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def input_of(ex: Exchange) -> dict[str, Any]:
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


def project_of(node: Any) -> tuple[str, str] | None:
    """(entity, project) of a ``project { name entity { name } }`` selection."""
    entity, project = dig(node, "project", "entity", "name"), dig(node, "project", "name")
    if isinstance(entity, str) and isinstance(project, str):
        return entity, project
    return None


def walk(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from walk(value)
    elif isinstance(data, list):
        for value in data:
            yield from walk(value)


#: A registry's project: ``wandb-registry-<registry>`` in its organization's entity.
REGISTRY_PROJECT_PREFIX = "wandb-registry-"


def spellings(name: str, org_names: Mapping[str, str]) -> list[str]:
    """``name``, and a registry resource's as its organization's display name spells it
    too (``my-org/wandb-registry-model/x``: the SDK resolves either to the org entity,
    wandb/sdk/artifacts/_gqlutils.py ``resolve_org_entity_name``), for the orgs in
    ``org_names`` (display name -> its entity's name, as an answer showed them)."""
    entity, _, rest = name.partition("/")
    if not rest.startswith(REGISTRY_PROJECT_PREFIX):
        return [name]
    return [name, *(f"{org}/{rest}" for org, of in org_names.items() if of == entity)]
