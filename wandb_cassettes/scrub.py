"""Keep secrets out of cassettes, and find the ones that got in anyway.

One rule table (:data:`RULES`) serves both :func:`scrub_interaction` (on the
relay's record path) and :func:`find_secrets` (for ``wandb-cassettes audit``),
so whatever the audit flags is exactly what scrubbing would have removed.

What counts as a secret:

* the API key itself, when the caller knows it (``secrets=``), in any form:
  plain, or inside the ``Basic base64("api:KEY")`` credential wandb-core sends;
* anything shaped like a W&B API key: 40 lowercase hex characters bounded by
  non-hex characters (so 64-hex sha256 digests never match), or the newer
  ``wandb_v1_...`` keys; JWTs (W&B identity tokens);
* ``Basic`` / ``Bearer`` credentials;
* credentials in signed URLs (GCS, S3, Azure SAS) and ``api_key=``-style
  query parameters; the signature, credential and token values become
  ``REDACTED`` while the rest of the URL (expiry, date, signed headers, Azure
  ``se``/``sp``/``sv``) stays, so a cassette still shows what was signed;
* cookies, and credential-carrying headers, which are dropped whole.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .cassette import Body, Headers, Interaction

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


@dataclass(frozen=True)
class SecretRule:
    """A kind of secret: the pattern that finds it and what replaces it.

    ``pattern`` must have a ``secret`` group; only that span is replaced, so
    the context that made the match (``Bearer ``, ``?sig=``) stays readable.
    ``confirm`` (optional) rejects matches that only look like the secret.
    A rule must never match its own replacement: scrubbing is idempotent and
    a scrubbed text audits clean.
    """

    name: str
    pattern: re.Pattern[str]
    replacement: str = REDACTED
    confirm: Callable[[re.Match[str]], bool] | None = None
    #: Cheap substrings of which one must occur for the rule to apply at all.
    needles: tuple[str, ...] = ()

    def matches(self, text: str) -> Iterator[re.Match[str]]:
        """The confirmed matches of this rule in ``text``."""
        if self.needles and not any(n in text for n in self.needles):
            return
        for m in self.pattern.finditer(text):
            if self.confirm is None or self.confirm(m):
                yield m


def _is_basic_credential(m: re.Match[str]) -> bool:
    # "Basic information" is prose; a credential decodes to "user:password".
    value = m.group("secret")
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


# Git commits are 40-hex sha1s too; UpsertBucket and run metadata carry them
# under keys like "commit", so a 40-hex value right after such a key is a hash.
_HASH_KEY_BEFORE_RE = re.compile(
    r"(?i)(?:commit|sha1?|hash|digest|etag|revision)\w*[\"']?\s*[:=]\s*[\"']?$"
)


def _not_a_named_hash(m: re.Match[str]) -> bool:
    start = m.start("secret")
    return _HASH_KEY_BEFORE_RE.search(m.string, max(0, start - 48), start) is None


def _param_alternatives(names: Iterable[str]) -> str:
    return "|".join(re.escape(n) for n in names)


# A query string inside JSON written by Go may spell "&" as "\u0026".
_PARAM_SEP = r"(?:[?&;]|\\u0026)"
# A value ends at the next separator, quote, space or escape.
_PARAM_VALUE = r"(?!REDACTED(?:[&#\s\"'\\<>;]|$))[^&#\s\"'\\<>;]+"

RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "basic-credential",
        re.compile(r"\bBasic\s+(?P<secret>(?!REDACTED\b)[A-Za-z0-9+/]{6,}={0,2})"),
        confirm=_is_basic_credential,
        needles=("Basic",),
    ),
    SecretRule(
        "bearer-credential",
        re.compile(r"\bBearer\s+(?P<secret>(?!REDACTED\b)[A-Za-z0-9._~+/-]{12,}=*)"),
        needles=("Bearer",),
    ),
    SecretRule(
        "url-credential",
        re.compile(
            rf"{_PARAM_SEP}(?:{_param_alternatives(URL_CREDENTIAL_PARAMS)})=(?P<secret>{_PARAM_VALUE})",
            re.I,
        ),
        needles=("=",),
    ),
    SecretRule(
        "wandb-api-key",
        # 40 hex characters bounded by non-hex: sha256 (64) and md5 (32) hex digests
        # never match, and neither do base64 digests or storage ids.
        re.compile(r"(?<![0-9A-Fa-f])(?P<secret>[0-9a-f]{40})(?![0-9A-Fa-f])"),
        confirm=_not_a_named_hash,
    ),
    SecretRule(
        "wandb-api-key",
        # The keys issued since 2025 (86 characters): "wandb_v1_" + 77 more.
        re.compile(r"(?<![A-Za-z0-9])(?P<secret>wandb_v\d+_[A-Za-z0-9_]{20,})"),
        needles=("wandb_v",),
    ),
    SecretRule(
        "jwt",
        re.compile(r"(?P<secret>\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,})"),
        needles=("eyJ",),
    ),
    SecretRule(
        "cookie",
        re.compile(
            r"(?im)^(?:set-)?cookie:[ \t]*(?P<secret>(?!REDACTED[ \t]*\r?$)\S.*?)[ \t]*\r?$"
        ),
        needles=("ookie", "OOKIE"),
    ),
)


@dataclass(frozen=True)
class SecretFinding:
    """A secret found in a text, named by rule and place, never quoted whole."""

    rule: str
    where: str
    offset: int
    preview: str

    def __str__(self) -> str:
        at = f"{self.where} " if self.where else ""
        return f"{self.rule} in {at}at offset {self.offset}: {self.preview}"


def _preview(secret: str) -> str:
    # Enough to recognise which key it is, too little to use it.
    return f"{secret[:4]}… ({len(secret)} chars)"


# -- detection -----------------------------------------------------------------


def find_secrets(text: str, where: str = "") -> list[SecretFinding]:
    """Every secret in ``text`` by :data:`RULES`, in order of position."""
    found = [
        SecretFinding(rule.name, where, m.start("secret"), _preview(m.group("secret")))
        for rule in RULES
        for m in rule.matches(text)
    ]
    return sorted(found, key=lambda f: f.offset)


def find_secrets_in_interaction(ix: Interaction) -> list[SecretFinding]:
    """The secrets in one exchange, each naming where: a header, the uri or a body."""
    found: list[SecretFinding] = []
    found += find_secrets(ix.uri, "uri")
    found += _header_findings(ix.request_headers, "request")
    found += _body_findings(ix.request_text(), "request body")
    found += _header_findings(ix.response_headers, "response")
    found += _body_findings(ix.response_text(), "response body")
    return found


def _header_findings(headers: Headers, side: str) -> list[SecretFinding]:
    found: list[SecretFinding] = []
    for name, values in headers.items():
        where = f"{side} header {name}"
        if is_sensitive_header(name):
            found.append(SecretFinding("sensitive-header", where, 0, "present"))
            continue
        for value in values:
            found += find_secrets(value, where)
    return found


def _body_findings(text: str | None, where: str) -> list[SecretFinding]:
    return find_secrets(text, where) if text else []


def is_sensitive_header(name: str) -> bool:
    """Whether a header carries credentials and must not be recorded."""
    lowered = name.lower()
    return lowered in SENSITIVE_HEADERS or _SENSITIVE_HEADER_RE.search(lowered) is not None


# -- scrubbing -----------------------------------------------------------------


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets and everything :data:`RULES` finds replaced."""
    for form in _secret_forms(secrets):
        if form in text:
            text = text.replace(form, API_KEY_PLACEHOLDER)
    for rule in RULES:
        text = _apply_rule(rule, text)
    return text


def _apply_rule(rule: SecretRule, text: str) -> str:
    spans = [m.span("secret") for m in rule.matches(text)]
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts += (text[last:start], rule.replacement)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _secret_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as itself and as the Basic credential wandb-core builds from it."""
    forms: list[str] = []
    for secret in secrets:
        if len(secret) < _MIN_SECRET_LEN:
            continue
        basic = base64.b64encode(f"api:{secret}".encode()).decode()
        forms += (secret, basic, basic.rstrip("="))
    # Longest first, so a secret inside another form is not replaced half-way.
    return sorted(set(forms), key=len, reverse=True)


def scrub_interaction(ix: Interaction, secrets: Iterable[str] = ()) -> Interaction:
    """A copy of ``ix`` fit for a cassette.

    Drops credential headers (:func:`is_sensitive_header`), replaces each of
    ``secrets`` (e.g. the API key) with ``<WANDB_API_KEY>`` wherever it
    occurs, and redacts everything :data:`RULES` finds in the uri, the other
    header values and text bodies. Binary bodies are only searched for the
    given secrets; :class:`~.cassette.Digest` bodies are kept as they are.
    """
    secrets = tuple(secrets)

    def text(value: str) -> str:
        return scrub_text(value, secrets)

    return dataclasses.replace(
        ix,
        uri=text(ix.uri),
        request_headers=_scrub_headers(ix.request_headers, text),
        request_body=_scrub_body(ix.request_body, secrets),
        response_headers=_scrub_headers(ix.response_headers, text),
        response_body=_scrub_body(ix.response_body, secrets),
    )


def _scrub_headers(headers: Headers, text: Callable[[str], str]) -> Headers:
    # str(): servers hand header names over as str subclasses (multidict's istr)
    # that the safe YAML dumper refuses.
    return {
        str(name): [text(str(v)) for v in values]
        for name, values in headers.items()
        if not is_sensitive_header(name)
    }


def _scrub_body(body: Body, secrets: tuple[str, ...]) -> Body:
    if isinstance(body, str):
        return scrub_text(body, secrets)
    if isinstance(body, bytes):
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError:
            return _replace_bytes(body, secrets)
        return scrub_text(decoded, secrets).encode("utf-8")
    return body


def _replace_bytes(body: bytes, secrets: tuple[str, ...]) -> bytes:
    placeholder = API_KEY_PLACEHOLDER.encode()
    for form in _secret_forms(secrets):
        body = body.replace(form.encode(), placeholder)
    return body
