"""The audit finds a cassette's blobs however the cassette is named: relative to the working
folder (``wandb-cassettes audit cassettes/tests/test_x``, the README's form) or absolute,
as a folder, a subfolder or a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import cassette_builders as b

from wandb_cassettes.cli import main as cli

CONTENT = b"epoch,loss\n1,0.5\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with one cassette one level down and its download kept as a blob; the
    working folder is the project's."""
    b.blob_project(tmp_path, CONTENT, "https://storage.example/table.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "named",
    [
        "cassettes",
        "cassettes/test_mod",
        "cassettes/test_mod/test_x.yaml",
        "./cassettes/../cassettes",
    ],
)
def test_a_cassette_named_relative_to_the_working_folder_audits_clean(project, named, capsys):
    assert cli(["audit", named]) == 0, capsys.readouterr().out
    assert cli(["audit", str(project / named)]) == 0, capsys.readouterr().out


def test_a_cassette_folder_reached_through_a_link_audits_clean(project, tmp_path_factory, capsys):
    linked = tmp_path_factory.mktemp("elsewhere") / "cassettes"
    linked.symlink_to(project / "cassettes")
    assert cli(["audit", str(linked)]) == 0, capsys.readouterr().out
    assert cli(["audit", str(linked / "test_mod" / "test_x.yaml")]) == 0, capsys.readouterr().out
