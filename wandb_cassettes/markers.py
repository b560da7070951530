"""The markers of wandb-cassettes, registered by a pytest plugin of their own.

A plugin apart from :mod:`.plugin` (entry point ``wandb_cassettes_markers``), so that
``pytest -p no:wandb_cassettes`` (the plugin off for a run) still knows
``@pytest.mark.wandb_cassette`` and the others: under ``--strict-markers`` an unknown
marker is a collection error (pytest's ``markers`` ini setting, "Registering marks").
A project that turns this one off too registers them itself, with the lines of
``pytest --markers`` (docs/options.md says how).
"""

from __future__ import annotations

import pytest

from .helpers import EPOCHS_MARKER_HELP

MARKER = "wandb_cassette"
MARKER_HELP = (
    f"{MARKER}(name=None, *, ignore=[...], keep=False|[...], foreign_changes=False|[...], "
    "record_mode=None, before_record=[...], secret_patterns=[...], harmless=[...], "
    "strict=False, entropy=None, same_sdk=False): record this test's W&B traffic into "
    "cassettes/<module>/<name>.yaml once, replay it offline. ignore: values replay does "
    "not compare (name, group, "
    "config.<key>, metadata.<key>...); keep: resources the automatic cleanup "
    "leaves (True: all); foreign_changes: resources the test did not create that it "
    "changes on purpose (not restored; True: all)."
)
#: Every marker line, as pytest's ``markers`` ini setting takes them.
MARKERS = (
    MARKER_HELP,
    "fast: a fast test (replayed or pure), run in CI.",
    "integration: a test of real W&B behaviour (replayed in CI).",
    EPOCHS_MARKER_HELP,
)
#: The name this module is registered under (pyproject's ``pytest11`` entry points).
PLUGIN_NAME = "wandb_cassettes_markers"


def register(config: pytest.Config) -> None:
    """Add :data:`MARKERS` to ``config`` (pytest ignores nothing twice: call it once)."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def pytest_configure(config: pytest.Config) -> None:
    register(config)
