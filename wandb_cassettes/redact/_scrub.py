"""Keep secrets out of cassettes, and find the ones that got in anyway.

One rule table (:data:`RULES`) serves both scrubbing (the relay's record
path) and finding (``wandb-cassettes audit``), so whatever the audit flags is
exactly what scrubbing would have removed. A :class:`Scrubber` is that table
plus the user's own patterns, the secrets the caller knows (the API key) and
the user's record-time hooks; the module-level functions use the defaults.

Where the rules come from:

* credential formats (Google, GitHub, GitLab, Stripe, PyPI, Slack, AWS, private
  keys... 488 in kingfisher-secret-scanner 1.5.0): a maintained catalogue, installed
  as a dependency and never copied here (:mod:`.catalogue` says which and why);
* our own rules on top, for what W&B traffic carries: wandb-core's Basic
  credential, W&B API keys (40 hex after a key-like name, ``wandb_v1_``, on-prem
  ``local-``), ApiKey nodes in answers, signed storage URLs, passwords in URLs,
  cookies;
* context: a value under a credential-like name (``password``, ``api_key``,
  ``hf_token``, ``aws_secret_access_key``...) is a secret whatever its shape;
* the API key the caller knows (``secrets=``), in any case, as wandb-core's Basic
  credential, in base64, base64url and hex, and as a piece of 16 characters or more
  (a key split across two values);
* a value a rule found once is replaced wherever else it occurs
  (:meth:`Scrubber.scrub_learning`);
* opt-in, high-entropy strings (:func:`entropy_rule`).

Rules see the text of headers, URLs, bodies and file names; the catalogue reads
each with its escapes undone (:func:`_decoded_view`): W&B sends the run config
and artifact metadata as JSON *strings* inside GraphQL variables, so a value can
sit behind ``\\"`` or ``\\\\u0026``, and a file name in a URL behind ``%2F``.

No false positives on what a cassette must keep byte for byte: git commit
shas (40 hex), sha256/md5 digests (hex or base64), W&B storage ids (base64 of
``Type:n``), UUIDs. A bare 40-hex value is therefore *not* a secret by shape:
it is one after a key-like name (``"api_key": "…"``, ``WANDB_API_KEY=…``), or
when it is the API key passed in ``secrets=``.

Scrubbing is idempotent: no rule matches a replacement, so a scrubbed text
audits clean. Findings never carry the value: a rule name, a place, an offset
and a length.

Typical use on the record path (one :class:`CassetteScrubber` per cassette,
fed in recording order)::

    scrubber = Scrubber.build(patterns=[r"corp-[0-9a-f]{32}"], secrets=[api_key],
                              before_record=[drop_health_checks])
    session = scrubber.session()             # per cassette
    out = session.record(interaction)        # None: a hook dropped it
    ...
    cassette = session.finish(cassette)      # before saving: late-learned personal data
"""

from __future__ import annotations

import base64
import binascii
import bisect
import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..store import Body, Cassette, Headers, Interaction, body_text, json_or_none
from ._catalogue import CATALOGUE, PACKAGE, Catalogue

if TYPE_CHECKING:
    from ._personal import PersonalData

API_KEY_PLACEHOLDER = "<WANDB_API_KEY>"
REDACTED = "REDACTED"

#: Headers dropped from cassettes whatever their value (compared lowercased).
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
# Catches the ``X-Api-Key`` family under other names (X-Wandb-Api-Key, X-Auth-Token...)
# without catching ordinary headers such as Content-Md5 or X-Goog-Hash.
_SENSITIVE_HEADER_RE = re.compile(r"api[-_]?key|auth[-_]?token|access[-_]?token|secret", re.I)

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
_MIN_SECRET_LEN = 8

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
_PLACEHOLDER_VALUE_RE = re.compile(
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

    def applies(self, text: str, probe: _Probe | None = None) -> bool:
        """Whether one of the needles occurs (always, without needles)."""
        if not self.needles and not self.ci_needles:
            return True
        probe = probe if probe is not None else _Probe(text)
        return probe.has(self.needles) or probe.has_ci(self.ci_needles)

    def matches(self, text: str, probe: _Probe | None = None) -> Iterator[re.Match[str]]:
        """The confirmed matches of ``pattern`` in ``text`` (none for ``find`` rules)."""
        if self.pattern is None or not self.applies(text, probe):
            return
        for m in self.pattern.finditer(text):
            if self.confirm is None or self.confirm(m):
                yield m

    def spans(self, text: str, probe: _Probe | None = None) -> Iterator[Span]:
        """The ``(start, end)`` of every secret this rule finds in ``text``."""
        return (span for _, span in self.found(text, probe))

    def found(self, text: str, probe: _Probe | None = None) -> Iterator[tuple[str, Span]]:
        """``(rule name, span)`` of every secret this rule finds in ``text``.

        The name is this rule's, or for a catalogue rule the catalogue's rule id
        (``betterleaks.gcp-api-key``).
        """
        probe = probe if probe is not None else _Probe(text)
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


class _Probe:
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
            text = self.text
            self._lower = text.lower() if text.isascii() else text.translate(_ASCII_LOWER)
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


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _not_a_placeholder(m: re.Match[str]) -> bool:
    return _PLACEHOLDER_VALUE_RE.fullmatch(m.group("secret")) is None


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
_NAME_END_RE = re.compile(
    r"(?i)(?P<word>key|token|secret|password|passwd|pwd|passphrase|credentials?|auth)"
    r"(?P<close>\\*[\"'])?[ \t]*(?P<sep>[:=])[ \t]*"
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# Normalised names (lowercase, letters and digits only) whose value is a secret
# whatever it looks like (at least 6 characters).
_STRONG_ENDINGS = (
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
    for m in _NAME_END_RE.finditer(text):
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
        if _PLACEHOLDER_VALUE_RE.fullmatch(plain) or _PLACEHOLDER_VALUE_RE.fullmatch(value):
            continue
        strong = norm.endswith(_STRONG_ENDINGS) and len(plain) >= 6 and bool(plain.strip())
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
    return [n for n in found if n and not _PLACEHOLDER_VALUE_RE.fullmatch(n)]


def _api_key_name_spans(text: str) -> Iterator[Span]:
    data = json_or_none(text)
    if data is None:
        return
    for name in set(api_key_names(data)):
        for form in _json_forms(name):
            start = text.find(form)
            while start != -1:
                yield start, start + len(form)
                start = text.find(form, start + len(form))


def _escaped_forms(value: str) -> list[str]:
    """``value`` raw, JSON-escaped (Python and Go style), escaped twice, and URL-encoded.

    Always the same six, in the same order, so that the forms of a value and
    of its replacement correspond one to one.
    """
    once = json.dumps(value)[1:-1]
    go = once.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return [value, once, go, json.dumps(once)[1:-1], json.dumps(go)[1:-1], quote(value, safe="")]


def _json_forms(value: str) -> list[str]:
    """The distinct :func:`_escaped_forms` of ``value``, longest first."""
    return sorted({f for f in _escaped_forms(value) if f}, key=len, reverse=True)


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
_SEPARATORS = str.maketrans({c: " " for c in "[](){}<>,/?&#|!"})
_EXTENSION_DOT_RE = re.compile(r"\.(?=[A-Za-z0-9]{1,8}(?:[^A-Za-z0-9_.-]|$))")
_DASHES = str.maketrans({"-": " "})


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
    split = _EXTENSION_DOT_RE.sub(" ", view.translate(_SEPARATORS))
    if split != view:
        views.append(split)
    dashed = split.translate(_DASHES)
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


def _widened(found: Iterable[tuple[str, Span]], probe: _Probe) -> Iterator[tuple[str, Span]]:
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
        raise ValueError(f"entropy: {bits} bits per character is not in (0, 8]")
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


# -- findings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInForce:
    """A rule as ``wandb-cassettes audit --list-rules`` shows it: its name, where it comes
    from (a package and its version, or ``your pattern``) and what defines it."""

    name: str
    source: str
    about: str


_KNOWN_KEY_SOURCE = (
    "the API key in use (WANDB_API_KEY), in any case, as wandb-core's Basic credential, in "
    "base64, base64url and hex, and as a piece of 16+ characters"
)
_LEARNED_SOURCE = "a value another rule found once, wherever else the cassette holds it"
_HEADER_SOURCE = "Authorization, Cookie, Set-Cookie, X-Api-Key... headers, dropped whole"


@dataclass(frozen=True)
class SecretFinding:
    """A secret (or a piece of personal data) found in a text: named, placed, never quoted.

    ``rule`` names the kind, ``where`` the place (``uri``, ``request header X``,
    ``response body``, ``metadata``...), ``offset``/``length`` the span in
    that text. ``category`` is ``secret`` or ``personal``.
    """

    rule: str
    where: str
    offset: int
    length: int
    category: str = "secret"

    @property
    def preview(self) -> str:
        """What a report may show: the length only."""
        return f"{self.length} chars"

    def __str__(self) -> str:
        at = f"{self.where} " if self.where else ""
        return f"{self.rule} in {at}at offset {self.offset} ({self.preview})"


Finding = SecretFinding


# -- the scrubber -------------------------------------------------------------------------------


#: The shortest value a rule found that :meth:`Scrubber.scrub_learning` replaces everywhere
#: (shorter ones, a 6-character password, would also hit innocent text).
LEARNED_MIN = 12

#: The shortest piece of a known API key found on its own, as when a key is cut in two
#: (split across two history rows): a 40-character key cut anywhere from its 16th to its
#: 24th character has both halves found, and the longer half of any cut is.
KEY_PIECE_MIN = 16
_CHUNK = 8  # any piece of 2 * _CHUNK - 1 characters holds an aligned chunk: <= KEY_PIECE_MIN


@dataclass(frozen=True)
class Scrubber:
    """A rule set (defaults + the user's), the known secrets, and the record-time hooks.

    Immutable and stateless: share one per session. :meth:`session` gives the
    per-cassette pipeline that also replaces personal data consistently.
    """

    rules: tuple[SecretRule, ...] = RULES
    secrets: tuple[str, ...] = ()
    before_record: tuple[Hook, ...] = ()
    #: Values a rule found by their context, replaced wherever else they occur
    #: (:meth:`scrub_learning`): with ``REDACTED``, like the rule did; ``secrets`` (the
    #: API key) become ``<WANDB_API_KEY>``, so a reader can tell the two apart.
    learned: tuple[str, ...] = ()
    #: The known secrets' forms (lowercase, longest first) and what replaces each.
    _forms: tuple[tuple[str, str], ...] = field(init=False, default=(), repr=False, compare=False)
    #: Each API key (lowercase) and its aligned chunks, to find pieces of it (a split).
    _pieces: tuple[tuple[str, tuple[tuple[int, str], ...]], ...] = field(
        init=False, default=(), repr=False, compare=False
    )
    #: What a replacement of this scrubber looks like (:meth:`marks`).
    _marks: tuple[str, ...] = field(init=False, default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = {f.lower() for k in _long_enough(self.secrets) for f in _key_forms(k)}
        learned = {f.lower() for v in _long_enough(self.learned) for f in _json_forms(v)} - keys
        forms = [(f, API_KEY_PLACEHOLDER) for f in keys] + [(f, REDACTED) for f in learned]
        forms.sort(key=lambda pair: (-len(pair[0]), pair[0]))  # longest first
        object.__setattr__(self, "_forms", tuple(forms))
        pieces = tuple((k.lower(), _chunks(k.lower())) for k in _long_enough(self.secrets))
        object.__setattr__(self, "_pieces", tuple(p for p in pieces if p[1]))
        marks = {REDACTED, API_KEY_PLACEHOLDER, *(r.replacement for r in self.rules)}
        object.__setattr__(self, "_marks", tuple(sorted(m for m in marks if m)))

    @classmethod
    def build(
        cls,
        patterns: Iterable[str | re.Pattern[str] | SecretRule] = (),
        *,
        secrets: Iterable[str] = (),
        before_record: Iterable[Hook] = (),
        defaults: bool = True,
        entropy: float | None = None,
    ) -> Scrubber:
        """The default rules (unless ``defaults=False``) plus the user's ``patterns``.

        A pattern is a regex string or compiled regex (an optional named group
        ``secret`` picks the part to replace, else the whole match is), or a
        ready :class:`SecretRule`. ``secrets``: the API key(s), replaced
        wherever they occur, in any case, as the Basic credential wandb-core
        builds, in base64, base64url and hex, and as pieces of
        :data:`KEY_PIECE_MIN` characters or more. ``before_record``: hooks run
        on each exchange before any scrubbing, like vcrpy's
        ``before_record_request`` / ``before_record_response`` (the built-in
        scrubbing still runs after them: they cannot let a secret through).
        ``entropy``: also treat as a secret every run of 20+ token characters
        whose Shannon entropy reaches this many bits per character
        (:func:`entropy_rule`; off by default: digests and ids reach 4 and more).
        """
        extra = tuple(
            p if isinstance(p, SecretRule) else SecretRule.from_pattern(p) for p in patterns
        )
        if entropy is not None:
            extra += (entropy_rule(entropy),)
        return cls(
            (RULES if defaults else ()) + extra,
            tuple(secrets),
            tuple(before_record),
        )

    def with_secrets(self, secrets: Iterable[str]) -> Scrubber:
        """This scrubber with more known secrets."""
        return dataclasses.replace(self, secrets=self.secrets + tuple(secrets))

    def rules_in_force(self) -> list[RuleInForce]:
        """Every rule this scrubber applies, in reporting order, each with where it comes from.

        The catalogue's rules are listed one by one (this compiles it), with its package
        and version; ours with this library's version and the public definition of the
        format; the user's patterns as such. Rules that work on known values come first:
        the API key (when known), values learned from the traffic, credential headers.
        """
        from .. import __version__

        ours = f"wandb-cassettes {__version__}"
        found: list[RuleInForce] = []
        if self.secrets:
            found.append(RuleInForce("wandb-api-key", ours, _KNOWN_KEY_SOURCE))
        found.append(RuleInForce("learned-secret", ours, _LEARNED_SOURCE))
        found.append(RuleInForce("sensitive-header", ours, _HEADER_SOURCE))
        for rule in self.rules:
            if rule.catalogue is not None:
                source = rule.catalogue.source
                found += [RuleInForce(r.id, source, r.description) for r in rule.catalogue.rules()]
            elif rule.name == "user-pattern":
                found.append(RuleInForce(rule.name, "your pattern", rule.pattern_text))
            else:
                found.append(RuleInForce(rule.name, ours, rule.source))
        return list(dict.fromkeys(found))

    def marks(self, text: str) -> bool:
        """Whether ``text`` holds something this scrubber writes (``REDACTED``...).

        Scrubbing a text without one changes nothing that scrubbing another text
        could have changed into it: replay compares such a cassette's requests as
        they are (:class:`~.matching.Matcher`), without loading the catalogue.
        """
        return any(m in text for m in self._marks)

    def session(self, personal: PersonalData | None = None) -> CassetteScrubber:
        """A pipeline for one cassette (hooks, personal data, secrets), fed in recording order.

        ``personal``: a configured :class:`~.personal.PersonalData` (``usernames=True``...);
        a fresh default one otherwise. Never share one between cassettes.
        """
        return CassetteScrubber(self, personal)

    # -- finding ---------------------------------------------------------------------------

    def find(self, text: str, where: str = "") -> list[SecretFinding]:
        """Every secret in ``text``, in order of position (overlapping findings kept)."""
        probe = _Probe(text)
        found = [
            SecretFinding(_known_rule(replacement), where, start, end - start)
            for replacement, (start, end) in self._known(probe)
        ]
        found += [
            SecretFinding(name, where, start, end - start)
            for rule in self.rules
            for name, (start, end) in rule.found(text, probe)
        ]
        return sorted(found, key=lambda f: (f.offset, f.rule))

    def find_in_interaction(self, ix: Interaction) -> list[SecretFinding]:
        """The secrets in one exchange, each naming where: a header, the uri or a body."""
        found: list[SecretFinding] = []
        found += self.find(ix.uri, "uri")
        found += self._header_findings(ix.request_headers, "request")
        found += self._body_findings(ix.request_body, "request body")
        found += self._header_findings(ix.response_headers, "response")
        found += self._body_findings(ix.response_body, "response body")
        return found

    def find_in_metadata(self, metadata: Mapping[str, Any]) -> list[SecretFinding]:
        """The secrets in a cassette's metadata (searched as its JSON text)."""
        return self.find(json.dumps(metadata, default=str), "metadata") if metadata else []

    def _header_findings(self, headers: Headers, side: str) -> list[SecretFinding]:
        found: list[SecretFinding] = []
        for name, values in headers.items():
            where = f"{side} header {name}"
            if is_sensitive_header(name):
                found.append(SecretFinding("sensitive-header", where, 0, 0))
                continue
            for value in values:
                if _is_secret_header_name(name) and value and not _is_placeholder(value):
                    found.append(SecretFinding("named-secret", where, 0, len(value)))
                else:
                    found += self.find(value, where)
        return found

    def _body_findings(self, body: Body, where: str) -> list[SecretFinding]:
        if isinstance(body, str):
            return self.find(body, where)
        if isinstance(body, bytes):
            try:
                return self.find(body.decode("utf-8"), where)
            except UnicodeDecodeError:
                return [
                    SecretFinding(_known_rule(replacement), where, start, end - start)
                    for replacement, (start, end) in self._known(_Probe(body.decode("latin-1")))
                ]
        return []

    # -- scrubbing -------------------------------------------------------------------------

    def scrub_text(self, text: str) -> str:
        """``text`` with the known secrets and everything the rules find replaced."""
        return self._scrub(text, None)

    def scrub_learning(self, text: str) -> tuple[str, Scrubber]:
        """:meth:`scrub_text`, and this scrubber knowing what the rules found in ``text``.

        A rule often recognises a secret by its context (``"aws_secret_access_key":
        "..."`` in a run's config); the same value elsewhere (logged in the history,
        copied to the summary) has none. Values of :data:`LEARNED_MIN` characters
        or more that a rule found become known secrets: replaced in the rest of
        ``text`` now, and wherever the returned scrubber sees them later. Recording
        and replay's matching both scrub each request body this way, in order, so
        that they replace the same values the same way.
        """
        found: set[str] = set()
        out = self._scrub(text, found)
        new = [v for v in found if v not in self.secrets and v not in self.learned]
        if not new:
            return out, self
        learned = dataclasses.replace(self, learned=self.learned + tuple(sorted(new)))
        return learned.scrub_text(out), learned

    def _scrub(self, text: str, found: set[str] | None) -> str:
        for _ in range(4):  # a replacement never makes a new match; bounded all the same
            out = self._scrub_once(text, found)
            if out == text:
                return out
            text = out
        return text

    def _scrub_once(self, text: str, found: set[str] | None = None) -> str:
        probe = _Probe(text)
        replaced: list[tuple[int, int, str]] = [
            (s, e, replacement) for replacement, (s, e) in self._known(probe)
        ]
        for rule in self.rules:
            spans = [(s, e) for _, (s, e) in rule.found(text, probe) if e > s]
            replaced += [(s, e, rule.replacement) for s, e in spans]
            if found is not None:
                found.update(text[s:e] for s, e in spans if e - s >= LEARNED_MIN)
        return _replace_spans(text, replaced)

    def _known(self, probe: _Probe) -> Iterator[tuple[str, Span]]:
        """``(replacement, span)`` of each known secret in the probe's text, in any case.

        A form of one (longest first: a shorter one inside a longer one is no news),
        then the pieces of an API key not inside those: the longest run of the key
        around each of its chunks, when :data:`KEY_PIECE_MIN` characters or more.
        """
        if not self._forms:
            return
        lower = probe.lower
        covered: list[Span] = []
        for form, replacement in self._forms:
            for i in _all_indexes(lower, form):
                span = (i, i + len(form))
                if not _inside(span, covered):
                    covered.append(span)
                    yield replacement, span
        for key, chunks in self._pieces:
            for at, chunk in chunks:
                for i in _all_indexes(lower, chunk):
                    span = _piece_around(lower, i, key, at)
                    if span[1] - span[0] >= KEY_PIECE_MIN and not _inside(span, covered):
                        covered.append(span)
                        yield API_KEY_PLACEHOLDER, span

    def scrub_interaction(self, ix: Interaction) -> Interaction:
        """A copy of ``ix`` fit for a cassette (no hooks; see :meth:`record`).

        Drops credential headers (:func:`is_sensitive_header`), replaces each
        known secret with ``<WANDB_API_KEY>`` wherever it occurs, and redacts
        everything the rules find in the uri, the other header values and text
        bodies. Binary bodies are only searched for the known secrets;
        :class:`~.cassette.Digest` bodies are kept as they are.
        """
        return dataclasses.replace(
            ix,
            uri=self.scrub_text(ix.uri),
            request_headers=self._scrub_headers(ix.request_headers),
            request_body=self._scrub_body(ix.request_body),
            response_headers=self._scrub_headers(ix.response_headers),
            response_body=self._scrub_body(ix.response_body),
        )

    def record(self, ix: Interaction) -> Interaction | None:
        """The user's hooks in order (None from one: leave the exchange out), then scrubbing."""
        hooked = self.run_hooks(ix)
        return None if hooked is None else self.scrub_interaction(hooked)

    def run_hooks(self, ix: Interaction) -> Interaction | None:
        """``before_record`` in order; None as soon as one returns None."""
        for hook in self.before_record:
            out = hook(ix)
            if out is None:
                return None
            ix = out
        return ix

    def scrub_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of cassette metadata with every string scrubbed (keys included)."""
        return {
            self.scrub_text(str(k)): _map_strings(v, self.scrub_text) for k, v in metadata.items()
        }

    def _scrub_headers(self, headers: Headers) -> Headers:
        # str(): servers hand header names over as str subclasses (multidict's istr)
        # that the safe YAML dumper refuses.
        return {
            str(name): [self._scrub_header_value(str(name), str(v)) for v in values]
            for name, values in headers.items()
            if not is_sensitive_header(name)
        }

    def _scrub_header_value(self, name: str, value: str) -> str:
        if _is_secret_header_name(name) and value and not _is_placeholder(value):
            return REDACTED
        return self.scrub_text(value)

    def _scrub_body(self, body: Body) -> Body:
        if isinstance(body, str):
            return self.scrub_text(body)
        if isinstance(body, bytes):
            try:
                decoded = body.decode("utf-8")
            except UnicodeDecodeError:
                return self._replace_bytes(body)
            return self.scrub_text(decoded).encode("utf-8")
        return body

    def _replace_bytes(self, body: bytes) -> bytes:
        # latin-1 maps each byte to one character: offsets stay byte offsets.
        text = body.decode("latin-1")
        return _replace_spans(text, [(s, e, r) for r, (s, e) in self._known(_Probe(text))]).encode(
            "latin-1"
        )


def _is_secret_header_name(name: str) -> bool:
    """A header named like a password or secret (X-Db-Password): its whole value is one."""
    return re.sub(r"[^a-z0-9]", "", name.lower()).endswith(_STRONG_ENDINGS)


def _is_placeholder(value: str) -> bool:
    return _PLACEHOLDER_VALUE_RE.fullmatch(value) is not None


def _all_indexes(text: Any, needle: Any) -> Iterator[int]:
    i = text.find(needle)
    while i != -1:
        yield i
        i = text.find(needle, i + len(needle))


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {fn(str(k)): _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map_strings(v, fn) for v in value]
    return value


def _known_rule(replacement: str) -> str:
    """The finding's rule for a known secret: the API key, or a learned secret."""
    return "wandb-api-key" if replacement == API_KEY_PLACEHOLDER else "learned-secret"


def _replace_spans(text: str, replaced: list[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, end, replacement)``; of overlapping spans, the first wins
    and covers the rest."""
    if not replaced:
        return text
    replaced.sort(key=lambda r: (r[0], -r[1]))
    parts: list[str] = []
    last = 0
    for start, end, replacement in replaced:
        if start < last:  # overlaps the span just replaced: that replacement covers it
            last = max(last, end)
            continue
        parts += (text[last:start], replacement)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _inside(span: Span, covered: list[Span]) -> bool:
    return any(s <= span[0] and span[1] <= e for s, e in covered)


def _long_enough(secrets: Iterable[str]) -> list[str]:
    return [s for s in secrets if len(s) >= _MIN_SECRET_LEN]


def _key_forms(key: str) -> list[str]:
    """``key`` as itself, JSON-escaped, URL-encoded, in the Basic credential wandb-core
    builds (``base64("api:" + key)``), in hex, and in base64 and base64url: alone, at the
    start of a longer encoded text, or after one or two other bytes (its characters
    only: an encoded text holding the key holds one of these).
    """
    raw = key.encode()
    basic = base64.b64encode(b"api:" + raw).decode()
    forms = [basic, basic.rstrip("="), *_json_forms(key), raw.hex()]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        alone = encode(raw).decode()
        forms += (alone, alone.rstrip("="), alone[: 8 * len(raw) // 6])
        for shift in (1, 2):  # character j holds bits 6j..6j+5 of the encoded bytes
            shifted = encode(bytes(shift) + raw).decode()
            forms.append(shifted[-(-8 * shift // 6) : 8 * (shift + len(raw)) // 6])
    return forms


def _chunks(key: str) -> tuple[tuple[int, str], ...]:
    """Chunks of ``key`` at every multiple of :data:`_CHUNK` and at its end: a piece of
    ``2 * _CHUNK - 1`` characters or more always holds one of them whole."""
    if len(key) < KEY_PIECE_MIN:
        return ()
    starts = {*range(0, len(key) - _CHUNK + 1, _CHUNK), len(key) - _CHUNK}
    return tuple((at, key[at : at + _CHUNK]) for at in sorted(starts))


def _piece_around(text: str, i: int, key: str, at: int) -> Span:
    """The longest run of ``text`` equal to a piece of ``key``, around ``key[at:]`` at ``i``."""
    start, k = i, at
    while start > 0 and k > 0 and text[start - 1] == key[k - 1]:
        start, k = start - 1, k - 1
    end, k = i + _CHUNK, at + _CHUNK
    while end < len(text) and k < len(key) and text[end] == key[k]:
        end, k = end + 1, k + 1
    return start, end


DEFAULT = Scrubber()
"""The default rules, no known secret, no hook."""
_QUICK = Scrubber(tuple(r for r in RULES if r.catalogue is None))


# -- the per-cassette pipeline -------------------------------------------------------------------


class CassetteScrubber:
    """Everything recording does to an exchange before it is written, for one cassette.

    ``record(ix)`` runs the user's hooks, then :class:`~.personal.PersonalData`
    (learns the recording user's email, name, photo, key names and the IP
    addresses as they come, and replaces each with a stable placeholder), then
    the secret rules. ``finish(cassette)`` runs once before saving: values
    learned late are replaced in the exchanges recorded before, and the
    metadata is scrubbed too. Feed it the exchanges in recording order.
    """

    def __init__(self, scrubber: Scrubber = DEFAULT, personal: PersonalData | None = None) -> None:
        from ._personal import PersonalData

        self.scrubber = scrubber
        self.personal = personal if personal is not None else PersonalData()
        self._learned = False

    def record(self, ix: Interaction) -> Interaction | None:
        """``ix`` as the cassette keeps it, or None when a hook left it out.

        Secrets a rule finds in a request body are learned (:meth:`Scrubber.scrub_learning`)
        and replaced wherever they appear in this cassette.
        """
        hooked = self.scrubber.run_hooks(ix)
        if hooked is None:
            return None
        personal = self.personal.scrub(hooked)
        text = body_text(personal.request_body)
        if text:
            before = self.scrubber
            scrubbed, self.scrubber = before.scrub_learning(text)
            self._learned = self._learned or self.scrubber is not before
            body: Body = scrubbed if isinstance(personal.request_body, str) else scrubbed.encode()
            personal = dataclasses.replace(personal, request_body=body)
        return self.scrubber.scrub_interaction(personal)

    def finish(self, cassette: Cassette) -> Cassette:
        """``cassette`` with late-learned personal data and secrets replaced, metadata scrubbed."""
        interactions = [self.personal.replace_in(ix) for ix in cassette.interactions]
        if self._learned:  # a secret learned late may sit in an exchange recorded before
            interactions = [self.scrubber.scrub_interaction(ix) for ix in interactions]
        metadata = self.scrubber.scrub_metadata(self.personal.scrub_metadata(cassette.metadata))
        return Cassette(interactions, metadata, cassette.path)


# -- the module-level API (default rules) ---------------------------------------------------------


def _scrubber(scrubber: Scrubber | None, secrets: Iterable[str] = ()) -> Scrubber:
    base = scrubber if scrubber is not None else DEFAULT
    secrets = tuple(secrets)
    return base.with_secrets(secrets) if secrets else base


def find_secrets(
    text: str, where: str = "", scrubber: Scrubber | None = None
) -> list[SecretFinding]:
    """Every secret in ``text`` by the rules of ``scrubber`` (default :data:`RULES`)."""
    return _scrubber(scrubber).find(text, where)


def find_secrets_in_interaction(
    ix: Interaction, scrubber: Scrubber | None = None
) -> list[SecretFinding]:
    """The secrets in one exchange, each naming where: a header, the uri or a body."""
    return _scrubber(scrubber).find_in_interaction(ix)


def is_sensitive_header(name: str) -> bool:
    """Whether a header carries credentials and must not be recorded."""
    lowered = name.lower()
    return lowered in SENSITIVE_HEADERS or _SENSITIVE_HEADER_RE.search(lowered) is not None


def scrub_text(text: str, secrets: Iterable[str] = (), scrubber: Scrubber | None = None) -> str:
    """``text`` with the given secrets and everything the rules find replaced."""
    return _scrubber(scrubber, secrets).scrub_text(text)


def scrub_interaction(
    ix: Interaction, secrets: Iterable[str] = (), scrubber: Scrubber | None = None
) -> Interaction:
    """A copy of ``ix`` fit for a cassette (see :meth:`Scrubber.scrub_interaction`)."""
    return _scrubber(scrubber, secrets).scrub_interaction(ix)


def scrub_name(name: str, secrets: Sequence[str] = (), *, catalogue: bool = True) -> str:
    """A cassette or test name with secrets and personal data replaced (for file names).

    Email and IP addresses become ``EMAIL`` and ``IP``, home folders ``~``: what
    recording replaces in a cassette stays out of its file name too. ``catalogue``:
    False leaves out the catalogue's formats (no compilation): the name a cassette
    has when none of them is in it (see :func:`.plugin.cassette_path_for`).
    """
    from ._personal import EMAIL_TOKEN, IP_TOKEN, matching_form

    scrubber = DEFAULT if catalogue else _QUICK
    out = matching_form(scrub_text(name, secrets, scrubber))
    return out.replace(EMAIL_TOKEN, "EMAIL").replace(IP_TOKEN, "IP")
