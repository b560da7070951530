"""Journal lines signed by this user's sessions on this machine, and checked before a sweep.

A journal sits in the project's working folder (``.wandb_cassettes/journal/``), which a
pull request, a merge or a copied folder can fill; a sweep acts on what it lists with the
user's key, deleting by server id and sending restores (what puts a teammate's alias,
metadata or run fields back). A forged line would make the next recording session, or
``wandb-cassettes sweep``, delete or rewrite a teammate's data and report success. So
every line a session writes carries an HMAC-SHA256 (RFC 2104) of its canonical JSON and
of the line before's signature (a chain: a line taken out, moved or spliced in from
another journal breaks it), with
a key that only this user's processes on this machine read: 32 random bytes in the user's
state folder (``platformdirs.user_state_dir``: ``~/.local/state/wandb-cassettes/
journal.key`` on Linux; a folder of the user's own in the temporary folder where that
cannot be written), created on first use with mode 0600. A line without the right
signature was written elsewhere or edited: its journal is unusable, reported, and never
acted on (:func:`.journal.read`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import platformdirs

from ..errors import JournalError

#: The field of a journal line that holds its signature.
MAC = "mac"
KEY_FILE = "journal.key"
_lock = threading.Lock()
_key: bytes | None = None


def key_path() -> Path:
    """Where this user's journal key is kept (outside any project): the user's state
    folder, or, where that cannot be written (a read-only home in some CI containers),
    a folder of this user's own in the system's temporary folder."""
    global _path
    if _path is None:
        _path = _first_usable(_candidates())
    return _path


_path: Path | None = None


def _candidates() -> list[Path]:
    fallback = Path(tempfile.gettempdir()) / f"wandb-cassettes-{os.getuid()}"
    return [Path(platformdirs.user_state_dir("wandb-cassettes")), fallback]


def _first_usable(folders: list[Path]) -> Path:
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            st = folder.stat()
        except OSError:
            continue
        # A folder another user made (in /tmp) could be read by them: not ours to use.
        if st.st_uid == os.getuid() and not st.st_mode & 0o022 and os.access(folder, os.W_OK):
            return folder / KEY_FILE
    return folders[0] / KEY_FILE  # the error names the usual place


class Chain:
    """Signs a journal's lines in the order they are written. Each signature covers the
    one before, so a line taken out, moved or copied from another journal breaks the chain
    from there on; a header (a line with ``"journal"``) starts a chain, as each session
    that appends to a file does."""

    def __init__(self) -> None:
        self._last = ""

    def sign(self, entry: dict[str, Any]) -> str:
        """``entry`` as the next journal line (no newline), with its signature."""
        self._last = _mac(entry, "" if "journal" in entry else self._last)
        return json.dumps({**entry, MAC: self._last})


def journal_lines(entries: Iterable[dict[str, Any]]) -> list[str]:
    """``entries`` as the signed lines of a journal (no newlines), in order."""
    chain = Chain()
    return [chain.sign(entry) for entry in entries]


def verified(entry: dict[str, Any], previous: str = "") -> str | None:
    """The signature of ``entry`` (a parsed journal line) when it is this user's key's,
    following the line whose signature is ``previous``; None otherwise."""
    given = entry.get(MAC)
    if not isinstance(given, str):
        return None
    body = {k: v for k, v in entry.items() if k != MAC}
    return given if hmac.compare_digest(given, _mac(body, previous)) else None


def _mac(entry: dict[str, Any], previous: str) -> str:
    text = previous + json.dumps(entry, sort_keys=True, separators=(",", ":"))
    return hmac.new(_machine_key(), text.encode(), hashlib.sha256).hexdigest()


def _machine_key() -> bytes:
    global _key
    with _lock:
        if _key is None:
            _key = _load_or_create(key_path())
        return _key


def _load_or_create(path: Path) -> bytes:
    """The key in ``path``, made there first if there is none (two sessions starting at
    once agree: the file appears whole, by a link, or not at all).

    Raises:
        JournalError: The key cannot be read or made (names the file).
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    try:
        temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another session made it first: theirs is the key
        finally:
            temporary.unlink(missing_ok=True)
        return _read_key(path)
    except OSError as exc:
        raise JournalError(
            f"the key that signs recording journals cannot be made or read: {path}: "
            f"{exc.strerror or exc}; nothing is recorded without a journal"
        ) from exc


def _read_key(path: Path) -> bytes:
    text = path.read_text().strip()
    if len(text) < 32:
        raise JournalError(f"the journal key {path} is too short to be one; remove it")
    return text.encode()
