"""Interruptions while recording: Ctrl-C (SIGINT), SIGTERM and SIGKILL of the pytest process.

After each: no ``wandb-core`` of that session runs any more, nor the reaper's
watchdog; a good cassette recorded before is byte-identical (an interrupted
recording is kept as ``.failed`` at most); and what the killed session left on
the upstream is swept by the next recording session, thanks to the journal.

The wandb SDK stops ``wandb-core`` from an ``atexit`` hook, which neither
SIGTERM's default action nor SIGKILL lets run; ``wandb_cassettes.runtime._watchdog``
turns SIGTERM into a KeyboardInterrupt and reaps the SDK's processes after a
SIGKILL (see its docstring). ``tests/unit/test_watchdog.py`` checks the reaper itself on
stand-in processes: it must kill exactly what it remembered, nothing else.
(wandb-core 0.31 on this machine also exits by itself within a second of its
parent's death, so the SIGKILL scenario below would pass without the watchdog;
the stand-in tests are what prove the watchdog. Without the SIGTERM handler the
SIGTERM scenario fails: exit -15, no teardown, no cleanup.)
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from support.cassette_builders import clean_flow
from support.polling import poll
from support.processes import descendants, kill, stat, wait_gone
from support.projects import FAST_RETRIES, FLOW, audit_secrets, make_project, output
from support.pytest_process import PYTEST, run_pytest, subprocess_env, wait_for_checkpoint

from wandb_cassettes import store as cs
from wandb_cassettes.runtime import _watchdog as reaper

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


# -- the plugin, interrupted while recording --------------------------------------------------

SLEEPER = (
    FLOW
    + """
import time
from pathlib import Path


@pytest.mark.wandb_cassette
def test_sleeps(tmp_path):
    run = wandb.init(project="interrupted")
    run.log({"loss": 1.0})
    artifact = wandb.Artifact("ckpt", type="model")
    (tmp_path / "model.pt").write_bytes(b"weights")
    artifact.add_file(str(tmp_path / "model.pt"))
    run.log_artifact(artifact).wait()
    Path(os.environ["AT_CHECKPOINT"]).touch()
    # In short sleeps: the kernel may hand the signal to one of the SDK's threads, and
    # CPython runs the handler once the main thread runs bytecode again, so a single
    # sleep(120) would outlast the test (CI saw it twice; this library's own threads
    # block the signals: record/_serve.py background_thread).
    for _ in range(1200):
        time.sleep(0.1)


@pytest.mark.wandb_cassette
def test_quick(tmp_path):
    flow(tmp_path, project="quick")
"""
)


RECORD = ("--record-mode=rewrite", "-k", "sleeps")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
def test_interrupted_recording(tmp_path, standin, sig):
    project = make_project(tmp_path / "p", test_sleeper=SLEEPER)
    path = project / "cassettes" / "test_sleeper" / "test_sleeps.yaml"
    path.parent.mkdir(parents=True)
    cs.save(clean_flow(), path)  # the good cassette of an earlier recording
    good = path.read_bytes()
    checkpoint = tmp_path / "checkpoint"
    proc = subprocess.Popen(
        [*PYTEST, *RECORD],
        cwd=project,
        # faulthandler: a session that does not end is asked where its threads are.
        env=subprocess_env(
            standin, **FAST_RETRIES, AT_CHECKPOINT=str(checkpoint), PYTHONFAULTHANDLER="1"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As a terminal starts it: a command run in the background by a shell without job
        # control (`make test &`, CI runners) inherits SIGINT ignored (POSIX, Shell Command
        # Language 2.11), and CPython then leaves it ignored: no Ctrl-C to test.
        preexec_fn=_default_sigint,
    )
    processes: dict[int, int] = {}
    try:
        wait_for_checkpoint(proc, checkpoint)
        processes = descendants(proc.pid)
        names = {stat(p)[0] for p in processes if stat(p)}  # type: ignore[index]
        assert "wandb-core" in names, names
        assert reaper.service_processes(proc.pid), "the reaper does not see the session's core"
        proc.send_signal(sig)
        try:
            out, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            stacks, _ = proc.communicate(timeout=30)
            pytest.fail(f"the session did not end within 90 s of {sig.name}:\n{stacks[-12000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    try:
        survivors = wait_gone(processes, 5)
        assert survivors == {}, {p: stat(p) for p in survivors}
    finally:
        kill(processes)  # never leave a core behind, even when the assertion fails
    # Nothing of the session is left in site-packages (the child-process hook), SIGKILL
    # included: the watchdog removes it once the session is gone.
    from wandb_cassettes import runtime as children

    pth = [d / f"wandb_cassettes_child_{proc.pid}.pth" for d in children.site_dirs()]
    assert poll(lambda: not any(p.exists() for p in pth), 5), pth

    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
        assert "KeyboardInterrupt" in out
    # The good cassette is byte-identical, and no temporary file is left beside it.
    assert path.read_bytes() == good
    leftovers = {p.name for p in path.parent.iterdir()} - {path.name, path.name + ".failed"}
    assert leftovers == set()
    journal_dir = project / ".wandb_cassettes" / "journal"

    if sig != signal.SIGKILL:
        # A clean interruption: teardown ran, so the automatic cleanup deleted what the test
        # created; the partial recording is kept for inspection only.
        assert "test failed or was interrupted while recording" in out
        assert cs.failed_path(path).exists()
        audit_secrets(cs.failed_path(path))
        assert standin.live() == {"runs": [], "artifacts": [], "collections": []}
        assert not list(journal_dir.glob("*.jsonl"))
        return

    # SIGKILL: nothing ran; the journal remembers; the next recording session sweeps.
    assert standin.live()["runs"], "the killed session should have left its run"
    assert list(journal_dir.glob("*.jsonl"))
    result = run_pytest(project, "--record-mode=once", "-k", "quick", upstream=standin)
    assert result.returncode == 0, output(result)
    assert "swept" in result.stdout
    assert standin.live() == {"runs": [], "artifacts": [], "collections": []}
    assert not list(journal_dir.glob("*.jsonl"))
    assert path.read_bytes() == good
