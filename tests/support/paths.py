"""Where the repository's files are, wherever a test module sits."""

from __future__ import annotations

from pathlib import Path

#: The repository (the sdist's top folder): README.md, pyproject.toml, cassettes/, examples/.
ROOT = Path(__file__).resolve().parents[2]
