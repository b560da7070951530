"""The example project's committed cassettes audit clean."""

from __future__ import annotations

from support.paths import ROOT

from wandb_cassettes.cli import main as cli


def test_committed_example_cassettes_are_clean():
    assert cli(["audit", str(ROOT / "cassettes")]) == 0
