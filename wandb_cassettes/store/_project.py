"""The project as pytest sees it, for the command line: its rootdir and its cassette settings.

``wandb-cassettes audit`` and ``sweep`` must use the folders the pytest
plugin uses, wherever they are run from (``tests/`` included): the cassette
folder is the ini option ``wandb_cassette_dir`` relative to the rootdir, and
the working files (journal, cache) live in ``<rootdir>/.wandb_cassettes``.
The rootdir is found the way pytest documents it ("Initialization:
determining rootdir and configfile", https://docs.pytest.org/en/stable/reference/customize.html):
the first of ``pytest.ini``, ``.pytest.ini``, ``pyproject.toml`` with a
``[tool.pytest.ini_options]`` (or ``[tool.pytest]``) table, ``tox.ini`` with a
``[pytest]`` section, ``setup.cfg`` with ``[tool:pytest]``, in the folder or
its ancestors. ``iniconfig`` (pytest's own ini reader) and ``tomllib`` read them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CASSETTE_DIR = "cassettes"


@dataclass(frozen=True)
class Project:
    """Where pytest's rootdir is, which file configured it, and the plugin's ini values."""

    rootdir: Path
    configfile: Path | None = None
    ini: dict[str, Any] = field(default_factory=dict)

    @property
    def cassette_dir(self) -> Path:
        return self.rootdir / str(self.ini.get("wandb_cassette_dir") or DEFAULT_CASSETTE_DIR)

    @property
    def harmless(self) -> list[str]:
        return self._lines("wandb_cassette_harmless")

    @property
    def secret_patterns(self) -> list[str]:
        return self._lines("wandb_cassette_secret_patterns")

    def _lines(self, name: str) -> list[str]:
        value = self.ini.get(name) or []
        if isinstance(value, str):
            return [line.strip() for line in value.splitlines() if line.strip()]
        return [str(v) for v in value]

    @property
    def entropy(self) -> str:
        """The ini ``wandb_cassette_entropy`` as written (empty: off)."""
        return str(self.ini.get("wandb_cassette_entropy") or "").strip()

    @property
    def plugin_cache(self) -> Path:
        """Where pytest lets plugins keep files (``config.cache.mkdir``): the ``d`` folder
        of its cache (ini ``cache_dir``, default ``.pytest_cache``)."""
        return self.rootdir / str(self.ini.get("cache_dir") or ".pytest_cache") / "d"

    @property
    def files(self) -> Path:
        """The library's working files: ``<rootdir>/.wandb_cassettes``."""
        return self.rootdir / ".wandb_cassettes"


def find_project(start: Path | None = None) -> Project:
    """The project around ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            path = folder / name
            if not path.is_file():
                continue
            ini = _read(path)
            if ini is not None:
                return Project(folder, path, ini)
    return Project(here)


def cassette_folder(cassette: Path, given: Path | None = None) -> Path:
    """The cassette folder ``cassette`` belongs to: where its ``_blobs/`` is.

    The ``wandb_cassette_dir`` of the project around the file when the file is inside
    it (the plugin keeps blobs there); else ``given`` (a folder the user named, such as
    the one given to ``audit``) when the file is inside it; else the file's own folder
    (what :func:`wandb_cassettes.use_cassette` uses outside a pytest project).
    """
    inside = cassette.resolve().parents
    for folder in (find_project(cassette.parent).cassette_dir, given):
        if folder is not None and folder.resolve() in inside:
            return folder
    return cassette.parent


def _read(path: Path) -> dict[str, Any] | None:
    """The pytest ini values of ``path``, or None when it does not configure pytest."""
    if path.name == "pyproject.toml":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return None
        pytest_table = data.get("tool", {}).get("pytest")
        if not isinstance(pytest_table, dict):
            return None
        options = pytest_table.get("ini_options", pytest_table)
        return dict(options) if isinstance(options, dict) else {}
    import iniconfig

    try:
        config = iniconfig.IniConfig(str(path))
    except (OSError, iniconfig.ParseError):
        return None
    section = {"tox.ini": "pytest", "setup.cfg": "tool:pytest"}.get(path.name, "pytest")
    if section not in config:
        # pytest.ini configures pytest even when empty of a [pytest] section.
        return {} if path.name in ("pytest.ini", ".pytest.ini") else None
    return dict(config[section].items())
