"""The stand-in's in-memory W&B: entities, projects, runs, artifacts and their files.

Plain dataclasses, mutated only on the aiohttp loop thread (handlers are
coroutines on one loop), so no lock is needed; Python-side readers go through
``BackgroundServer.call``. Identifiers look like W&B's: base64 of
``Type:number`` (runs: ``Run:v1:name:project:entity``).

Behaviour modelled on W&B where the SDK makes it observable; where W&B's
behaviour is not visible from the SDK these are choices, marked so:
- versions are numbered per collection at commit time and never reused;
- ``latest`` follows the newest committed version, also after deletes;
- an artifact with the digest of a committed version *is* that version
  (CreateArtifact answers it, COMMITTED, and the SDK skips the upload);
- deleting an artifact that has aliases needs ``deleteAliases`` (else 409);
- (choice) a collection outlives its last version until deleted itself;
- a deleted run's id cannot be used again (409), as on W&B.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from .storage import BlobStore

__all__ = [
    "Artifact",
    "ArtifactFile",
    "ArtifactType",
    "Collection",
    "GraphQLError",
    "Link",
    "MultipartUpload",
    "Project",
    "Run",
    "RunFile",
    "State",
    "Sweep",
    "gid",
]


class GraphQLError(Exception):
    """An error the stand-in answers the way W&B would: GraphQL ``errors``, HTTP ``status``."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def gid(*parts: object) -> str:
    """A W&B-style global id: base64 of ``part:part:...``."""
    return base64.b64encode(":".join(str(p) for p in parts).encode()).decode()


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_run_name() -> str:
    # The same alphabet and length as wandb.sdk.lib.runid.generate_id.
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


@dataclass
class Project:
    num: int
    entity: str
    name: str
    created_at: str = field(default_factory=now_iso)

    @property
    def id(self) -> str:
        return gid("Project", self.num)

    @property
    def internal_id(self) -> str:
        return gid("ProjectInternalId", self.num)


@dataclass
class Run:
    num: int
    entity: str
    project: str
    name: str
    display_name: str
    state: str = "running"
    config: str = "{}"
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    events_lines: int = 0
    log_lines: int = 0
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    description: str | None = None
    group: str | None = None
    job_type: str | None = None
    host: str | None = None
    program: str | None = None
    commit: str | None = None
    sweep_name: str | None = None
    exitcode: int | None = None
    created_at: str = field(default_factory=now_iso)
    heartbeat_at: str = field(default_factory=now_iso)
    files: dict[str, RunFile] = field(default_factory=dict)  # by file name

    @property
    def id(self) -> str:
        return gid("Run", "v1", self.name, self.project, self.entity)

    @property
    def path(self) -> tuple[str, str, str]:
        return (self.entity, self.project, self.name)


@dataclass
class RunFile:
    """A file of a run (``run.save``, files uploaded at finish): its bytes live in storage."""

    num: int
    name: str
    storage_key: str
    updated_at: str = field(default_factory=now_iso)

    @property
    def id(self) -> str:
        return gid("File", self.num)


@dataclass
class ArtifactType:
    num: int
    entity: str
    project: str
    name: str
    description: str | None = None
    created_at: str = field(default_factory=now_iso)

    @property
    def id(self) -> str:
        return gid("ArtifactType", self.num)


@dataclass
class Collection:
    """An artifact sequence: the versions of one artifact name in a project."""

    num: int
    entity: str
    project: str
    name: str
    type_name: str
    description: str | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    next_index: int = 0
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> artifact num
    alias_nums: dict[str, int] = field(default_factory=dict)  # alias -> alias id number
    typename: str = "ArtifactSequence"

    @property
    def id(self) -> str:
        return gid("ArtifactCollection", self.num)


@dataclass
class ArtifactFile:
    num: int
    name: str
    storage_key: str
    md5_b64: str
    size: int = 0

    @property
    def id(self) -> str:
        return gid("File", self.num)


@dataclass
class Artifact:
    num: int
    collection: Collection
    digest: str
    client_id: str | None = None
    sequence_client_id: str | None = None
    description: str | None = None
    metadata: str | None = None
    state: str = "PENDING"
    version_index: int | None = None
    created_by: str | None = None  # run storage id
    used_by: list[str] = field(default_factory=list)  # run storage ids
    pending_aliases: list[str] = field(default_factory=list)
    files: dict[str, ArtifactFile] = field(default_factory=dict)  # by file name
    manifest_num: int | None = None
    manifest_key: str | None = None
    #: The distributed flow (``Run.upsert_artifact``/``finish_artifact``): the id its
    #: writers share, and each writer's PATCH manifest (manifest number -> storage key).
    distributed_id: str | None = None
    patches: dict[int, str] = field(default_factory=dict)
    size: int = 0
    file_count: int = 0
    history_step: int | None = None
    ttl_duration_seconds: int = -2
    #: Version tags (``Artifact.tags``): set by UpdateArtifact's ``tagsToAdd``/``tagsToDelete``.
    tags: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    @property
    def id(self) -> str:
        return gid("Artifact", self.num)

    @property
    def type_name(self) -> str:
        return self.collection.type_name

    @property
    def aliases(self) -> list[str]:
        return [a for a, n in self.collection.aliases.items() if n == self.num]

    @property
    def version(self) -> str:
        return f"v{self.version_index}" if self.version_index is not None else ""


@dataclass
class Sweep:
    """A sweep (``upsertSweep``) with its agents and the trials its controller handed out."""

    num: int
    entity: str
    project: str
    name: str
    config: str  # YAML, as the SDK sends it
    state: str = "PENDING"
    description: str | None = None
    display_name: str | None = None
    issued: list[dict[str, Any]] = field(default_factory=list)  # each trial's params
    agents: list[str] = field(default_factory=list)  # agent ids
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    heartbeat_at: str = field(default_factory=now_iso)

    @property
    def id(self) -> str:
        return gid("Sweep", self.num)


@dataclass
class Link:
    """A registry link: a source artifact as version ``version_index`` of a portfolio.

    W&B's ``linkArtifact`` makes an ``ArtifactCollectionMembership`` of the
    source artifact in an ``ArtifactPortfolio`` (a collection that owns no
    artifacts); ``unlinkArtifact`` removes it.
    """

    num: int
    portfolio: Collection
    artifact: Artifact
    version_index: int
    created_at: str = field(default_factory=now_iso)


@dataclass
class MultipartUpload:
    """An open multipart upload of one artifact file (``uploadMultipartUrls``)."""

    upload_id: str
    artifact_num: int
    storage_key: str
    md5_b64: str  # of the whole file, from CreateArtifactFiles
    parts: dict[int, str]  # part number -> the hex MD5 the SDK announced


# upsertBucket input field -> Run attribute, for the fields stored as given.
_RUN_INPUTS = {
    "displayName": "display_name",
    "notes": "notes",
    "description": "description",
    "groupName": "group",
    "jobType": "job_type",
    "host": "host",
    "jobProgram": "program",
    "commit": "commit",
    "sweep": "sweep_name",
    "state": "state",
    "tags": "tags",
    "config": "config",
}


class State:
    """Every live resource of the stand-in, and the operations that change them."""

    def __init__(self, default_entity: str, blobs: BlobStore) -> None:
        self.default_entity = default_entity
        self.blobs = blobs
        self._counter = 0
        self.projects: dict[tuple[str, str], Project] = {}
        self.runs: dict[tuple[str, str, str], Run] = {}
        self.deleted_runs: set[tuple[str, str, str]] = set()
        self.types: dict[tuple[str, str, str], ArtifactType] = {}
        self.collections: dict[int, Collection] = {}
        self.artifacts: dict[int, Artifact] = {}
        self.multipart: dict[str, MultipartUpload] = {}  # by upload id
        self.links: dict[int, Link] = {}
        self.sweeps: dict[int, Sweep] = {}
        self.agents: dict[str, Sweep] = {}  # agent id -> its sweep

    def next_num(self) -> int:
        self._counter += 1
        return self._counter

    # -- projects and runs -------------------------------------------------------

    def project(self, entity: str | None, name: str | None) -> Project | None:
        return self.projects.get((entity or self.default_entity, name or "uncategorized"))

    def ensure_project(self, entity: str | None, name: str | None) -> Project:
        key = (entity or self.default_entity, name or "uncategorized")
        if key not in self.projects:
            self.projects[key] = Project(self.next_num(), *key)
        return self.projects[key]

    def run_by_id(self, storage_id: str) -> Run | None:
        for run in self.runs.values():
            if run.id == storage_id:
                return run
        return None

    def upsert_run(self, inp: dict[str, Any]) -> tuple[Run, bool]:
        """Create or update a run from an ``upsertBucket`` input; True if created."""
        if inp.get("id"):
            run = self.run_by_id(inp["id"])
            if run is None:
                raise GraphQLError(f"run {inp['id']!r} not found", status=404)
            inserted = False
        else:
            project = self.ensure_project(inp.get("entityName"), inp.get("modelName"))
            name = inp.get("name") or new_run_name()
            key = (project.entity, project.name, name)
            if key in self.deleted_runs:
                # W&B refuses to reuse the id of a deleted run (HTTP 409).
                raise GraphQLError(
                    f"run {name} was previously created and deleted; try a new run name",
                    status=409,
                )
            run = self.runs.get(key)
            inserted = run is None
            if run is None:
                count = sum(1 for r in self.runs.values() if r.project == project.name) + 1
                run = Run(self.next_num(), *key, display_name=f"standin-run-{count}")
                self.runs[key] = run
        for name, attr in _RUN_INPUTS.items():
            if inp.get(name) is not None:
                setattr(run, attr, inp[name])
        if inp.get("summaryMetrics"):
            # The whole summary, replaced: the public API deletes a key by sending the
            # summary without it (wandb/apis/public/summary.py: HTTPSummary.__delitem__
            # drops it locally, _write sends the whole dict as summaryMetrics).
            run.summary = json.loads(inp["summaryMetrics"])
        run.heartbeat_at = now_iso()
        return run, inserted

    def delete_run(self, storage_id: str, delete_artifacts: bool) -> None:
        run = self.run_by_id(storage_id)
        if run is None:
            raise GraphQLError(f"run {storage_id!r} not found", status=404)
        if delete_artifacts:
            for art in [a for a in self.artifacts.values() if a.created_by == run.id]:
                self.delete_artifact(art, delete_aliases=True)
        for f in run.files.values():
            self.blobs.delete(f.storage_key)
        del self.runs[run.path]
        self.deleted_runs.add(run.path)

    def file_stream(self, run: Run, body: dict[str, Any]) -> None:
        """Apply one file_stream POST: history rows, summary, events, console lines."""
        for name, chunk in (body.get("files") or {}).items():
            lines = chunk.get("content") or []
            offset = int(chunk.get("offset") or 0)
            if name == "wandb-history.jsonl":
                run.history[offset:] = lines
            elif name == "wandb-summary.json" and lines:
                run.summary = json.loads(lines[-1])
            elif name == "wandb-events.jsonl":
                run.events_lines = offset + len(lines)
            elif name == "output.log":
                run.log_lines = offset + len(lines)
        run.heartbeat_at = now_iso()
        if body.get("complete"):
            run.exitcode = int(body.get("exitcode") or 0)
            run.state = "finished" if run.exitcode == 0 else "failed"

    def rewind_run(self, run: Run, metric: str, value: float) -> None:
        """History cut after the rewind point: the rows whose ``metric`` is at most
        ``value`` stay (steps are monotonic: W&B's rewind requires it). The SDK goes on at
        step ``value + 1``, appending at ``historyLineCount`` (wandb's sender,
        ``_install_rewind_state``: ``first_step = int(resume_from.value) + 1``; its
        file_stream offset is the ``historyLineCount`` answered). The summary is the last
        row kept."""
        for index, line in enumerate(run.history):
            row = json.loads(line)
            reached = row.get(metric)
            if isinstance(reached, int | float) and reached > value:
                del run.history[index:]
                break
        last = json.loads(run.history[-1]) if run.history else {}
        run.summary = {k: v for k, v in last.items() if not k.startswith("_")}
        run.state = "running"

    def run_file(self, run: Run, name: str) -> RunFile:
        """The record of ``name`` in ``run`` (created on first ask, as ``createRunFiles`` does)."""
        f = run.files.get(name)
        if f is None:
            key = f"runs/{run.entity}/{run.project}/{run.name}/{name}"
            f = run.files[name] = RunFile(self.next_num(), name, key)
        f.updated_at = now_iso()
        return f

    def uploaded_files(self, run: Run) -> list[RunFile]:
        """Files of ``run`` whose bytes reached storage, oldest first.

        (choice) A file asked for with ``createRunFiles`` but never PUT is not
        listed: W&B registers a run file once its upload lands.
        """
        return [f for f in run.files.values() if f.storage_key in self.blobs]

    def delete_run_files(self, file_ids: list[str]) -> None:
        """``deleteFiles``: remove run files by id, with their stored bytes."""
        wanted = set(file_ids)
        for run in self.runs.values():
            for name, f in list(run.files.items()):
                if f.id in wanted:
                    self.blobs.delete(f.storage_key)
                    del run.files[name]

    # -- artifacts ---------------------------------------------------------------

    def ensure_type(self, entity: str, project: str, name: str) -> ArtifactType:
        key = (entity, project, name)
        if key not in self.types:
            self.types[key] = ArtifactType(self.next_num(), *key)
        return self.types[key]

    def collection(self, entity: str, project: str, name: str) -> Collection | None:
        for coll in self.collections.values():
            if (coll.entity, coll.project, coll.name) == (entity, project, name):
                return coll
        return None

    def collection_by_id(self, coll_id: str) -> Collection | None:
        for coll in self.collections.values():
            if coll.id == coll_id:
                return coll
        return None

    def artifact_by_id(self, art_id: str | None) -> Artifact | None:
        for art in self.artifacts.values():
            if art.id == art_id:
                return art
        return None

    def artifact_by_client_id(self, client_id: str | None) -> Artifact | None:
        for art in self.artifacts.values():
            if client_id and art.client_id == client_id:
                return art
        return None

    def versions(self, coll: Collection) -> list[Artifact]:
        """Artifacts of a collection, oldest first (a portfolio owns none: see :meth:`members`)."""
        return [a for a in self.artifacts.values() if a.collection is coll]

    def members(self, coll: Collection) -> list[tuple[int | None, Artifact]]:
        """``(version index, artifact)`` of a collection's versions: own ones, or linked ones."""
        if coll.typename == "ArtifactPortfolio":
            return [
                (ln.version_index, ln.artifact)
                for ln in self.links.values()
                if ln.portfolio is coll
            ]
        return [(a.version_index, a) for a in self.versions(coll)]

    def version_in(self, coll: Collection, art: Artifact) -> int | None:
        """The version index of ``art`` in ``coll``: its own sequence, or a portfolio it is in."""
        return next((i for i, a in self.members(coll) if a is art), None)

    def aliases_in(self, coll: Collection, art: Artifact) -> list[str]:
        return [alias for alias, num in coll.aliases.items() if num == art.num]

    def resolve_alias(self, coll: Collection, alias: str) -> Artifact | None:
        """The artifact a ``coll:alias`` name points at (version ``vN``, alias or digest)."""
        members = [(i, a) for i, a in self.members(coll) if a.state == "COMMITTED"]
        if alias.startswith("v") and alias[1:].isdigit():
            return next((a for i, a in members if i == int(alias[1:])), None)
        if alias in coll.aliases:
            return self.artifacts.get(coll.aliases[alias])
        return next((a for _, a in members if a.digest == alias), None)

    # -- sweeps ------------------------------------------------------------------

    def sweep(self, entity: str, project: str, name: str) -> Sweep | None:
        return next(
            (
                sw
                for sw in self.sweeps.values()
                if (sw.entity, sw.project, sw.name) == (entity, project, name)
            ),
            None,
        )

    def delete_sweep(self, sweep: Sweep) -> None:
        """Delete a sweep; its runs stay, detached (their agents' heartbeats get 404)."""
        for run in self.runs.values():
            if (run.entity, run.project, run.sweep_name) == (
                sweep.entity,
                sweep.project,
                sweep.name,
            ):
                run.sweep_name = None
        for agent_id in sweep.agents:
            self.agents.pop(agent_id, None)
        del self.sweeps[sweep.num]

    # -- registries --------------------------------------------------------------

    def link(
        self, art: Artifact, entity: str, project: str, portfolio: str, aliases: list[str]
    ) -> Link:
        """``linkArtifact``: make ``art`` a version of ``entity/project/portfolio``.

        The portfolio is created with the first link, of the artifact's type.
        Linking an artifact again answers its existing link. ``latest`` moves to
        the newest link ("The "latest" alias is automatically applied to the
        most recent artifact you link": ``Artifact.link`` in
        ``wandb/sdk/artifacts/artifact.py``).
        """
        p = self.ensure_project(entity, project)
        coll = self.collection(p.entity, p.name, portfolio)
        if coll is None:
            coll = Collection(self.next_num(), p.entity, p.name, portfolio, art.type_name)
            coll.typename = "ArtifactPortfolio"
            self.collections[coll.num] = coll
            self.ensure_type(p.entity, p.name, art.type_name)
        elif coll.typename != "ArtifactPortfolio":
            raise GraphQLError(f"{portfolio!r} is an artifact sequence, not a portfolio", 409)
        elif coll.type_name != art.type_name:
            raise GraphQLError(
                f"portfolio {portfolio!r} has type {coll.type_name!r}, not {art.type_name!r}", 409
            )
        found = next(
            (ln for ln in self.links.values() if ln.portfolio is coll and ln.artifact is art), None
        )
        if found is None:
            found = Link(self.next_num(), coll, art, coll.next_index)
            coll.next_index += 1
            self.links[found.num] = found
            self.set_alias(coll, "latest", art)
        for alias in sorted(aliases):
            self.set_alias(coll, alias, art)
        coll.updated_at = now_iso()
        return found

    def unlink(self, art: Artifact, coll: Collection) -> None:
        """``unlinkArtifact``: drop the link and its aliases; ``latest`` moves back."""
        link = next(
            (ln for ln in self.links.values() if ln.portfolio is coll and ln.artifact is art), None
        )
        if link is None:
            raise GraphQLError(f"artifact {art.id!r} is not linked to {coll.name!r}", status=404)
        del self.links[link.num]
        for alias in self.aliases_in(coll, art):
            del coll.aliases[alias]
        rest = [ln for ln in self.links.values() if ln.portfolio is coll]
        if rest and "latest" not in coll.aliases:
            self.set_alias(coll, "latest", max(rest, key=lambda ln: ln.version_index).artifact)

    def by_name(self, entity: str, project: str, name: str) -> tuple[Collection, Artifact] | None:
        coll_name, _, alias = name.partition(":")
        coll = self.collection(entity, project, coll_name)
        if coll is None:
            return None
        art = self.resolve_alias(coll, alias or "latest")
        return (coll, art) if art is not None else None

    def create_artifact(self, inp: dict[str, Any]) -> Artifact:
        """CreateArtifact: a pending version, or the committed one with the same digest."""
        entity = inp.get("entityName") or self.default_entity
        project = self.ensure_project(entity, inp.get("projectName"))
        type_name = inp["artifactTypeName"]
        self.ensure_type(project.entity, project.name, type_name)
        coll = self.collection(project.entity, project.name, inp["artifactCollectionName"])
        if coll is None:
            coll = Collection(
                self.next_num(), project.entity, project.name, inp["artifactCollectionName"],
                type_name,
            )  # fmt: skip
            self.collections[coll.num] = coll
        elif coll.type_name != type_name:
            raise GraphQLError(
                f"artifact collection {coll.name!r} has type {coll.type_name!r},"
                f" cannot log an artifact of type {type_name!r}",
                status=409,
            )
        aliases = [a["alias"] for a in inp.get("aliases") or [] if a.get("alias")]
        distributed = inp.get("distributedID") or None
        shared = self._distributed_version(coll, distributed)
        if shared is not None:
            # W&B's distributed flow: every writer's CreateArtifact with the same
            # distributedID gets the one pending version, which gathers the files of all
            # (docs.wandb.ai, "Create new artifact versions", distributed runs;
            # wandb's ArtifactSaver: each writer sends a PATCH manifest of its own files,
            # and only finish_artifact's commits).
            for alias in aliases:
                if alias not in shared.pending_aliases:
                    shared.pending_aliases.append(alias)
            return shared
        retried = self.artifact_by_client_id(inp.get("clientID"))
        if retried is not None and retried.collection is coll:
            # The same clientID again (wandb-core retrying a request whose answer was lost):
            # the same artifact. A clientID names one artifact: wandb-core's ClientIDMapping
            # query (`clientIDMapping(clientID:) { serverID }`) answers a single server id.
            for alias in aliases:
                if retried.state == "COMMITTED":
                    self.set_alias(coll, alias, retried)
                elif alias not in retried.pending_aliases:
                    retried.pending_aliases.append(alias)
            return retried
        for art in self.versions(coll) if distributed is None else ():
            # (A writer's digest is of its own files: never the digest of a version.)
            if art.digest == inp["digest"] and art.state == "COMMITTED":
                # Same content as an existing version: W&B answers with that version.
                for alias in aliases:
                    self.set_alias(coll, alias, art)
                return art
        art = Artifact(
            self.next_num(),
            coll,
            digest=inp["digest"],
            client_id=inp.get("clientID"),
            sequence_client_id=inp.get("sequenceClientID"),
            description=inp.get("description"),
            metadata=inp.get("metadata"),
            created_by=self._run_id(entity, project.name, inp.get("runName")),
            pending_aliases=aliases,
            history_step=inp.get("historyStep"),
            distributed_id=distributed,
        )
        if inp.get("ttlDurationSeconds"):
            art.ttl_duration_seconds = int(inp["ttlDurationSeconds"])
        self.artifacts[art.num] = art
        return art

    def _distributed_version(self, coll: Collection, distributed: str | None) -> Artifact | None:
        """The pending version of ``coll`` that writers of ``distributed`` share. (choice) A
        committed one is not reused: a version is immutable once committed."""
        if distributed is None:
            return None
        for art in self.versions(coll):
            if art.distributed_id == distributed and art.state == "PENDING":
                return art
        return None

    def add_patch_manifest(self, art: Artifact, name: str) -> tuple[int, str]:
        """A writer's PATCH manifest of ``art`` (``CreateArtifactManifest`` with
        ``manifestType: PATCH``, named ``wandb_manifest.patch.json``): its number and key."""
        num = self.next_num()
        key = f"manifests/{art.num}/{num}/{name}"
        art.patches[num] = key
        return num, key

    def _merge_patches(self, art: Artifact) -> None:
        """At commit, the version's manifest is its writers' PATCH manifests merged, in the
        order they were created (a later writer's entry for a path wins), and its digest
        is that manifest's (wandb/sdk/artifacts/artifact_manifests/artifact_manifest_v1.py,
        ``digest``: md5 of ``wandb-artifact-manifest-v1\n`` and ``path:digest\n`` per
        entry, sorted by path)."""
        merged: dict[str, Any] = {}
        contents: dict[str, Any] = {}
        for key in art.patches.values():
            blob = self.blobs.get(key)
            if blob is None:  # a writer that never uploaded its patch added nothing
                continue
            with open(blob.file, "rb") as f:
                patch = json.load(f)
            merged = {**patch, **merged}
            contents.update(patch.get("contents") or {})
        manifest = {
            "version": 1,
            "storagePolicy": "wandb-storage-policy-v1",
            "storagePolicyConfig": {},
            **{k: v for k, v in merged.items() if k != "contents"},
            "contents": contents,
        }
        md5 = hashlib.md5(b"wandb-artifact-manifest-v1\n")
        for path in sorted(contents):
            md5.update(f"{path}:{contents[path].get('digest')}\n".encode())
        art.digest = md5.hexdigest()
        art.manifest_num = self.next_num()
        art.manifest_key = f"manifests/{art.num}/wandb_manifest.json"
        self.blobs.put_bytes(art.manifest_key, json.dumps(manifest).encode())

    def _run_id(self, entity: str, project: str, run_name: str | None) -> str | None:
        run = self.runs.get((entity, project, run_name or ""))
        return run.id if run else None

    def set_alias(self, coll: Collection, alias: str, art: Artifact) -> None:
        if alias.startswith("v") and alias[1:].isdigit():
            return  # version names are not aliases
        coll.aliases[alias] = art.num
        if alias not in coll.alias_nums:  # setdefault would spend an id on every call
            coll.alias_nums[alias] = self.next_num()

    def commit_artifact(self, art: Artifact) -> None:
        if art.state == "COMMITTED":
            return
        coll = art.collection
        art.version_index = coll.next_index
        coll.next_index += 1
        art.state = "COMMITTED"
        art.updated_at = coll.updated_at = now_iso()
        if art.patches:
            self._merge_patches(art)
        self._read_manifest(art)
        self.set_alias(coll, "latest", art)
        # Sorted: the ids the aliases get do not depend on the order of wandb-core's list
        # (a Go map's), so that re-recording a test against a fresh stand-in answers the same.
        for alias in sorted(art.pending_aliases):
            self.set_alias(coll, alias, art)

    def _read_manifest(self, art: Artifact) -> None:
        blob = self.blobs.get(art.manifest_key or "")
        if blob is None:
            return
        with open(blob.file, "rb") as f:
            contents = json.load(f).get("contents") or {}
        art.file_count = len(contents)
        art.size = sum(int(entry.get("size") or 0) for entry in contents.values())

    def delete_artifact(self, art: Artifact, delete_aliases: bool) -> None:
        coll = art.collection
        if art.aliases and not delete_aliases:
            raise GraphQLError(
                f"cannot delete artifact {coll.name}:{art.version} because it has aliases"
                f" {sorted(art.aliases)}; delete the aliases first or pass deleteAliases",
                status=409,
            )
        for alias in art.aliases:
            del coll.aliases[alias]
        # (choice) the source's registry links go with it
        for link in [ln for ln in self.links.values() if ln.artifact is art]:
            self.unlink(art, link.portfolio)
        del self.artifacts[art.num]
        remaining = [a for a in self.versions(coll) if a.state == "COMMITTED"]
        if "latest" not in coll.aliases and remaining:
            newest = max(remaining, key=lambda a: a.version_index or 0)
            self.set_alias(coll, "latest", newest)
        self._drop_unreferenced_blobs(art)

    def delete_collection(self, coll: Collection) -> None:
        """Delete a sequence with its versions, or a portfolio with its links (not sources)."""
        coll.aliases.clear()
        for link in [ln for ln in self.links.values() if ln.portfolio is coll]:
            del self.links[link.num]
        for art in self.versions(coll):
            for link in [ln for ln in self.links.values() if ln.artifact is art]:
                self.unlink(art, link.portfolio)
            del self.artifacts[art.num]
            self._drop_unreferenced_blobs(art)
        del self.collections[coll.num]

    def _drop_unreferenced_blobs(self, gone: Artifact) -> None:
        still_used = {f.storage_key for a in self.artifacts.values() for f in a.files.values()}
        for f in gone.files.values():
            if f.storage_key not in still_used:
                self.blobs.delete(f.storage_key)
        for key in [gone.manifest_key, *gone.patches.values()]:
            if key:
                self.blobs.delete(key)

    # -- reporting -----------------------------------------------------------------

    def details(self, project: str) -> dict[str, dict[str, Any]]:
        """The fields a test may change, of one project's versions and runs (see
        ``StandinBackend.details``)."""
        artifacts = {
            a.id: {
                "aliases": sorted(a.aliases),
                "description": a.description,  # None (never set) is not ""
                "metadata": json.loads(a.metadata or "{}"),
                "tags": sorted(a.tags),
            }
            for a in self.artifacts.values()
            if a.collection.project == project
        }
        runs = {
            r.name: {"config": json.loads(r.config or "{}"), "summary": dict(r.summary)}
            for r in self.runs.values()
            if r.project == project
        }
        return {"artifacts": artifacts, "runs": runs}

    def live(self) -> dict[str, list[dict[str, Any]]]:
        """Every live run, artifact version and collection, as JSON-able dicts."""
        runs = [
            {
                "entity": r.entity,
                "project": r.project,
                "name": r.name,
                "display_name": r.display_name,
                "state": r.state,
            }
            for r in self.runs.values()
        ]
        artifacts = [
            {
                "entity": a.collection.entity,
                "project": a.collection.project,
                "collection": a.collection.name,
                "type": a.type_name,
                "version": a.version,
                "aliases": sorted(a.aliases),
                "id": a.id,
                "state": a.state,
            }
            for a in self.artifacts.values()
        ]
        collections = [
            {
                "entity": c.entity,
                "project": c.project,
                "name": c.name,
                "type": c.type_name,
                "id": c.id,
                "versions": len(self.members(c)),
                "kind": "portfolio" if c.typename == "ArtifactPortfolio" else "sequence",
            }
            for c in self.collections.values()
        ]
        live: dict[str, list[dict[str, Any]]] = {
            "runs": runs,
            "artifacts": artifacts,
            "collections": collections,
        }
        links = [
            {
                "entity": ln.portfolio.entity,
                "project": ln.portfolio.project,
                "portfolio": ln.portfolio.name,
                "version": f"v{ln.version_index}",
                "aliases": sorted(self.aliases_in(ln.portfolio, ln.artifact)),
                "artifact": ln.artifact.id,
            }
            for ln in self.links.values()
        ]
        # Kinds that only some flows make appear once they have entries, so an
        # empty stand-in still reads {"runs": [], "artifacts": [], "collections": []}.
        if links:
            live["links"] = links
        sweeps = [
            {
                "entity": sw.entity,
                "project": sw.project,
                "name": sw.name,
                "state": sw.state,
                "runs": sorted(r.name for r in self.runs.values() if r.sweep_name == sw.name),
            }
            for sw in self.sweeps.values()
        ]
        if sweeps:
            live["sweeps"] = sweeps
        return live
