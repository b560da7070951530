"""Which recorded interaction answers a live request, and what replay does not compare."""

from __future__ import annotations

from ._ignore import PRESETS, defined_metrics, parse_ignore, preset, presets_in, wandb_term
from ._matching import (
    DEFAULT_RULES,
    Matcher,
    MatchRules,
    canonical,
    interaction_key,
    meaning,
    parsed,
    request_key,
    substitutions,
    target_of,
)
from ._restore import Restorations

__all__ = [
    "DEFAULT_RULES",
    "PRESETS",
    "MatchRules",
    "Matcher",
    "Restorations",
    "canonical",
    "defined_metrics",
    "interaction_key",
    "meaning",
    "parse_ignore",
    "parsed",
    "preset",
    "presets_in",
    "request_key",
    "substitutions",
    "target_of",
    "wandb_term",
]
