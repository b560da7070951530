"""``wandb-cassettes sweep`` when it cannot delete: a refused key, no key, no upstream; one line
each, and the journal stays for the next sweep.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.projects import journal_file

from wandb_cassettes.cli import main as cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder (its pytest.ini makes it the rootdir the CLI finds)."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def test_sweep_with_a_refused_key_says_so_in_one_line(standin, project, monkeypatch, capsys):
    owned = {"kind": "run", "entity": "e", "project": "p", "local": "r", "name": "e/p/r"}
    journal = journal_file(project, "otherhost", standin.base_url, "created", owned)
    monkeypatch.chdir(project)
    monkeypatch.setenv("WANDB_API_KEY", "wrong-" + "k" * 34)
    capsys.readouterr()
    assert cli(["sweep", "--host", "otherhost", "--upstream", standin.base_url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the API key for {standin.base_url} was refused" in err
    assert "Traceback" not in err
    assert journal.exists()


def test_sweep_without_a_key_or_an_upstream_says_so_in_one_line(
    project, tmp_path, monkeypatch, capsys
):
    owned = {"kind": "run", "entity": "e", "project": "p", "local": "r", "name": "e/p/r"}
    journal = journal_file(project, "otherhost", "http://127.0.0.1:9", "created", owned)
    monkeypatch.chdir(project)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    capsys.readouterr()
    named = ["--upstream", "http://127.0.0.1:9"]
    assert cli(["sweep", "--host", "otherhost", *named]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no API key for http://127.0.0.1:9" in err
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    code = cli(["sweep", "--host", "otherhost", *named])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "Traceback" not in captured.err and "cannot reach" in captured.err
    assert journal.exists()  # nothing could be deleted: it stays for the next sweep
