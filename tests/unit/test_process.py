"""The process runtime: where recording goes, with which key, and the SDK state it replaces."""

from __future__ import annotations

import os
from pathlib import Path

from support import login

from wandb_cassettes.runtime._process import _inherited_service, default_upstream, upstream_api_key


def test_the_default_upstream_is_where_the_sdk_would_go(tmp_path: Path):
    import wandb

    empty = tmp_path / "empty"
    empty.mkdir()
    # The SDK's own default, whichever wandb of the window (0.31: the Forge host; 0.29,
    # 0.30: api.wandb.ai): what a Settings made with nothing set holds.
    default = str(wandb.Settings().base_url).rstrip("/")
    assert default_upstream({"WANDB_CONFIG_DIR": str(empty)}) == default
    # `wandb login --host` writes the host into the settings file: the SDK goes there.
    logged_in = login.settings(tmp_path / "cfg", "https://wandb.corp.example/")
    assert default_upstream({"WANDB_CONFIG_DIR": str(logged_in)}) == "https://wandb.corp.example"
    # The shell and the plugin's own variable come first.
    env = {"WANDB_CONFIG_DIR": str(logged_in), "WANDB_BASE_URL": "https://other.example"}
    assert default_upstream(env) == "https://other.example"
    env["WANDB_CASSETTES_UPSTREAM"] = "https://mine.example/"
    assert default_upstream(env) == "https://mine.example"


def test_the_key_is_found_where_the_sdk_finds_it(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(login.netrc(tmp_path / "netrc", "wandb.corp.example")))
    assert upstream_api_key("https://wandb.corp.example") == login.KEY
    assert upstream_api_key("https://elsewhere.example") is None
    assert upstream_api_key("https://elsewhere.example", {"WANDB_API_KEY": "k" * 40}) == "k" * 40


def test_a_service_another_process_started_is_told_apart():
    mine, other = os.getpid(), os.getpid() + 1
    assert not _inherited_service(f"3-{mine}-unix-/tmp/wandb-1/socket")
    assert _inherited_service(f"3-{other}-unix-/tmp/wandb-1/socket")
    assert _inherited_service(f"3-{other}-tcp-localhost-5555")
    assert not _inherited_service(None) and not _inherited_service("garbage")
