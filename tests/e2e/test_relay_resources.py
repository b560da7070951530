"""The relay's resources stay flat: connections of ended cassettes are closed, and running
out of descriptors fails the test at once, naming the limit, instead of hanging it.

wandb-core opens new HTTP clients for each run and keeps their connections alive; before
the relay closed them, a replayed module held ~4 more sockets per test and hung at test 59
under ``ulimit -n 256`` (asyncio's accept loop failing with EMFILE each second, the SDK
waiting for answers that never came).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_EXHAUST = textwrap.dedent(
    """
    import json, os, resource, subprocess, sys, time
    from wandb_cassettes.store import Cassette
    from wandb_cassettes.record import Relay

    relay = Relay("https://api.wandb.ai").start()
    session = relay.replay_session(Cassette())
    relay.push(session)
    told = []  # when the relay was told that a connection could not be accepted
    tell = relay._server._on_exhausted
    relay._server._on_exhausted = lambda message: (told.append(time.monotonic()), tell(message))
    client = subprocess.Popen(
        [sys.executable, "-c", sys.argv[1], relay.url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    open_now = len(os.listdir("/proc/self/fd"))
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 8, hard))
    hog = []
    try:
        while True:
            hog.append(open(os.devnull))
    except OSError:
        pass
    cpu = time.process_time()
    client.stdin.write("go\\n"); client.stdin.flush()
    asked = time.monotonic()

    def tries():
        # asyncio fails up to a backlog of accepts at once, then stops accepting for a
        # second (constants.ACCEPT_RETRY_DELAY) and tries again: one burst per try.
        return [t for i, t in enumerate(told) if i == 0 or t - told[i - 1] > 0.5]

    # Wait for its third try, and see what the wait cost (a busy loop would spin meanwhile).
    while len(tries()) < 3 and time.monotonic() < asked + 10:
        time.sleep(0.05)
    spent = time.process_time() - cpu
    for f in hog:
        f.close()
    answer = client.stdout.readline()
    client.wait(10)
    relay.pop(session)
    relay.stop()
    print(json.dumps({
        "exhaustion": relay.exhaustion, "tries_after_s": [t - asked for t in tries()],
        "cpu_s": spent, "fatal": str(session.fatal), "answer": answer,
    }))
    """
)

_CLIENT = textwrap.dedent(
    """
    import http.client, sys
    sys.stdin.readline()
    from urllib.parse import urlsplit
    url = urlsplit(sys.argv[1])
    conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=20)
    conn.request("POST", url.path + "/graphql", body=b'{"query": "query Viewer { viewer { id } }"}')
    response = conn.getresponse()
    print(response.status, response.read().decode()[:400].replace("\\n", " "))
    """
)


def test_out_of_descriptors_fails_the_cassette_in_seconds_naming_the_limit(
    tmp_path: Path,
) -> None:
    import json

    done = subprocess.run(
        [sys.executable, "-c", _EXHAUST, _CLIENT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    tries = report["tries_after_s"]
    assert len(tries) >= 3 and tries[0] < 5, tries  # said at once, and again at each retry
    assert report["cpu_s"] < 1.0, "the relay spun while it could not accept"
    assert "EMFILE" in report["fatal"] and "`ulimit -n`" in report["fatal"]
    assert "the limit is" in report["fatal"]
    # Once descriptors are back, the waiting request is answered at once, saying why.
    status, _, text = report["answer"].partition(" ")
    assert status == "400"
    assert "out of file descriptors" in text
    assert "socket.accept() out of system resource" not in done.stderr  # no log per retry


MANY = """
import pytest
import wandb


@pytest.mark.wandb_cassette
@pytest.mark.parametrize("i", range(80))
def test_small(i):
    run = wandb.init(project="many", config={"i": i})
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1)})
    run.finish()
"""


def test_a_long_replayed_module_passes_under_a_low_descriptor_limit(tmp_path, standin) -> None:
    """80 replayed tests under ``ulimit -n 96``: before, the relay's idle connections
    (~4 per test) ran the process out of descriptors before test 20, and it hung."""
    from support.pytest_process import PYTEST, subprocess_env

    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_many.py").write_text(MANY)
    recorded = subprocess.run(
        [*PYTEST, "-q", "--record-mode=once"],
        cwd=tmp_path,
        env=subprocess_env(standin),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    limited = f"ulimit -n 96 && exec {' '.join(PYTEST)} -q --block-network"
    replayed = subprocess.run(
        ["bash", "-c", limited],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert replayed.returncode == 0, replayed.stdout[-3000:]
    assert "80 passed" in replayed.stdout
