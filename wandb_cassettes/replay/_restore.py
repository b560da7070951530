"""What the test sent, given back where its cassette holds the scrubbed form.

Recording scrubs secrets out of everything it keeps, answers included: an artifact file
named after a token is ``REDACTED.txt`` in the recorded manifest and in the recorded
``artifact.files`` answer; a config value is ``REDACTED`` in a recorded run query. In
replay the test sends the real value again (it holds it), and matching scrubs it the same
way before comparing (:meth:`.Matcher.key`). Served as recorded, the answers would name
what the test never sent: the SDK looks a file up by the name the test gave and raises
``KeyError: 'Path not contained in artifact'``; a read-back of the config differs.

So replay learns, from each request it scrubs, which whole string became which, and where
(``contents`` > ``REDACTED.txt`` <- ``glpat-....txt``), walking the live and the scrubbed
JSON side by side, JSON held in strings too (a run's ``config``); then it gives the test's
own strings back in the answers. A scrubbed string that one live value became is given
back wherever it stands; one that several became (two secrets, both ``REDACTED``) is given
back where the answer's keys leading to it end like those of exactly one of them
(``config`` > ``x1`` > ``value``), and stays as recorded where that is not so. Nothing is
learned from the cassette: only what this replay's test sent comes back, so no stored
secret can be made up, and what cannot be told apart stays scrubbed.
"""

from __future__ import annotations

import json
from typing import Any

#: JSON held in strings (a config inside a GraphQL variable) is walked this deep.
_MAX_DEPTH = 16

Path = tuple[str, ...]


class Restorations:
    """Strings of this replay's requests that scrubbing changed, by their scrubbed form.

    Not thread-safe: the relay uses it from its event loop only.
    """

    def __init__(self) -> None:
        self._sent: dict[str, dict[Path, str]] = {}
        self._quoted: list[tuple[str, bytes, bytes]] = []

    def __bool__(self) -> bool:
        return bool(self._sent)

    def learn(self, live: str, scrubbed: str) -> None:
        """Learn from JSON text ``live`` and ``scrubbed``, the same text as scrubbed. Text
        that is not JSON, or whose scrubbed form has another shape, teaches nothing."""
        try:
            self._walk(json.loads(live), json.loads(scrubbed), (), 0)
        except (ValueError, RecursionError):
            return

    def restore(self, payload: bytes) -> bytes:
        """``payload`` (a JSON answer) with the test's strings put back; anything else, or
        an answer that holds none of the scrubbed strings, as it is."""
        if not any(a in payload or b in payload for _, a, b in self._quoted):
            return payload
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError):
            return payload
        restored = self._put_back(document, (), 0)
        return payload if restored == document else json.dumps(restored).encode()

    # -- learning ---------------------------------------------------------------

    def _walk(self, live: Any, scrubbed: Any, path: Path, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        if isinstance(live, dict) and isinstance(scrubbed, dict) and len(live) == len(scrubbed):
            for (live_key, live_value), (key, value) in zip(
                live.items(), scrubbed.items(), strict=True
            ):
                self._pair(live_key, key, path, depth)
                self._walk(live_value, value, (*path, str(key)), depth + 1)
        elif isinstance(live, list) and isinstance(scrubbed, list) and len(live) == len(scrubbed):
            for live_item, item in zip(live, scrubbed, strict=True):
                self._walk(live_item, item, path, depth + 1)
        elif isinstance(live, str) and isinstance(scrubbed, str):
            self._pair(live, scrubbed, path, depth)

    def _pair(self, live: str, scrubbed: str, path: Path, depth: int) -> None:
        if live == scrubbed:
            return
        inner = _json_in(live), _json_in(scrubbed)
        if inner[0] is not None and inner[1] is not None:
            self._walk(inner[0], inner[1], path, depth + 1)
            return
        sent = self._sent.setdefault(scrubbed, {})
        if not sent:
            quoted = json.dumps(scrubbed)
            self._quoted.append((scrubbed, quoted.encode(), json.dumps(quoted)[1:-1].encode()))
        sent[path] = live

    # -- giving back ------------------------------------------------------------

    def _put_back(self, value: Any, path: Path, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            return value
        if isinstance(value, dict):
            return {
                self._string(k, path): self._put_back(v, (*path, str(k)), depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._put_back(item, path, depth + 1) for item in value]
        if isinstance(value, str):
            inner = _json_in(value) if any(s in value for s, _, _ in self._quoted) else None
            if inner is not None:
                restored = self._put_back(inner, path, depth + 1)
                return value if restored == inner else json.dumps(restored)
            return self._string(value, path)
        return value

    def _string(self, value: str, path: Path) -> str:
        sent = self._sent.get(value)
        if not sent:
            return value
        values = set(sent.values())
        if len(values) == 1:
            return values.pop()
        # Several: the one whose keys end most like the answer's, if it is the only one.
        scored = sorted(((_common_end(path, p), live) for p, live in sent.items()), reverse=True)
        best = scored[0][0]
        chosen = {live for score, live in scored if score == best}
        return chosen.pop() if best and len(chosen) == 1 else value


def _json_in(text: str) -> Any:
    """The object or list JSON text ``text`` holds, else None."""
    if text[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, (dict, list)) else None


def _common_end(a: Path, b: Path) -> int:
    """How many keys ``a`` and ``b`` end with alike."""
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n
