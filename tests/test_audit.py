"""The audit of cassette files: leaks, secrets, unreadable files and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import cassette_builders as b
import pytest

from wandb_cassettes.audit import AuditReport, audit_paths
from wandb_cassettes.cassette import Cassette, dumps, save

LEAKED_ARTIFACT = "team/proj/ds:v3"


def write(tmp_path: Path, name: str, cassette: Cassette) -> Path:
    return save(cassette, tmp_path / name)


def without(cassette: Cassette, operation: str) -> Cassette:
    """``cassette`` less the exchanges of one GraphQL operation."""
    kept = [
        ix
        for ix in cassette.interactions
        if f'"operationName": "{operation}"' not in str(ix.request_body)
    ]
    assert len(kept) < len(cassette.interactions), operation
    return Cassette(kept, dict(cassette.metadata))


def test_clean_cassette_exits_0(tmp_path):
    write(tmp_path, "clean.yaml", b.clean_flow())
    report = audit_paths([tmp_path])
    assert report.exit_code == 0
    (audit,) = report.cassettes
    assert audit.status == "clean"
    assert len(audit.created) == len(audit.deleted) == 4
    assert audit.leaks == [] and audit.secrets == []


def test_a_removed_delete_is_a_leak_naming_the_artifact(tmp_path):
    write(tmp_path, "leaky.yaml", without(b.clean_flow(), "DeleteArtifact"))
    report = audit_paths([tmp_path])
    assert report.exit_code == 1
    (audit,) = report.cassettes
    assert [(r.kind, r.name, r.created_at) for r in audit.leaks] == [
        ("artifact", LEAKED_ARTIFACT, 2)
    ]
    assert f"leaked artifact {LEAKED_ARTIFACT} (created by #2)" in report.render_text()


def test_a_delete_answered_with_a_graphql_error_is_not_counted(tmp_path):
    flow = b.clean_flow()
    flow.interactions[11] = b.delete_artifact(b.artifact_id(42), error="artifact has aliases")
    write(tmp_path, "refused.yaml", flow)
    report = audit_paths([tmp_path])
    assert report.exit_code == 1
    assert [r.name for r in report.cassettes[0].leaks] == [LEAKED_ARTIFACT]


def test_kept_resources_are_listed_and_not_leaks(tmp_path):
    flow = without(b.clean_flow(), "DeleteArtifact")
    flow.metadata["keep"] = [LEAKED_ARTIFACT]
    write(tmp_path, "kept.yaml", flow)
    report = audit_paths([tmp_path])
    assert report.exit_code == 0
    assert [r.name for r in report.cassettes[0].kept] == [LEAKED_ARTIFACT]


@pytest.mark.parametrize(
    ("place", "where"),
    [
        ("header", "request header Authorization"),
        ("body", "request body"),
        ("answer", "response body"),
        ("metadata", "metadata"),
    ],
)
def test_an_api_key_in_a_cassette_exits_1(tmp_path, place, where):
    flow = b.clean_flow()
    ix = flow.interactions[4]  # CommitArtifact
    if place == "header":
        ix.request_headers["Authorization"] = [b.basic_auth()]
    elif place == "body":
        ix.request_body = with_key(ix.request_body, "variables")
    elif place == "answer":
        ix.response_body = with_key(ix.response_body, "data")
    else:
        flow.metadata["note"] = f"recorded with WANDB_API_KEY={b.API_KEY}"
    write(tmp_path, "secret.yaml", flow)
    report = audit_paths([tmp_path])
    assert report.exit_code == 1
    (audit,) = report.cassettes
    assert [s.finding.where for s in audit.secrets] == [where]
    assert audit.secrets[0].index == (None if place == "metadata" else 4)
    assert b.API_KEY not in report.render_text() + report.render_json()


def with_key(body: object, field: str) -> str:
    data = json.loads(str(body))
    data[field]["api_key"] = b.API_KEY  # a bare 40-hex value is no key by shape alone
    return json.dumps(data)


def test_truncated_file_exits_2_naming_file_and_line(tmp_path):
    text = dumps(b.clean_flow())
    path = tmp_path / "cut.yaml"
    path.write_text(text[: len(text) // 2])
    report = audit_paths([tmp_path])
    assert report.exit_code == 2
    (audit,) = report.cassettes
    assert audit.error is not None and audit.error.line is not None
    assert f"{path}:{audit.error.line}:" in report.render_text()


def test_file_cut_at_a_line_end_is_still_named_with_a_line(tmp_path):
    # vcrpy writes "version: 1" last: a cut at a line end leaves valid YAML without it.
    lines = dumps(b.clean_flow()).splitlines(keepends=True)
    path = tmp_path / "cut.yaml"
    path.write_text("".join(lines[:40]))
    (audit,) = audit_paths([path]).cassettes
    assert audit.error is not None and audit.error.line == 40


def test_invalid_yaml_exits_2_and_wins_over_leaks(tmp_path):
    write(tmp_path, "a_leaky.yaml", without(b.clean_flow(), "DeleteRun"))
    (tmp_path / "b_bad.yaml").write_text("version: 1\ninteractions:\n- request: {method: [\n")
    report = audit_paths([tmp_path])
    assert [c.status for c in report.cassettes] == ["dirty", "unreadable"]
    assert report.exit_code == 2
    assert report.cassettes[1].error is not None
    assert report.cassettes[1].error.path == str(tmp_path / "b_bad.yaml")


def test_folders_are_searched_recursively_and_failed_recordings_skipped(tmp_path):
    write(tmp_path, "a/b/deep.yaml", b.clean_flow())
    write(tmp_path, "a/top.yaml", b.clean_flow())
    (tmp_path / "a" / "top.yaml.failed").write_text("not: [valid")
    (tmp_path / "a" / "notes.txt").write_text("not: [valid")
    report = audit_paths([tmp_path / "a"])
    assert [c.path.name for c in report.cassettes] == ["deep.yaml", "top.yaml"]
    assert report.exit_code == 0


def test_a_missing_path_is_unreadable(tmp_path):
    report = audit_paths([tmp_path / "nope.yaml"])
    assert report.exit_code == 2
    assert "no such cassette" in report.render_text()


def test_no_cassettes_is_clean():
    assert AuditReport().exit_code == 0


def test_json_report(tmp_path):
    write(tmp_path, "leaky.yaml", without(b.clean_flow(), "DeleteArtifact"))
    (tmp_path / "bad.yaml").write_text("version: 1\ninteractions: [\n")
    data = json.loads(audit_paths([tmp_path]).render_json())
    assert data["exit_code"] == 2
    assert data["summary"] == {"clean": 0, "dirty": 1, "unreadable": 1}
    bad, leaky = data["cassettes"]
    assert bad["error"]["file"].endswith("bad.yaml") and isinstance(bad["error"]["line"], int)
    assert [leak["name"] for leak in leaky["leaks"]] == [LEAKED_ARTIFACT]
    assert leaky["leaks"][0] == {
        "kind": "artifact",
        "name": LEAKED_ARTIFACT,
        "ids": [b.artifact_id(42)],
        "created_at": 2,
        "deleted_at": None,
    }


def test_text_report_is_a_table(tmp_path):
    write(tmp_path, "clean.yaml", b.clean_flow())
    lines = audit_paths([tmp_path]).render_text().splitlines()
    assert lines[0].split() == [
        "STATUS",
        "CASSETTE",
        "CREATED",
        "DELETED",
        "LEAKS",
        "KEPT",
        "SECRETS",
    ]
    assert lines[1].split() == ["clean", str(tmp_path / "clean.yaml"), "4", "4", "0", "0", "0"]
    assert lines[-1] == "1 cassette(s): 1 clean, 0 with leaks or secrets, 0 unreadable"
