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
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

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
        self._scanner: Any = None
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
            (CatalogueRule(str(m["id"]), str(m["name"])) for m in self._rules.metadata()),
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
        data = text.encode("utf-8", "surrogatepass")
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

                    if os.environ.get(CACHE_ENV):  # Kingfisher reads it itself
                        rules = Rules(confidence=CONFIDENCE)
                    elif self._cache_dir is not None:
                        rules = Rules(confidence=CONFIDENCE, cache_dir=self._cache_dir)
                    else:
                        rules = Rules(confidence=CONFIDENCE, cache=False)
                    self._rules = rules
                    self._scanner = Scanner(rules)
        return self._scanner


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
