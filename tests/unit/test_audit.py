"""The audit of cassette files: leaks, secrets, unreadable files and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import cassette_builders as b
from support.scrub_samples import SECRETS, config_exchange, recognisable

from wandb_cassettes.audit import AuditReport, audit_paths, audit_scrubber
from wandb_cassettes.redact import CassetteScrubber, Scrubber
from wandb_cassettes.runtime import REPLAY_API_KEY
from wandb_cassettes.store import Cassette, Interaction, dumps, save

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


@pytest.fixture(autouse=True)
def _no_known_key(monkeypatch):
    """The audit looks for the key in WANDB_API_KEY: none here, unless a test sets one."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


def test_clean_cassette_exits_0(tmp_path):
    write(tmp_path, "clean.yaml", b.clean_flow())
    report = audit_paths([tmp_path])
    assert report.exit_code == 0
    (audit,) = report.cassettes
    assert audit.status == "clean"
    assert len(audit.created) == len(audit.deleted) == 4
    assert audit.leaks == [] and audit.secrets == [] and audit.personal == []


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


def with_key(body: object, field: str, name: str = "api_key") -> str:
    data = json.loads(str(body))
    data[field][name] = b.API_KEY
    return json.dumps(data)


def test_a_bare_key_is_found_when_the_audit_knows_it(tmp_path, monkeypatch):
    # A bare 40-hex value is a commit as often as a key: only the known key is flagged.
    flow = b.clean_flow()
    flow.interactions[4].request_body = with_key(
        flow.interactions[4].request_body, "variables", "x"
    )
    path = write(tmp_path, "bare.yaml", flow)
    assert audit_paths([path]).exit_code == 0
    monkeypatch.setenv("WANDB_API_KEY", b.API_KEY)
    report = audit_paths([path])
    assert report.exit_code == 1
    assert [(s.index, s.finding.rule) for s in report.cassettes[0].secrets] == [
        (4, "wandb-api-key")
    ]
    assert b.API_KEY[:4] not in report.render_text().split("secret", 1)[1]
    # The replay dummy is no key to look for; an explicit scrubber wins over the environment.
    assert audit_scrubber({"WANDB_API_KEY": REPLAY_API_KEY}).secrets == ()
    assert audit_paths([path], Scrubber()).exit_code == 0


def test_every_credential_format_is_flagged_and_no_report_quotes_one(tmp_path):
    unscrubbed = Cassette([config_exchange(1), config_exchange(2)], {"upstream": b.BASE})
    write(tmp_path, "leaky.yaml", unscrubbed)
    report = audit_paths([tmp_path])
    assert report.exit_code == 1
    (audit,) = report.cassettes
    assert {s.index for s in audit.secrets} == {0, 1}
    assert {s.finding.rule for s in audit.secrets} >= {
        "betterleaks.huggingface-access-token", "betterleaks.github-pat",
        "betterleaks.openai-api-key", "betterleaks.private-key", "betterleaks.slack-bot-token",
        "betterleaks.jwt", "url-password", "named-secret", "wandb-api-key",
    }  # fmt: skip
    rendered = report.render_text() + report.render_json()
    for name, (_, random_part) in SECRETS.items():
        assert recognisable(random_part, rendered, width=6) == [], name


def test_personal_data_in_a_cassette_exits_1_and_is_never_quoted(tmp_path):
    flow = b.clean_flow()
    viewer = b.gql_exchange(
        "Viewer", "query Viewer { viewer { id } }", {},
        {"viewer": {"username": "jdoe", "email": "jane.doe@acme-research.io",
                    "name": "Jane Doe", "photoUrl": "https://avatars.example.net/u/1.png"}},
        headers={"X-Wandb-Username": ["jdoe"]},
    )  # fmt: skip
    viewer.response_headers["X-Forwarded-For"] = ["81.2.69.160"]
    flow.interactions.insert(1, viewer)
    flow.interactions[0].request_body = str(flow.interactions[0].request_body).replace(
        '"config": "{}"', '"program": "/home/jdoe/src/train.py", "config": "{}"'
    )
    write(tmp_path, "personal.yaml", flow)
    report = audit_paths([tmp_path])
    assert report.exit_code == 1
    (audit,) = report.cassettes
    assert audit.secrets == [] and audit.status == "dirty"
    assert sorted((p.index, p.finding.rule, p.finding.where) for p in audit.personal) == [
        (0, "home-path", "request body"),
        (1, "email", "response body"),
        (1, "full-name", "response body"),
        (1, "ip-address", "response header X-Forwarded-For"),
        (1, "photo-url", "response body"),
        (1, "username", "request header X-Wandb-Username"),
    ]
    rendered = report.render_text() + report.render_json()
    for value in ("jane.doe", "Jane Doe", "81.2.69", "avatars", "/home/jdoe", "jdoe"):
        assert value not in rendered
    assert "personal data #1 email in response body at offset" in report.render_text()
    assert json.loads(report.render_json())["cassettes"][0]["personal"][0]["length"] > 0


def test_a_cassette_recorded_with_the_scrubbing_session_audits_clean(tmp_path):
    session = CassetteScrubber(Scrubber(secrets=(b.API_KEY,)))
    viewer = b.gql_exchange(
        "Viewer", "query Viewer { viewer { id } }", {},
        {"viewer": {"username": "jdoe", "email": "jane.doe@acme-research.io", "name": "Jane Doe",
                    "apiKeys": {"edges": [{"node": {"id": "QXBpS2V5OjE=", "name": b.API_KEY}}]}}},
        headers={"X-Wandb-Username": ["jdoe"], "Authorization": [b.basic_auth()]},
    )  # fmt: skip
    raw = [config_exchange(1), viewer, *b.clean_flow().interactions]
    recorded = [ix for ix in (session.record(ix) for ix in raw) if ix is not None]
    cassette = session.finish(Cassette(recorded, {"upstream": b.BASE}))
    path = write(tmp_path, "clean.yaml", cassette)
    (audit,) = audit_paths([path]).cassettes
    assert audit.secrets == [] and audit.personal == []
    assert isinstance(cassette.interactions[0], Interaction)


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
        "UNKNOWN",
        "SECRETS",
        "PERSONAL",
    ]
    assert lines[1].split() == [
        "clean", str(tmp_path / "clean.yaml"), "4", "4", "0", "0", "0", "0", "0"
    ]  # fmt: skip
    assert lines[-1] == (
        "1 cassette(s): 1 clean, 0 with leaks, unknown mutations, secrets or personal data, "
        "0 unreadable"
    )
