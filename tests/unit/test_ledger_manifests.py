"""The ledger's rule for ``createArtifactManifest`` (issue 24): the manifest's id names the
version it describes, so that an ``updateArtifactManifest`` (the distributed flow's PATCH
manifests) is a change to that version: the test's own, or a foreign change of another's."""

from __future__ import annotations

import support.cassette_builders as b

from wandb_cassettes.ownership import Ledger

E, P = "team", "proj"
ART = b.artifact_id(5)
MANIFEST = "QXJ0aWZhY3RNYW5pZmVzdDo2"

#: wandb-core 0.31's documents (in its binary, from core/internal/gql/gql_gen.go).
CREATE_MANIFEST_GQL = """
mutation CreateArtifactManifest ($artifactID: ID!, $baseArtifactID: ID, $name: String!,
    $digest: String!, $entityName: String!, $projectName: String!, $runName: String!,
    $manifestType: ArtifactManifestType!, $includeUpload: Boolean!) {
  createArtifactManifest(input: {artifactID:$artifactID,baseArtifactID:$baseArtifactID,
      name:$name,digest:$digest,entityName:$entityName,projectName:$projectName,
      runName:$runName,type:$manifestType}) {
    artifactManifest { id file { id uploadUrl @include(if: $includeUpload) } }
  }
}
"""
UPDATE_MANIFEST_GQL = """
mutation UpdateArtifactManifest ($artifactManifestID: ID!, $digest: String,
    $baseArtifactID: ID, $includeUpload: Boolean!) {
  updateArtifactManifest(input: {artifactManifestID:$artifactManifestID,digest:$digest,
      baseArtifactID:$baseArtifactID}) {
    artifactManifest { id file { id uploadUrl @include(if: $includeUpload) } }
  }
}
"""


def create_manifest(artifact: str, manifest: str = MANIFEST, *, error: str | None = None):
    variables = {
        "artifactID": artifact,
        "baseArtifactID": None,
        "name": "wandb_manifest.patch.json",
        "digest": "",
        "entityName": E,
        "projectName": P,
        "runName": "run00001",
        "manifestType": "PATCH",
        "includeUpload": False,
    }
    data = {"createArtifactManifest": {"artifactManifest": {"id": manifest, "file": {"id": "x"}}}}
    return b.gql_exchange(
        "CreateArtifactManifest",
        CREATE_MANIFEST_GQL,
        variables,
        data,
        errors=[error] if error else None,
    )


def update_manifest(manifest: str = MANIFEST):
    variables = {
        "artifactManifestID": manifest,
        "digest": "7ZPAmUR7btj2dsyyl1GN0A==",
        "baseArtifactID": None,
        "includeUpload": True,
    }
    data = {"updateArtifactManifest": {"artifactManifest": {"id": manifest, "file": {"id": "x"}}}}
    return b.gql_exchange("UpdateArtifactManifest", UPDATE_MANIFEST_GQL, variables, data)


def ledger_of(*interactions) -> Ledger:
    ledger = Ledger(())
    for ix in interactions:
        ledger.observe(ix)
    return ledger


def test_a_patch_manifest_of_the_tests_own_version_changes_nothing_foreign():
    ledger = ledger_of(
        b.create_artifact(E, P, "shards", id=ART),
        create_manifest(ART),
        update_manifest(),
        b.commit_artifact(ART),
    )
    assert ledger.foreign_changes() == []
    [artifact] = [r for r in ledger.created if r.kind == "artifact"]
    assert artifact.ids[0] == ART and MANIFEST in artifact.ids  # the version's id stays first


def test_a_manifest_of_a_version_the_test_did_not_create_is_a_foreign_change_of_it():
    other = b.artifact_id(9)
    seen = b.artifact_by_id(E, P, "shared", other, 3)
    ledger = ledger_of(seen, create_manifest(other), update_manifest())
    [change] = ledger.foreign_changes()
    assert (change.name, change.kind, change.status) == (
        "team/proj/shared:v3",
        "artifact",
        "unrestored",
    )
    assert [field for _, field in change.changes] == [
        "createArtifactManifest",
        "updateArtifactManifest",
    ]


def test_an_unknown_or_refused_manifest_stays_unresolved_fail_closed():
    refused = ledger_of(
        b.create_artifact(E, P, "shards", id=ART),
        create_manifest(ART, error="no"),
        update_manifest(),
    )
    assert [c.name for c in refused.foreign_changes()] == ["artifact_manifest (unresolved)"]
    unknown = ledger_of(update_manifest("QXJ0aWZhY3RNYW5pZmVzdDo5OQ=="))
    assert [c.name for c in unknown.foreign_changes()] == ["artifact_manifest (unresolved)"]
