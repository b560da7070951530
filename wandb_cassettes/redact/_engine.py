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
    session = CassetteScrubber(scrubber)     # per cassette
    out = session.record(interaction)        # None: a hook dropped it
    ...
    cassette = session.finish(cassette)      # before saving: late-learned personal data
"""

from __future__ import annotations

import base64
import bisect
import codecs
import dataclasses
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..store import Body, Headers, Interaction
from . import _archives as archives
from ._rules import (
    API_KEY_PLACEHOLDER,
    MIN_SECRET_LEN,
    PLACEHOLDER_VALUE_RE,
    REDACTED,
    RULES,
    SENSITIVE_HEADER_RE,
    SENSITIVE_HEADERS,
    STRONG_ENDINGS,
    Hook,
    Probe,
    SecretRule,
    Span,
    entropy_rule,
    json_forms,
)

if TYPE_CHECKING:
    pass


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

#: The shortest piece of a known API key found on its own, as when a key is cut in pieces
#: (split across history rows, config values): every third of a 40-character key is
#: found, and the longer half of any cut. Pieces are found forwards and backwards
#: (reversed), and with separators between their characters (``a1b2-c3d4``, ``a 1 b 2``).
#: A piece of 12 characters of a random key is 48 bits of it: no digest or id holds one
#: by chance.
KEY_PIECE_MIN = 12
_CHUNK = 6  # any piece of 2 * _CHUNK - 1 characters holds an aligned chunk: <= KEY_PIECE_MIN
#: What may stand between a key's characters in a text that still gives the key away:
#: spaces and punctuation, and what a list of its characters or bytes is written with
#: (``["l", "o", ...]``, ``[108, 111, ...]``, JSON-escaped inside JSON).
_KEY_SEPARATORS_RE = re.compile(r"[\s\-_.:,;|/+\"'\\\[\]]+")


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
        learned = {f.lower() for v in _long_enough(self.learned) for f in json_forms(v)} - keys
        forms = [(f, API_KEY_PLACEHOLDER) for f in keys] + [(f, REDACTED) for f in learned]
        forms.sort(key=lambda pair: (-len(pair[0]), pair[0]))  # longest first
        object.__setattr__(self, "_forms", tuple(forms))
        pieces = tuple(
            (joined, _chunks(joined))
            for k in _long_enough(self.secrets)
            for joined in dict.fromkeys(_joined_forms(k))
        )
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

    # -- finding ---------------------------------------------------------------------------

    def find(self, text: str, where: str = "") -> list[SecretFinding]:
        """Every secret in ``text``, in order of position (overlapping findings kept)."""
        probe = Probe(text)
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
        found += self.find_in_body(ix.request_body, "request body")
        found += self._header_findings(ix.response_headers, "response")
        found += self.find_in_body(ix.response_body, "response body")
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

    def find_in_body(self, body: Body, where: str) -> list[SecretFinding]:
        """The secrets in a body: a text by every rule; bytes as UTF-8 text, else read as
        latin-1 (one character a byte: offsets are byte offsets) and, with a UTF-16 byte
        order mark, as UTF-16 text too, and what a compressed stream in them holds
        (:mod:`._archives`); a :class:`~.cassette.Digest` holds none here (its blob:
        :meth:`find_in_file`)."""
        if isinstance(body, str):
            return self.find(body, where)
        if not isinstance(body, bytes):
            return []
        found = self._find_in_bytes(body, where)
        kind = _archive_kind(body[: archives.HEAD], body[-archives.ZIP_TAIL :], where, found)
        if kind is not None:
            found += self._find_inside(kind, lambda: io.BytesIO(body), where, archives.Budget(), 1)
        return found

    def _find_in_bytes(self, body: bytes, where: str) -> list[SecretFinding]:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # Not UTF-8: text in another encoding, or binary that holds text (a pickled
            # state dict's config, an archive's member). Read as latin-1, one character a
            # byte (offsets are byte offsets), it is searched by every rule all the same.
            text = body.decode("latin-1")
        found = self.find(text, where)
        if body[:2] in (b"\xff\xfe", b"\xfe\xff") or _reads_as_utf16(body):
            # UTF-16 (what Windows tools write), with its byte order mark or without, and a
            # chunk of it that starts on either byte of a character: both alignments.
            for shift in (0, 1):
                words = body[shift : len(body) - (len(body) - shift) % 2]
                for finding in self.find(words.decode("utf-16-le", "replace"), where):
                    found.append(dataclasses.replace(finding, offset=shift + 2 * finding.offset))
        return found

    def find_in_file(self, path: str | os.PathLike[str], where: str) -> list[SecretFinding]:
        """The secrets in a file (a download kept as a blob), read in chunks: bounded memory.

        Each chunk of :data:`FILE_CHUNK` bytes is searched with the :data:`FILE_OVERLAP`
        bytes before it, so a secret across two chunks is found; a finding met twice is
        listed once. Every chunk is searched by every rule, like a body: as text when it is
        UTF-8, else read as latin-1 (one character a byte). Offsets are the finding's place
        in its chunk's text, plus the chunk's byte offset. A compressed file (gzip, bzip2,
        xz, zip) is searched decompressed too, within :mod:`._archives`' bounds: a finding
        there names the member, its offset is in the member's decompressed bytes.

        Raises:
            OSError: The file cannot be read.
        """
        return self._find_in_stream(lambda: open(path, "rb"), where, archives.Budget(), 0)

    def _find_in_stream(
        self, open_: archives.Opener, where: str, budget: archives.Budget, depth: int
    ) -> list[SecretFinding]:
        """:meth:`find_in_file` of the stream ``open_`` opens: decompressed bytes (``depth``
        1 and more) count against ``budget``, and a stream that fails to decompress is
        searched as far as it reads."""
        found: list[SecretFinding] = []
        seen: set[tuple[str, int, int]] = set()
        start, tail, head, end = 0, b"", b"", b""
        try:
            with open_() as f:
                while data := f.read(FILE_CHUNK):
                    if depth:
                        budget.spend(len(data))
                    head = head or data[: archives.HEAD]
                    end = (end + data)[-archives.ZIP_TAIL :]
                    block, base = tail + data, start - len(tail)
                    for finding in self._find_in_bytes(_whole_characters(block), where):
                        placed = dataclasses.replace(finding, offset=base + finding.offset)
                        key = (placed.rule, placed.offset, placed.length)
                        if key not in seen:
                            seen.add(key)
                            found.append(placed)
                    start += len(data)
                    tail = _from_character_start(block[-FILE_OVERLAP:])
        except (archives.OverBudget, archives.Unsearchable) as exc:
            return [*found, SecretFinding(archives.UNSEARCHED, f"{where} > {exc}", start, 0)]
        except archives.CORRUPT:
            if not depth:
                raise  # the file itself cannot be read: the caller's to report
            return found
        kind = _archive_kind(head, end, where, found)
        if kind is not None:
            found += self._find_inside(kind, open_, where, budget, depth + 1)
        return found

    def _find_inside(
        self,
        kind: str,
        open_: archives.Opener,
        where: str,
        budget: archives.Budget,
        depth: int,
    ) -> list[SecretFinding]:
        """The secrets in each decompressed stream of an archive (:func:`.archives.contents`);
        what its bounds or an encrypted member keep from the search is a finding."""
        if depth > archives.ARCHIVE_DEPTH:
            return [SecretFinding(archives.UNSEARCHED, f"{where} > nested too deep", 0, 0)]
        found: list[SecretFinding] = []
        try:
            for member in archives.contents(kind, open_, where):
                if budget.left <= 0:
                    return [*found, SecretFinding(archives.UNSEARCHED, member.where, 0, 0)]
                if member.inner is None:
                    found += self._find_in_stream(member.open, member.where, budget, depth)
                else:  # searched where it lies: its inside only
                    found += self._find_inside(
                        member.inner, member.open, member.where, budget, depth + 1
                    )
        except (archives.OverBudget, archives.Unsearchable) as exc:
            found.append(SecretFinding(archives.UNSEARCHED, f"{where} > {exc}", 0, 0))
        except archives.CORRUPT:
            pass  # not the archive its first bytes say: its bytes were searched as stored
        return found

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
        probe = Probe(text)
        replaced: list[tuple[int, int, str]] = [
            (s, e, replacement) for replacement, (s, e) in self._known(probe)
        ]
        for rule in self.rules:
            spans = [(s, e) for _, (s, e) in rule.found(text, probe) if e > s]
            replaced += [(s, e, rule.replacement) for s, e in spans]
            if found is not None:
                found.update(text[s:e] for s, e in spans if e - s >= LEARNED_MIN)
        return _replace_spans(text, replaced)

    def _known(self, probe: Probe) -> Iterator[tuple[str, Span]]:
        """``(replacement, span)`` of each known secret in the probe's text, in any case.

        A form of one (longest first: a shorter one inside a longer one is no news),
        then the pieces of an API key not inside those: the longest run of the key
        around each of its chunks, when :data:`KEY_PIECE_MIN` characters or more, read
        with the separators between characters taken out (:class:`_Joined`) and also
        backwards.
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
        if not self._pieces:
            return
        joined = _Joined(lower)
        for key, chunks in self._pieces:
            for at, chunk in chunks:
                for i in _all_indexes(joined.text, chunk):
                    start, end = _piece_around(joined.text, i, key, at)
                    span = joined.span(start, end)
                    if end - start >= KEY_PIECE_MIN and not _inside(span, covered):
                        covered.append(span)
                        yield API_KEY_PLACEHOLDER, span

    def scrub_interaction(self, ix: Interaction) -> Interaction:
        """A copy of ``ix`` fit for a cassette (no hooks; see :meth:`record`).

        Drops credential headers (:func:`is_sensitive_header`), replaces each
        known secret with ``<WANDB_API_KEY>`` wherever it occurs, and redacts
        everything the rules find in the uri, the other header values and text
        bodies. In binary bodies only the known secrets are replaced (what else the rules
        find there is the audit's to flag, and recording warns of it:
        ``Recording.unscrubbed_secrets``); :class:`~.cassette.Digest` bodies are kept as
        they are.
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
            self.scrub_text(str(k)): map_strings(v, self.scrub_text) for k, v in metadata.items()
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
        return _replace_spans(text, [(s, e, r) for r, (s, e) in self._known(Probe(text))]).encode(
            "latin-1"
        )


#: Bytes of a file searched at once (:meth:`Scrubber.find_in_file`).
FILE_CHUNK = 1 << 20
#: Bytes of the chunk before searched again with the next one: longer than a credential
#: (an RSA-4096 private key in PEM is about 3.3 KB).
FILE_OVERLAP = 16 << 10


def _whole_characters(block: bytes) -> bytes:
    """``block`` without a UTF-8 character cut at its end (a chunk's last bytes), so that a
    text file's chunk stays text."""
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return block[: exc.start]
    return block


def _from_character_start(block: bytes) -> bytes:
    """``block`` from its first byte that starts a UTF-8 character (no continuation byte)."""
    i = 0
    while i < len(block) and i < 4 and block[i] & 0xC0 == 0x80:
        i += 1
    return block[i:]


def _is_secret_header_name(name: str) -> bool:
    """A header named like a password or secret (X-Db-Password): its whole value is one."""
    return re.sub(r"[^a-z0-9]", "", name.lower()).endswith(STRONG_ENDINGS)


def _is_placeholder(value: str) -> bool:
    return PLACEHOLDER_VALUE_RE.fullmatch(value) is not None


def _all_indexes(text: Any, needle: Any) -> Iterator[int]:
    i = text.find(needle)
    while i != -1:
        yield i
        i = text.find(needle, i + len(needle))


def map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {fn(str(k)): map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [map_strings(v, fn) for v in value]
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
    return [s for s in secrets if len(s) >= MIN_SECRET_LEN]


def _reads_as_utf16(body: bytes) -> bool:
    """Whether ``body`` looks like mostly-ASCII UTF-16 text: the NUL high bytes of its
    characters all on one side (even or odd offsets), hardly any on the other. Binary with
    NULs everywhere (tensors of zeros) is not read so twice more."""
    if len(body) < 64:
        return False
    even, odd = body[0::2].count(0), body[1::2].count(0)
    half = len(body) // 2
    return max(even, odd) > 0.6 * half and min(even, odd) < 0.05 * half


def _archive_kind(head: bytes, tail: bytes, where: str, found: list[SecretFinding]) -> str | None:
    """The archive format a stream is (its first bytes, or a zip's end record in its
    last): one to open, or None. A format recognised and not opened (7z...) is a finding
    added to ``found``: what it holds cannot be searched."""
    kind = archives.kind_of(head)
    if kind is None and archives.zip_at_end(tail):
        kind = "zip"
    other = archives.unopened(head) if kind is None else None
    if other is not None:
        what = f"{where} > a {other} archive (not opened: only gzip, bzip2, xz, zip and tar are)"
        found.append(SecretFinding(archives.UNSEARCHED, what, 0, 0))
    return kind


def _key_forms(key: str) -> list[str]:
    """``key`` in the forms a test can write it in, each alone in a value or inside text:
    itself, JSON-escaped and URL-encoded (:func:`.json_forms`), in the Basic credential
    wandb-core builds (``base64("api:" + key)``), and each of :func:`_key_bases` (the key,
    backwards, its random part after a prefix such as ``local-``) in every encoding of
    :func:`_encodings`, and the key's base64 encoded once more.
    """
    raw = key.encode()
    basic = base64.b64encode(b"api:" + raw).decode()
    forms = [basic, basic.rstrip("=")]
    for base in _key_bases(key):
        forms += json_forms(base)
        forms += _encodings(base.encode())
    forms += _encodings(base64.b64encode(raw))
    return forms


def _key_bases(key: str) -> list[str]:
    """The key, backwards, and its random part alone when a prefix (``local-``, a word and
    ``_``) comes before 20 characters or more, forwards and backwards."""
    bases = [key, key[::-1]]
    body = re.split(r"[-_]", key)[-1]
    if body != key and len(body) >= 20:
        bases += [body, body[::-1]]
    return bases


def _encodings(raw: bytes) -> list[str]:
    """``raw`` in hex, rot13, every byte ``%``-escaped or ``\\x``-escaped, UTF-16 (as its
    bytes read one a character), base85 and ascii85; and in base64, base64url and base32,
    alone, at the start of a longer encoded text, or after other bytes (its characters
    only: an encoded text holding ``raw`` holds one of these). Each also as JSON and URLs
    escape it (:func:`.json_forms`)."""
    text = raw.decode("latin-1")
    utf16 = text.encode("utf-16-le").decode("latin-1")
    forms = [
        raw.hex(),
        codecs.encode(text, "rot13"),
        "".join(f"%{b:02x}" for b in raw),
        "".join(f"\\x{b:02x}" for b in raw),
        utf16,
        base64.b85encode(raw).decode(),
        base64.a85encode(raw).decode(),
    ]
    # (encoder, bits a character holds, shifts that give every alignment of the bytes)
    encodings = (
        (base64.b64encode, 6, (1, 2)),
        (base64.urlsafe_b64encode, 6, (1, 2)),
        (base64.b32encode, 5, (1, 2, 3, 4)),
    )
    for encode, bits, shifts in encodings:
        alone = encode(raw).decode()
        forms += (alone, alone.rstrip("="), *_aligned(encode, bits, shifts, raw))
    # As JSON writers escape them (Go's writes "<" as \u003c: base85 holds it) and URL-encoded.
    return [escaped for form in forms for escaped in json_forms(form)]


def _aligned(
    encode: Callable[[bytes], bytes], bits: int, shifts: Iterable[int], raw: bytes
) -> list[str]:
    """The characters of ``encode`` (bits a character holds) that hold only ``raw``'s
    bits, at the start of an encoded text and after each of ``shifts`` other bytes: an
    encoded text holding ``raw`` anywhere holds one of them."""
    forms = [encode(raw).decode()[: 8 * len(raw) // bits]]
    for shift in shifts:  # character j holds bits (bits*j)..(bits*j + bits-1) of the bytes
        shifted = encode(bytes(shift) + raw).decode()
        forms.append(shifted[-(-8 * shift // bits) : 8 * (shift + len(raw)) // bits])
    return forms


def _joined_forms(key: str) -> tuple[str, ...]:
    """What pieces of ``key`` are looked for in a text read without separators
    (:class:`_Joined`): the key forwards and backwards, its bytes in hex (``6c:6f:...``,
    ``key.encode().hex(":")``) and in decimal (``[108, 111, ...]``, ``list(key.encode())``),
    and its base64 at each alignment, as broken lines of MIME base64 read joined
    (``base64.encodebytes`` of a credentials file; ``+`` and ``/`` are separators)."""
    joined, raw = _joined_key(key), key.encode()
    mime = [_joined_key(f) for f in _aligned(base64.b64encode, 6, (1, 2), raw)]
    return joined, joined[::-1], raw.hex(), "".join(str(b) for b in raw), *mime


def _joined_key(key: str) -> str:
    """``key`` lowercased with its separators taken out, as :class:`_Joined` reads a text."""
    return _KEY_SEPARATORS_RE.sub("", key.lower())


class _Joined:
    """A lowercased text with the separators between characters taken out
    (:data:`_KEY_SEPARATORS_RE`), and the way back to the text's offsets.

    A key written ``a1b2-c3d4-...`` or ``a 1 b 2 ...`` reads as itself here. The joined
    text is one regex pass; the way back is worked out only when a piece is found.
    """

    __slots__ = ("_lower", "_removed", "_starts", "text")

    def __init__(self, lower: str) -> None:
        if "\\" in lower:
            # A line break as JSON escapes it is one separator, not a "\" and an "n": MIME
            # base64 (a line every 76 characters) inside JSON is cut by them. Two spaces
            # for two characters keep every offset (a character-class pass stays fast).
            lower = lower.replace("\\n", "  ").replace("\\r", "  ")
        self._lower = lower
        self.text = _KEY_SEPARATORS_RE.sub("", lower)
        self._starts: list[int] | None = None  # joined offset after each run of separators
        self._removed: list[int] = []  # characters taken out up to the end of that run

    def span(self, start: int, end: int) -> Span:
        """The text's span of the joined span ``(start, end)`` (``end > start``)."""
        return start + self._shift(start), end + self._shift(end - 1)

    def _shift(self, at: int) -> int:
        if self._starts is None:
            self._starts, taken = [], 0
            for m in _KEY_SEPARATORS_RE.finditer(self._lower):
                self._starts.append(m.start() - taken)
                taken += m.end() - m.start()
                self._removed.append(taken)
        i = bisect.bisect_right(self._starts, at) - 1
        return self._removed[i] if i >= 0 else 0


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
QUICK = Scrubber(tuple(r for r in RULES if r.catalogue is None))


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
    return lowered in SENSITIVE_HEADERS or SENSITIVE_HEADER_RE.search(lowered) is not None


def scrub_text(text: str, secrets: Iterable[str] = (), scrubber: Scrubber | None = None) -> str:
    """``text`` with the given secrets and everything the rules find replaced."""
    return _scrubber(scrubber, secrets).scrub_text(text)


def scrub_interaction(
    ix: Interaction, secrets: Iterable[str] = (), scrubber: Scrubber | None = None
) -> Interaction:
    """A copy of ``ix`` fit for a cassette (see :meth:`Scrubber.scrub_interaction`)."""
    return _scrubber(scrubber, secrets).scrub_interaction(ix)
