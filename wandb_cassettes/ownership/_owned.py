"""The contract between the ledger and the cleanup: what may be deleted, and how to find it.

An :class:`Owned` is a resource the recording created, reduced to what a deleter needs
(its kind, its path, its server and client ids, when it was created): the automatic
cleanup, the journal and the sweep pass these around, never ledger internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._model import (
    Resource,
)
from ._rules import is_wandb_alias


@dataclass(frozen=True)
class Owned:
    """What the cleanup and the sweep need to find one owned resource again, by identity.

    Built from a :class:`Resource` (:meth:`of`) or read back from a journal
    (:meth:`from_json`). ``server_id`` is the W&B id (a run's storage id, a
    version's or collection's id); ``client_id`` an artifact version's
    ``clientID`` when its answer was lost; ``target_id`` the version a link
    or alias attaches to; ``aliases`` those the recording gave a version or a link
    (see :meth:`not_given`).
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
    #: An artifact version or a link: the aliases the recording gave it, sorted.
    aliases: tuple[str, ...] = ()

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
            aliases=tuple(sorted(r.aliases)),
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Any) -> Owned | None:
        """The record a journal line holds; None for a line of another shape (a field
        missing or of another type: a journal is untrusted input)."""
        if not isinstance(data, dict):
            return None
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        aliases = values.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            return None
        values["aliases"] = tuple(aliases)
        for name, value in values.items():
            if not isinstance(value, _JSON_TYPES[name]) or (
                isinstance(value, bool) and bool not in _JSON_TYPES[name]
            ):
                return None
        try:
            return cls(**values)
        except TypeError:  # a field without a default is missing
            return None

    def not_given(self, held: Any) -> list[str]:
        """The aliases in ``held`` (a version's or a link's ``Artifact.aliases`` as W&B lists
        them now) that the recording did not give it, sorted: a teammate's, put on it since.
        ``latest`` and version names are W&B's own and never counted.

        Raises:
            TypeError: ``held`` is not a list of strings (what cannot be read is never
                taken for "none").
        """
        if not isinstance(held, list | tuple) or not all(isinstance(a, str) for a in held):
            raise TypeError(f"the version's aliases read as {type(held).__name__}")
        return sorted({a for a in held if not is_wandb_alias(a)} - set(self.aliases))

    @property
    def identified(self) -> bool:
        """Whether a delete can find it by identity (a server, client or target id), not by
        its path alone."""
        return bool(self.server_id or self.client_id or self.target_id)

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


#: The JSON types of :class:`Owned`'s fields, as a journal holds them.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    **{name: (str,) for name in ("kind", "entity", "project", "local", "name", "server_id")},
    **{name: (str,) for name in ("client_id", "target_id", "created_with")},
    "type": (str, type(None)),
    "version": (int, type(None)),
    "unconfirmed": (bool,),
    "aliases": (tuple,),  # a JSON list of strings, read as a tuple by from_json
}


def describe_json(resource: Resource) -> dict[str, Any]:
    """A resource as the journal and the audit's JSON write it."""
    return {
        "kind": resource.kind,
        "name": resource.name,
        "ids": list(resource.ids),
        "created_at": resource.created_at,
        "deleted_at": resource.deleted_at,
    }
