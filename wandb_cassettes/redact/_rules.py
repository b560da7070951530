"""The secret rules, as data: what a credential looks like, and where one hides.

Each :class:`SecretRule` names a kind of secret, says how it is found (a regular
expression with a ``secret`` group, a detector over the text's decoded views, or the
maintained catalogue of :mod:`._catalogue`) and cites where its format is defined.
:data:`RULES` is the default table, in reporting order; the engine (:mod:`._engine`)
applies it to headers, URLs, bodies, JSON strings and file names. The helpers here read
a text the way the rules need it: JSON and URL escapes undone in same-length views, the
value after a credential-like name, the token ends a file name or a test id makes.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import ConfigurationError
from ..store import Interaction, json_or_none
from ._catalogue import CATALOGUE, PACKAGE, Catalogue

if TYPE_CHECKING:
    pass


API_KEY_PLACEHOLDER = "<WANDB_API_KEY>"
REDACTED = "REDACTED"

#: Headers dropped from cassettes whatever their value (compared lowercased).
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
# Catches the ``X-Api-Key`` family under other names (X-Wandb-Api-Key, X-Auth-Token...)
# without catching ordinary headers such as Content-Md5 or X-Goog-Hash.
SENSITIVE_HEADER_RE = re.compile(r"api[-_]?key|auth[-_]?token|access[-_]?token|secret", re.I)

#: Query parameters whose values are credentials (compared case-insensitively).
URL_CREDENTIAL_PARAMS = (
    "X-Goog-Signature",
    "X-Goog-Credential",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "GoogleAccessId",
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "api_key",
    "apikey",
    "access_token",
    "auth_token",
    "token",
)

# Explicit secrets shorter than this are ignored: replacing a short string
# everywhere would corrupt bodies and still protect nothing.
MIN_SECRET_LEN = 8

Span = tuple[int, int]
Hook = Callable[[Interaction], Interaction | None]
"""A record-time hook, like vcrpy's ``before_record_request``/``_response``:
gets the exchange, returns it (changed or not), or None to leave it out."""

# Where a token may start: after a character that cannot belong to it, or right
# after a JSON escape ("\n", "\u0026") or a %-escape ("%2F"), whose last
# character would otherwise glue onto the token.
_START = r"(?:(?<![A-Za-z0-9_])|(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4})|(?<=%[0-9A-Fa-f]{2}))"
_START_DASH = r"(?:(?<![A-Za-z0-9_-])|(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4})|(?<=%[0-9A-Fa-f]{2}))"

# Values that are already placeholders: what scrubbing wrote, or a reference to
# a secret rather than the secret ("${HF_TOKEN}", "$HF_TOKEN", "<API_KEY>").
PLACEHOLDER_VALUE_RE = re.compile(
    r"(?:REDACTED|(?:<|\\+u003c)[A-Za-z0-9_:-]*(?:>|\\+u003e)|key-\d+|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?"
    r"|\{\{.*\}\}|%\(\w+\)s|\*+|x+|X+)",
)


# -- rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretRule:
    """A kind of secret: how to find it and what replaces it.

    Either ``pattern`` (with a ``secret`` group: only that span is replaced,
    so the context that made the match, ``Bearer `` or ``?sig=``, stays
    readable; ``confirm`` may reject matches that only look like the secret),
    or ``find`` (a function giving the spans itself, for rules a regex
    cannot express), or ``catalogue`` (a :class:`~.catalogue.Catalogue`: each
    finding is named by the catalogue's rule id, see :meth:`found`). ``decoded``:
    ``find`` reads the text with its JSON and URL escapes undone
    (:func:`_decoded_view`, as a catalogue does); its spans are widened to
    whole escapes. ``needles``: cheap substrings of which one must occur for the rule to run
    at all (``ci_needles``: lowercase ones, looked for in the lowercased text).
    ``source``: where the format is defined. A rule must never match a
    replacement: scrubbing is idempotent and a scrubbed text audits clean.
    """

    name: str
    pattern: re.Pattern[str] | None = None
    replacement: str = REDACTED
    confirm: Callable[[re.Match[str]], bool] | None = None
    needles: tuple[str, ...] = ()
    find: Callable[[str], Iterable[Span]] | None = None
    source: str = ""
    ci_needles: tuple[str, ...] = ()
    catalogue: Catalogue | None = field(default=None, compare=False)
    decoded: bool = False

    def applies(self, text: str, probe: Probe | None = None) -> bool:
        """Whether one of the needles occurs (always, without needles)."""
        if not self.needles and not self.ci_needles:
            return True
        probe = probe if probe is not None else Probe(text)
        return probe.has(self.needles) or probe.has_ci(self.ci_needles)

    def matches(self, text: str, probe: Probe | None = None) -> Iterator[re.Match[str]]:
        """The confirmed matches of ``pattern`` in ``text`` (none for ``find`` rules)."""
        if self.pattern is None or not self.applies(text, probe):
            return
        for m in self.pattern.finditer(text):
            if self.confirm is None or self.confirm(m):
                yield m

    def spans(self, text: str, probe: Probe | None = None) -> Iterator[Span]:
        """The ``(start, end)`` of every secret this rule finds in ``text``."""
        return (span for _, span in self.found(text, probe))

    def found(self, text: str, probe: Probe | None = None) -> Iterator[tuple[str, Span]]:
        """``(rule name, span)`` of every secret this rule finds in ``text``.

        The name is this rule's, or for a catalogue rule the catalogue's rule id
        (``betterleaks.gcp-api-key``).
        """
        probe = probe if probe is not None else Probe(text)
        if not self.applies(text, probe):
            return
        if self.catalogue is not None:
            yield from _widened(_catalogue_found(self.catalogue, probe.views), probe)
        if self.find is not None:
            if self.decoded:
                yield from _widened(((self.name, sp) for sp in self.find(probe.view)), probe)
            else:
                yield from ((self.name, span) for span in self.find(text))
        if self.pattern is not None:
            for m in self.pattern.finditer(text):
                if self.confirm is None or self.confirm(m):
                    yield self.name, m.span("secret")

    @property
    def pattern_text(self) -> str:
        """The regex this rule matches with, as written (empty for other rules)."""
        return self.pattern.pattern if self.pattern is not None else ""

    @classmethod
    def from_pattern(cls, pattern: str | re.Pattern[str], name: str = "user-pattern") -> SecretRule:
        """A rule from a user's regex: its ``secret`` group if it has one, else the whole match."""
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        if "secret" not in compiled.groupindex:
            compiled = re.compile(f"(?P<secret>{compiled.pattern})", compiled.flags)
        return cls(name, compiled, confirm=_not_a_placeholder)


class Probe:
    """One text's derived forms and needle lookups, each computed once for all rules."""

    __slots__ = ("_lower", "_seen", "_split", "_tokens", "_view", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._view: str | None = None
        self._split: tuple[str, ...] | None = None
        self._tokens: list[Span] | None = None
        self._seen: dict[str, bool] = {}

    @property
    def lower(self) -> str:
        """The text with ASCII letters lowercased: the same length, the same offsets."""
        if self._lower is None:
            self._lower = _ascii_lower(self.text)
        return self._lower

    @property
    def view(self) -> str:
        """The text as it reads once its escapes are undone, same length (:func:`_decoded_view`)."""
        if self._view is None:
            self._view = _decoded_view(self.text)
        return self._view

    @property
    def views(self) -> tuple[str, ...]:
        """:attr:`view`, then (when they differ) the same with a token's likely ends made
        spaces (:func:`_split_views`): each as long as the text."""
        if self._split is None:
            self._split = _split_views(self.view)
        return self._split

    def widen(self, start: int, end: int) -> Span:
        """``(start, end)`` widened to whole escapes of the text (a span of :attr:`view`)."""
        if self._tokens is None:
            self._tokens = [m.span() for m in _ENCODED_RE.finditer(self.text)]
        tokens = self._tokens
        i = bisect.bisect_right(tokens, (start, len(self.text))) - 1
        if i >= 0 and tokens[i][1] > start:
            start = tokens[i][0]
        j = bisect.bisect_right(tokens, (end - 1, len(self.text))) - 1
        if j >= 0 and tokens[j][1] > end - 1:
            end = max(end, tokens[j][1])
        return start, end

    def has(self, needles: Iterable[str]) -> bool:
        return any(self._in(n, self.text) for n in needles)

    def has_ci(self, needles: Iterable[str]) -> bool:
        if not needles:
            return False
        lower = self.lower
        return any(self._in("\0" + n, lower, n) for n in needles)

    def _in(self, key: str, text: str, needle: str | None = None) -> bool:
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = (needle if needle is not None else key) in text
        return found


class _CharMap:
    """A ``str.translate`` table that maps one-byte characters to one-byte characters.

    ``str.translate`` with a dict looks every character up in Python (~0.1 s a megabyte);
    a binary body read as latin-1 (one character a byte) goes through ``bytes.translate``
    instead, a C loop over a 256-byte table (~1 ms a megabyte). Same result either way.
    """

    __slots__ = ("_bytes", "_table")

    def __init__(self, table: dict[int, int]) -> None:
        self._table = table
        self._bytes = bytes(table.get(b, b) for b in range(256))

    def __call__(self, text: str) -> str:
        """``text`` translated (the same length: same offsets)."""
        translated = self.one_byte(text)
        return text.translate(self._table) if translated is None else translated

    def one_byte(self, text: str) -> str | None:
        """``text`` translated, or None when it holds a character beyond latin-1."""
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            return None
        return raw.translate(self._bytes).decode("latin-1")


_ascii_lowered = _CharMap({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})


def _ascii_lower(text: str) -> str:
    """``text`` with ASCII letters lowercased (same length, same offsets)."""
    return text.lower() if text.isascii() else _ascii_lowered(text)


_TOKEN_RUN_IN_PATH_RE = re.compile(r"[A-Za-z0-9_-]{16,}")


def _holds_a_token(m: re.Match[str]) -> bool:
    return any(
        any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
        for run in _TOKEN_RUN_IN_PATH_RE.findall(m.group("secret"))
    )


def _not_a_placeholder(m: re.Match[str]) -> bool:
    return PLACEHOLDER_VALUE_RE.fullmatch(m.group("secret")) is None


def _is_basic_credential(m: re.Match[str]) -> bool:
    # "Basic information" is prose; a credential decodes to "user:password".
    value = m.group("secret")
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _param_alternatives(names: Iterable[str]) -> str:
    return "|".join(re.escape(n) for n in names)


# A query string inside JSON written by Go may spell "&" as "\u0026".
_PARAM_SEP = r"(?:[?&;]|\\u0026)"
# A value ends at the next separator, quote, space or escape.
_PARAM_VALUE = r"(?!REDACTED(?:[&#\s\"'\\<>;]|$))[^&#\s\"'\\<>;]+"


# -- values under credential-like names ----------------------------------------------------

# A name (JSON key, YAML key, NAME=, --name=) that ends in a credential word, then
# the separator. The name's start and the value are found by _named_values().
_NAME_END = (
    r"(?P<word>key|token|secret|password|passwd|pwd|passphrase|credentials?|auth)"
    r"(?P<close>\\*[\"'])?[ \t]*(?P<sep>[:=])[ \t]*"
)
_NAME_END_RE = re.compile(_NAME_END, re.IGNORECASE)
_NAME_END_LOWER_RE = re.compile(_NAME_END)


def _name_ends(text: str) -> Iterator[re.Match[str]]:
    """The matches of :data:`_NAME_END_RE` in ``text`` (their offsets and groups hold for it).

    With IGNORECASE, ``re`` tries every alternative at every position (~75 ms a megabyte);
    in an ASCII-lowercased copy (same offsets) the case-sensitive pattern skips ahead on its
    first characters (~7 ms). Only characters beyond latin-1 fold onto the pattern's ASCII
    letters (the Kelvin sign onto "k", the long s onto "s"), so a text holding any is
    searched with IGNORECASE as before.
    """
    lowered = text.lower() if text.isascii() else _ascii_lowered.one_byte(text)
    if lowered is None:
        return _NAME_END_RE.finditer(text)
    return _NAME_END_LOWER_RE.finditer(lowered)


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# Normalised names (lowercase, letters and digits only) whose value is a secret
# whatever it looks like (at least 6 characters).
STRONG_ENDINGS = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "apikey",
    "apitoken",
    "accesstoken",
    "authtoken",
    "refreshtoken",
    "sessiontoken",
    "bearertoken",
    "idtoken",
    "oauthtoken",
    "privatekey",
    "secretkey",
    "secretaccesskey",
    "accesskeysecret",
)
# Names whose value is a secret when it looks random (16+ characters, letters and
# digits, no space): "hf_token", "github_token" yes; "pad_token": "<|endoftext|>" no.
_TOKEN_ENDINGS = ("token",)
# Names after which a 40-hex value (optionally "prefix-") is a W&B API key.
_HEX_KEY_ENDINGS = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "credential",
    "credentials",
)
_HEX_KEY_VALUE_RE = re.compile(r"(?:[a-z][a-z0-9]*-)?[0-9a-f]{40}")
_HEX_KEY_PREFIX_RE = re.compile(r"(?:[a-z][a-z0-9]*-)?[0-9a-f]{40}(?![0-9A-Za-z_])")
_UNQUOTED_VALUE_RE = re.compile(r"[^\s\"'\\,;&<>(){}\[\]]+")
_QUOTE_OPEN_RE = re.compile(r"(\\*)([\"'])")
_CONFIG_VALUE_RE = re.compile(r"\{[ \t]*(\\*)\"value\1\"[ \t]*:[ \t]*")
_TERMINATORS: dict[tuple[int, str], re.Pattern[str]] = {}
_MAX_VALUE = 8192


def _terminator(backslashes: int, quote: str) -> re.Pattern[str]:
    """The end of a string value opened by ``backslashes`` + ``quote``: the same, unescaped."""
    key = (backslashes, quote)
    found = _TERMINATORS.get(key)
    if found is None:
        found = re.compile(r"(?<!\\)" + r"\\" * backslashes + re.escape(quote))
        _TERMINATORS[key] = found
    return found


def _name_before(text: str, end: int) -> str:
    start = end
    while start > 0 and text[start - 1] in _NAME_CHARS and end - start < 80:
        start -= 1
    return text[start:end]


def _value_after(text: str, pos: int, sep: str) -> tuple[Span, bool] | None:
    """The span of the value that starts at ``pos`` (after the separator) and if it is quoted.

    A W&B run config wraps each value: ``"hf_token": {"value": "hf_…"}``.
    """
    wrapped = _CONFIG_VALUE_RE.match(text, pos)
    if wrapped is not None:
        pos, sep = wrapped.end(), ":"
    m = _QUOTE_OPEN_RE.match(text, pos)
    if m is not None:
        start = m.end()
        term = _terminator(len(m.group(1)), m.group(2)).search(text, start, start + _MAX_VALUE)
        end = term.start() if term is not None else start
        return ((start, end), True) if end > start else None
    if sep != "=":  # "name: value" unquoted is YAML, GraphQL ($apiKey: String) or a number
        return None
    u = _UNQUOTED_VALUE_RE.match(text, pos)
    return (u.span(), False) if u is not None else None


_ESCAPE_RE = re.compile(r"\\+u([0-9A-Fa-f]{4})|\\+(.)", re.S)


def _unescape(value: str) -> str:
    """``value`` without its JSON escapes, at any depth (for judging it, never for output)."""
    if "\\" not in value:
        return value
    return _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2), value)


def _random_looking(value: str) -> bool:
    return (
        len(value) >= 16
        and not any(c.isspace() for c in value)
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )


def _named_value_spans(text: str, *, hex_only: bool) -> Iterator[Span]:
    for m in _name_ends(text):
        # The name runs back to the first character that cannot be in one ("WANDB_API_KEY",
        # "--api-key", "aws.secret"); glued to a JSON escape ("\napi_key") it keeps the
        # escape's letter, which only its ending is judged by anyway.
        name = _name_before(text, m.end("word"))  # "aws_secret_access_key = ..." too
        norm = re.sub(r"[^a-z0-9]", "", name.lower())
        found = _value_after(text, m.end(), m.group("sep")) if norm else None
        if found is None:
            continue
        (start, end), quoted = found
        value = text[start:end]
        if norm.endswith(_HEX_KEY_ENDINGS):
            # Quoted: the whole value; unquoted (NAME=…): a key up to where it stops.
            hexed = (_HEX_KEY_VALUE_RE.fullmatch if quoted else _HEX_KEY_PREFIX_RE.match)(value)
            if hexed is not None:
                if hex_only:
                    yield start, start + hexed.end()
                continue  # reported by the hex rule, as a W&B API key
        if hex_only:
            continue
        plain = _unescape(value)
        if PLACEHOLDER_VALUE_RE.fullmatch(plain) or PLACEHOLDER_VALUE_RE.fullmatch(value):
            continue
        strong = norm.endswith(STRONG_ENDINGS) and len(plain) >= 6 and bool(plain.strip())
        if strong or (norm.endswith(_TOKEN_ENDINGS) and _random_looking(plain)):
            yield start, end


def _named_hex_keys(text: str) -> Iterator[Span]:
    return _named_value_spans(text, hex_only=True)


def _named_secrets(text: str) -> Iterator[Span]:
    return _named_value_spans(text, hex_only=False)


_NAME_NEEDLES = ("key", "token", "secret", "passw", "pwd", "passphrase", "credential", "auth")


# -- API keys listed in answers (ApiKey nodes) -------------------------------------------


def api_key_names(data: Any) -> list[str]:
    """The ``name`` of every ApiKey node in a parsed answer, and ``apiKey`` string fields.

    ``User.apiKeys.edges[].node.name`` is the key itself for legacy keys (wandb
    documents it as "the name", but ``generate_api_key()`` returns
    ``apiKey.name`` as "the full secret"); ``members[].apiKey`` is a key.
    """
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "apiKeys" and isinstance(v, dict):
                    for edge in v.get("edges") or []:
                        inner = edge.get("node") if isinstance(edge, dict) else None
                        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                            found.append(inner["name"])
                elif k == "apiKey":
                    if isinstance(v, str):
                        found.append(v)
                    elif isinstance(v, dict) and isinstance(v.get("name"), str):
                        found.append(v["name"])
                walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return [n for n in found if n and not PLACEHOLDER_VALUE_RE.fullmatch(n)]


def _api_key_name_spans(text: str) -> Iterator[Span]:
    data = json_or_none(text)
    if data is None:
        return
    for name in set(api_key_names(data)):
        for form in json_forms(name):
            start = text.find(form)
            while start != -1:
                yield start, start + len(form)
                start = text.find(form, start + len(form))


def escaped_forms(value: str) -> list[str]:
    """``value`` raw, JSON-escaped (Python and Go style), escaped twice, and URL-encoded.

    Always the same six, in the same order, so that the forms of a value and
    of its replacement correspond one to one.
    """
    once = json.dumps(value)[1:-1]
    go = once.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return [value, once, go, json.dumps(once)[1:-1], json.dumps(go)[1:-1], quote(value, safe="")]


def json_forms(value: str) -> list[str]:
    """The distinct :func:`escaped_forms` of ``value``, longest first."""
    return sorted({f for f in escaped_forms(value) if f}, key=len, reverse=True)


# -- the catalogue, on what a text says once its escapes are undone ------------------------

# One escape: JSON's (at any depth, the backslashes double with each level; Go writes
# "&" as \u0026) or a URL's (%2F).
_ENCODED_RE = re.compile(r"\\+(?:u[0-9A-Fa-f]{4}|[\s\S])|%[0-9A-Fa-f]{2}")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_DECODED: dict[str, str] = {}


def _decoded_escape(token: str) -> str:
    """An escape as the character it stands for, after spaces: as long as the escape."""
    if token[0] == "%":
        char = chr(int(token[1:], 16))
    else:
        body = token.lstrip("\\")
        if len(body) == 5:  # u + 4 hex digits
            char = chr(int(body[1:], 16))
        else:  # a run of backslashes ends the text: one stands for itself
            char = _SIMPLE_ESCAPES.get(body, body) if body else "\\"
    return " " * (len(token) - 1) + char


def _decoded(token: str) -> str:
    decoded = _DECODED.get(token)
    if decoded is None:
        decoded = _decoded_escape(token)
        if len(_DECODED) < 4096:
            _DECODED[token] = decoded
    return decoded


def _decoded_view(text: str) -> str:
    """``text`` with each JSON or URL escape replaced by the character it stands for.

    The character comes last, after spaces, so that the view is exactly as long as
    ``text`` and every offset means the same in both: a catalogue made for plain
    text (where ``"AIza..."`` ends at a quote) reads a credential inside a
    JSON-escaped GraphQL variable (``\\\"AIza...\\\"``) or a URL (``%2FAIza...``)
    as it reads it in a file.
    """
    if "\\" not in text and "%" not in text:
        return text
    if "%" not in text and text.count("\\") == text.count('\\"'):
        # Every backslash escapes a quote (JSON inside JSON, as history rows are): one
        # str.replace, not a Python call per escape.
        return text.replace('\\"', ' "')
    return _ENCODED_RE.sub(_decode_match, text)


def _decode_match(m: re.Match[str]) -> str:
    return _decoded(m.group())


# What may end a token without being a catalogue's terminator (a quote, a space, ";"):
# brackets and commas of a test id or a list, a path's "/", a URL's "?", "&", "#", a file
# extension.
_SEPARATORS = _CharMap({ord(c): ord(" ") for c in "[](){}<>,/?&#|!"})
_EXTENSION_DOT_RE = re.compile(r"\.(?=[A-Za-z0-9]{1,8}(?:[^A-Za-z0-9_.-]|$))")
_DASHES = _CharMap({ord("-"): ord(" ")})


def _split_views(view: str) -> tuple[str, ...]:
    """``view``, then ``view`` with separators and file extensions' dots made spaces, then
    that with dashes made spaces too (only those that differ).

    Catalogue rules made for source files end a credential at a quote, a space or a
    ``;`` (``AIza...`` in ``key = "AIza..."``); in a cassette one also ends a file
    name before its extension (``AIza....txt``) or a folder's at ``/``, a URL path
    before its query, a test id's parameter before ``]`` or ``-``. A format holding
    such a character is found in the first view, the others in the later ones; the
    views are as long as the text, so that a span means the same in each.
    """
    views = [view]
    split = _EXTENSION_DOT_RE.sub(" ", _SEPARATORS(view))
    if split != view:
        views.append(split)
    dashed = _DASHES(split)
    if dashed != split:
        views.append(dashed)
    return tuple(views)


def _catalogue_found(catalogue: Catalogue, views: tuple[str, ...]) -> list[tuple[str, Span]]:
    """The catalogue's findings in any of ``views`` (of one length), scanned as one text:
    one call into the catalogue, the views apart on lines of their own."""
    if len(views) == 1:
        return [(rule, (s, e)) for rule, s, e in catalogue.spans(views[0])]
    step = len(views[0]) + 1
    found = {
        (rule, (s % step, s % step + e - s))
        for rule, s, e in catalogue.spans("\n".join(views))
        if s % step + e - s <= len(views[0])  # not across two views (a base64 run may be)
    }
    return sorted(found, key=lambda f: (f[1], f[0]))


def _widened(found: Iterable[tuple[str, Span]], probe: Probe) -> Iterator[tuple[str, Span]]:
    """Findings in the probe's decoded view, as spans of its text: whole escapes."""
    if probe.view is probe.text:
        yield from found
    else:
        yield from ((name, probe.widen(*span)) for name, span in found)


# -- opt-in: high-entropy strings ----------------------------------------------------------

# A run of the characters random tokens are made of (base64, base64url, hex, JWT dots).
_TOKEN_RUN_RE = re.compile(r"[A-Za-z0-9+/=_.-]{20,}")


def entropy_rule(bits: float) -> SecretRule:
    """A rule finding every run of 20+ token characters (``[A-Za-z0-9+/=_.-]``, in the
    decoded view of a text) whose Shannon entropy is ``bits`` per character or more.

    Off by default (``Scrubber.build(entropy=...)``, ini ``wandb_cassette_entropy``, audit
    ``--entropy``): commit shas, digests and W&B ids are as random as credentials (a
    sha256 in hex reaches about 3.9 bits per character, in base64 about 5), and a
    cassette must keep them. Raises :class:`ValueError` outside 0 < bits <= 8.
    """
    if not 0 < bits <= 8:
        raise ConfigurationError(f"entropy: {bits} bits per character is not in (0, 8]")
    from kingfisher_sdk import shannon_entropy

    def find(view: str) -> Iterator[Span]:
        for m in _TOKEN_RUN_RE.finditer(view):
            run = m.group()
            if REDACTED not in run and shannon_entropy(run.encode()) >= bits:
                yield m.span()

    return SecretRule(
        "high-entropy-string",
        find=find,
        decoded=True,
        source=f"opt-in: Shannon entropy >= {bits:g} bits per character "
        "(kingfisher_sdk.shannon_entropy)",
    )


# -- the rule table ---------------------------------------------------------------------------

RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "basic-credential",
        re.compile(r"\bBasic\s+(?P<secret>(?!REDACTED\b)[A-Za-z0-9+/]{6,}={0,2})"),
        confirm=_is_basic_credential,
        needles=("Basic",),
        # RFC 7617; wandb-core sends "Authorization: Basic base64('api:' + KEY)".
        source="RFC 7617 (HTTP Basic); wandb-core sends Basic base64('api:' + key) "
        "(core/internal/api/credentials.go in the wandb repository)",
    ),
    SecretRule(
        "bearer-credential",
        re.compile(r"\bBearer\s+(?P<secret>(?!REDACTED\b)[A-Za-z0-9._~+/-]{12,}=*)"),
        needles=("Bearer",),
        source="RFC 6750 section 2.1 (b64token after 'Bearer ')",
    ),
    SecretRule(
        "url-credential",
        re.compile(
            rf"{_PARAM_SEP}(?:{_param_alternatives(URL_CREDENTIAL_PARAMS)})=(?P<secret>{_PARAM_VALUE})",
            re.I,
        ),
        needles=("=",),
        source=(
            "GCS V4 signing (cloud.google.com/storage/docs/authentication/signatures), AWS SigV4 "
            "query auth (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html), "
            "Azure SAS (learn.microsoft.com/rest/api/storageservices/create-service-sas)"
        ),
    ),
    SecretRule(
        "webhook-url",
        # A webhook URL is its own credential: whoever holds it posts as the hook. Whatever
        # the service, the path after its hooks segment (/api/webhooks/<id>/<token>,
        # /webhookb2/...) is the secret when it holds a token: a run of 16+ letters, digits,
        # "_" or "-" with both letters and digits (a page's slug has none); the host stays.
        re.compile(
            r"(?i)\bhttps?://[^\s/\"'<>\\]+(?:/[^\s/?#\"'<>\\]{1,256}){0,8}?"
            r"/(?:api/)?(?:webhooks?|hooks|webhookb2|incomingwebhook)/"
            r"(?P<secret>[^\s?#\"'<>\\]{1,1024})"
        ),
        confirm=_holds_a_token,
        ci_needles=("hook",),
        source=(
            "Discord: POST /webhooks/{webhook.id}/{webhook.token} (discord.com/developers/docs/"
            "resources/webhook); Slack: 'your webhook URL contains a secret' (api.slack.com/"
            "messaging/webhooks); Microsoft Teams incoming webhooks (learn.microsoft.com/"
            "microsoftteams/platform/webhooks-and-connectors)"
        ),
    ),
    SecretRule(
        "url-password",
        # scheme://user:PASSWORD@host: the password only; user and host stay readable.
        # The password may hold JSON escapes (\u0026) but no "/", so the "@" must come
        # before the path starts; the last "@" of the authority wins, as in urlsplit().
        re.compile(
            r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@\"'<>\\]*:(?P<secret>(?!REDACTED@)[^\s/\"'<>]+)"
            r"@(?=[A-Za-z0-9\[])"
        ),
        needles=("://",),
        source="RFC 3986 section 3.2.1 (userinfo 'user:password', deprecated)",
    ),
    SecretRule(
        "wandb-api-key",
        # A bare 40-hex value is a git commit as often as a key: only after a key-like
        # name ("api_key": "…", WANDB_API_KEY=…, "token": …) is it one.
        find=_named_hex_keys,
        ci_needles=_NAME_NEEDLES,
        source=(
            "legacy W&B keys are 40 hex characters, on-prem keys 'prefix-' + 40+ "
            "(wandb/sdk/lib/wbauth/validation.py, check_api_key)"
        ),
    ),
    SecretRule(
        "wandb-api-key",
        # The keys issued since 2025 (~86 characters): "wandb_v1_" + the rest.
        re.compile(_START + r"(?P<secret>wandb_v\d+_[A-Za-z0-9_]{20,})"),
        needles=("wandb_v",),
        source=(
            "docs.wandb.ai/support/models/articles/why-does-my-api-key-fail-with-must-be-40-"
            "characters (new keys of about 86 characters)"
        ),
    ),
    SecretRule(
        "wandb-api-key",
        # W&B Server (self-managed) keys: "local-" + 40 hex. Other prefixes: a user pattern.
        re.compile(_START_DASH + r"local-(?P<secret>[0-9a-f]{40})(?![0-9A-Za-z_])"),
        needles=("local-",),
        source="wandb/sdk/lib/wbauth/validation.py: on-prem keys are 'prefix-' + secret",
    ),
    SecretRule(
        "catalogue",
        # Every credential format of a maintained catalogue (see .catalogue: why this one);
        # a finding is named by the catalogue's rule id, e.g. betterleaks.gcp-api-key.
        catalogue=CATALOGUE,
        source=f"the {PACKAGE} catalogue (wandb-cassettes audit --list-rules lists its rules)",
    ),
    SecretRule(
        "api-key-name",
        # ApiKey nodes in answers (Viewer, GetTeamEntity, GenerateApiKey): the key, or its
        # first part. PersonalData turns them into key-1, key-2... first, when used.
        find=_api_key_name_spans,
        needles=("apiKey",),
        source="wandb/apis/public/users.py (User.api_keys, generate_api_key returns apiKey.name)",
    ),
    SecretRule(
        "named-secret",
        # Any value under a password/secret/api-key-like name; under a *token name only
        # a random-looking one (a tokenizer's "pad_token": "<pad>" is no secret).
        find=_named_secrets,
        ci_needles=_NAME_NEEDLES,
        source="fail-closed: credentials are named so (gitleaks generic-api-key does the same)",
    ),
    SecretRule(
        "cookie",
        re.compile(
            r"(?im)^(?:set-)?cookie:[ \t]*(?P<secret>(?!REDACTED[ \t]*\r?$)\S.*?)[ \t]*\r?$"
        ),
        ci_needles=("cookie",),
        source="RFC 6265",
    ),
)
"""The default rules, in reporting order."""
