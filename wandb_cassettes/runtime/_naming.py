"""Where a cassette lives, and the names that are safe to give its file.

One place for every name a cassette file gets: a test's (pytest-recording's default name,
``Class.test[param]``), a scoped fixture's, a mismatch report's. A parametrize id can
carry a credential or an e-mail address: it is scrubbed (:func:`.redact.scrub_name`)
before it names a file, and a short hash of the original keeps ids that differ only in
the scrubbed part apart. The pytest plugin hands in pytest's facts (the rootdir-relative
module path, the class, the test's name); nothing here imports pytest.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import CassetteError

_UNSAFE_RE = re.compile(r"[^\w.\-\[\]=]+")


def safe_name(name: str, secrets: Sequence[str] = (), *, catalogue: bool = True) -> str:
    """``name`` made safe as a file name; a short hash keeps distinct names distinct.

    A parametrize id can carry a credential (``test_x[hf_…]``) or an email:
    both are replaced (:func:`wandb_cassettes.redact.scrub_name`, with ``secrets`` the known
    ones, e.g. the API key; ``catalogue``: with the rule catalogue's formats)
    before the name reaches the file system; the hash of the whole original
    name still tells such names apart.
    """
    from ..redact import scrub_name  # the rules load with the first cassette named (start-up)

    public = scrub_name(name, secrets, catalogue=catalogue)
    cleaned = _UNSAFE_RE.sub("_", public).strip(".") or "_"
    if cleaned != name:
        # The suffix survives the length cap: cut the name, not the hash.
        cleaned = _suffixed(cleaned[:191], name)
    return cleaned[:200]


def cassette_path(
    root: str | os.PathLike[str], group: str, name: str, *, catalogue: bool = True
) -> Path:
    """``root/group/name.yaml``, refusing any result outside ``root``.

    ``group`` is the test module's path relative to the rootdir (no suffix);
    ``name`` the test (or marker-given) name; ``catalogue``: see :func:`safe_name`.
    """
    base = Path(root).resolve()
    parts = [p for p in Path(group).parts if p not in ("", ".", "..", "/")]
    parts = [safe_name(p, catalogue=catalogue) for p in parts]
    path = base.joinpath(*parts, safe_name(name, catalogue=catalogue) + ".yaml").resolve()
    if base not in path.parents:
        raise CassetteError(path, f"cassette name {name!r} escapes the cassette folder {base}")
    return path


def named(path: Callable[[bool], Path]) -> Path:
    """``path(False)`` (named without the rule catalogue's formats) if a cassette is there,
    else ``path(True)``.

    A name holding no credential is the same either way, and a replay then never loads
    the catalogue (compiled on first use: seconds). A name the catalogue would change
    was recorded under the changed name, unless an older version of the catalogue
    recorded it: that cassette replays, and the audit flags its file name.
    """
    quick = path(False)
    return quick if quick.exists() else path(True)


def _suffixed(public: str, original: str) -> str:
    """``public`` and a short hash of ``original``: names that differ only in what
    scrubbing removed stay apart."""
    return f"{public}-{hashlib.sha1(original.encode()).hexdigest()[:8]}"


def test_name(cls: type | None, name: str, *, catalogue: bool) -> str:
    """A test's cassette name: pytest-recording's default (``Class.test[param]``), with
    what scrubbing replaces in ``name`` (the test's name with its parametrize id) left
    out and a hash of it kept.

    Scrubbed before pytest-recording's name turns ``/`` and ``:`` into ``-``: a password
    in a parametrized URL (``https://user:pass@host``) is recognised in its URL form.
    """
    from pytest_recording.plugin import get_default_cassette_name

    from ..redact import scrub_name  # the rules load with the first cassette named (start-up)

    full = get_default_cassette_name(cls, name)
    public = get_default_cassette_name(cls, scrub_name(name, catalogue=catalogue))
    return full if public == full else _suffixed(public, full)
