"""The ``wandb-cassettes`` command as a process: ``python -m``, the console script, a closed
pipe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.cassette_builders import leaky_flow

from wandb_cassettes.store import save


def test_python_dash_m_runs_the_cli(tmp_path):
    save(leaky_flow(), tmp_path / "t.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "wandb_cassettes", "audit", "--format", "json", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["summary"]["dirty"] == 1


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("wandb-cassettes")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("wandb-cassettes ")


def test_a_closed_pipe_ends_the_audit_quietly(tmp_path):
    for i in range(40):
        save(leaky_flow(), tmp_path / f"t{i}.yaml")
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE
    )
    assert reader.stdin is not None
    done = subprocess.run(
        [sys.executable, "-m", "wandb_cassettes", "audit", "--format", "json", str(tmp_path)],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    reader.stdin.close()
    reader.wait()
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
