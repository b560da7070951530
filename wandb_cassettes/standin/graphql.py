"""GraphQL operations of the stand-in: one small handler per operation name.

A handler reads the variables, changes :class:`~.state.State` if it is a
mutation, and returns a superset of the answer built from the node builders
below; :func:`.gql.project` then cuts it to the fields the document selects.
The table :data:`OPERATIONS` is the list of everything the stand-in answers;
any other operation name gets a GraphQL error that names it.

The operations are those wandb 0.31 sends: the Go core's (seen on the wire,
their documents are embedded in ``wandb-core``) and the Python public API's
(``wandb/apis/public``, ``wandb/sdk/artifacts/_generated``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .gql import Lazy
from .state import (
    Artifact,
    ArtifactFile,
    ArtifactType,
    Collection,
    GraphQLError,
    Project,
    Run,
    State,
    gid,
    now_iso,
)
from .storage import Signer

__all__ = ["DEFAULT_FEATURES", "OPERATIONS", "Context", "Handler"]

Json = dict[str, Any]

# ServerFeaturesQuery answers: the features whose (modern) code paths the SDK
# takes against W&B cloud, as far as the SDK's own checks reveal; not a recording.
# Omitted: download handlers that route artifact GETs through the API host,
# automations and registries, which the stand-in does not model.
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
)


@dataclass
class Context:
    """What handlers see: the state, the URL signer, the advertised features."""

    state: State
    signer: Signer
    features: tuple[str, ...]
    viewer: str  # the entity of the API key's user


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


def entity_node(name: str) -> Json:
    return {
        "__typename": "Entity",
        "id": gid("Entity", name),
        "name": name,
        "organization": None,
        "xxhashDigestsEnabled": False,
        "isTeam": False,
    }


def user_node(ctx: Context) -> Json:
    name = ctx.viewer
    return {
        "__typename": "User",
        "id": gid("User", name),
        "name": name,
        "username": name,
        "email": f"{name}@example.invalid",
        "admin": False,
        "flags": "{}",
        "entity": name,
        "deletedAt": None,
        "apiKeys": {"edges": []},
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

    return {
        "__typename": "Project",
        "id": p.id,
        "internalId": p.internal_id,
        "name": p.name,
        "entityName": p.entity,
        "entity": entity_node(p.entity),
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
        items = _filter_artifacts(s.versions(c), args)
        return connection(
            items, args, lambda a: artifact_node(ctx, a), lambda a: {"version": a.version}
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


def manifest_node(ctx: Context, a: Artifact) -> Json | None:
    if a.manifest_key is None:
        return None
    return {
        "__typename": "ArtifactManifest",
        "id": gid("ArtifactManifest", a.manifest_num),
        "file": {
            "__typename": "File",
            "id": gid("File", a.manifest_num),
            "directUrl": ctx.signer.url("GET", a.manifest_key),
            "uploadUrl": ctx.signer.url("PUT", a.manifest_key),
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
        return connection([a], args, lambda x: membership_node(ctx, c, x))

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
        "tags": [],
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

    return {
        "__typename": "ArtifactCollectionMembership",
        "id": gid("ArtifactCollectionMembership", a.num),
        "versionIndex": a.version_index,
        "createdAt": a.created_at,
        "aliases": [alias_node(ctx, c, alias) for alias in a.aliases],
        "artifactCollection": collection_node(ctx, c),
        "artifact": artifact_node(ctx, a),
        "files": Lazy(files),
    }


def run_node(ctx: Context, r: Run) -> Json:
    s = ctx.state
    project = s.projects[(r.entity, r.project)]

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
        "historyLineCount": len(r.history),
        "logLineCount": r.log_lines,
        "eventsLineCount": r.events_lines,
        "historyTail": json.dumps(r.history[-10:]),
        "eventsTail": "[]",
        "historyKeys": Lazy(lambda _: _history_keys(r)),
        "history": Lazy(lambda args: _sample(r.history, args.get("samples"))),
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


def _sampled_history(r: Run, specs: list[str]) -> list[list[Json]]:
    out = []
    for spec in specs:
        want = json.loads(spec)
        keys = set(want.get("keys") or [])
        rows = [json.loads(line) for line in r.history]
        picked = [{k: v for k, v in row.items() if k in keys} for row in rows]
        out.append(_sample([row for row in picked if len(row) > 1], want.get("samples")))
    return out


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
    return {"entity": entity_node(args.get("name") or ctx.viewer)}


def organization(ctx: Context, args: Json) -> Json:
    return {"organization": None}


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
        key = run.files.setdefault(name, f"runs/{run.entity}/{run.project}/{run.name}/{name}")
        files.append({"name": name, "uploadUrl": ctx.signer.url("PUT", key)})
    return {"createRunFiles": {"runID": run.id, "uploadHeaders": [], "files": files}}


def mark_run_files_uploaded(ctx: Context, args: Json) -> Json:
    return {"markRunFilesUploaded": {"success": True}}


def delete_run(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    ctx.state.delete_run(inp["id"], bool(inp.get("deleteArtifacts")))
    return {"deleteRun": {"clientMutationId": inp.get("clientMutationId")}}


def stop_run(ctx: Context, args: Json) -> Json:
    return {"stopRun": {"success": True}}


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
    s = ctx.state
    edges = []
    for spec in args["input"].get("artifactFiles") or []:
        art = _artifact(ctx, spec["artifactID"])
        md5_hex = base64.b64decode(spec["md5"]).hex()
        key = f"artifacts/{art.collection.entity}/{md5_hex}"
        f = art.files.get(spec["name"]) or ArtifactFile(s.next_num(), spec["name"], key, "")
        f.storage_key, f.md5_b64 = key, spec["md5"]
        art.files[spec["name"]] = f
        # Content already stored needs no upload: W&B answers uploadUrl null.
        blob = s.blobs.get(key)
        if blob is not None:
            f.size = blob.size
        node: Json = {
            "storagePath": key,
            "uploadUrl": None if blob else ctx.signer.url("PUT", key),
            "uploadHeaders": [],
            "uploadMultipartUrls": None,
            "artifact": {"id": art.id},
        }
        edges.append({"node": node})
    return {"createArtifactFiles": {"files": {"edges": edges}}}


def create_artifact_manifest(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    art = _artifact(ctx, inp["artifactID"])
    if art.manifest_key is None:
        art.manifest_num = ctx.state.next_num()
        art.manifest_key = f"manifests/{art.num}/{inp.get('name') or 'wandb_manifest.json'}"
    return {"createArtifactManifest": {"artifactManifest": manifest_node(ctx, art)}}


def update_artifact_manifest(ctx: Context, args: Json) -> Json:
    manifest_id = args["input"].get("artifactManifestID")
    for art in ctx.state.artifacts.values():
        if art.manifest_num and gid("ArtifactManifest", art.manifest_num) == manifest_id:
            return {"updateArtifactManifest": {"artifactManifest": manifest_node(ctx, art)}}
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
    if inp.get("aliases") is not None:
        coll = art.collection
        wanted = {a["alias"] for a in inp["aliases"]}
        for alias in set(art.aliases) - wanted - {"latest"}:
            del coll.aliases[alias]
        for alias in wanted:
            ctx.state.set_alias(coll, alias, art)
    art.updated_at = now_iso()
    return {"updateArtifact": {"artifact": artifact_node(ctx, art)}}


def add_aliases(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    art = _artifact(ctx, inp["artifactID"])
    for alias in inp.get("aliases") or []:
        ctx.state.set_alias(art.collection, alias["alias"], art)
    return {"addAliases": {"success": True}}


def delete_aliases(ctx: Context, args: Json) -> Json:
    inp = args["input"]
    art = _artifact(ctx, inp["artifactID"])
    for alias in inp.get("aliases") or []:
        if art.collection.aliases.get(alias["alias"]) == art.num:
            del art.collection.aliases[alias["alias"]]
    return {"deleteAliases": {"success": True}}


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
    # The stand-in has no portfolios (registry links), so nothing can match.
    portfolio_id = args["input"].get("artifactPortfolioID")
    raise GraphQLError(f"artifact portfolio {portfolio_id!r} not found", status=404)


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
    # runs
    "UpsertBucket": upsert_bucket,
    "RunResumeStatus": model_query,
    "CreateRunFiles": create_run_files,
    "MarkRunFilesUploaded": mark_run_files_uploaded,
    "RunState": project_query,
    "QueryRunInfo": project_query,
    "StopRun": stop_run,
    "Run": project_query,
    "Runs": project_query,
    "RunHistoryKeys": project_query,
    "RunFullHistory": project_query,
    "RunSampledHistory": project_query,
    "DeleteRun": delete_run,
    # artifacts: logging and using
    "ArtifactType": project_query,
    "CreateArtifact": create_artifact,
    "CreateArtifactFiles": create_artifact_files,
    "CreateArtifactManifest": create_artifact_manifest,
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
    # deletes
    "DeleteArtifact": delete_artifact,
    "DeleteArtifactSequence": delete_artifact_sequence,
    "DeleteArtifactPortfolio": delete_artifact_portfolio,
}
