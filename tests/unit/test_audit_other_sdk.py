"""``wandb-cassettes audit --other-sdk``: which cassettes were recorded under another wandb
minor (issue 24): those to re-record when their replay fails after an SDK upgrade."""

from __future__ import annotations

from pathlib import Path

import pytest
import wandb

from wandb_cassettes import store as cs
from wandb_cassettes.cli import main


def cassette(folder: Path, name: str, version: str | None) -> Path:
    meta: dict[str, object] = {"format": cs.FORMAT}
    if version is not None:
        meta["wandb"] = version
    path = folder / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cs.dumps(cs.Cassette([], meta)))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    cassettes = tmp_path / "cassettes"
    cassette(cassettes, "same_patch", "0.31.0")
    cassette(cassettes / "deep", "other_patch", "0.31.9")
    cassette(cassettes, "older_minor", "0.29.0")
    cassette(cassettes / "deep", "newer_minor", "0.32.1")
    cassette(cassettes, "other_major", "1.31.0")
    return cassettes


def test_lists_each_cassette_of_another_minor_with_its_version(folder, capsys):
    assert main(["audit", "--other-sdk", "0.31.2", str(folder)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:-1] == [
        f"{folder}/deep/newer_minor.yaml: recorded with wandb 0.32.1",
        f"{folder}/older_minor.yaml: recorded with wandb 0.29.0",
        f"{folder}/other_major.yaml: recorded with wandb 1.31.0",
    ]
    assert out[-1].startswith("3 cassette(s) recorded under another wandb minor than 0.31.2")


def test_none_of_another_minor_exits_0(tmp_path, capsys):
    cassette(tmp_path, "a", "0.30.0")
    assert main(["audit", "--other-sdk", "0.30.5", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("0 cassette(s)")


def test_the_default_is_the_installed_wandb_and_the_project_folder(folder, monkeypatch, capsys):
    monkeypatch.chdir(folder.parent)
    code = main(["audit", "--other-sdk"])
    out = capsys.readouterr().out
    assert f"another wandb minor than {wandb.__version__}" in out
    mine = wandb.__version__.rsplit(".", 1)[0]
    assert code == 1 and ("same_patch" in out) == (mine != "0.31")


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "names no wandb version (cannot tell)"), ("version: [", "unreadable")],
)
def test_what_cannot_be_told_is_listed_and_exits_2(tmp_path, capsys, content, says):
    if content is None:
        cassette(tmp_path, "x", None)
    else:
        (tmp_path / "x.yaml").write_text(content)
    assert main(["audit", "--other-sdk", "0.31.0", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert says in out
    assert "0 cassette(s) recorded under another wandb minor" in out  # not counted as one
    assert out.rstrip().endswith("; 1 that cannot tell")


def test_a_folder_right_after_the_option_is_the_folder_not_the_version(folder, capsys):
    """argparse gives ``--other-sdk cassettes/`` the path as its optional VERSION."""
    code = main(["audit", "--other-sdk", str(folder)])
    out = capsys.readouterr().out
    assert f"another wandb minor than {wandb.__version__}" in out and "older_minor" in out
    assert code == 1


def test_an_unreadable_version_to_compare_with_is_a_usage_error(tmp_path, capsys):
    assert main(["audit", "--other-sdk", "latest", str(tmp_path)]) == 2
    assert "no wandb version to compare with" in capsys.readouterr().err
