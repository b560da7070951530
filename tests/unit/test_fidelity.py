"""The fidelity check: the stand-in's answers against the SDK's own types, and a check that fails.

A recorded cassette passes; the same cassette with one answer broken the
ways a stand-in could break it (a non-null field dropped, an object turned
into a list, a value outside an enum) is reported, naming operation and field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from support.paths import ROOT
from support.standin_http import core_document, data, graphql, log_artifact, start_run
from wandb_cassettes_standin import StandinBackend
from wandb_cassettes_standin.fidelity import ENV, check, check_cassette, generated_models

from wandb_cassettes.store import load, save

EXAMPLE = next(
    ROOT.glob("cassettes/examples/trainer/tests/test_logger/*each_epoch_is_a_checkpoint*.yaml")
)


def test_the_suite_runs_with_the_check_on() -> None:
    assert os.environ[ENV] == "1"
    assert StandinBackend().fidelity is True
    assert StandinBackend(fidelity=False).fidelity is False


def test_generated_models_are_found_by_operation_name() -> None:
    models = generated_models()
    for name in ("ArtifactByID", "LinkArtifact", "UnlinkArtifact", "ServerFeaturesQuery"):
        assert name in models
    assert models["ArtifactByID"][1].__name__ == "ArtifactByID"


def test_a_recorded_cassette_passes() -> None:
    assert check_cassette(EXAMPLE) == []


def _mutated(tmp_path: Path, operation: str, change: Any) -> Path:
    """A copy of the example cassette with ``change`` applied to ``operation``'s first answer."""
    cassette = load(EXAMPLE)
    for interaction in cassette:
        body = (
            json.loads(interaction.request_text() or "null")
            if interaction.uri.endswith("/graphql")
            else None
        )
        if (body and (body.get("operationName") or "") == operation) or (
            body and f"query {operation}(" in body.get("query", "").replace(" (", "(")
        ):
            answer = interaction.response_json()
            change(answer["data"])
            interaction.response_body = json.dumps(answer)
            break
    else:
        raise AssertionError(f"{operation} not in {EXAMPLE}")
    return save(cassette, tmp_path / "mutated.yaml")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["artifact"].pop("id"), "ArtifactByID: artifact.id: Field required"),
        (
            lambda d: d["artifact"].update(artifactSequence=[d["artifact"]["artifactSequence"]]),
            "ArtifactByID: artifact.artifactSequence: Input should be a valid dictionary",
        ),
        (
            lambda d: d["artifact"].update(state="BOGUS"),
            "ArtifactByID: artifact.state: Input should be",
        ),
        (lambda d: d["artifact"].update(versionIndex="v0"), "artifact.versionIndex"),
    ],
    ids=["non-null field dropped", "object made a list", "wrong enum", "wrong scalar"],
)
def test_a_broken_answer_in_a_cassette_is_reported(
    tmp_path: Path, change: Any, expected: str
) -> None:
    problems = check_cassette(_mutated(tmp_path, "ArtifactByID", change))
    assert len(problems) == 1, problems
    assert problems[0].startswith("interaction ")
    assert expected in problems[0]


def test_core_only_operations_are_checked_against_wandb_cores_types() -> None:
    doc = core_document("HistoryPage")
    run = {"history": ['{"_step": 0}']}
    assert check(doc, {}, "HistoryPage", {"project": {"run": run}}) == []
    assert check(doc, {}, "HistoryPage", {"project": {"run": {"history": {}}}}) == [
        "HistoryPage: project.run.history: expected a list, got dict"
    ]
    assert check(doc, {}, "HistoryPage", {"project": {}}) == [
        "HistoryPage: project.run: selected but absent from the answer"
    ]
    bucket = {"upsertBucket": {"bucket": None, "inserted": True}}
    assert check(core_document("UpsertBucket"), {}, "UpsertBucket", bucket) == []
    link = {"linkArtifact": [{"versionIndex": 0}]}
    assert check(core_document("LinkArtifact"), {}, "LinkArtifact", link) == [
        "LinkArtifact: linkArtifact: expected an object, got a list (wandb-core's generated type)"
    ]
    manifest = {"artifact": {"currentManifest": {"file": None}}}
    assert check(core_document("ArtifactManifest"), {}, "ArtifactManifest", manifest) == [
        "ArtifactManifest: artifact.currentManifest.file:"
        " null for a non-null field (wandb-core's generated type)"
    ]


def test_a_violation_is_a_loud_error_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb_cassettes_standin.graphql as handlers

    def broken_viewer(ctx: Any, args: Any) -> Any:
        node = handlers.user_node(ctx)
        node["id"] = None  # Viewer.viewer.id is non-null in wandb-core's types
        return {"viewer": node}

    monkeypatch.setitem(handlers.OPERATIONS, "Viewer", broken_viewer)
    with StandinBackend(fidelity=True) as wb:
        status, answer = graphql(wb, core_document("Viewer"))
        assert status == 200 and answer["data"] is None
        message = answer["errors"][0]["message"]
        assert message.startswith("wandb-cassettes stand-in fidelity: Viewer: viewer.id:")
        assert wb.fidelity_errors == [message.removeprefix("wandb-cassettes stand-in fidelity: ")]
    with StandinBackend(fidelity=False) as wb:
        assert graphql(wb, core_document("Viewer"))[1]["data"]["viewer"]["id"] is None


def test_the_stand_ins_answers_pass_for_a_logged_artifact() -> None:
    with StandinBackend(fidelity=True) as wb:
        start_run(wb)
        art_id = log_artifact(wb, {"a.bin": b"abc"}, aliases=("best",))
        data(wb, core_document("ArtifactManifest"), {"id": art_id})
        assert wb.fidelity_errors == []
