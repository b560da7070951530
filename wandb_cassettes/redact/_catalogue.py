"""Credential formats from a maintained catalogue: Kingfisher's rules, through its Python SDK.

The scrubber and the audit (:mod:`.scrub`) find credentials by their format with
the rules of a catalogue that others keep up to date, installed as a dependency
and never copied here: ``kingfisher-secret-scanner`` (import ``kingfisher_sdk``),
the in-process Python SDK of MongoDB's Kingfisher (github.com/mongodb/kingfisher,
Apache-2.0). This module only adapts it: a text in, ``(rule id, start, end)``
spans out, in ``str`` offsets; :mod:`.scrub` decides which texts (headers, URLs,
bodies, JSON strings at any escape depth) and what replaces a span.

Why this catalogue (PyPI, 2026-12; each alternative weighed for coverage, upkeep and
fitness for scanning many small texts in-process):

* Kingfisher: 488 rules in 1.5.0, those of Betterleaks (the successor of gitleaks,
  by gitleaks' author) and of Google's OSV-SCALIBR "Veles" detectors, Google API
  keys (``AIza``), GitLab, Stripe, PyPI and W&B's own keys among them; five releases
  in 2026; native (Rust, Vectorscan) so a megabyte scans in milliseconds; findings
  carry byte offsets, the rule id and the catalogue's metadata (``audit
  --list-rules``); scanning is offline (validation is a separate call, never made).
  Its cost is compiling the rules: seconds, once per process, so the catalogue is
  compiled on first use only, and kept compiled on disk in a folder given to
  :meth:`Catalogue.use_cache_dir` (the plugin gives pytest's cache folder) or in
  Kingfisher's own ``KF_RULE_CACHE_DIR``.
* detect-secrets (Yelp) 1.5.0: about 23 formats as Python plugins, last released
  2024-05, and no Google API key, the first format issue 26 names. Its maintained
  fork bc-detect-secrets (Bridgecrew) has fewer still (no GitLab, PyPI or OpenAI);
  detect-secrets-plus is a one-person fork.
* betterleaks-py 2.0.0: the Betterleaks rules behind a one-person ctypes binding of
  a release candidate (one release); NUL-terminated strings (a body holding a NUL
  byte is cut short, silently) and findings without offsets.
* kingfisher-bin: the same catalogue as a CLI binary, a subprocess per scan.
* microsoft-security-utilities-secret-masker 1.0.0b4: about 30 formats, nearly all
  Azure. ggshield: needs GitGuardian's service (cassettes must not leave the
  machine). presidio-analyzer, scrubadub: personal data, few credential formats.

One half of a pair is a secret too. About 40 of the catalogue's rules report a value
only beside its partner (``depends_on_rule``: an AWS access key id ``AKIA...`` only
with a secret access key within five lines, a Langfuse ``sk-lf-`` key only with its
public key), because a scanner of repositories validates a pair. A cassette must not
keep either half: an access key id names the account, and the secret half is the
credential itself. So each such rule is loaded a second time, derived from the
catalogue's own definition (its pattern, and the entropy floor its filter applies)
without the partner requirement, as ``<rule id>.alone``, and a value it finds counts
when the value alone, without the words around it, has the rule's form (a digest
under the name ``key`` is no half). The twins are derived at load time, so a rule the
catalogue adds is covered without a change here.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import yaml

from ..errors import WandbCassettesError

PACKAGE = "kingfisher-secret-scanner"
#: Kingfisher's confidence level: ``medium`` loads its whole default catalogue.
CONFIDENCE: Final = "medium"
#: Kingfisher's own setting for where compiled rules are cached; it wins over ours.
CACHE_ENV = "KF_RULE_CACHE_DIR"
#: Our folder in pytest's cache (``.pytest_cache/d/wandb-cassettes-rules``), where the plugin
#: and the ``wandb-cassettes`` command keep the compiled rules.
CACHE_FOLDER = "wandb-cassettes-rules"


@dataclass(frozen=True)
class CatalogueRule:
    """One rule of the catalogue: its id (``betterleaks.gcp-api-key``) and description."""

    id: str
    description: str


class Catalogue:
    """The catalogue's rules, compiled on first use (thread-safe), scanning texts.

    ``cache_dir``: where compiled rules are kept between processes (None: not kept,
    unless ``KF_RULE_CACHE_DIR`` is set). Compiling takes seconds; a cached load about
    0.3 s. Nothing is written anywhere else (Kingfisher's default, the user's cache
    folder in ``HOME``, is never used).
    """

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._lock = threading.Lock()
        self._rules: Any = None
        self._alone: Any = None  # the paired rules once more, each half alone
        self._scanner: Any = None
        self._alone_scanner: Any = None
        # Short texts recur (header values, URLs, small GraphQL bodies): their findings are
        # kept, a bounded number of them.
        self._seen: dict[str, tuple[tuple[str, int, int], ...]] = {}

    @property
    def loaded(self) -> bool:
        """Whether the rules are compiled (a scan or :meth:`rules` has run)."""
        return self._scanner is not None

    @property
    def version(self) -> str:
        """The installed catalogue's version (``kingfisher-secret-scanner``'s)."""
        return metadata.version(PACKAGE)

    @property
    def source(self) -> str:
        """``kingfisher-secret-scanner <version>``: what a finding's rule comes from."""
        return f"{PACKAGE} {self.version}"

    def use_cache_dir(self, folder: str | os.PathLike[str] | None) -> None:
        """Keep compiled rules in ``folder`` from the next compilation on (None: nowhere)."""
        self._cache_dir = Path(folder) if folder is not None else None

    def rules(self) -> list[CatalogueRule]:
        """Every rule in force, sorted by id (compiles the catalogue if needed)."""
        self._load()
        return sorted(
            (
                CatalogueRule(str(m["id"]), str(m["name"]))
                for rules in (self._rules, self._alone)
                for m in rules.metadata()
            ),
            key=lambda r: r.id,
        )

    def spans(self, text: str) -> tuple[tuple[str, int, int], ...]:
        """``(rule id, start, end)`` of each credential in ``text``, in ``str`` offsets.

        A span is the credential itself (the rule's secret group), not its context.
        A credential found inside base64 (Kingfisher decodes base64 runs) spans the
        whole encoded run, where it sits in ``text``.
        """
        if not text:
            return ()
        found = self._seen.get(text)
        if found is None:
            found = tuple(self._scan(text))
            if len(text) <= _REMEMBERED_LEN:
                if len(self._seen) >= _REMEMBERED:
                    self._seen.clear()
                self._seen[text] = found
        return found

    def _scan(self, text: str) -> Iterator[tuple[str, int, int]]:
        scanner = self._load()
        # A NUL ends a value in binary (a tar member's padding after a token file written
        # without a newline, a C string), but no rule's pattern ends a token at one: read
        # as a line end, one character for one, so offsets stay.
        text = text.replace("\x00", "\n") if "\x00" in text else text
        data = text.encode("utf-8", "surrogatepass")
        paired = list(self._spans(scanner, text, data))
        yield from paired
        seen = {(start, end) for _, start, end in paired}
        for rule, start, end in self._spans(self._alone_scanner, text, data):
            if (start, end) not in seen and self._self_evident(rule, text[start:end]):
                yield rule, start, end

    def _self_evident(self, rule: str, value: str) -> bool:
        """Whether ``value`` alone, with no text around it, has the form of ``rule``.

        A half of a pair is a secret by its own shape (``AKIA`` + 16, ``sk-lf-...``); a
        value that the rule finds only through the words before it (``key = <40 hex>``,
        which a digest under a key's name also is) is left to the pair.
        """
        if _PLACE.search(value):
            return False  # a partner that names a place (a host, a URL) is no secret alone
        data = value.encode("utf-8", "surrogatepass")
        return any(
            found == rule and (start, end) == (0, len(value))
            for found, start, end in self._spans(self._alone_scanner, value, data)
        )

    @staticmethod
    def _spans(scanner: Any, text: str, data: bytes) -> Iterator[tuple[str, int, int]]:
        ascii_only = len(data) == len(text)
        for finding in scanner.scan(data):
            if not finding.visible:  # a helper of another rule (a pair's other half)
                continue
            location = finding.location
            start, end = location["start_offset"], location["end_offset"]
            if not ascii_only:
                start, end = _chars(data, start), _chars(data, end)
            rule = str(finding.rule_id)
            if finding.is_base64_encoded or text[start:end] == finding.secret:
                yield rule, start, end
            else:  # offsets of content Kingfisher normalised: find the value itself
                yield from _occurrences(rule, text, str(finding.secret))

    def _load(self) -> Any:
        if self._scanner is None:
            with self._lock:
                if self._scanner is None:
                    try:
                        from kingfisher_sdk import Rules, Scanner
                    except ImportError as exc:  # no wheel for this platform, a broken install
                        raise WandbCassettesError(
                            f"the credential catalogue ({PACKAGE}) cannot be loaded: {exc}; "
                            f"nothing is recorded or audited without it (pip install {PACKAGE})"
                        ) from exc

                    rules = Rules(confidence=CONFIDENCE, **self._cache_options())
                    alone = _alone_rules(rules)
                    with tempfile.TemporaryDirectory(prefix="wandb-cassettes-rules-") as folder:
                        path = Path(folder, "alone.yaml")
                        path.write_text(yaml.safe_dump({"rules": alone}, sort_keys=False))
                        self._alone = Rules(
                            [path], builtins=False, confidence=CONFIDENCE, **self._cache_options()
                        )
                    self._rules = rules
                    self._alone_scanner = Scanner(self._alone)
                    self._scanner = Scanner(rules)
        return self._scanner

    def _cache_options(self) -> dict[str, Any]:
        if os.environ.get(CACHE_ENV):  # Kingfisher reads it itself
            return {}
        if self._cache_dir is not None:
            return {"cache_dir": self._cache_dir}
        return {"cache": False}


#: Suffix of the id of a paired rule loaded once more without its partner requirement.
ALONE = ".alone"
#: A URL, or a host name (dotted labels ending in letters only, like every top-level
#: domain): some partners are the service's address (``acme.jfrog.io``,
#: ``https://x.supabase.co``), which says where a credential works, not what it is.
_PLACE = re.compile(r"://|^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$")


def _alone_rules(rules: Any) -> list[dict[str, Any]]:
    """Kingfisher rule definitions (its custom-rule YAML schema, the fields ``name``,
    ``id``, ``pattern``, ``confidence``, ``min_entropy``) of each visible rule that
    requires a partner (``depends_on_rule`` not ``optional``), without the requirement,
    and of each partner itself (a rule the catalogue keeps invisible, reported only as
    the other half of a pair: an Alibaba access key id ``LTAI...``).

    The entropy floor is the one the rule's own filter applies (Betterleaks'
    ``entropy(finding.secret) < X`` rejects a match, see ``Rules.detail``'s
    ``betterleaks_filter``), else the rule's ``min_entropy``: a half alone is held to
    the bar the pair is held to.
    """
    found = []
    for meta in rules.metadata():
        detail = rules.detail(meta["id"])
        partner = not meta.get("visible", True)
        needs = detail.get("depends_on_rule") or ()
        if not partner and all(d is None or d.get("optional") for d in needs):
            continue
        floors = list(_entropy_floors(detail.get("betterleaks_filter")))
        found.append(
            {
                "name": f"{meta['name']} (alone, without its pair)",
                "id": f"{meta['id']}{ALONE}",
                "pattern": detail["pattern"],
                "confidence": CONFIDENCE,
                "min_entropy": max(floors or [float(detail.get("min_entropy") or 0.0)]),
            }
        )
    return found


def _entropy_floors(node: Any) -> Iterator[float]:
    """Each ``X`` of ``entropy(...) < X`` (or ``<=``) in a Betterleaks filter tree."""
    if isinstance(node, list):
        for item in node:
            yield from _entropy_floors(item)
    elif isinstance(node, dict):
        left = node.get("left")
        if (
            node.get("kind") == "binary"
            and node.get("operator") in ("<", "<=")
            and isinstance(left, dict)
            and left.get("kind") == "call"
            and (left.get("callee") or {}).get("value") == "entropy"
        ):
            right = node.get("right")
            value = right.get("value") if isinstance(right, dict) else None
            if isinstance(value, (str, int, float)) and _is_number(str(value)):
                yield float(value)
        for value in node.values():
            yield from _entropy_floors(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_REMEMBERED = 4096
_REMEMBERED_LEN = 1024


def _chars(data: bytes, offset: int) -> int:
    """The ``str`` offset of UTF-8 byte ``offset`` in ``data``."""
    return len(data[:offset].decode("utf-8", "surrogatepass"))


def _occurrences(rule: str, text: str, value: str) -> Iterator[tuple[str, int, int]]:
    if not value:
        return
    i = text.find(value)
    while i != -1:
        yield rule, i, i + len(value)
        i = text.find(value, i + len(value))


CATALOGUE = Catalogue()
"""The catalogue the default rules use; the plugin points its cache at pytest's cache folder."""
