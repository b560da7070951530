"""Audit cassettes: what each test left in W&B, and whether a secret got in.

``audit_paths`` reads every cassette under the given files and folders and
reports, per cassette, what its traffic created and deleted
(:mod:`.ledger`), the leaks, the resources kept on purpose (and why), the
changes to resources the cassette did not create (restored by its cleanup,
declared, or findings: a delete of one is a finding unless declared),
successful mutations whose effect nobody knows, the secrets
(:mod:`.scrub`) and the personal data (:mod:`.personal`) found, what replay
does not compare, and the files that cannot be read. The exit code is what CI
needs: 0 clean, 1 a leak, a change to someone else's resource left undone, an
unknown mutation, a secret or personal data, 2 an
unreadable cassette (2 wins, since an unreadable file may hide anything).

Cassettes are untrusted input: one over the loading limits or holding a merge conflict
is unreadable (:func:`.store.load`), so is one whose blob reference is not its content
address under the cassette folder's ``_blobs/`` or whose blob holds other bytes than its
sha256 says, and so is a folder given to the audit that holds no cassette (nothing
audited is no pass).

Findings name the rule, the interaction and the place (``request header X``,
``response body``, ``metadata``, the cassette's ``file name``...), the offset and
the length: never the value, not even a prefix of it. The rules are the
scrubber's (:mod:`.scrub`: a maintained catalogue of credential formats, our W&B
rules on top; ``wandb-cassettes audit --list-rules`` prints them). The API key in
``WANDB_API_KEY`` (unless it is the replay dummy) is looked for too, in any form,
since a bare 40-hex value is no secret by shape alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import compat
from .errors import CassetteError
from .ownership import ForeignChange, Ledger, Resource, Unknown, describe_json, unresolved
from .redact import (
    DEFAULT,
    Scrubber,
    SecretFinding,
    find_personal_data_in_interaction,
    find_personal_data_in_metadata,
)
from .runtime import REPLAY_API_KEY
from .store import (
    FAILED_SUFFIX,
    USE_KEY,
    Cassette,
    Digest,
    blob_file,
    cassette_folder,
    load,
    verify_blob,
)

EXIT_CLEAN = 0
EXIT_DIRTY = 1
EXIT_UNREADABLE = 2


@dataclass(frozen=True)
class LocatedSecret:
    """A secret (or personal data) in a cassette: the interaction (None: the metadata or the
    file name, as the finding's ``where`` says), where."""

    index: int | None
    finding: SecretFinding

    def __str__(self) -> str:
        at = f"#{self.index} " if self.index is not None else ""
        return f"{at}{self.finding}"


@dataclass
class CassetteAudit:
    """The audit of one cassette file."""

    path: Path
    created: list[Resource] = field(default_factory=list)
    deleted: list[Resource] = field(default_factory=list)
    leaks: list[Resource] = field(default_factory=list)
    kept: list[Resource] = field(default_factory=list)
    #: Why each kept resource is kept, by resource name.
    kept_reasons: dict[str, str] = field(default_factory=dict)
    #: Deletes of resources this cassette did not create (foreign).
    foreign_deleted: list[Resource] = field(default_factory=list)
    #: Changes to resources this cassette did not create, each restored, declared or not
    #: undone (:meth:`.ledger.Ledger.foreign_changes`).
    foreign_changes: list[ForeignChange] = field(default_factory=list)
    #: Created and not deletable by design: a project (deleting it would delete everything in
    #: it), a sweep (W&B's API has none: the cleanup cancels it).
    left_by_design: list[Resource] = field(default_factory=list)
    #: Links of versions the cassette did not create, left linked (maybe not its own).
    uncertain_links: list[tuple[str, int]] = field(default_factory=list)
    #: One sentence per foreign change not undone and uncertain link
    #: (:func:`.ledger.unresolved`).
    unresolved: list[str] = field(default_factory=list)
    unknown: list[Unknown] = field(default_factory=list)
    secrets: list[LocatedSecret] = field(default_factory=list)
    personal: list[LocatedSecret] = field(default_factory=list)
    #: What replay does not compare in this cassette (metadata ``ignore`` and ``presets``).
    ignores: list[str] = field(default_factory=list)
    #: Large downloads kept beside the cassettes: (path, size in bytes).
    blobs: list[tuple[str, int]] = field(default_factory=list)
    #: Why a cassette with no interaction is a finding: its metadata says the test used
    #: W&B online (:data:`.store.USE_KEY`), so its traffic went elsewhere, unrecorded.
    empty: str = ""
    error: CassetteError | None = None

    @property
    def status(self) -> str:
        """``unreadable``, ``dirty`` (a leak, an unknown mutation, a secret, personal data)
        or ``clean``."""
        if self.error is not None:
            return "unreadable"
        dirty = self.leaks or self.unknown or self.secrets or self.personal or self.unresolved
        return "dirty" if dirty or self.empty else "clean"

    @property
    def exit_code(self) -> int:
        return {"unreadable": EXIT_UNREADABLE, "dirty": EXIT_DIRTY}.get(self.status, EXIT_CLEAN)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "status": self.status,
            "created": [describe_json(r) for r in self.created],
            "deleted": [describe_json(r) for r in self.deleted],
            "leaks": [describe_json(r) for r in self.leaks],
            "kept": [
                {**describe_json(r), "reason": self.kept_reasons.get(r.name, "")} for r in self.kept
            ],
            "foreign_deleted": [describe_json(r) for r in self.foreign_deleted],
            "foreign_changes": [_change_json(c) for c in self.foreign_changes],
            "left_by_design": [describe_json(r) for r in self.left_by_design],
            "uncertain_links": [{"name": n, "index": i} for n, i in self.uncertain_links],
            "unknown_mutations": [
                {"index": u.index, "field": u.field, "operation": u.operation} for u in self.unknown
            ],
            "secrets": [_secret_json(s) for s in self.secrets],
            "personal": [_secret_json(s) for s in self.personal],
            "ignores": list(self.ignores),
            "blobs": [{"path": p, "size": n} for p, n in self.blobs],
            "empty": self.empty or None,
            "error": None
            if self.error is None
            else {"message": str(self.error), "file": self.error.path, "line": self.error.line},
        }


@dataclass
class AuditReport:
    """The audits of all cassettes found, in path order."""

    cassettes: list[CassetteAudit] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 all clean, 1 any leak, secret or personal data, 2 any unreadable cassette."""
        return max((c.exit_code for c in self.cassettes), default=EXIT_CLEAN)

    def render_json(self) -> str:
        """The report as JSON (for CI and tools)."""
        data = {
            "exit_code": self.exit_code,
            "summary": self._counts(),
            "cassettes": [c.to_json() for c in self.cassettes],
        }
        return json.dumps(data, indent=2)

    def render_text(self) -> str:
        """The report as a table with one row per cassette, then the details of each problem."""
        rows: list[tuple[str, ...]] = [
            (
                "STATUS", "CASSETTE", "CREATED", "DELETED", "LEAKS", "KEPT", "UNKNOWN",
                "SECRETS", "PERSONAL",
            )
        ]  # fmt: skip
        rows += [(c.status, str(c.path), *_row_counts(c)) for c in self.cassettes]
        lines = format_table(rows)
        for c in self.cassettes:
            lines += _details(c)
        counts = self._counts()
        lines.append(
            f"{len(self.cassettes)} cassette(s): {counts['clean']} clean, "
            f"{counts['dirty']} with leaks, unknown mutations, secrets or personal data, "
            f"{counts['unreadable']} unreadable"
        )
        return "\n".join(lines)

    def _counts(self) -> dict[str, int]:
        counts = {"clean": 0, "dirty": 0, "unreadable": 0}
        for c in self.cassettes:
            counts[c.status] += 1
        return counts


def audit_paths(
    paths: Sequence[str | os.PathLike[str]],
    scrubber: Scrubber | None = None,
    *,
    harmless: Sequence[str] = (),
    progress: Callable[[int, int, Path], None] | None = None,
) -> AuditReport:
    """Audit every cassette in ``paths`` (files, or folders searched for ``*.yaml``).

    Failed recordings (``*.yaml.failed``) inside folders are skipped; a path
    that does not exist is reported as unreadable, and so is a folder that holds
    no cassette (naming the failed recordings it holds). ``scrubber``: the rules
    (with the user's patterns and known secrets) to find secrets by; default
    :func:`audit_scrubber`. ``harmless``: mutation fields the user declared
    harmless. ``progress(done, total, path)`` is called before each file.
    """
    scrubber = scrubber if scrubber is not None else audit_scrubber()
    files, empty = _cassette_files(paths)
    audits = [CassetteAudit(folder, error=_no_cassette(folder)) for folder in empty]
    for done, (path, given) in enumerate(files):
        if progress is not None:
            progress(done, len(files), path)
        audits.append(audit_file(path, scrubber, harmless=harmless, folder=given))
    return AuditReport(audits)


def _no_cassette(folder: Path) -> CassetteError:
    """A folder given to the audit that holds no cassette: nothing audited is no pass."""
    failed = sorted(str(p.relative_to(folder)) for p in folder.rglob(f"*.yaml{FAILED_SUFFIX}"))
    if failed:
        shown = ", ".join(failed[:10]) + (
            f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        )
        return CassetteError(
            folder,
            f"no cassette here, only failed recordings ({shown}): their recordings did not "
            "finish, so nothing was kept; record the tests again",
        )
    return CassetteError(folder, "no cassette here (no *.yaml file in it or below)")


def audit_scrubber(
    environ: Mapping[str, str] | None = None, *, base: Scrubber = DEFAULT
) -> Scrubber:
    """``base`` (the default rules), knowing the API key of ``WANDB_API_KEY`` (unless the
    replay dummy): in all the forms recording replaces it in."""
    key = (os.environ if environ is None else environ).get("WANDB_API_KEY", "").strip()
    return base.with_secrets([key]) if key and key != REPLAY_API_KEY else base


def audit_file(
    path: str | os.PathLike[str],
    scrubber: Scrubber | None = None,
    *,
    harmless: Sequence[str] = (),
    folder: Path | None = None,
) -> CassetteAudit:
    """Audit one cassette file; ``folder``: the folder the user gave that holds it."""
    try:
        cassette = load(path)
    except CassetteError as exc:
        return CassetteAudit(Path(path), error=exc)
    return audit_cassette(cassette, Path(path), scrubber, harmless=harmless, folder=folder)


def audit_cassette(
    cassette: Cassette,
    path: Path,
    scrubber: Scrubber | None = None,
    *,
    harmless: Sequence[str] = (),
    folder: Path | None = None,
) -> CassetteAudit:
    """Audit a loaded cassette (``path`` names it in the report, and places its blobs:
    :func:`.store.cassette_folder`, with ``folder`` the one the user gave)."""
    root = cassette_folder(path, folder)
    try:
        blobs = _blobs(cassette, path, root)
    except CassetteError as exc:
        return CassetteAudit(path, error=exc)
    # One ledger per W&B server the recording talked to (ids of two servers may coincide).
    ledgers = Ledger.per_server(cassette, harmless=harmless)
    scrubber = scrubber if scrubber is not None else audit_scrubber()
    meta = cassette.metadata
    ignores = [str(p) for p in meta.get("ignore") or []]
    ignores += [f"preset {p}" for p in meta.get("presets") or []]
    return CassetteAudit(
        path,
        created=[r for ledger in ledgers for r in ledger.created],
        deleted=[r for ledger in ledgers for r in ledger.deleted],
        leaks=[r for ledger in ledgers for r in ledger.leaks()],
        kept=[r for ledger in ledgers for r in ledger.kept],
        kept_reasons={
            r.name: ledger.kept_reason(r) or "" for ledger in ledgers for r in ledger.kept
        },
        foreign_deleted=[r for ledger in ledgers for r in ledger.foreign_deleted],
        foreign_changes=[c for ledger in ledgers for c in ledger.foreign_changes()],
        left_by_design=[r for ledger in ledgers for r in ledger.left_by_design()],
        uncertain_links=[u for ledger in ledgers for u in ledger.uncertain_links()],
        unresolved=[line for ledger in ledgers for line in unresolved(ledger)],
        unknown=[u for ledger in ledgers for u in ledger.unknown],
        secrets=[
            *_secrets(cassette, scrubber, path),
            *_blob_secrets(cassette, scrubber, path, root),
        ],
        personal=list(_personal(cassette)),
        ignores=ignores,
        blobs=blobs,
        empty=_empty(cassette),
    )


def _empty(cassette: Cassette) -> str:
    """The finding of a cassette that holds no interaction of a test that used W&B online,
    as its metadata tells (a recording made before it said so tells nothing: no finding)."""
    used = cassette.metadata.get(USE_KEY)
    if cassette.interactions or not isinstance(used, list) or not used:
        return ""
    kinds = ", ".join(str(u) for u in used)
    return (
        f"no interaction, but the recording's test used W&B online ({kinds}): its requests "
        "never reached the relay, so nothing of them was recorded or cleaned up; record it "
        "again with this version of wandb-cassettes"
    )


def _blobs(cassette: Cassette, path: Path, root: Path) -> list[tuple[str, int]]:
    """Each blob of ``cassette`` (path, size), confined to ``root`` and its sha256 checked.

    Raises:
        CassetteError: A reference that is not a content address under ``root``'s
            ``_blobs/``, or a blob missing or holding other bytes.
    """
    blobs: list[tuple[str, int]] = []
    verified: set[str] = set()
    for index, ix in enumerate(cassette.interactions):
        body = ix.response_body
        if isinstance(body, Digest) and body.blob:
            where = blob_file(path, body, root, f"interaction {index}: ")
            if body.sha256 not in verified:
                verify_blob(path, body, where, f"interaction {index}: ")
                verified.add(body.sha256)
            blobs.append((str(where), body.size))
    return blobs


def _secrets(cassette: Cassette, scrubber: Scrubber, path: Path) -> Iterator[LocatedSecret]:
    for finding in scrubber.find(path.name, "file name"):
        yield LocatedSecret(None, finding)
    for finding in scrubber.find_in_metadata(cassette.metadata):
        yield LocatedSecret(None, finding)
    for index, ix in enumerate(cassette.interactions):
        for finding in scrubber.find_in_interaction(ix):
            yield LocatedSecret(index, finding)


def _blob_secrets(
    cassette: Cassette, scrubber: Scrubber, path: Path, root: Path
) -> Iterator[LocatedSecret]:
    """The secrets in the downloads kept as blobs (each blob searched once), placed at the
    first interaction that serves it. A blob is served byte for byte (the SDK checks a
    download's digest), so recording cannot scrub it: what it holds is the audit's to flag.
    Called after :func:`_blobs` checked every reference."""
    searched: set[str] = set()
    for index, ix in enumerate(cassette.interactions):
        body = ix.response_body
        if isinstance(body, Digest) and body.blob and body.sha256 not in searched:
            searched.add(body.sha256)
            where = blob_file(path, body, root)
            for finding in scrubber.find_in_file(where, f"response body (blob {body.blob})"):
                yield LocatedSecret(index, finding)


def _personal(cassette: Cassette) -> Iterator[LocatedSecret]:
    for finding in find_personal_data_in_metadata(cassette.metadata):
        yield LocatedSecret(None, finding)
    for index, ix in enumerate(cassette.interactions):
        for finding in find_personal_data_in_interaction(ix):
            yield LocatedSecret(index, finding)


@dataclass(frozen=True)
class OtherSdk:
    """A cassette recorded under another wandb release line than the one compared with
    (``recorded`` None: its metadata names no version), or unreadable (``error``)."""

    path: Path
    recorded: str | None = None
    error: CassetteError | None = None


def other_sdk_cassettes(paths: Sequence[str | os.PathLike[str]], running: str) -> list[OtherSdk]:
    """The cassettes in ``paths`` recorded under another wandb minor (another major, or
    another 0.x minor) than ``running``: the ones to re-record when their replay under
    ``running`` fails. A cassette that names no version, or cannot be read, is listed too
    (what cannot be known is no pass).
    """
    files, empty = _cassette_files(paths)
    found = [OtherSdk(folder, error=_no_cassette(folder)) for folder in empty]
    wanted = compat.release(running)
    for path, _given in files:
        try:
            cassette = load(path)
        except CassetteError as exc:
            found.append(OtherSdk(path, error=exc))
            continue
        recorded = str(cassette.metadata.get("wandb") or "") or None
        release = compat.release(recorded or "")
        if release is None or wanted is None or release != wanted:
            found.append(OtherSdk(path, recorded))
    return found


def _cassette_files(
    paths: Sequence[str | os.PathLike[str]],
) -> tuple[list[tuple[Path, Path | None]], list[Path]]:
    """The cassette files to audit (each with the folder given that holds it), and the
    folders given that hold none."""
    files: list[tuple[Path, Path | None]] = []
    empty: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # rglob("*.yaml") already leaves out "x.yaml.failed" and the ".x.yaml.*.tmp"
            # files of a save in progress.
            found = sorted(p for p in path.rglob("*.yaml") if p.is_file())
            files += [(p, path) for p in found]
            if not found:
                empty.append(path)
        else:
            files.append((path, None))
    return files, empty


# -- rendering -------------------------------------------------------------------


def _change_json(c: ForeignChange) -> dict[str, Any]:
    return {
        "name": c.name,
        "kind": c.kind,
        "change": c.change,
        "status": c.status,
        "why": c.why,
        "at": [{"index": i, "field": f} for i, f in c.changes],
    }


def _secret_json(s: LocatedSecret) -> dict[str, Any]:
    f = s.finding
    return {
        "index": s.index,
        "rule": f.rule,
        "where": f.where,
        "offset": f.offset,
        "length": f.length,
    }


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """``rows`` (the first one the header) as lines of left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _row_counts(c: CassetteAudit) -> list[str]:
    if c.error is not None:
        return ["-"] * 7  # nothing known, which is not "0"
    # LEAKS: what the test left behind, taken aliases and uncertain links included.
    leaks = [*c.leaks, *c.unresolved]
    counted = (c.created, c.deleted, leaks, c.kept, c.unknown, c.secrets, c.personal)
    return [str(len(x)) for x in counted]


def _details(c: CassetteAudit) -> list[str]:
    if c.error is not None:
        return [str(c.error)]  # already "file:line: message"
    lines = [f"{c.path}: leaked {r.kind} {r.name} (created by #{r.created_at})" for r in c.leaks]
    lines += [
        f"{c.path}: unknown mutation {u.field} (operation {u.operation}, #{u.index}): its "
        "effect is not known, so nothing says it was undone; declare it harmless "
        "(--harmless / ini wandb_cassette_harmless) if it changes nothing"
        for u in c.unknown
    ]
    lines += [f"{c.path}: {line}" for line in c.unresolved]
    lines += [f"{c.path}: {c.empty}"] if c.empty else []
    lines += [f"{c.path}: secret {s}" for s in c.secrets]
    lines += [f"{c.path}: personal data {s}" for s in c.personal]
    lines += [
        f"{c.path}: kept {r.kind} {r.name} (created by #{r.created_at}; "
        f"{c.kept_reasons.get(r.name) or 'kept'})"
        for r in c.kept
    ]
    # Not undone and undeclared, they are findings above (c.unresolved); the rest is listed.
    lines += [f"{c.path}: {f.describe()}" for f in c.foreign_changes if f.status != "unrestored"]
    lines += [
        f"{c.path}: left by design: {r.kind} {r.name} ({_WHY_LEFT.get(r.kind, '')})"
        for r in c.left_by_design
    ]
    lines += [f"{c.path}: keeps a {size / 1e6:.1f} MB download in {p}" for p, size in c.blobs]
    return lines


_WHY_LEFT = {
    "project": "a cleanup never deletes a project: it would delete everything in it",
    "sweep": "W&B's API has no sweep delete (github.com/wandb/wandb/issues/4536): it is "
    "stopped (the cleanup cancelled it, or it finished); delete it in the W&B app",
}


__all__ = [
    "AuditReport",
    "CassetteAudit",
    "LocatedSecret",
    "OtherSdk",
    "audit_cassette",
    "audit_file",
    "audit_paths",
    "audit_scrubber",
    "format_table",
    "other_sdk_cassettes",
]
