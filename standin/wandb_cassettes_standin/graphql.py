"""GraphQL operations of the stand-in: one small handler per operation name.

A handler reads the variables, changes :class:`~.state.State` if it is a
mutation, and returns a superset of the answer built from the node builders
below; :func:`.gql.project` then cuts it to the fields the document selects.
The table :data:`OPERATIONS` lists the operations the SDK sends by name; a
document of another name is answered by its root field (:data:`ROOT_FIELDS`,
as W&B executes any document), and one whose root field the stand-in does not
serve gets a GraphQL error that names both.

The operations are those wandb 0.31 sends: the Go core's (seen on the wire,
their documents are embedded in ``wandb-core``) and the Python public API's
(``wandb/apis/public``, ``wandb/sdk/artifacts/_generated``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import random
import re
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from .gql import Lazy
from .state import (
    Artifact,
    ArtifactFile,
    ArtifactType,
    Collection,
    GraphQLError,
    MultipartUpload,
    Project,
    Run,
    RunFile,
    State,
    Sweep,
    gid,
    new_run_name,
    now_iso,
)
from .storage import Signer, part_key
from .sweeps import dumps, next_commands

__all__ = ["DEFAULT_FEATURES", "OPERATIONS", "ROOT_FIELDS", "Context", "Handler", "handler_for"]

Json = dict[str, Any]

# ServerFeaturesQuery answers (``serverInfo.features``). The names are the
# SDK's ``ServerFeature`` enum (``wandb/proto/wandb_internal.proto``, one comment
# per feature saying what the server then supports; ``wandb/proto/v*/
# wandb_internal_pb2.py`` in the SDK). Which ones W&B's public service turns on
# is not published; advertised here: every feature whose code path the SDK
# takes against W&B cloud AND the stand-in serves, i.e. the modern paths:
# - FILESTREAM_GZIP: wandb-core then gzips file_stream bodies with
#   ``Content-Encoding: gzip`` (core/internal/filestream/filestreamimpl.go:
#   ``send``) unless the setting ``x_file_stream_no_gzip`` (True by default in
#   0.31, ``wandb/sdk/wandb_settings.py``) says not to; aiohttp decompresses
#   request bodies, so the stand-in reads both.
# - MARK_RUN_FILES_UPLOADED: ``Run.upload_file`` then sends markRunFilesUploaded.
# - ARTIFACT_MEMBERSHIP_IN_LINK_ARTIFACT_RESPONSE: ``Artifact.link`` reads the
#   membership from the linkArtifact answer (no re-fetch).
# Not advertised: the AUTOMATION_* and automations features, EVAL_TABLES_CES,
# SWEEPS_QUERY_FILTERING, SWEEPS_LOCAL_SCHEDULER (not modelled), and the two
# download-handler features (ARTIFACT_COLLECTION_MEMBERSHIP_FILE_DOWNLOAD_HANDLER,
# ARTIFACT_V2_DOWNLOAD_HANDLER_SUPPORTS_ARTIFACT_ID) whose URL forms the
# stand-in has not been shown to serve; artifacts then download from directUrl.
DEFAULT_FEATURES: tuple[str, ...] = (
    "LARGE_FILENAMES",
    "ARTIFACT_TAGS",
    "CLIENT_IDS",
    "ARTIFACT_REGISTRY_SEARCH",
    "STRUCTURED_CONSOLE_LOGS",
    "ARTIFACT_COLLECTION_MEMBERSHIP_FILES",
    "USE_ARTIFACT_WITH_ENTITY_AND_PROJECT_INFORMATION",
    "PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP",
    "ARTIFACT_MEMBERSHIP_IN_LINK_ARTIFACT_RESPONSE",
    "TOTAL_COUNT_IN_FILE_CONNECTION",
    "ARTIFACT_COLLECTIONS_FILTERING_SORTING",
    "MARK_RUN_FILES_UPLOADED",
    "ARTIFACT_DIGEST_ALGORITHM",
    "FILESTREAM_GZIP",
)


@dataclass
class Context:
    """What handlers see: the state, the URL signer, the advertised features."""

    state: State
    signer: Signer
    features: tuple[str, ...]
    viewer: str  # the entity of the API key's user
    org_name: str = "standin-org"  # the viewer's organization, which owns the registries
    org_entity: str = "standin-org-entity"
    base_url: str = ""  # the API server's own address, set once it has a port
    multipart_threshold: int = 5 << 20  # smallest part but the last; see StandinBackend
    rng: random.Random = field(default_factory=random.Random)  # random sweeps


Handler = Callable[[Context, Json], Json]


# -- node builders -----------------------------------------------------------------


def _cursor(i: int) -> str:
    return base64.b64encode(f"cursor:{i}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor).decode().split(":")[1]) + 1
    except (ValueError, IndexError):
        return 0


def connection(
    items: list[Any],
    args: Json,
    node: Callable[[Any], Json],
    edge: Callable[[Any], Json] | None = None,
) -> Json:
    """A relay connection over ``items``, paged by ``first``/``after``."""
    start = _offset(args.get("after"))
    first = args.get("first")
    page = items[start : start + first] if first else items[start:]
    edges = [
        {"node": node(x), "cursor": _cursor(start + i), **(edge(x) if edge else {})}
        for i, x in enumerate(page)
    ]
    return {
        "totalCount": len(items),
        "pageInfo": {
            "__typename": "PageInfo",
            "endCursor": _cursor(start + len(page) - 1) if page else None,
            "hasNextPage": start + len(page) < len(items),
            "startCursor": _cursor(start) if page else None,
            "hasPreviousPage": start > 0,
        },
        "edges": edges,
    }


def entity_node(ctx: Context, name: str) -> Json:
    """An entity: the viewer's personal one, or the organization's entity (a team).

    Registry paths resolve through it (``FetchOrgInfoFromEntity``,
    ``wandb/sdk/artifacts/_gqlutils.py``: ``_resolve_org_info``): a team entity
    answers its ``organization``; a personal one answers none, and lists its
    user's ``organizations``, of which the stand-in has one.
    """
    is_org = name == ctx.org_entity
    return {
        "__typename": "Entity",
        "id": gid("Entity", name),
        "name": name,
        "organization": org_node(ctx) if is_org else None,
        "user": None if is_org else {"__typename": "User", "organizations": [org_node(ctx)]},
        "xxhashDigestsEnabled": False,
        "isTeam": is_org,
        "entityType": "ORGANIZATION" if is_org else "USER",
    }


def org_node(ctx: Context) -> Json:
    """The viewer's organization, which owns the registries (projects ``wandb-registry-<name>``)."""
    return {
        "__typename": "Organization",
        "id": gid("Organization", ctx.org_name),
        "name": ctx.org_name,
        "orgEntity": {
            "__typename": "Entity",
            "id": gid("Entity", ctx.org_entity),
            "name": ctx.org_entity,
            "entityType": "ORGANIZATION",
        },
        "featureFlags": [],
    }


#: The stand-in's user, personal data as W&B's ``User`` carries it (``name`` is the full
#: name, ``username`` the handle; wandb/apis/_generated/fragments.py UserFragment): a
#: realistic address, so that tests can show recordings keep none of it.
STANDIN_EMAIL = "ada.lovelace@standin.wandb-cassettes.dev"
STANDIN_FULL_NAME = "Ada Lovelace"


def user_node(ctx: Context) -> Json:
    name = ctx.viewer
    return {
        "__typename": "User",
        "id": gid("User", name),
        "name": STANDIN_FULL_NAME,
        "username": name,
        "email": STANDIN_EMAIL,
        "photoUrl": "https://avatars.standin.wandb-cassettes.dev/ada.png",
        "admin": False,
        "flags": "{}",
        "entity": name,
        "deletedAt": None,
        "apiKeys": {
            "edges": [
                {
                    "node": {
                        "__typename": "ApiKey",
                        "id": gid("ApiKey", 1),
                        "name": "ada-laptop",
                        "description": None,
                    }
                }
            ]
        },
        "teams": {"edges": []},
    }


def project_node(ctx: Context, p: Project) -> Json:
    s = ctx.state

    def runs(args: Json) -> Json:
        return connection(_runs(s, p, args), args, lambda r: run_node(ctx, r))

    def type_(args: Json) -> Json | None:
        t = s.types.get((p.entity, p.name, args.get("name", "")))
        return type_node(ctx, t) if t else None

    def types(args: Json) -> Json:
        items = [t for t in s.types.values() if (t.entity, t.project) == (p.entity, p.name)]
        return connection(items, args, lambda t: type_node(ctx, t))

    def collection(args: Json) -> Json | None:
        c = s.collection(p.entity, p.name, args.get("name", ""))
        return collection_node(ctx, c) if c else None

    def collections(args: Json) -> Json:
        items = _collections(s, p, None, args)
        return connection(items, args, lambda c: collection_node(ctx, c))

    def membership(args: Json) -> Json | None:
        found = s.by_name(p.entity, p.name, args.get("name", ""))
        return membership_node(ctx, *found) if found else None

    def artifact(args: Json) -> Json | None:
        found = s.by_name(p.entity, p.name, args.get("name", ""))
        return artifact_node(ctx, found[1]) if found else None

    def run(args: Json) -> Json | None:
        r = s.runs.get((p.entity, p.name, args.get("name", "")))
        return run_node(ctx, r) if r else None

    def sweep(args: Json) -> Json | None:
        sw = s.sweep(p.entity, p.name, args.get("sweepName") or "")
        return sweep_node(ctx, sw) if sw else None

    def project_sweeps() -> list[Sweep]:
        return [sw for sw in s.sweeps.values() if (sw.entity, sw.project) == (p.entity, p.name)]

    return {
        "__typename": "Project",
        "id": p.id,
        "internalId": p.internal_id,
        "name": p.name,
        "entityName": p.entity,
        "entity": entity_node(ctx, p.entity),
        "createdAt": p.created_at,
        "readOnly": False,
        "isBenchmark": False,
        "user": None,
        "runCount": Lazy(lambda args: len(_runs(s, p, args))),
        "runs": Lazy(runs),
        "run": Lazy(run),
        "bucket": Lazy(run),
        "artifactType": Lazy(type_),
        "artifactTypes": Lazy(types),
        "artifactCollection": Lazy(collection),
        "artifactCollections": Lazy(collections),
        "artifactCollectionMembership": Lazy(membership),
        "artifact": Lazy(artifact),
        "sweep": Lazy(sweep),
        "sweeps": Lazy(
            lambda args: connection(project_sweeps(), args, lambda x: sweep_node(ctx, x))
        ),
        "totalSweeps": Lazy(lambda _: len(project_sweeps())),
    }


def sweep_node(ctx: Context, sw: Sweep) -> Json:
    """A sweep, as ``SweepWithRuns`` / ``GetSweep`` (``wandb/apis/_generated``) and
    wandb-core's ``SweepConfig`` read it; ``runs`` are the runs attached to it."""
    s = ctx.state
    runs = [
        r
        for r in s.runs.values()
        if (r.entity, r.project, r.sweep_name) == (sw.entity, sw.project, sw.name)
    ]
    config = yaml.safe_load(sw.config) or {}
    return {
        "__typename": "Sweep",
        "id": sw.id,
        "name": sw.name,
        "displayName": sw.display_name or sw.name,
        "method": config.get("method"),
        "state": sw.state,
        "description": sw.description,
        "config": sw.config,
        "createdAt": sw.created_at,
        "updatedAt": sw.updated_at,
        "heartbeatAt": sw.heartbeat_at,
        "earlyStopJobRunning": False,
        "bestLoss": None,
        "controller": None,
        "scheduler": None,
        "controllerRunName": None,
        "runCount": len(runs),
        "runCountExpected": None,
        "project": Lazy(lambda _: project_node(ctx, s.projects[(sw.entity, sw.project)])),
        "runs": Lazy(lambda args: connection(runs, args, lambda r: run_node(ctx, r))),
    }


def type_node(ctx: Context, t: ArtifactType) -> Json:
    s = ctx.state
    project = s.projects[(t.entity, t.project)]

    def collection(args: Json) -> Json | None:
        c = s.collection(t.entity, t.project, args.get("name", ""))
        return collection_node(ctx, c) if c and c.type_name == t.name else None

    def collections(args: Json) -> Json:
        items = _collections(s, project, t.name, args)
        return connection(items, args, lambda c: collection_node(ctx, c))

    return {
        "__typename": "ArtifactType",
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "createdAt": t.created_at,
        "artifactCollection": Lazy(collection),
        "artifactSequence": Lazy(collection),
        "artifactCollections": Lazy(collections),
    }


def collection_node(ctx: Context, c: Collection) -> Json:
    s = ctx.state

    def artifacts(args: Json) -> Json:
        items = _filter_artifacts([a for _, a in s.members(c)], args)
        return connection(
            items,
            args,
            lambda a: artifact_node(ctx, a),
            lambda a: {"version": f"v{s.version_in(c, a)}"},
        )

    def membership(args: Json) -> Json | None:
        art = s.resolve_alias(c, args.get("aliasName") or "latest")
        return membership_node(ctx, c, art) if art else None

    def latest(_: Json) -> Json | None:
        art = s.resolve_alias(c, "latest")
        return artifact_node(ctx, art) if art else None

    def aliases(args: Json) -> Json:
        return connection(sorted(c.aliases), args, lambda a: alias_node(ctx, c, a))

    return {
        "__typename": c.typename,
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "createdAt": c.created_at,
        "updatedAt": c.updated_at,
        "state": "READY",
        "project": project_node(ctx, s.projects[(c.entity, c.project)]),
        "defaultArtifactType": {"name": c.type_name},
        "tags": {"edges": []},
        "digestAlgorithm": "MANIFEST_MD5",
        "aliases": Lazy(aliases),
        "artifacts": Lazy(artifacts),
        "artifactMembership": Lazy(membership),
        "latestArtifact": Lazy(latest),
    }


def alias_node(ctx: Context, c: Collection, alias: str) -> Json:
    return {
        "__typename": "ArtifactAlias",
        "id": gid("ArtifactAlias", c.alias_nums.get(alias, 0)),
        "alias": alias,
        "artifactCollection": Lazy(lambda _: collection_node(ctx, c)),
    }


def file_node(ctx: Context, a: Artifact, f: ArtifactFile) -> Json:
    url = ctx.signer.url("GET", f.storage_key)
    return {
        "__typename": "File",
        "id": f.id,
        "name": f.name,
        "displayName": f.name,
        "url": url,
        "directUrl": url,
        "sizeBytes": f.size,
        "storagePath": f.storage_key,
        "mimetype": "application/octet-stream",
        "updatedAt": a.updated_at,
        "digest": f.md5_b64,
        "md5": f.md5_b64,
    }


def run_file_node(ctx: Context, r: Run, f: RunFile) -> Json:
    """A run file, as ``RunFiles`` reads it (``wandb/apis/public/files.py``: ``FILE_FRAGMENT``).

    ``url`` is W&B's download route on the API host,
    ``{base_url}/files/<entity>/<project>/<run>/<name>``, which answers 302 to
    signed storage (:meth:`StandinBackend._run_file`); the SDK downloads it in
    wandb-core (``File.download`` sends a ``DownloadFileRequest`` with
    ``url=self.url``), whose file-transfer client adds the API key only for the
    base URL (``core/internal/wbapi/wbapi.go``: ``newFileTransferClient``,
    ``httplayers.LimitTo``) and follows the redirect (Go's default).
    ``url(upload: true)`` is a signed PUT URL instead.
    """
    blob = ctx.state.blobs.get(f.storage_key)
    path = "/".join(urllib.parse.quote(p, safe="") for p in (r.entity, r.project, r.name))

    def url(args: Json) -> str:
        if args.get("upload"):
            return ctx.signer.url("PUT", f.storage_key)
        return f"{ctx.base_url}/files/{path}/{urllib.parse.quote(f.name)}"

    return {
        "__typename": "File",
        "id": f.id,
        "name": f.name,
        "displayName": f.name,
        "url": Lazy(url),
        "directUrl": ctx.signer.url("GET", f.storage_key),
        "sizeBytes": blob.size if blob else 0,
        "md5": blob.md5_b64 if blob else None,
        "digest": blob.md5_b64 if blob else None,
        "mimetype": mimetypes.guess_type(f.name)[0] or "application/octet-stream",
        "updatedAt": f.updated_at,
        "storagePath": f.storage_key,
    }


def _like(pattern: str, name: str) -> bool:
    """MySQL ``LIKE`` (``%`` any run, ``_`` one character), which ``files(pattern:)`` uses."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


def manifest_node(ctx: Context, a: Artifact) -> Json | None:
    if a.manifest_key is None:
        return None
    return _manifest_file(ctx, a.manifest_num, a.manifest_key)


def _manifest_file(ctx: Context, num: int | None, key: str) -> Json:
    return {
        "__typename": "ArtifactManifest",
        "id": gid("ArtifactManifest", num),
        "file": {
            "__typename": "File",
            "id": gid("File", num),
            "directUrl": ctx.signer.url("GET", key),
            "uploadUrl": ctx.signer.url("PUT", key),
            "uploadHeaders": [],
        },
    }


def artifact_node(ctx: Context, a: Artifact) -> Json:
    s = ctx.state
    c = a.collection

    def used_by(args: Json) -> Json:
        runs = [r for r in (s.run_by_id(i) for i in a.used_by) if r]
        return connection(runs, args, lambda r: run_node(ctx, r))

    def created_by(_: Json) -> Json | None:
        run = s.run_by_id(a.created_by or "")
        return run_node(ctx, run) if run else None

    def memberships(args: Json) -> Json:
        # its own sequence's, then one per registry link (FetchLinkedArtifacts reads them)
        colls = [c, *(ln.portfolio for ln in s.links.values() if ln.artifact is a)]
        return connection(colls, args, lambda x: membership_node(ctx, x, a))

    return {
        "__typename": "Artifact",
        "id": a.id,
        "artifactSequence": Lazy(lambda _: collection_node(ctx, c)),
        "versionIndex": a.version_index,
        "artifactType": {"__typename": "ArtifactType", "name": c.type_name},
        "description": a.description,
        "metadata": a.metadata,
        "ttlDurationSeconds": a.ttl_duration_seconds,
        "ttlIsInherited": a.ttl_duration_seconds <= 0,
        # TagFragment (wandb/sdk/artifacts/_generated/operations.py): what _assign_attrs reads.
        "tags": [
            {"__typename": "Tag", "id": gid("Tag", a.num, i), "name": t}
            for i, t in enumerate(a.tags)
        ],
        "historyStep": a.history_step,
        "state": a.state,
        "size": a.size,
        "digest": a.digest,
        "digestAlgorithm": "MANIFEST_MD5",
        "commitHash": a.digest if a.state == "COMMITTED" else None,
        "fileCount": a.file_count,
        "createdAt": a.created_at,
        "updatedAt": a.updated_at,
        "aliases": [alias_node(ctx, c, alias) for alias in a.aliases],
        "currentManifest": Lazy(lambda _: manifest_node(ctx, a)),
        "usedBy": Lazy(used_by),
        "createdBy": Lazy(created_by),
        "artifactMemberships": Lazy(memberships),
    }


def membership_node(ctx: Context, c: Collection, a: Artifact) -> Json:
    def files(args: Json) -> Json:
        items = list(a.files.values())
        if names := args.get("names"):
            items = [f for f in items if f.name in names]
        return connection(items, args, lambda f: file_node(ctx, a, f))

    s = ctx.state
    link = next((ln for ln in s.links.values() if ln.portfolio is c and ln.artifact is a), None)
    return {
        "__typename": "ArtifactCollectionMembership",
        "id": gid("ArtifactCollectionMembership", c.num, a.num),
        "versionIndex": s.version_in(c, a),
        "createdAt": link.created_at if link else a.created_at,
        "aliases": [alias_node(ctx, c, alias) for alias in s.aliases_in(c, a)],
        "artifactCollection": collection_node(ctx, c),
        "artifact": artifact_node(ctx, a),
        "files": Lazy(files),
    }


def run_node(ctx: Context, r: Run) -> Json:
    s = ctx.state
    project = s.projects[(r.entity, r.project)]

    def run_files(args: Json) -> Json:
        items = s.uploaded_files(r)
        if names := args.get("names"):
            items = [f for f in items if f.name in names]
        if pattern := args.get("pattern"):
            items = [f for f in items if _like(pattern, f.name)]
        return connection(items, args, lambda f: run_file_node(ctx, r, f))

    def artifacts(kind: str) -> Callable[[Json], Json]:
        def conn(args: Json) -> Json:
            if kind == "output":
                items = [a for a in s.artifacts.values() if a.created_by == r.id]
            else:
                items = [a for a in s.artifacts.values() if r.id in a.used_by]
            return connection(items, args, lambda a: artifact_node(ctx, a))

        return conn

    return {
        "__typename": "Run",
        "id": r.id,
        "name": r.name,
        "displayName": r.display_name,
        "state": r.state,
        "config": r.config,
        "summaryMetrics": json.dumps(r.summary),
        "systemMetrics": "{}",
        "tags": r.tags,
        "group": r.group,
        "jobType": r.job_type,
        "commit": r.commit,
        "host": r.host,
        "readOnly": False,
        "createdAt": r.created_at,
        "heartbeatAt": r.heartbeat_at,
        "description": r.description,
        "notes": r.notes,
        "sweepName": r.sweep_name,
        "shouldStop": False,
        "failed": r.state in ("failed", "crashed"),
        "stopped": False,
        "running": r.state == "running",
        "exitcode": r.exitcode,
        "historyLineCount": len(r.history),
        "logLineCount": r.log_lines,
        "eventsLineCount": r.events_lines,
        "historyTail": json.dumps(r.history[-10:]),
        "eventsTail": "[]",
        "historyKeys": Lazy(lambda _: _history_keys(r)),
        "history": Lazy(lambda args: _history_page(r, args)),
        "parquetHistory": Lazy(lambda args: _parquet_history(r, args.get("liveKeys") or [])),
        "fileCount": Lazy(lambda _: len(s.uploaded_files(r))),
        "files": Lazy(run_files),
        "events": Lazy(lambda _: []),
        "sampledHistory": Lazy(lambda args: _sampled_history(r, args.get("specs") or [])),
        "wandbConfig": Lazy(lambda args: _wandb_config(r, args.get("keys"))),
        "user": {"__typename": "User", "name": ctx.viewer, "username": ctx.viewer},
        "projectId": project.num,
        "project": project_node(ctx, project),
        "outputArtifacts": Lazy(artifacts("output")),
        "inputArtifacts": Lazy(artifacts("input")),
    }


def _config(r: Run) -> Json:
    try:
        config = json.loads(r.config or "{}")
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def _wandb_config(r: Run, keys: list[str] | None) -> str:
    """The run's internal ``_wandb`` config (telemetry ``t`` etc.), optionally some keys."""
    internal = _config(r).get("_wandb") or {}
    value = internal.get("value", internal) if isinstance(internal, dict) else {}
    if keys is not None:
        value = {k: v for k, v in value.items() if k in keys}
    return json.dumps(value)


def _sample(rows: list[Any], samples: int | None) -> list[Any]:
    if not samples or len(rows) <= samples:
        return rows
    step = len(rows) / samples
    return [rows[int(i * step)] for i in range(samples)]


def _rows(r: Run) -> list[Json]:
    return [json.loads(line) for line in r.history]


def _in_steps(row: Json, lo: Any, hi: Any) -> bool:
    step = row.get("_step", 0)
    return (lo is None or step >= lo) and (hi is None or step < hi)


def _history_page(r: Run, args: Json) -> list[str]:
    """``history(samples:, minStep:, maxStep:)``: JSON rows, steps in ``[minStep, maxStep)``.

    ``RunFullHistory`` (``wandb/apis/public/runs.py``: ``Run._full_history``)
    passes only ``samples``; wandb-core's ``HistoryPage`` (the live part of
    ``run.scan_history()``, ``core/internal/runhistoryreader/livedata.go``:
    ``getLiveDataForAllKeys``) pages by step with ``samples = maxStep - minStep``.
    """
    lo, hi = args.get("minStep"), args.get("maxStep")
    lines = [line for line in r.history if _in_steps(json.loads(line), lo, hi)]
    return _sample(lines, args.get("samples"))


def _sampled_history(r: Run, specs: list[str]) -> list[list[Json]]:
    """``sampledHistory(specs:)``: one list of rows per spec ``{keys, samples, minStep, maxStep}``.

    The rows carry only the spec's keys, and only rows that have one besides
    the first (the x axis). ``maxStep`` is inclusive here, unlike ``history``'s:
    wandb-core subtracts 1 before sending it (``livedata.go``:
    ``getLiveDataForSpecificKeys``, "SampledHistory marks the max step as inclusive").
    """
    out = []
    rows = _rows(r)
    # A single value for a list argument is a list of one (GraphQL spec, "Input Coercion"
    # of List types); wandb/apis/public/sweeps.py sends specs="{}" this way.
    for spec in specs if isinstance(specs, list) else [specs]:
        want = json.loads(spec)
        keys = list(want.get("keys") or [])
        lo, hi = want.get("minStep"), want.get("maxStep")
        picked = [
            {k: row[k] for k in keys if k in row}
            for row in rows
            if _in_steps(row, lo, None if hi is None else hi + 1)
        ]
        out.append(_sample([row for row in picked if len(row) > 1], want.get("samples")))
    return out


def _parquet_history(r: Run, live_keys: list[str]) -> Json:
    """``parquetHistory(liveKeys:)``: exported parquet files, and the rows not yet exported.

    wandb-core asks it first in ``run.scan_history()`` (``RunParquetHistory``,
    ``core/internal/runhistoryreader/parquet/downloader.go``:
    ``GetSignedUrlsWithLiveSteps``): it downloads each of ``parquetUrls`` and
    reads the steps listed in ``liveData`` (objects with ``_step`` among the
    ``liveKeys``) from ``HistoryPage`` / ``SampledHistoryPage``. W&B exports
    history to parquet some time after a run; (choice) the stand-in never
    exports, so every row is live, as on W&B right after a run.
    """
    live = [{k: row[k] for k in live_keys if k in row} for row in _rows(r)]
    return {"parquetUrls": [], "liveData": live}


def _history_keys(r: Run) -> Json:
    keys: dict[str, Json] = {}
    last_step = 0
    for line in r.history:
        row = json.loads(line)
        last_step = int(row.get("_step", last_step))
        for key, value in row.items():
            entry = keys.setdefault(key, {"typeCounts": [{"type": _type_of(value), "count": 0}]})
            entry["typeCounts"][0]["count"] += 1
    return {"keys": keys, "lastStep": last_step}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "map" if isinstance(value, dict) else "unknown"


# -- filters and ordering ----------------------------------------------------------


def _run_fields(r: Run) -> Json:
    fields: Json = {
        "name": r.name,
        "displayName": r.display_name,
        "display_name": r.display_name,
        "state": r.state,
        "group": r.group,
        "jobType": r.job_type,
        "tags": r.tags,
        "createdAt": r.created_at,
        "created_at": r.created_at,
        "host": r.host,
        "username": r.entity,
        # Sweep.runs filters {"$and": [{"sweep": <sweep id>}]} (wandb/apis/public/sweeps.py).
        "sweep": r.sweep_name,
    }
    for key, value in _config(r).items():
        fields[f"config.{key}"] = value.get("value") if isinstance(value, dict) else value
        fields[f"config.{key}.value"] = fields[f"config.{key}"]
    for key, value in r.summary.items():
        fields[f"summary_metrics.{key}"] = value
    return fields


def matches(query: Any, doc: Json) -> bool:
    """A small MongoDB-style filter, the subset ``api.runs(filters=...)`` uses."""
    if not isinstance(query, dict):
        return True
    for key, cond in query.items():
        if key == "$and":
            ok = all(matches(q, doc) for q in cond)
        elif key == "$or":
            ok = any(matches(q, doc) for q in cond)
        elif key == "$nor":
            ok = not any(matches(q, doc) for q in cond)
        else:
            ok = _match_value(doc.get(key), cond, key in doc)
        if not ok:
            return False
    return True


def _match_value(value: Any, cond: Any, present: bool) -> bool:
    if not (isinstance(cond, dict) and any(k.startswith("$") for k in cond)):
        return value == cond or (isinstance(value, list) and cond in value)
    ops: dict[str, Callable[[Any], bool]] = {
        "$eq": lambda c: value == c,
        "$ne": lambda c: value != c,
        "$in": lambda c: value in c or (isinstance(value, list) and bool(set(value) & set(c))),
        "$nin": lambda c: value not in c,
        "$gt": lambda c: value is not None and value > c,
        "$gte": lambda c: value is not None and value >= c,
        "$lt": lambda c: value is not None and value < c,
        "$lte": lambda c: value is not None and value <= c,
        "$exists": lambda c: present == bool(c),
        "$regex": lambda c: isinstance(value, str) and re.search(c, value) is not None,
    }
    return all(ops[op](c) if op in ops else True for op, c in cond.items())


def _json_arg(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _runs(s: State, p: Project, args: Json) -> list[Run]:
    runs = [r for r in s.runs.values() if (r.entity, r.project) == (p.entity, p.name)]
    query = _json_arg(args.get("filters"))
    runs = [r for r in runs if matches(query, _run_fields(r))]
    order = args.get("order") or "+created_at"
    if order.lstrip("+-") in ("created_at", "createdAt"):
        runs.sort(key=lambda r: r.num, reverse=order.startswith("-"))
    return runs


def _collections(s: State, p: Project, type_name: str | None, args: Json) -> list[Collection]:
    items = [
        c
        for c in s.collections.values()
        if (c.entity, c.project) == (p.entity, p.name)
        and (type_name is None or c.type_name == type_name)
    ]
    query = _json_arg(args.get("filters"))
    items = [c for c in items if matches(query, {"name": c.name, "type": c.type_name})]
    order = args.get("order") or "-createdAt"
    items.sort(key=lambda c: c.num, reverse=order.startswith("-"))
    return items


def _filter_artifacts(items: list[Artifact], args: Json) -> list[Artifact]:
    query = _json_arg(args.get("filters"))
    items = [
        a
        for a in items
        if matches(query, {"state": a.state, "alias": a.aliases, "digest": a.digest})
    ]
    order = args.get("order") or "-createdAt"
    items.sort(key=lambda a: (a.version_index or 0, a.num), reverse=order.startswith("-"))
    return items


# -- handlers: viewer, server, entity --------------------------------------------
#
# Each handler gets the arguments of the document's root field with variables
# substituted, e.g. ``{"input": {...}}`` for mutations, ``{"name", "entityName"}``
# for ``project(...)``, whether the document inlines them or passes ``$input``.


def viewer(ctx: Context, args: Json) -> Json:
    return {"viewer": user_node(ctx)}


def server_features(ctx: Context, args: Json) -> Json:
    features = [{"name": name, "isEnabled": True} for name in ctx.features]
    return {"serverInfo": {"features": features}}


def entity_query(ctx: Context, args: Json) -> Json:
    return {"entity": entity_node(ctx, args.get("name") or ctx.viewer)}


def organization(ctx: Context, args: Json) -> Json:
    """``organization(name:)``: by display name or org entity name (``FetchOrganization``)."""
    known = args.get("name") in (ctx.org_name, ctx.org_entity)
    return {"organization": org_node(ctx) if known else None}


# -- handlers: runs ----------------------------------------------------------------


def upsert_bucket(ctx: Context, args: Json) -> Json:
    run, inserted = ctx.state.upsert_run(args.get("input") or {})
    return {"upsertBucket": {"bucket": run_node(ctx, run), "inserted": inserted}}


def project_query(ctx: Context, args: Json) -> Json:
    """Every ``project(name:, entityName:) { ... }`` query; sub-fields read their own args."""
    p = ctx.state.project(args.get("entityName"), args.get("name"))
    return {"project": project_node(ctx, p) if p else None}


def model_query(ctx: Context, args: Json) -> Json:
    p = ctx.state.project(args.get("entityName"), args.get("name"))
    return {"model": project_node(ctx, p) if p else None}


def create_run_files(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    path = (inp.get("entityName") or ctx.viewer, inp["projectName"], inp["runName"])
    run = ctx.state.runs.get(path)
    if run is None:
        raise GraphQLError(f"run {'/'.join(path)} not found", status=404)
    files = []
    for name in inp.get("files") or []:
        f = ctx.state.run_file(run, name)
        files.append({"name": name, "uploadUrl": ctx.signer.url("PUT", f.storage_key)})
    return {"createRunFiles": {"runID": run.id, "uploadHeaders": [], "files": files}}


def delete_files(ctx: Context, args: Json) -> Json:
    """``deleteFiles(input: {files: [ID!]!, projectId})``: ``File.delete()`` in
    ``wandb/apis/public/files.py`` (a hand-written mutation)."""
    ctx.state.delete_run_files(list(args["input"].get("files") or []))
    return {"deleteFiles": {"success": True}}


def mark_run_files_uploaded(ctx: Context, args: Json) -> Json:
    return {"markRunFilesUploaded": {"success": True}}


def delete_run(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    ctx.state.delete_run(inp["id"], bool(inp.get("deleteArtifacts")))
    return {"deleteRun": {"clientMutationId": inp.get("clientMutationId")}}


def stop_run(ctx: Context, args: Json) -> Json:
    return {"stopRun": {"success": True}}


def rewind_run(ctx: Context, args: Json) -> Json:
    """``rewindRun``: ``wandb.init(resume_from="<run id>?_step=N")``.

    wandb-core sends ``RewindRun`` (its document is in wandb-core's binary, from
    ``core/internal/gql/gql_gen.go``; older SDKs sent the same from
    ``wandb/sdk/internal/internal_api.py``, ``rewind_run``) with ``runName``,
    ``metricName`` (``_step``) and ``metricValue``, and reads ``rewoundRun`` (its
    ``historyLineCount`` among others). W&B's docs (docs.wandb.ai/models/runs/rewind):
    the same run id, its history truncated to the rewind point, its config kept, its
    summary recomputed from the history. The rows up to the point stay (see
    :meth:`.state.State.rewind_run`). (choice) The archived copy of the original run is
    not modelled.
    """
    inp = args["input"]
    project = ctx.state.project(inp.get("entityName"), inp.get("projectName"))
    run = ctx.state.runs.get((project.entity, project.name, inp["runName"])) if project else None
    if run is None:
        raise GraphQLError(f"run {inp['runName']!r} not found", status=404)
    ctx.state.rewind_run(run, str(inp["metricName"]), float(inp["metricValue"]))
    return {"rewindRun": {"rewoundRun": run_node(ctx, run)}}


# -- handlers: artifacts (logging and using) ---------------------------------------


def _artifact(ctx: Context, art_id: str | None) -> Artifact:
    art = ctx.state.artifact_by_id(art_id)
    if art is None:
        raise GraphQLError(f"artifact {art_id!r} not found", status=404)
    return art


def create_artifact(ctx: Context, args: Json) -> Json:
    inp = dict(args["input"])
    if not inp.get("artifactCollectionName") and inp.get("artifactCollectionNames"):
        inp["artifactCollectionName"] = inp["artifactCollectionNames"][0]
    art = ctx.state.create_artifact(inp)
    return {"createArtifact": {"artifact": artifact_node(ctx, art)}}


def create_artifact_files(ctx: Context, args: Json) -> Json:
    """Upload URLs for artifact files; null for content storage already has (dedup).

    Each URL is signed over the headers listed in ``uploadHeaders``
    (``"Name:value"`` strings, which wandb-core parses and sends with the PUT:
    ``core/pkg/artifacts/saver.go``, ``filetransfer.ParseHeaders``): the file's
    ``Content-MD5`` and a ``Content-Type``, as a signed GCS/S3 URL that covers
    them. A spec with ``uploadPartsInput`` (wandb-core sends it for files of
    2 GiB and more: ``core/pkg/artifacts/multipart.go``, ``S3MinMultiUploadSize``)
    gets ``uploadMultipartUrls``: an upload id and one URL per part, differing
    only in ``partNumber``, each signed over that part's ``Content-MD5``.
    """
    s = ctx.state
    edges = []
    for spec in args["input"].get("artifactFiles") or []:
        art = _artifact(ctx, spec["artifactID"])
        md5_hex = base64.b64decode(spec["md5"]).hex()
        key = f"artifacts/{art.collection.entity}/{md5_hex}"
        f = art.files.get(spec["name"]) or ArtifactFile(s.next_num(), spec["name"], key, "")
        f.storage_key, f.md5_b64 = key, spec["md5"]
        art.files[spec["name"]] = f
        content_type = spec.get("mimetype") or "application/octet-stream"
        headers = {"Content-MD5": spec["md5"], "Content-Type": content_type}
        node: Json = {
            "storagePath": key,
            "uploadUrl": None,
            "uploadHeaders": [],
            "uploadMultipartUrls": None,
            "artifact": {"id": art.id},
        }
        # Content already stored needs no upload: W&B answers uploadUrl null.
        blob = s.blobs.get(key)
        if blob is not None:
            f.size = blob.size
        elif parts := spec.get("uploadPartsInput"):
            node["uploadMultipartUrls"] = _start_multipart(ctx, art, key, spec["md5"], parts)
            node["uploadUrl"] = ctx.signer.url("PUT", key)
            # Parts carry their own Content-MD5 (saver.go: uploadMultipart).
            node["uploadHeaders"] = [f"Content-Type:{content_type}"]
        else:
            node["uploadUrl"] = ctx.signer.url("PUT", key, headers=headers)
            node["uploadHeaders"] = [f"{k}:{v}" for k, v in headers.items()]
        edges.append({"node": node})
    return {"createArtifactFiles": {"files": {"edges": edges}}}


def _start_multipart(
    ctx: Context, art: Artifact, key: str, md5_b64: str, parts: list[Json]
) -> Json:
    upload_id = secrets.token_urlsafe(24)
    announced = {int(p["partNumber"]): str(p["hexMD5"]) for p in parts}
    ctx.state.multipart[upload_id] = MultipartUpload(upload_id, art.num, key, md5_b64, announced)
    urls = [
        {
            "partNumber": n,
            "uploadUrl": ctx.signer.url(
                "PUT",
                key,
                headers={"Content-MD5": base64.b64encode(bytes.fromhex(hex_md5)).decode()},
                params={"partNumber": str(n), "uploadId": upload_id},
            ),
        }
        for n, hex_md5 in sorted(announced.items())
    ]
    return {"uploadID": upload_id, "uploadUrlParts": urls}


def complete_multipart_upload_artifact(ctx: Context, args: Json) -> Json:
    """``completeMultipartUploadArtifact``: join the parts, as S3's CompleteMultipartUpload.

    wandb-core sends it once every part is PUT, with each part's number and the
    ``ETag`` the storage answered (quoted hex MD5) as ``hexMD5``
    (``core/pkg/artifacts/saver.go``: ``uploadMultipart``). Refused like S3: an
    unknown upload id, a part missing or with another ETag, or a part other than
    the last smaller than ``multipart_threshold`` (S3's 5 MiB, ``EntityTooSmall``).
    (choice) ``digest`` is S3's multipart ETag, ``hex(md5(part md5s))-N``;
    wandb-core ignores it. ``Abort`` drops the parts.
    """
    inp = args["input"]
    upload = ctx.state.multipart.get(inp.get("uploadID") or "")
    if upload is None or upload.storage_key != inp.get("storagePath"):
        raise GraphQLError(f"multipart upload {inp.get('uploadID')!r} not found", status=404)
    part_keys = [part_key(upload.upload_id, n) for n in sorted(upload.parts)]
    if inp.get("completeMultipartAction") != "Complete":
        for k in part_keys:
            ctx.state.blobs.delete(k)
        del ctx.state.multipart[upload.upload_id]
        return {"completeMultipartUploadArtifact": {"digest": None}}
    given = {int(p["partNumber"]): str(p["hexMD5"]).strip('"') for p in inp["completedParts"]}
    if sorted(given) != sorted(upload.parts):
        raise GraphQLError(f"completedParts {sorted(given)} != parts {sorted(upload.parts)}")
    md5s = []
    for i, n in enumerate(sorted(upload.parts)):
        blob = ctx.state.blobs.get(part_key(upload.upload_id, n))
        if blob is None or blob.md5_hex != given[n]:
            raise GraphQLError(f"InvalidPart: part {n} was not uploaded with ETag {given[n]}")
        if i < len(upload.parts) - 1 and blob.size < ctx.multipart_threshold:
            raise GraphQLError(f"EntityTooSmall: part {n} has {blob.size} bytes")
        md5s.append(bytes.fromhex(blob.md5_hex))
    whole = ctx.state.blobs.concat(upload.storage_key, part_keys)
    for k in part_keys:
        ctx.state.blobs.delete(k)
    del ctx.state.multipart[upload.upload_id]
    if whole.md5_b64 != upload.md5_b64:
        ctx.state.blobs.delete(upload.storage_key)
        raise GraphQLError("BadDigest: the joined parts do not have the file's MD5")
    digest = f"{hashlib.md5(b''.join(md5s)).hexdigest()}-{len(md5s)}"
    return {"completeMultipartUploadArtifact": {"digest": digest}}


def create_artifact_manifest(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    art = _artifact(ctx, inp["artifactID"])
    if inp.get("type") == "PATCH":
        # A distributed writer's own manifest (wandb_manifest.patch.json), merged at commit.
        num, key = ctx.state.add_patch_manifest(art, inp.get("name") or "wandb_manifest.patch.json")
        return {"createArtifactManifest": {"artifactManifest": _manifest_file(ctx, num, key)}}
    if art.manifest_key is None:
        art.manifest_num = ctx.state.next_num()
        art.manifest_key = f"manifests/{art.num}/{inp.get('name') or 'wandb_manifest.json'}"
    return {"createArtifactManifest": {"artifactManifest": manifest_node(ctx, art)}}


def update_artifact_manifest(ctx: Context, args: Json) -> Json:
    manifest_id = args["input"].get("artifactManifestID")
    for art in ctx.state.artifacts.values():
        if art.manifest_num and gid("ArtifactManifest", art.manifest_num) == manifest_id:
            return {"updateArtifactManifest": {"artifactManifest": manifest_node(ctx, art)}}
        for num, key in art.patches.items():
            if gid("ArtifactManifest", num) == manifest_id:
                node = _manifest_file(ctx, num, key)
                return {"updateArtifactManifest": {"artifactManifest": node}}
    raise GraphQLError(f"artifact manifest {manifest_id!r} not found", status=404)


def commit_artifact(ctx: Context, args: Json) -> Json:
    art = _artifact(ctx, args["input"]["artifactID"])
    ctx.state.commit_artifact(art)
    return {"commitArtifact": {"artifact": artifact_node(ctx, art)}}


def use_artifact(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    art = _artifact(ctx, inp.get("artifactID"))
    path = (inp.get("entityName") or ctx.viewer, inp.get("projectName"), inp.get("runName"))
    run = ctx.state.runs.get(path)  # type: ignore[arg-type]
    if run is not None and run.id not in art.used_by:
        art.used_by.append(run.id)
    return {"useArtifact": {"artifact": artifact_node(ctx, art)}}


def client_id_mapping(ctx: Context, args: Json) -> Json:
    client_id = args.get("clientID")
    for art in ctx.state.artifacts.values():
        if art.client_id == client_id:
            return {"clientIDMapping": {"serverID": art.id}}
        if art.sequence_client_id == client_id:
            return {"clientIDMapping": {"serverID": art.collection.id}}
    return {"clientIDMapping": None}


def artifact_by_id(ctx: Context, args: Json) -> Json:
    art = ctx.state.artifact_by_id(args.get("id"))
    return {"artifact": artifact_node(ctx, art) if art else None}


def collection_by_id(ctx: Context, args: Json) -> Json:
    coll = ctx.state.collection_by_id(args.get("id") or "")
    return {"artifactCollection": collection_node(ctx, coll) if coll else None}


def update_artifact(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    art = _artifact(ctx, inp.get("artifactID"))
    for key in ("description", "metadata"):
        if inp.get(key) is not None:
            setattr(art, key, inp[key])
    if inp.get("ttlDurationSeconds") is not None:
        art.ttl_duration_seconds = int(inp["ttlDurationSeconds"])
    # Artifact.save() sends the tags added and removed since the version was read
    # (wandb/sdk/artifacts/artifact.py: _update, tags_to_add / tags_to_delete).
    for tag in inp.get("tagsToAdd") or []:
        if tag.get("tagName") not in art.tags:
            art.tags.append(tag["tagName"])
    removed = {tag.get("tagName") for tag in inp.get("tagsToDelete") or []}
    art.tags = [t for t in art.tags if t not in removed]
    if inp.get("aliases") is not None:
        coll = art.collection
        wanted = {a["alias"] for a in inp["aliases"]}
        for alias in set(art.aliases) - wanted - {"latest"}:
            del coll.aliases[alias]
        for alias in sorted(wanted):  # a set: its order would change the aliases' ids
            ctx.state.set_alias(coll, alias, art)
    art.updated_at = now_iso()
    return {"updateArtifact": {"artifact": artifact_node(ctx, art)}}


def add_aliases(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    art = _artifact(ctx, inp["artifactID"])
    for alias in inp.get("aliases") or []:
        ctx.state.set_alias(_alias_collection(ctx, art, alias), alias["alias"], art)
    return {"addAliases": {"success": True}}


def delete_aliases(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    art = _artifact(ctx, inp["artifactID"])
    for alias in inp.get("aliases") or []:
        coll = _alias_collection(ctx, art, alias)
        if coll.aliases.get(alias["alias"]) == art.num:
            del coll.aliases[alias["alias"]]
    return {"deleteAliases": {"success": True}}


def _alias_collection(ctx: Context, art: Artifact, alias: Json) -> Collection:
    """The collection an alias input names: its ``entityName``/``projectName``/
    ``artifactCollectionName`` (``ArtifactCollectionAliasInput``, all required, in
    wandb/sdk/artifacts/_generated/input_types.py; ``Artifact._add_aliases`` and
    ``_delete_aliases`` in wandb/sdk/artifacts/artifact.py send the path the artifact was
    fetched by, a registry portfolio for a linked one). It must hold the version."""
    source = art.collection
    coll = ctx.state.collection(
        alias.get("entityName") or source.entity,
        alias.get("projectName") or source.project,
        alias.get("artifactCollectionName") or source.name,
    )
    if coll is None or ctx.state.version_in(coll, art) is None:
        where = alias.get("artifactCollectionName") or source.name
        raise GraphQLError(f"artifact {art.id!r} is not a version of {where!r}", status=404)
    return coll


# -- handlers: sweeps -----------------------------------------------------------------


def upsert_sweep(ctx: Context, args: Json) -> Json:
    """``upsertSweep``: create a sweep (no ``id``) or change one (``state``, ``config``...).

    ``wandb.sweep`` creates (``_upsert_sweep``, ``wandb/apis/public/sweeps.py``);
    ``_set_sweep_state`` and wandb-core's ``UpsertSweepState`` change the state
    (``RUNNING``, ``PAUSED``, ``CANCELED``, ``FINISHED``).
    """
    inp = args["input"]
    s = ctx.state
    if inp.get("id"):
        sw = next((x for x in s.sweeps.values() if x.id == inp["id"]), None)
        if sw is None:
            raise GraphQLError(f"sweep {inp['id']!r} not found", status=404)
    else:
        p = s.ensure_project(inp.get("entityName"), inp.get("projectName"))
        if not inp.get("config"):
            raise GraphQLError("a new sweep needs a config")
        sw = Sweep(s.next_num(), p.entity, p.name, new_run_name(), inp["config"])
        s.sweeps[sw.num] = sw
    for key, attr in (("config", "config"), ("description", "description"),
                      ("displayName", "display_name"), ("state", "state")):  # fmt: skip
        if inp.get(key) is not None:
            setattr(sw, attr, inp[key])
    sw.updated_at = now_iso()
    return {"upsertSweep": {"sweep": sweep_node(ctx, sw), "configValidationWarnings": []}}


def create_agent(ctx: Context, args: Json) -> Json:
    """``createAgent`` (``_register_agent``): an agent id for the sweep named ``sweep``."""
    inp = args["input"]
    s = ctx.state
    entity = inp.get("entityName") or ctx.viewer
    sw = s.sweep(entity, inp.get("projectName") or "uncategorized", inp.get("sweep") or "")
    if sw is None:
        raise GraphQLError(f"sweep {inp.get('sweep')!r} not found", status=404)
    agent_id = gid("Agent", s.next_num())
    sw.agents.append(agent_id)
    s.agents[agent_id] = sw
    return {"createAgent": {"agent": {"__typename": "Agent", "id": agent_id}}}


def agent_heartbeat(ctx: Context, args: Json) -> Json:
    """``agentHeartbeat`` (``_agent_heartbeat``): the controller's next commands.

    An agent of a deleted sweep gets a 404, which the SDK reads as "Sweep not
    found. The sweep may have been deleted." (``SweepNotFoundError``).
    """
    inp = args["input"]
    sw = ctx.state.agents.get(inp.get("id") or "")
    if sw is None or sw.num not in ctx.state.sweeps:
        raise GraphQLError(f"agent {inp.get('id')!r} not found", status=404)
    sw.heartbeat_at = now_iso()
    run_state = _json_arg(inp.get("runState")) or {}
    commands = next_commands(ctx.state, sw, run_state, ctx.rng)
    agent = {"__typename": "Agent", "id": inp["id"]}
    return {"agentHeartbeat": {"agent": agent, "commands": dumps(commands)}}


# -- handlers: registries -----------------------------------------------------------

#: Registries every organization has (W&B docs, "Registry types": the core
#: registries "Models" and "Datasets"); a registry is the org entity's project
#: ``wandb-registry-<name>``.
CORE_REGISTRIES = ("model", "dataset")
REGISTRY_PREFIX = "wandb-registry-"


def link_artifact(ctx: Context, args: Json) -> Json:
    """``linkArtifact``: a membership of the artifact in a portfolio.

    Sent by ``Artifact.link`` / ``Run.link_artifact`` / ``Run.link_model``
    (``wandb/sdk/artifacts/artifact.py``: ``LINK_ARTIFACT_GQL``, whose answer's
    ``artifactMembership`` the SDK reads when the server advertises
    ``ARTIFACT_MEMBERSHIP_IN_LINK_ARTIFACT_RESPONSE``) and by wandb-core
    (``LinkArtifact``, ``versionIndex`` only). The artifact is given by id or,
    from wandb-core, by client id. A registry target must be a registry of the
    organization, in the org entity.
    """
    inp = args["input"]
    art = ctx.state.artifact_by_id(inp.get("artifactID")) or ctx.state.artifact_by_client_id(
        inp.get("clientID")
    )
    if art is None or art.state != "COMMITTED":
        raise GraphQLError(f"artifact {inp.get('artifactID') or inp.get('clientID')!r} not found")
    entity, project = inp.get("entityName") or ctx.viewer, inp.get("projectName") or ""
    if project.startswith(REGISTRY_PREFIX):
        if entity != ctx.org_entity:
            raise GraphQLError(f"registry {project!r} must be linked in the org entity")
        if project.removeprefix(REGISTRY_PREFIX) not in CORE_REGISTRIES:
            raise GraphQLError(f"registry {project!r} not found", status=404)
    portfolio = inp.get("artifactPortfolioName")
    if not portfolio:
        raise GraphQLError("linkArtifact needs artifactPortfolioName")
    aliases = [a["alias"] for a in inp.get("aliases") or []]
    link = ctx.state.link(art, entity, project, portfolio, aliases)
    membership = membership_node(ctx, link.portfolio, art)
    return {"linkArtifact": {"versionIndex": link.version_index, "artifactMembership": membership}}


def unlink_artifact(ctx: Context, args: Json) -> Json:
    """``unlinkArtifact(input: {artifactID, artifactPortfolioID})`` (``Artifact.unlink``)."""
    inp = args["input"]
    art = _artifact(ctx, inp["artifactID"])
    coll = ctx.state.collection_by_id(inp["artifactPortfolioID"])
    if coll is None or coll.typename != "ArtifactPortfolio":
        raise GraphQLError(f"portfolio {inp['artifactPortfolioID']!r} not found", status=404)
    ctx.state.unlink(art, coll)
    return {"unlinkArtifact": {"success": True}}


# -- handlers: deletes -----------------------------------------------------------


def delete_artifact(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    art = _artifact(ctx, inp["artifactID"])
    node = artifact_node(ctx, art)
    ctx.state.delete_artifact(art, bool(inp.get("deleteAliases")))
    node["state"] = "DELETED"
    return {"deleteArtifact": {"artifact": node}}


def delete_artifact_sequence(ctx: Context, args: Json) -> Json:
    coll_id = args["input"]["artifactSequenceID"]
    coll = ctx.state.collection_by_id(coll_id)
    if coll is None:
        raise GraphQLError(f"artifact collection {coll_id!r} not found", status=404)
    ctx.state.delete_collection(coll)
    result = {"artifactCollection": {"__typename": coll.typename, "state": "DELETED"}}
    return {"deleteArtifactSequence": result}


def delete_artifact_portfolio(ctx: Context, args: Json) -> Json:
    """``deleteArtifactPortfolio``: the portfolio and its links; the source artifacts stay."""
    portfolio_id = args["input"].get("artifactPortfolioID")
    coll = ctx.state.collection_by_id(portfolio_id or "")
    if coll is None or coll.typename != "ArtifactPortfolio":
        raise GraphQLError(f"artifact portfolio {portfolio_id!r} not found", status=404)
    ctx.state.delete_collection(coll)
    result = {"artifactCollection": {"__typename": coll.typename, "state": "DELETED"}}
    return {"deleteArtifactPortfolio": result}


# -- the table -------------------------------------------------------------------

OPERATIONS: dict[str, Handler] = {
    # viewer, server, entity
    "Viewer": viewer,
    "GetViewer": viewer,
    "GetDefaultEntity": viewer,
    "ServerFeaturesQuery": server_features,
    "OrganizationCoreWeaveOrganizationID": entity_query,
    "XXHashDigestsEnabled": entity_query,
    "FetchOrgEntityFromEntity": entity_query,
    "FetchOrgInfoFromEntity": entity_query,
    "OrgFeatureFlags": organization,
    "FetchOrganization": organization,
    # runs
    "UpsertBucket": upsert_bucket,
    "RunResumeStatus": model_query,
    "CreateRunFiles": create_run_files,
    "MarkRunFilesUploaded": mark_run_files_uploaded,
    "RunState": project_query,
    "QueryRunInfo": project_query,
    "StopRun": stop_run,
    "RewindRun": rewind_run,
    "Run": project_query,
    "Runs": project_query,
    "RunHistoryKeys": project_query,
    "RunFullHistory": project_query,
    "RunSampledHistory": project_query,
    "RunFiles": project_query,
    "deleteFiles": delete_files,
    "RunParquetHistory": project_query,
    "HistoryPage": project_query,
    "SampledHistoryPage": project_query,
    "DeleteRun": delete_run,
    # artifacts: logging and using
    "ArtifactType": project_query,
    "CreateArtifact": create_artifact,
    "CreateArtifactFiles": create_artifact_files,
    "CreateArtifactManifest": create_artifact_manifest,
    "CompleteMultipartUploadArtifact": complete_multipart_upload_artifact,
    "UpdateArtifactManifest": update_artifact_manifest,
    "CommitArtifact": commit_artifact,
    "UseArtifact": use_artifact,
    "ClientIDMapping": client_id_mapping,
    "FetchArtifactDigestAlgorithm": project_query,
    "ArtifactByID": artifact_by_id,
    "ArtifactManifest": artifact_by_id,
    "FetchArtifactManifest": artifact_by_id,
    "ArtifactUsedBy": artifact_by_id,
    "ArtifactCreatedBy": artifact_by_id,
    "FetchLinkedArtifacts": artifact_by_id,
    "UpdateArtifact": update_artifact,
    "AddAliases": add_aliases,
    "DeleteAliases": delete_aliases,
    # artifacts: public API lookups
    "ArtifactMembershipByName": project_query,
    "GetArtifactMembershipFileUrls": project_query,
    "ArtifactMembershipFiles": project_query,
    "ProjectArtifacts": project_query,
    "ProjectArtifactCollections": project_query,
    "ProjectArtifactCollection": project_query,
    "ArtifactCollectionAliases": collection_by_id,
    "ArtifactTypeArtifactCollections": project_query,
    "ProjectArtifactTypes": project_query,
    "ProjectArtifactType": project_query,
    "RunOutputArtifacts": project_query,
    "RunInputArtifacts": project_query,
    # sweeps
    "UpsertSweep": upsert_sweep,
    "UpsertSweepState": upsert_sweep,
    "SweepWithRuns": project_query,
    "SweepConfig": project_query,
    "GetSweep": project_query,
    "GetSweeps": project_query,
    "GetSweepState": project_query,
    "CreateAgent": create_agent,
    "Heartbeat": agent_heartbeat,
    # registries
    "LinkArtifact": link_artifact,
    "UnlinkArtifact": unlink_artifact,
    # deletes
    "DeleteArtifact": delete_artifact,
    "DeleteArtifactSequence": delete_artifact_sequence,
    "DeleteArtifactPortfolio": delete_artifact_portfolio,
}


ROOT_FIELDS: dict[str, Handler] = {
    # queries
    "viewer": viewer,
    "serverInfo": server_features,
    "entity": entity_query,
    "organization": organization,
    "project": project_query,
    "model": model_query,
    "artifact": artifact_by_id,
    "artifactCollection": collection_by_id,
    "clientIDMapping": client_id_mapping,
    # mutations
    "upsertBucket": upsert_bucket,
    "createRunFiles": create_run_files,
    "markRunFilesUploaded": mark_run_files_uploaded,
    "stopRun": stop_run,
    "deleteFiles": delete_files,
    "deleteRun": delete_run,
    "createArtifact": create_artifact,
    "createArtifactFiles": create_artifact_files,
    "createArtifactManifest": create_artifact_manifest,
    "completeMultipartUploadArtifact": complete_multipart_upload_artifact,
    "updateArtifactManifest": update_artifact_manifest,
    "commitArtifact": commit_artifact,
    "useArtifact": use_artifact,
    "updateArtifact": update_artifact,
    "addAliases": add_aliases,
    "deleteAliases": delete_aliases,
    "upsertSweep": upsert_sweep,
    "createAgent": create_agent,
    "agentHeartbeat": agent_heartbeat,
    "linkArtifact": link_artifact,
    "unlinkArtifact": unlink_artifact,
    "deleteArtifact": delete_artifact,
    "deleteArtifactSequence": delete_artifact_sequence,
    "deleteArtifactPortfolio": delete_artifact_portfolio,
}
"""Root field → handler: how an operation of a name the SDK does not use is answered.

W&B's server executes a document by its fields, whatever the operation is called
(the GraphQL spec: the operation name only selects among a document's operations),
so a user's own ``execute_graphql("mutation Mine { deleteRun(...) }")`` works
there; here too, as long as its root field is one the stand-in serves.
"""


def handler_for(operation: str | None, root_field: str) -> Handler | None:
    """The handler of a request: by the SDK's operation name, else by its root field."""
    return OPERATIONS.get(operation or "") or ROOT_FIELDS.get(root_field)
