"""Where the repository's files are, wherever a test module sits."""

from __future__ import annotations

from pathlib import Path

#: The repository (the sdist's top folder): README.md, pyproject.toml, cassettes/, examples/.
ROOT = Path(__file__).resolve().parents[2]


#: The one file a recording session keeps in the user's home: the key that signs its
#: journals (wandb_cassettes/cleanup/_signature.py; platformdirs' state folder on Linux).
JOURNAL_KEY = Path(".local", "state", "wandb-cassettes", "journal.key")


def written_to_home(home: Path) -> list[str]:
    """Every file under ``home`` but the journal key, relative to it."""
    return sorted(
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p.is_file() and p.relative_to(home) != JOURNAL_KEY
    )
