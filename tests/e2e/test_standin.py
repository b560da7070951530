"""The stand-in as a command: ``python -m wandb_cassettes_standin`` serves, and ``--run`` serves a
child command, forwards signals to it and exits with its code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest
from support.standin_http import core_document, send

# -- the command line -------------------------------------------------------------------


def test_main_prints_the_env_and_exits_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wandb_cassettes_standin", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        api_key = proc.stdout.readline().strip()
        assert re.fullmatch(r"WANDB_BASE_URL=http://127\.0\.0\.1:\d+", base_url)
        assert api_key.startswith("WANDB_API_KEY=")
        status, _, raw = send("GET", base_url.split("=", 1)[1] + "/_standin/state")
        assert status == 200 and json.loads(raw)["runs"] == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


_CHILD = """
import base64, json, os, sys, urllib.request
url, key = os.environ["WANDB_CASSETTES_UPSTREAM"], os.environ["WANDB_API_KEY"]
headers = {"Authorization": "Basic " + base64.b64encode(f"api:{key}".encode()).decode()}
body = json.dumps({"query": sys.argv[1]}).encode()
with urllib.request.urlopen(urllib.request.Request(url + "/graphql", body, headers)) as resp:
    print(url, json.load(resp)["data"]["viewer"]["entity"])
sys.exit(3)
"""


def test_run_serves_the_child_then_exits_with_its_code() -> None:
    standin = [sys.executable, "-m", "wandb_cassettes_standin", "--entity", "ci"]
    cmd = [*standin, "--run", "--", sys.executable, "-c", _CHILD, core_document("Viewer")]
    proc = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 3, proc.stderr
    url, entity = proc.stdout.split()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and entity == "ci"
    with pytest.raises(urllib.error.URLError):  # the backend stopped with the child
        send("GET", url + "/_standin/state")
    for bad in (["--run"], ["--", "true"]):
        assert subprocess.run([*standin, *bad], capture_output=True, check=False).returncode == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_run_forwards_signals_to_the_child(signum: int) -> None:
    child = (
        "import signal, sys, time\n"
        f"signal.signal({signum}, lambda *_: sys.exit(40 + {signum}))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    run = [sys.executable, "-m", "wandb_cassettes_standin", "--run", "--"]
    proc = subprocess.Popen(
        [*run, sys.executable, "-c", child],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no terminal: a signal reaches the child only if forwarded
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 40 + signum
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
