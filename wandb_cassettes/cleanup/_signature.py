"""Journal lines signed by this user's sessions on this machine, and checked before a sweep.

A journal sits in the project's working folder (``.wandb_cassettes/journal/``), which a
pull request, a merge or a copied folder can fill; a sweep acts on what it lists with the
user's key, deleting by server id and sending restores (what puts a teammate's alias,
metadata or run fields back). A forged line would make the next recording session, or
``wandb-cassettes sweep``, delete or rewrite a teammate's data and report success. So
every line a session writes carries an HMAC-SHA256 (RFC 2104) of its canonical JSON, with
a key that only this user's processes on this machine read: 32 random bytes in the user's
state folder (``platformdirs.user_state_dir``: ``~/.local/state/wandb-cassettes/
journal.key`` on Linux), created on first use with mode 0600. A line without the right
signature was written elsewhere or edited: its journal is unusable, reported, and never
acted on (:func:`.journal.read`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
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
    """Where this user's journal key is kept (outside any project)."""
    return Path(platformdirs.user_state_dir("wandb-cassettes")) / KEY_FILE


def sign(entry: dict[str, Any]) -> str:
    """``entry`` as a journal line (no newline), with its signature."""
    return json.dumps({**entry, MAC: _mac(entry)})


def verified(entry: dict[str, Any]) -> bool:
    """Whether ``entry`` (a parsed journal line) carries the signature of this user's key."""
    given = entry.get(MAC)
    if not isinstance(given, str):
        return False
    body = {k: v for k, v in entry.items() if k != MAC}
    return hmac.compare_digest(given, _mac(body))


def _mac(entry: dict[str, Any]) -> str:
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"))
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
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
