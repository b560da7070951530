"""Personal data out of cassettes: replaced consistently while recording, flagged by the audit.

W&B answers carry the recording user's email (``Viewer``), full name, photo
URL, team names and API-key names; wandb-core sends the account email and the
``WANDB_USERNAME`` in ``X-Wandb-User-Email`` / ``X-Wandb-Username`` headers;
the run's ``program`` and other host facts can carry a home folder.

:class:`PersonalData` (one per cassette, fed in recording order) learns those
values from the traffic as it passes and replaces each, everywhere it later
appears in that cassette (requests included), with a stable placeholder:

==================  ==========================================================
email               ``user@example.invalid``, then ``user-2@example.invalid``…
full name           ``Recording User``, ``Recording User 2``…
photo URL           ``https://example.invalid/photo.png``, ``…/photo-2.png``…
API-key names       ``key-1``, ``key-2``…
username (header)   ``recording-user``, ``recording-user-2``…
IPv4 / IPv6         ``192.0.2.1``… (RFC 5737), ``2001:db8::1``… (RFC 3849)
home folder         ``/home/<user>``, ``/Users/<user>``, ``C:\\Users\\<user>`` → ``~``
==================  ==========================================================

Consistency is what keeps replay working: a value the SDK reads from one
answer and sends back in a later request is the same placeholder on both
sides. Emails and IP addresses are replaced wherever they occur, learned or
not (fail-closed); names, photo URLs and key names only once learned from a
user node. Usernames and team names are also entity names, which tests pass
in their own requests, so they are replaced in bodies only on request
(``usernames=True`` / ``teams=True``); the ``X-Wandb-Username`` header always.

Left alone on purpose: addresses in reserved domains (RFC 2606 / 6761:
``example.com``, ``*.invalid``, ``*.test``...), loopback and documentation
addresses, and the host of a URL (``https://10.0.0.5:8080/...``, a server,
not a person; replacing it would also break replay of its storage URLs).

:func:`find_personal_data_in_interaction` is the audit's side: emails, IP
addresses, home folders, ``X-Wandb-Username`` values, and user nodes' names and
photo URLs that are not placeholders. It never reports a value, only where.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..store import Body, Headers, Interaction, body_text, json_or_none
from ._engine import SecretFinding, map_strings
from ._rules import API_KEY_PLACEHOLDER, api_key_names, escaped_forms, json_forms

EMAIL_PLACEHOLDER = "user@example.invalid"
NAME_PLACEHOLDER = "Recording User"
PHOTO_PLACEHOLDER = "https://example.invalid/photo.png"
USERNAME_PLACEHOLDER = "recording-user"
HOME_PLACEHOLDER = "~"

EMAIL_HEADER = "x-wandb-user-email"
USERNAME_HEADER = "x-wandb-username"

# Where a value may start: not glued to a word, or right after a JSON escape.
_ESCAPES = r"|(?<=\\[nrtbf])|(?<=\\u[0-9A-Fa-f]{4})"

EMAIL_RE = re.compile(
    r"(?:(?<![A-Za-z0-9._%+\\-])" + _ESCAPES + r")"
    r"(?P<local>[A-Za-z0-9._%+-]{1,64})(?P<at>@|%40)"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})"
    r"(?![A-Za-z0-9-])"
)
"""An email address, ``@`` or ``%40`` (URL-encoded)."""

_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4_RE = re.compile(r"(?:(?<![\w.=^~<>+\\-])" + _ESCAPES + r")(?P<ip>" + _IPV4 + r")(?!\.?\w)")
IPV6_RE = re.compile(
    r"(?:(?<![\w:.\\])" + _ESCAPES + r")"
    r"(?P<ip>(?:[0-9A-Fa-f]{1,4}:|:)(?:[0-9A-Fa-f]{0,4}:){1,6}"
    r"(?:" + _IPV4 + r"|[0-9A-Fa-f]{1,4}|:))(?![\w:.])"
)
HOME_RE = re.compile(
    r"(?:(?<![\w.~/-])" + _ESCAPES + r")"
    r"(?:/(?:home|Users)/[A-Za-z0-9._-]+|[A-Za-z]:(?:\\{1,4}|/)Users(?:\\{1,4}|/)"
    r"[^\\/\s\"':*?<>|~]+)"
    r"(?=[/\\\"'\s,;)\]}]|$)"
)
"""A home folder: ``/home/<user>``, ``/Users/<user>``, ``C:\\Users\\<user>`` (JSON-escaped too)."""

_HOME_EXCEPTIONS = frozenset({"/Users/Shared", "/home/user"})

# RFC 2606 / RFC 6761 reserved names, and the placeholders written here.
_RESERVED_TLDS = frozenset({"example", "invalid", "test", "localhost"})
_RESERVED_DOMAINS = frozenset({"example.com", "example.net", "example.org"})
# "model@best.pt" is a file name, not an address.
_FILE_EXTENSIONS = frozenset(
    {
        "pt", "pth", "ckpt", "bin", "json", "yaml", "yml", "txt", "csv", "py", "pkl", "npz",
        "npy", "h5", "onnx", "safetensors", "png", "jpg", "jpeg", "gif", "md", "html", "log",
        "gz", "tar", "zip", "parquet", "arrow", "tsv", "ipynb", "wav", "mp4",
    }
)  # fmt: skip
_DOC_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_IPV4_POOLS = ("192.0.2", "198.51.100", "203.0.113")


def is_reserved_email(address: str) -> bool:
    """Whether an address is in a reserved domain (or is no address: ``git@``, ``x@y.pt``)."""
    local, _, domain = address.replace("%40", "@").rpartition("@")
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    return (
        local.lower() == "git"  # git@github.com:org/repo: an SSH remote
        or labels[-1] in _RESERVED_TLDS
        or labels[-1] in _FILE_EXTENSIONS
        or any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS)
    )


def is_exempt_ip(text: str) -> bool:
    """Loopback, unspecified, broadcast and documentation addresses, and non-addresses."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_unspecified
        or str(ip) == "255.255.255.255"
        or any(ip in net for net in _DOC_NETWORKS)
    )


_IPV4_PROBE = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
_IPV6_PROBE = re.compile(r":[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")


def _may_have_ipv4(text: str) -> bool:
    return "." in text and _IPV4_PROBE.search(text) is not None


def _may_have_ipv6(text: str) -> bool:
    return "::" in text or (":" in text and _IPV6_PROBE.search(text) is not None)


def _may_have_home(text: str) -> bool:
    return "/home/" in text or "Users" in text


def _in_url_authority(text: str, start: int) -> bool:
    """Whether ``start`` lies in the ``user:pass@host:port`` part of a URL.

    A password the secret rules replaced (``mysql://root:<WANDB_API_KEY>@10.0.0.5/db``)
    is still userinfo: whichever ran first, the host is read the same way.
    """
    j = text.rfind("://", max(0, start - 256), start)
    if j == -1:
        return False
    between = text[j + 3 : start].replace(API_KEY_PLACEHOLDER, "")
    return not any(c in between for c in "/ \t\r\n\"'<>\\")


def _looks_like_version(text: str, start: int) -> bool:
    return "version" in text[max(0, start - 32) : start].lower()


# -- the matching side -------------------------------------------------------------------

#: What an email address and an IP address become on both sides of a match.
EMAIL_TOKEN = "<email>"
IP_TOKEN = "<ip>"
_EMAIL_PLACEHOLDER_RE = re.compile(r"user(?:-\d+)?@example\.invalid")


def matching_form(text: str) -> str:
    """``text`` as replay compares it: what recording replaces whatever it learned, as one token.

    Recording replaces every email address, IP address and home folder it sees
    (fail-closed), also where the test itself put one (a config value); the live
    request still carries the real value. Here a placeholder and any value that
    recording would have replaced by one become the same token (``<email>``,
    ``<ip>``, ``~``), so that a redaction never makes a cassette unmatchable.
    What recording leaves alone (reserved domains, loopback, a URL's host, versions)
    is left alone here too.
    """
    if "@" in text or "%40" in text:
        text = EMAIL_RE.sub(_email_token, text)
    if _may_have_ipv4(text):
        text = IPV4_RE.sub(_ip_token, text)
    if _may_have_ipv6(text):
        text = IPV6_RE.sub(_ip_token, text)
    if _may_have_home(text):
        text = HOME_RE.sub(_home_match, text)
    return text


def _email_token(m: re.Match[str]) -> str:
    address = m.group("local") + "@" + m.group("domain")
    if _EMAIL_PLACEHOLDER_RE.fullmatch(address):
        return EMAIL_TOKEN
    if is_reserved_email(address) or _in_url_authority(m.string, m.start()):
        return m.group()
    return EMAIL_TOKEN


def _ip_token(m: re.Match[str]) -> str:
    ip = m.group("ip")
    if _in_url_authority(m.string, m.start()) or _looks_like_version(m.string, m.start()):
        return m.group()
    # Recording's placeholders are documentation addresses, which it exempts itself.
    placeholder = any(ipaddress.ip_address(ip) in net for net in _DOC_NETWORKS)
    if is_exempt_ip(ip) and not placeholder:
        return m.group()
    return m.group()[: m.start("ip") - m.start()] + IP_TOKEN


# -- the recording side ------------------------------------------------------------------


class PersonalData:
    """The personal data of one cassette, learned in recording order and replaced consistently.

    ``scrub(ix)`` learns from an exchange, then returns a copy with every
    value learned so far replaced. ``replace_in(ix)`` replaces without
    learning (the second pass over exchanges recorded before a value was
    learned). Placeholders are numbered in order of first sight: the first
    user seen (the recording user, in practice) gets the unnumbered ones.
    """

    def __init__(self, *, usernames: bool = False, teams: bool = False) -> None:
        self.usernames = usernames
        self.teams = teams
        self._emails: dict[str, str] = {}
        self._ips: dict[str, str] = {}
        self._usernames: dict[str, str] = {}
        self._literals: dict[str, str] = {}  # full names, photo URLs, key names (teams, usernames)
        self._counts: dict[str, int] = {}
        self._literal_re: re.Pattern[str] | None = None
        self._literal_forms: dict[str, str] = {}
        self._probes: set[str] = set()  # a substring every form of a learned value contains

    # -- learning ------------------------------------------------------------------------

    def learn(self, ix: Interaction) -> None:
        """Learn the personal values this exchange shows (headers, user nodes of answers)."""
        for headers in (ix.request_headers, ix.response_headers):
            for name, values in headers.items():
                lowered = name.lower()
                for value in values:
                    if lowered == EMAIL_HEADER and value:
                        self._email(value.strip())
                    elif lowered == USERNAME_HEADER and value:
                        self._username(value.strip())
        text = body_text(ix.response_body)
        if text and any(n in text for n in ('"email"', '"username"', '"photoUrl"', "apiKey")):
            data = json_or_none(text)
            if data is not None:
                self.learn_answer(data)

    def learn_answer(self, data: Any) -> None:
        """Learn from a parsed answer: user nodes (email, name, photoUrl, username), key names."""
        for node in _walk(data):
            if _is_user_node(node):
                self._learn_user(node)
        for name in api_key_names(data):
            self._literal(name, "key", lambda n: f"key-{n}", min_len=3)

    def _learn_user(self, node: dict[str, Any]) -> None:
        email, username = node.get("email"), node.get("username")
        if isinstance(email, str) and EMAIL_RE.fullmatch(email.strip()):
            self._email(email.strip())
        if isinstance(username, str) and username:
            self._username(username)
        name = node.get("name")
        if isinstance(name, str) and name and name != username and name != node.get("entity"):
            if EMAIL_RE.fullmatch(name):
                self._email(name)
            elif _looks_like_a_name(name):
                self._literal(name, "name", _numbered(NAME_PLACEHOLDER, " "), min_len=3)
        photo = node.get("photoUrl")
        if isinstance(photo, str) and photo and not photo.startswith("https://example.invalid/"):
            self._literal(photo, "photo", _photo, min_len=8)
        if self.teams:
            teams = node.get("teams")
            for edge in teams.get("edges") or [] if isinstance(teams, dict) else []:
                team = edge.get("node", {}).get("name") if isinstance(edge, dict) else None
                if isinstance(team, str):
                    self._literal(team, "team", lambda n: f"team-{n}", min_len=3)

    def _next(self, category: str) -> int:
        self._counts[category] = self._counts.get(category, 0) + 1
        return self._counts[category]

    def _email(self, address: str) -> str:
        key = address.replace("%40", "@").lower()
        if is_reserved_email(key):
            return address
        found = self._emails.get(key)
        if found is None:
            n = self._next("email")
            found = EMAIL_PLACEHOLDER if n == 1 else f"user-{n}@example.invalid"
            self._emails[key] = found
        return found

    def _username(self, username: str) -> str:
        found = self._usernames.get(username)
        if found is None:
            if re.fullmatch(r"recording-user(?:-\d+)?", username):
                return username
            n = self._next("username")
            found = USERNAME_PLACEHOLDER if n == 1 else f"{USERNAME_PLACEHOLDER}-{n}"
            self._usernames[username] = found
            if self.usernames and len(username) >= 3:
                self._set_literal(username, found)
        return found

    def _ip(self, text: str) -> str:
        found = self._ips.get(text)
        if found is None:
            if ":" in text:
                found = f"2001:db8::{self._next('ipv6'):x}"
            else:
                n = self._next("ipv4") - 1
                found = f"{_IPV4_POOLS[(n // 254) % 3]}.{n % 254 + 1}"
            self._ips[text] = found
        return found

    def _literal(
        self, value: str, category: str, placeholder: Callable[[int], str], *, min_len: int
    ) -> None:
        if value in self._literals or len(value) < min_len or value.isdigit():
            return
        if value in self._literals.values():  # already a placeholder
            return
        self._set_literal(value, placeholder(self._next(category)))

    def _set_literal(self, value: str, placeholder: str) -> None:
        self._literals[value] = placeholder
        self._probes.add(max(re.findall(r"[A-Za-z0-9]+", value) or [value], key=len))
        for form, replacement in zip(escaped_forms(value), escaped_forms(placeholder), strict=True):
            if form:
                self._literal_forms.setdefault(form, replacement)
        forms = sorted(self._literal_forms, key=len, reverse=True)
        self._literal_re = re.compile(
            r"(?:(?<![A-Za-z0-9])"
            + _ESCAPES
            + r")(?:"
            + "|".join(re.escape(f) for f in forms)
            + r")(?![A-Za-z0-9])"
        )

    # -- replacing -----------------------------------------------------------------------

    def scrub(self, ix: Interaction) -> Interaction:
        """Learn from ``ix``, then a copy of it with every learned value replaced."""
        self.learn(ix)
        return self.replace_in(ix)

    def replace_in(self, ix: Interaction) -> Interaction:
        """A copy of ``ix`` with the values learned so far (and any email, IP, home) replaced."""
        return dataclasses.replace(
            ix,
            uri=self.scrub_text(ix.uri),
            request_headers=self._headers(ix.request_headers),
            request_body=self._body(ix.request_body),
            response_headers=self._headers(ix.response_headers),
            response_body=self._body(ix.response_body),
        )

    def scrub_text(self, text: str) -> str:
        """``text`` with learned values, email and IP addresses, and home folders replaced."""
        for _ in range(4):  # a replacement can complete another match ("1::" + "~")
            out = self._scrub_once(text)
            if out == text:
                return out
            text = out
        return text

    def _scrub_once(self, text: str) -> str:
        if self._literal_re is not None and any(p in text for p in self._probes):
            forms = self._literal_forms
            text = self._literal_re.sub(lambda m: forms.get(m.group(), m.group()), text)
        if "@" in text or "%40" in text:
            text = EMAIL_RE.sub(self._email_match, text)
        if _may_have_ipv4(text):
            text = IPV4_RE.sub(self._ip_match, text)
        if _may_have_ipv6(text):
            text = IPV6_RE.sub(self._ip_match, text)
        if _may_have_home(text):
            text = HOME_RE.sub(_home_match, text)
        return text

    def scrub_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of cassette metadata with personal data replaced (``upstream`` kept)."""
        return {
            k: v if k == "upstream" else map_strings(v, self.scrub_text)
            for k, v in metadata.items()
        }

    def _email_match(self, m: re.Match[str]) -> str:
        address = m.group("local") + "@" + m.group("domain")
        if is_reserved_email(address) or _in_url_authority(m.string, m.start()):
            return m.group()
        placeholder = self._email(address)
        return placeholder.replace("@", m.group("at"))

    def _ip_match(self, m: re.Match[str]) -> str:
        ip = m.group("ip")
        if (
            is_exempt_ip(ip)
            or _in_url_authority(m.string, m.start())
            or _looks_like_version(m.string, m.start())
        ):
            return m.group()
        return m.group()[: m.start("ip") - m.start()] + self._ip(ip)

    def _headers(self, headers: Headers) -> Headers:
        out: Headers = {}
        for name, values in headers.items():
            if name.lower() == USERNAME_HEADER:
                out[name] = [self._username(v) if v else v for v in values]
            else:
                out[name] = [self.scrub_text(v) for v in values]
        return out

    def _body(self, body: Body) -> Body:
        if isinstance(body, str):
            return self.scrub_text(body)
        if isinstance(body, bytes):
            try:
                return self.scrub_text(body.decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                return body
        return body

    def summary(self) -> dict[str, int]:
        """How many values of each kind were learned (never the values)."""
        return {
            "emails": len(self._emails),
            "usernames": len(self._usernames),
            "ips": len(self._ips),
            **{k: v for k, v in self._counts.items() if k in ("name", "photo", "key", "team")},
        }


def _looks_like_a_name(value: str) -> bool:
    """A person's name ("Jane Doe", "Zoë", "Li"), not a handle like "model" that is replaced
    everywhere as a word would corrupt bodies: a space, a capital or a non-ASCII letter."""
    return " " in value.strip() or any(c.isupper() or ord(c) > 127 for c in value)


def _numbered(base: str, sep: str) -> Callable[[int], str]:
    return lambda n: base if n == 1 else f"{base}{sep}{n}"


def _photo(n: int) -> str:
    return PHOTO_PLACEHOLDER if n == 1 else f"https://example.invalid/photo-{n}.png"


def _home_match(m: re.Match[str]) -> str:
    return m.group() if m.group() in _HOME_EXCEPTIONS else HOME_PLACEHOLDER


def _walk(data: Any) -> Iterator[dict[str, Any]]:
    """Every dict in ``data``, in document order (placeholders are numbered in it)."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(reversed(node.values()))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def _is_user_node(node: dict[str, Any]) -> bool:
    return node.get("__typename") == "User" or "email" in node or "username" in node


# -- the audit side -----------------------------------------------------------------------


def _finding(rule: str, where: str, start: int, end: int) -> SecretFinding:
    return SecretFinding(rule, where, start, end - start, category="personal")


def find_personal_data(text: str, where: str = "") -> list[SecretFinding]:
    """Email and IP addresses and home folders left in ``text`` (placeholders excepted)."""
    found: list[SecretFinding] = []
    if "@" in text or "%40" in text:
        for m in EMAIL_RE.finditer(text):
            address = m.group("local") + "@" + m.group("domain")
            if not is_reserved_email(address) and not _in_url_authority(text, m.start()):
                found.append(_finding("email", where, m.start("local"), m.end()))
    regexes = [r for r, may in ((IPV4_RE, _may_have_ipv4), (IPV6_RE, _may_have_ipv6)) if may(text)]
    for regex in regexes:
        for m in regex.finditer(text):
            ip = m.group("ip")
            if not (
                is_exempt_ip(ip)
                or _in_url_authority(text, m.start())
                or _looks_like_version(text, m.start())
            ):
                found.append(_finding("ip-address", where, m.start("ip"), m.end("ip")))
    for m in HOME_RE.finditer(text) if _may_have_home(text) else ():
        if m.group() not in _HOME_EXCEPTIONS:
            found.append(_finding("home-path", where, m.start(), m.end()))
    return sorted(found, key=lambda f: f.offset)


def find_personal_data_in_interaction(ix: Interaction) -> list[SecretFinding]:
    """The personal data left in one exchange, each naming where it is."""
    found = find_personal_data(ix.uri, "uri")
    for side, headers in (("request", ix.request_headers), ("response", ix.response_headers)):
        for name, values in headers.items():
            where = f"{side} header {name}"
            for value in values:
                if name.lower() == USERNAME_HEADER:
                    if value and not re.fullmatch(r"recording-user(?:-\d+)?", value):
                        found.append(_finding("username", where, 0, len(value)))
                else:
                    found += find_personal_data(value, where)
    for where, body in (("request body", ix.request_body), ("response body", ix.response_body)):
        text = body_text(body)
        if text:
            found += find_personal_data(text, where)
            found += _user_node_findings(text, where)
    return found


def find_personal_data_in_metadata(metadata: Mapping[str, Any]) -> list[SecretFinding]:
    """The personal data in a cassette's metadata (``upstream`` excepted)."""
    rest = {k: v for k, v in metadata.items() if k != "upstream"}
    return find_personal_data(json.dumps(rest, default=str), "metadata") if rest else []


def _user_node_findings(text: str, where: str) -> list[SecretFinding]:
    """Full names and photo URLs of user nodes that are not placeholders."""
    if not any(n in text for n in ('"email"', '"username"', '"photoUrl"')):
        return []
    data = json_or_none(text)
    found: list[SecretFinding] = []
    for node in _walk(data) if data is not None else ():
        if not _is_user_node(node):
            continue
        name, photo = node.get("name"), node.get("photoUrl")
        if (
            isinstance(name, str)
            and name
            and name not in (node.get("username"), node.get("entity"))
            and _looks_like_a_name(name)
            and not re.fullmatch(re.escape(NAME_PLACEHOLDER) + r"(?: \d+)?", name)
        ):
            at = _offset(text, name)
            found.append(_finding("full-name", where, at, at + len(name)))
        if isinstance(photo, str) and photo and not photo.startswith("https://example.invalid/"):
            at = _offset(text, photo)
            found.append(_finding("photo-url", where, at, at + len(photo)))
    return found


def _offset(text: str, value: str) -> int:
    for form in json_forms(value):
        i = text.find(form)
        if i != -1:
            return i
    return 0
