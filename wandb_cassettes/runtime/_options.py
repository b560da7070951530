"""What a cassette's user can set: the marker's keywords, ``wandb_cassette_config``,
``use_cassette``'s arguments, each checked when read (a bad one is a
:class:`~wandb_cassettes.errors.ConfigurationError` naming the setting)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ._record_mode import RecordMode

if TYPE_CHECKING:
    from ..redact import Scrubber

#: A ``before_record`` hook: an interaction in, the interaction to keep (or None) out.
Filter = Callable[[Any], Any]


@dataclass(frozen=True)
class CassetteOptions:
    """What a cassette's user can set (marker, ``wandb_cassette_config``, ``use_cassette``).

    Args:
        ignore: Values replay does not compare, in W&B's terms (``config.lr``,
            ``name``, ``metadata.*``; see :mod:`.ignore`).
        keep: Names (``fnmatch`` patterns) of resources the test keeps on purpose;
            ``("*",)`` keeps everything. A change to a resource the test did not create
            whose name it matches is kept too (not restored).
        foreign_changes: Names (``fnmatch`` patterns) of resources the test did not
            create that it changes on purpose (an alias moved to a teammate's version, a
            shared run's config): the cleanup leaves them as the test left them and the
            audit lists them as declared; ``("*",)``: any.
        record_mode: Overrides the session's record mode for this cassette.
        before_record: Filters applied to each exchange before it is stored
            (vcrpy's ``before_record_request``/``before_record_response``): each
            takes an :class:`~.cassette.Interaction` and returns it (changed) or
            None to leave it out. The built-in scrubbing runs after them.
        secret_patterns: Regular expressions of secrets of your own (an optional
            group ``secret`` picks the part to replace), scrubbed when recording and
            flagged by the audit, beside the built-in rules (:mod:`.scrub`).
        harmless: Mutation fields declared harmless (the audit ignores them).
        strict: Fail a replay that leaves recorded interactions unplayed.
        entropy: Also treat as secrets runs of 20+ token characters with this much
            Shannon entropy per character, or more (bits, 0 < x <= 8; off: None).
            Off by default: digests and ids are as random (:func:`.scrub.entropy_rule`).
        same_sdk: Refuse to replay a cassette recorded under another wandb minor (another
            major, or another 0.x minor), before any request is tried. Off by default:
            replay tries, and fails only on a request the cassette cannot answer.
    """

    ignore: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    foreign_changes: tuple[str, ...] = ()
    record_mode: RecordMode | None = None
    before_record: tuple[Filter, ...] = ()
    secret_patterns: tuple[str, ...] = ()
    harmless: tuple[str, ...] = ()
    strict: bool = False
    entropy: float | None = None
    same_sdk: bool = False

    #: The keyword names, as marker validation lists them.
    KEYS = (
        "name",
        "ignore",
        "keep",
        "foreign_changes",
        "record_mode",
        "before_record",
        "secret_patterns",
        "harmless",
        "strict",
        "entropy",
        "same_sdk",
    )

    @classmethod
    def from_mapping(cls, values: dict[str, Any], *, source: str) -> CassetteOptions:
        """Options from marker keywords or a config mapping; unknown keys are an error.

        Raises:
            ConfigurationError: An unknown key or a value of the wrong shape; the
                message names ``source`` and lists the valid keys.
        """
        unknown = sorted(set(values) - set(cls.KEYS))
        if unknown:
            raise ConfigurationError(
                f"{source}: unknown argument(s) {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(cls.KEYS)}"
            )

        ignore = _strings(values.get("ignore", ()), f"{source}: ignore")
        # Imported when a marker is read, not when the plugin loads (start-up: ~80 ms).
        from ..replay import parse_ignore

        parse_ignore(ignore, source=f"{source}: ignore")
        keep = _patterns(values.get("keep", ()), f"{source}: keep")
        foreign = _patterns(values.get("foreign_changes", ()), f"{source}: foreign_changes")
        mode = values.get("record_mode")
        before = values.get("before_record", ())
        before = (before,) if callable(before) else tuple(before or ())
        if not all(callable(f) for f in before):
            raise ConfigurationError(f"{source}: before_record must be callables")
        patterns = _strings(values.get("secret_patterns", ()), f"{source}: secret_patterns")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigurationError(
                    f"{source}: secret_patterns: {pattern!r} is not a regular expression: {exc}"
                ) from None
        return cls(
            ignore=ignore,
            keep=keep,
            foreign_changes=foreign,
            record_mode=RecordMode.parse(mode) if mode is not None else None,
            before_record=before,
            secret_patterns=patterns,
            harmless=_strings(values.get("harmless", ()), f"{source}: harmless"),
            strict=bool(values.get("strict", False)),
            entropy=_entropy(values.get("entropy"), f"{source}: entropy"),
            same_sdk=_flag(values.get("same_sdk", False), f"{source}: same_sdk"),
        )

    def merged(self, other: CassetteOptions) -> CassetteOptions:
        """``other`` on top of these: lists add up, single values are overridden."""
        return CassetteOptions(
            ignore=tuple(dict.fromkeys((*self.ignore, *other.ignore))),
            keep=tuple(dict.fromkeys((*self.keep, *other.keep))),
            foreign_changes=tuple(dict.fromkeys((*self.foreign_changes, *other.foreign_changes))),
            record_mode=other.record_mode or self.record_mode,
            before_record=(*self.before_record, *other.before_record),
            secret_patterns=tuple(dict.fromkeys((*self.secret_patterns, *other.secret_patterns))),
            harmless=tuple(dict.fromkeys((*self.harmless, *other.harmless))),
            strict=self.strict or other.strict,
            entropy=other.entropy if other.entropy is not None else self.entropy,
            same_sdk=self.same_sdk or other.same_sdk,
        )

    def scrubber(self, secrets: Iterable[str] = (), *, hooks: bool = False) -> Scrubber:
        """The default rules, these patterns and entropy check, ``secrets`` known; with
        ``hooks``, the ``before_record`` filters too."""
        from ..redact import Scrubber  # the rules load with the first cassette, not the plugin

        before = self.before_record if hooks else ()
        return Scrubber.build(
            self.secret_patterns,
            secrets=tuple(s for s in secrets if s),
            before_record=before,
            entropy=self.entropy,
        )


def _flag(value: Any, what: str) -> bool:
    """A boolean, or the ini file's spelling of one (``true``/``false``, ``1``/``0``...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{what}: expected true or false, got {value!r}")


def _entropy(value: Any, what: str) -> float | None:
    """A number of bits per character in (0, 8], from a number or its text; None: off."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        bits = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{what}: expected bits per character, got {value!r}") from None
    if not 0 < bits <= 8:
        raise ConfigurationError(f"{what}: {bits} bits per character is not in (0, 8]")
    return bits


def _patterns(value: Any, what: str) -> tuple[str, ...]:
    """Name patterns: ``True`` is every name, ``False``/``None`` none, else strings."""
    if value is True:
        return ("*",)
    if value is False or value is None:
        return ()
    return _strings(value, what)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigurationError(f"{what}: expected a string or a list of strings, got {value!r}")
