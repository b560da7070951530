"""Secrets and personal data out of cassettes: the rules, the engine, the pipeline."""

from __future__ import annotations

from ._archives import ARCHIVE_BUDGET, UNSEARCHED
from ._catalogue import CACHE_ENV, CACHE_FOLDER, CATALOGUE, CONFIDENCE, PACKAGE, Catalogue
from ._engine import (
    DEFAULT,
    KEY_PIECE_MIN,
    Scrubber,
    SecretFinding,
    find_secrets,
    find_secrets_in_interaction,
    is_sensitive_header,
    scrub_interaction,
    scrub_text,
)
from ._personal import (
    EMAIL_PLACEHOLDER,
    NAME_PLACEHOLDER,
    PHOTO_PLACEHOLDER,
    USERNAME_PLACEHOLDER,
    PersonalData,
    find_personal_data,
    find_personal_data_in_interaction,
    find_personal_data_in_metadata,
    is_exempt_ip,
    is_reserved_email,
    matching_form,
)
from ._pipeline import CassetteScrubber, scrub_name
from ._rules import API_KEY_PLACEHOLDER, REDACTED, RULES, SecretRule, entropy_rule

__all__ = [
    "API_KEY_PLACEHOLDER",
    "ARCHIVE_BUDGET",
    "CACHE_ENV",
    "CACHE_FOLDER",
    "CATALOGUE",
    "CONFIDENCE",
    "DEFAULT",
    "EMAIL_PLACEHOLDER",
    "KEY_PIECE_MIN",
    "NAME_PLACEHOLDER",
    "PACKAGE",
    "PHOTO_PLACEHOLDER",
    "REDACTED",
    "RULES",
    "UNSEARCHED",
    "USERNAME_PLACEHOLDER",
    "CassetteScrubber",
    "Catalogue",
    "PersonalData",
    "Scrubber",
    "SecretFinding",
    "SecretRule",
    "entropy_rule",
    "find_personal_data",
    "find_personal_data_in_interaction",
    "find_personal_data_in_metadata",
    "find_secrets",
    "find_secrets_in_interaction",
    "is_exempt_ip",
    "is_reserved_email",
    "is_sensitive_header",
    "matching_form",
    "scrub_interaction",
    "scrub_name",
    "scrub_text",
]
