"""``fast_wandb_test``'s settings, without a run."""

import pytest
import wandb

from wandb_cassettes.helpers import (
    QUIET_SETTINGS,
    quiet_settings,
)


def test_quiet_settings_switch_off_capture():
    settings = quiet_settings()
    assert settings.console == "off"
    assert settings.x_disable_stats and settings.x_disable_meta and settings.x_disable_machine_info
    assert settings.disable_git and settings.disable_code
    assert settings.save_code is False and settings.x_save_requirements is False


@pytest.mark.parametrize("overrides", [{"console": "wrap"}, wandb.Settings(console="wrap")])
def test_overrides_change_only_what_they_set(overrides):
    settings = quiet_settings(overrides)
    assert settings.console == "wrap"
    # A wandb.Settings has defaults for every field; only the set ones count.
    assert settings.x_disable_stats is True
    assert set(QUIET_SETTINGS) <= set(settings.model_fields_set)
