"""The ``wandb-cassettes`` command line: ``audit`` and ``show``."""

from __future__ import annotations

import json

from support import cassette_builders as b
from support.cassette_builders import leaky_flow

from wandb_cassettes.cli import SUBCOMMANDS, main
from wandb_cassettes.store import save


def test_audit_clean_folder(tmp_path, capsys):
    save(b.clean_flow(), tmp_path / "t.yaml")
    assert main(["audit", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[:2] == ["clean", str(tmp_path / "t.yaml")]


def test_audit_json(tmp_path, capsys):
    save(leaky_flow(), tmp_path / "t.yaml")
    assert main(["audit", str(tmp_path), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 1
    assert [leak["name"] for leak in data["cassettes"][0]["leaks"]] == ["team/proj/ds:v3"]


def test_audit_defaults_to_the_cassettes_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save(leaky_flow(), tmp_path / "cassettes" / "sub" / "t.yaml")
    assert main(["audit"]) == 1
    assert "leaked artifact team/proj/ds:v3" in capsys.readouterr().out


def test_audit_of_a_missing_folder_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["audit"]) == 2
    assert "cassettes" in capsys.readouterr().out


def test_show_prints_a_timeline_with_marks(tmp_path, capsys):
    flow = b.clean_flow()
    flow.interactions.append(b.delete_run("UnVuOnYxOng6eTp6", error="run not found"))
    save(flow, tmp_path / "t.yaml")
    assert main(["show", str(tmp_path / "t.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:]
    assert header.split() == ["#", "METHOD", "WHAT", "STATUS", "SIZE"]
    assert rows[0].split()[:4] == ["0", "POST", "UpsertBucket", "200"]
    assert rows[0].endswith("+created team/proj/run00001")
    assert rows[1].split()[2] == "/files/team/proj/run00001/file_stream"
    # Storage calls show their host, never the (signed) query string.
    assert (
        rows[3].split()[2]
        == "storage.googleapis.com/wandb-production.appspot.com/wandb_artifacts/3/data.txt"
    )
    assert rows[11].split()[2] == "DeleteArtifact"
    assert rows[11].endswith("-deleted team/proj/ds:v3")
    assert "-deleted team/proj/run00001" in rows[13]
    assert rows[14].endswith("error: run not found")
    assert len(rows) == 15


def test_show_lists_leaks(tmp_path, capsys):
    save(leaky_flow(), tmp_path / "t.yaml")
    assert main(["show", str(tmp_path / "t.yaml")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "leaked: team/proj/ds:v3"


def test_show_of_an_unreadable_cassette_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ninteractions:\n- request: {method: [\n")
    assert main(["show", str(bad)]) == 2
    assert f"{bad}:4:" in capsys.readouterr().err


def test_no_subcommand_prints_help(capsys):
    assert main([]) == 2
    assert "audit" in capsys.readouterr().err


def test_a_new_subcommand_needs_only_its_register_function(monkeypatch, capsys):
    def add_hello(sub):
        p = sub.add_parser("hello")
        p.add_argument("--who", default="world")
        p.set_defaults(run=lambda args: print(f"hello {args.who}") or 7)

    monkeypatch.setattr("wandb_cassettes.cli.SUBCOMMANDS", [*SUBCOMMANDS, add_hello])
    assert main(["hello", "--who", "sweep"]) == 7
    assert capsys.readouterr().out == "hello sweep\n"


def test_audit_reads_the_cassette_folder_from_the_pytest_config(tmp_path, monkeypatch, capsys):
    ini = '[tool.pytest.ini_options]\nwandb_cassette_dir = "tapes"\n'
    (tmp_path / "pyproject.toml").write_text(ini)
    save(leaky_flow(), tmp_path / "tapes" / "test_x" / "t.yaml")
    save(b.clean_flow(), tmp_path / "cassettes" / "t.yaml")  # not the configured folder
    (tmp_path / "tests").mkdir()
    monkeypatch.chdir(tmp_path / "tests")  # from a subfolder, as pytest finds its rootdir
    assert main(["audit"]) == 1
    out = capsys.readouterr().out
    assert "tapes" in out and "leaked artifact team/proj/ds:v3" in out


def test_a_yaml_file_that_is_no_cassette_is_named_as_such(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("learning_rate: 0.1\nepochs: 2\n")
    assert main(["audit", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "config.yaml" in out and "not a cassette" in out
    assert "version None" not in out
