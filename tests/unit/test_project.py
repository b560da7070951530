"""The project as the command line finds it (``store/_project.py``): pytest's rootdir and the
plugin's ini values, from wherever ``wandb-cassettes`` runs.

The rootdir rules are pytest's ("Initialization: determining rootdir and configfile",
https://docs.pytest.org/en/stable/reference/customize.html): the first folder, from the
working one up, holding ``pytest.ini``, ``.pytest.ini``, a ``pyproject.toml`` with a pytest
table, a ``tox.ini`` with ``[pytest]`` or a ``setup.cfg`` with ``[tool:pytest]``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wandb_cassettes.store import find_project
from wandb_cassettes.store._project import Project

CONFIGS = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A folder with no pytest configuration in it or above it."""
    for folder in (tmp_path, *tmp_path.parents):
        assert not any((folder / name).exists() for name in CONFIGS), folder
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_without_configuration_the_working_folder_is_the_project(root: Path):
    project = find_project(root)
    assert project == Project(root.resolve())
    assert project.cassette_dir == root.resolve() / "cassettes"
    assert project.files == root.resolve() / ".wandb_cassettes"
    assert project.plugin_cache == root.resolve() / ".pytest_cache" / "d"
    assert (project.harmless, project.secret_patterns, project.entropy) == ([], [], "")


def test_the_default_start_is_the_working_folder(root: Path, monkeypatch: pytest.MonkeyPatch):
    write(root / "pytest.ini", "[pytest]\n")
    (root / "tests").mkdir()
    monkeypatch.chdir(root / "tests")
    assert find_project().rootdir == root.resolve()


def test_an_ancestors_configuration_makes_it_the_rootdir(root: Path):
    config = write(root / "pytest.ini", "[pytest]\nwandb_cassette_dir = tapes\n")
    deep = root / "tests" / "unit"
    deep.mkdir(parents=True)
    project = find_project(deep)
    assert (project.rootdir, project.configfile) == (root.resolve(), config.resolve())
    assert project.cassette_dir == root.resolve() / "tapes"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.ini", "[pytest]\nwandb_cassette_dir = tapes\n"),
        (".pytest.ini", "[pytest]\nwandb_cassette_dir = tapes\n"),
        ("pyproject.toml", '[tool.pytest.ini_options]\nwandb_cassette_dir = "tapes"\n'),
        ("pyproject.toml", '[tool.pytest]\nwandb_cassette_dir = "tapes"\n'),  # pytest 9's table
        ("tox.ini", "[tox]\nenvlist = py\n[pytest]\nwandb_cassette_dir = tapes\n"),
        ("setup.cfg", "[metadata]\nname = x\n[tool:pytest]\nwandb_cassette_dir = tapes\n"),
    ],
)
def test_each_kind_of_configuration_file_is_read(root: Path, name: str, text: str):
    write(root / name, text)
    project = find_project(root)
    assert project.configfile == (root / name).resolve()
    assert project.cassette_dir == root.resolve() / "tapes"


def test_an_empty_pytest_ini_still_makes_the_rootdir(root: Path):
    # pytest: "pytest.ini files take precedence over other files, even when empty".
    write(root / "pytest.ini", "")
    write(root / "sub" / "tox.ini", "[pytest]\nwandb_cassette_dir = tapes\n")
    assert find_project(root) == Project(root.resolve(), (root / "pytest.ini").resolve(), {})
    assert find_project(root / "sub").rootdir == (root / "sub").resolve()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", '[project]\nname = "x"\n'),
        ("pyproject.toml", "[tool.pytest\nthis is not toml\n"),
        ("pyproject.toml", '[tool]\npytest = "not a table"\n'),
        ("tox.ini", "[tox]\nenvlist = py\n"),
        ("setup.cfg", "[metadata]\nname = x\n"),
        ("setup.cfg", "this is [not an ini file\n"),
    ],
)
def test_a_file_that_does_not_configure_pytest_is_passed_over(root: Path, name: str, text: str):
    config = write(root / "pytest.ini", "[pytest]\nwandb_cassette_dir = tapes\n")
    write(root / "pkg" / name, text)
    project = find_project(root / "pkg")
    assert (project.rootdir, project.configfile) == (root.resolve(), config.resolve())


def test_in_one_folder_the_files_count_in_pytests_order(root: Path):
    order = {
        "pytest.ini": "[pytest]\nwandb_cassette_dir = ini\n",
        ".pytest.ini": "[pytest]\nwandb_cassette_dir = dot\n",
        "pyproject.toml": '[tool.pytest.ini_options]\nwandb_cassette_dir = "toml"\n',
        "tox.ini": "[pytest]\nwandb_cassette_dir = tox\n",
        "setup.cfg": "[tool:pytest]\nwandb_cassette_dir = cfg\n",
    }
    for name, text in order.items():
        write(root / name, text)
    for name in order:
        project = find_project(root)
        assert project.configfile == (root / name).resolve()
        assert project.cassette_dir.parent == root.resolve()
        (root / name).unlink()
    assert find_project(root).configfile is None


def test_line_lists_are_read_from_ini_text_and_from_toml_lists(root: Path):
    write(
        root / "pytest.ini",
        "[pytest]\n"
        "wandb_cassette_harmless =\n    CreateProject\n\n    UpdateUser  \n"
        "wandb_cassette_secret_patterns = sk_live_[a-z0-9]+\n"
        "wandb_cassette_entropy =   4.5  \n",
    )
    ini = find_project(root)
    assert ini.harmless == ["CreateProject", "UpdateUser"]
    assert ini.secret_patterns == ["sk_live_[a-z0-9]+"]
    assert ini.entropy == "4.5"
    (root / "pytest.ini").unlink()
    write(
        root / "pyproject.toml",
        "[tool.pytest.ini_options]\n"
        'wandb_cassette_harmless = ["CreateProject", "UpdateUser"]\n'
        'wandb_cassette_secret_patterns = """\n  sk_live_[a-z0-9]+\n\n  rk_[a-z]+  \n"""\n'
        'cache_dir = ".cache/pytest"\n',
    )
    toml = find_project(root)
    assert toml.harmless == ["CreateProject", "UpdateUser"]
    assert toml.secret_patterns == ["sk_live_[a-z0-9]+", "rk_[a-z]+"]
    assert toml.plugin_cache == root.resolve() / ".cache" / "pytest" / "d"


def test_an_unreadable_configuration_file_is_passed_over(root: Path):
    write(root / "pytest.ini", "[pytest]\nwandb_cassette_dir = tapes\n")
    (root / "pkg" / "pyproject.toml").mkdir(parents=True)  # a folder where a file should be
    (root / "pkg" / "tox.ini").mkdir()
    assert find_project(root / "pkg").rootdir == root.resolve()
