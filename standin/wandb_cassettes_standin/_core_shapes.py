"""Response shapes of the GraphQL operations wandb-core sends, for :mod:`.fidelity`.

Derived mechanically from the response structs that genqlient generated for
wandb-core from W&B's schema: ``core/internal/gql/gql_gen.go`` in the public
wandb repository (github.com/wandb/wandb, commit b6e29505884e, wandb
0.28.3.dev1; genqlient runs with ``optional: pointer``, so a nullable field is a
Go pointer). Per field: ``"?"`` nullable, ``"[]"`` a list (``"?[]?"``: list of
nullable elements; genqlient never wraps slices, so a list's own
nullability is unknown and taken as nullable), ``""`` a non-null scalar; a
tuple ``(flags, fields)`` is an object. Operations wandb 0.31 added since that
commit are absent; :mod:`.fidelity` checks them against the document alone.
"""

from typing import Any

SHAPES: dict[str, Any] = {
    "ArtifactFileURLsByManifestEntries": {
        "artifact": (
            "?",
            {
                "filesByManifestEntries": (
                    "?",
                    {
                        "edges": ("?[]", {"node": ("?", {"directUrl": "", "name": ""})}),
                        "pageInfo": ("", {"endCursor": "?", "hasNextPage": ""}),
                    },
                )
            },
        )
    },
    "ArtifactManifest": {
        "artifact": ("?", {"currentManifest": ("?", {"file": ("", {"directUrl": ""})})})
    },
    "ClientIDMapping": {"clientIDMapping": ("?", {"serverID": ""})},
    "CommitArtifact": {"commitArtifact": ("?", {"artifact": ("", {"digest": "", "id": ""})})},
    "CompleteMultipartUploadArtifact": {"completeMultipartUploadArtifact": ("?", {"digest": "?"})},
    "CreateArtifact": {"createArtifact": ("?", {})},
    "CreateArtifactFiles": {
        "createArtifactFiles": (
            "?",
            {
                "files": (
                    "",
                    {
                        "edges": (
                            "?[]",
                            {
                                "node": (
                                    "?",
                                    {
                                        "artifact": ("?", {"id": ""}),
                                        "storagePath": "?",
                                        "uploadHeaders": "?[]",
                                        "uploadMultipartUrls": (
                                            "?",
                                            {
                                                "uploadID": "",
                                                "uploadUrlParts": (
                                                    "?[]",
                                                    {"partNumber": "", "uploadUrl": ""},
                                                ),
                                            },
                                        ),
                                        "uploadUrl": "?",
                                    },
                                )
                            },
                        )
                    },
                )
            },
        )
    },
    "CreateArtifactManifest": {
        "createArtifactManifest": (
            "?",
            {
                "artifactManifest": (
                    "",
                    {"file": ("", {"id": "", "uploadHeaders": "?[]", "uploadUrl": "?"}), "id": ""},
                )
            },
        )
    },
    "CreateCustomChart": {"createCustomChart": ("?", {"chart": ("", {"id": ""})})},
    "CreateDefaultResourceConfig": {
        "createDefaultResourceConfig": ("?", {"defaultResourceConfigID": "", "success": ""})
    },
    "CreateRunFiles": {
        "createRunFiles": (
            "?",
            {"files": ("?[]", {"name": "", "uploadUrl": "?"}), "runID": "", "uploadHeaders": "?[]"},
        )
    },
    "CreateRunQueue": {"createRunQueue": ("?", {"queueID": "?", "success": "?"})},
    "FetchOrgEntityFromEntity": {
        "entity": ("?", {"organization": ("?", {"name": "", "orgEntity": ("?", {"name": ""})})})
    },
    "HistoryPage": {"project": ("?", {"run": ("?", {"history": "?[]"})})},
    "LinkArtifact": {"linkArtifact": ("?", {"versionIndex": "?"})},
    "MarkRunFilesUploaded": {"markRunFilesUploaded": ("?", {"success": ""})},
    "NotifyScriptableRunAlert": {"notifyScriptableRunAlert": ("?", {"success": ""})},
    "OrgFeatureFlags": {
        "organization": ("?", {"featureFlags": ("?[]?", {"isEnabled": "", "rampKey": ""})})
    },
    "OrganizationCoreWeaveOrganizationID": {
        "entity": ("?", {"organization": ("?", {"coreWeaveOrganizationId": "?"})})
    },
    "QueryRunInfo": {"project": ("?", {"run": ("?", {"displayName": "?", "summaryMetrics": "?"})})},
    "RewindRun": {
        "rewindRun": (
            "?",
            {
                "rewoundRun": (
                    "?",
                    {
                        "config": "?",
                        "description": "?",
                        "displayName": "?",
                        "historyLineCount": "?",
                        "id": "",
                        "name": "",
                        "project": (
                            "?",
                            {"entity": ("", {"id": "", "name": ""}), "id": "", "name": ""},
                        ),
                        "sweepName": "?",
                    },
                )
            },
        )
    },
    "RunConsoleLogPage": {
        "project": (
            "?",
            {
                "run": (
                    "?",
                    {
                        "logLineCount": "?",
                        "logLines": (
                            "?",
                            {
                                "edges": (
                                    "?[]",
                                    {
                                        "node": (
                                            "",
                                            {
                                                "label": "?",
                                                "level": "?",
                                                "line": "?",
                                                "number": "?",
                                                "timestamp": "?",
                                            },
                                        )
                                    },
                                ),
                                "pageInfo": ("", {"endCursor": "?", "hasNextPage": ""}),
                            },
                        ),
                    },
                )
            },
        )
    },
    "RunConsoleLogTail": {
        "project": (
            "?",
            {
                "run": (
                    "?",
                    {
                        "logLineCount": "?",
                        "logLines": (
                            "?",
                            {
                                "edges": (
                                    "?[]",
                                    {
                                        "node": (
                                            "",
                                            {
                                                "label": "?",
                                                "level": "?",
                                                "line": "?",
                                                "number": "?",
                                                "timestamp": "?",
                                            },
                                        )
                                    },
                                )
                            },
                        ),
                    },
                )
            },
        )
    },
    "RunParquetHistory": {
        "project": ("?", {"run": ("?", {"parquetHistory": ("", {"parquetUrls": "?[]"})})})
    },
    "RunResumeStatus": {
        "model": (
            "?",
            {
                "bucket": (
                    "?",
                    {
                        "config": "?",
                        "displayName": "?",
                        "eventsLineCount": "?",
                        "eventsTail": "?",
                        "historyLineCount": "?",
                        "historyTail": "?",
                        "id": "",
                        "logLineCount": "?",
                        "name": "",
                        "notes": "?",
                        "summaryMetrics": "?",
                        "tags": "?[]",
                        "wandbConfig": "?",
                    },
                ),
                "entity": ("", {"id": "", "name": ""}),
                "id": "",
                "name": "",
            },
        )
    },
    "SampledHistoryPage": {"project": ("?", {"run": ("?", {})})},
    "ServerFeaturesQuery": {
        "serverInfo": ("?", {"features": ("?[]?", {"isEnabled": "", "name": ""})})
    },
    "StopRun": {"stopRun": ("?", {"success": ""})},
    "UpdateArtifact": {"updateArtifact": ("?", {"artifact": ("", {"id": ""})})},
    "UpdateArtifactManifest": {
        "updateArtifactManifest": (
            "?",
            {
                "artifactManifest": (
                    "",
                    {"file": ("", {"id": "", "uploadHeaders": "?[]", "uploadUrl": "?"}), "id": ""},
                )
            },
        )
    },
    "UpsertBucket": {
        "upsertBucket": (
            "?",
            {
                "bucket": (
                    "?",
                    {
                        "config": "?",
                        "description": "?",
                        "displayName": "?",
                        "historyLineCount": "?",
                        "id": "",
                        "name": "",
                        "project": (
                            "?",
                            {"entity": ("", {"id": "", "name": ""}), "id": "", "name": ""},
                        ),
                        "sweepName": "?",
                    },
                ),
                "inserted": "?",
            },
        )
    },
    "UpsertRunQueue": {
        "upsertRunQueue": ("?", {"configSchemaValidationErrors": "?[]", "success": "?"})
    },
    "UseArtifact": {"useArtifact": ("?", {"artifact": ("", {"id": ""})})},
    "Viewer": {
        "viewer": (
            "?",
            {
                "email": "?",
                "entity": "?",
                "flags": "?",
                "id": "",
                "teams": ("?", {"edges": ("?[]", {"node": ("?", {"name": ""})})}),
                "username": "?",
            },
        )
    },
}
