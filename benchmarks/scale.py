"""A suite as it grows: N small W&B tests, replayed against the same tests run without W&B.

One module of N tests (each ``wandb.init``, three ``run.log``, ``run.finish``) runs as a
whole pytest process in each mode, side by side, in paired rounds (load from other work
on the machine skews both alike); the figures are medians:

* ``replay``: marked, recorded once against the stand-in, replayed with ``--block-network``;
* ``offline-quiet``: unmarked, ``WANDB_MODE=offline`` with the same SDK settings replay
  applies (no system stats, console capture, git, code or machine info): the fair floor;
* ``offline``: unmarked, ``WANDB_MODE=offline`` with the SDK's defaults;
* ``disabled``: unmarked, ``WANDB_MODE=disabled`` (the SDK does nothing);
* ``empty``: the same tests with an empty body (pytest alone);
* ``record``: marked, recorded against the stand-in on loopback.

Per session: the wall time, the median per-test time (junit: set-up, call, teardown; the
first test apart), the peak RSS (``VmHWM``) of the pytest process and of its wandb-core,
and the descriptors both hold at the end (read by a conftest hook in
``pytest_sessionfinish``, after the last test). The marginal cost of a test is the slope of
the wall time between two sizes. One more row replays the largest module under
``ulimit -n 1024``, a common default soft limit.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

MODES = ("replay", "offline-quiet", "offline", "disabled", "empty")

TEST_MODULE = """
import os

import pytest

pytestmark = [pytest.mark.wandb_cassette] if os.environ.get("BENCH_MARKED") else []


@pytest.mark.parametrize("i", range({n}))
def test_flow(i):
    if os.environ.get("BENCH_EMPTY"):
        return
    import wandb

    run = wandb.init(project="bench-scale", config={{"i": i}})
    for step in range(3):
        run.log({{"loss": 1.0 / (step + 1)}})
    run.finish()
"""

#: Reads what the session used, after its last test: the pytest process and its wandb-core.
CONFTEST = """
import json
import os


def _status(pid, field):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None


def _fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def _children(name):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/comm") as fh:
                comm = fh.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and comm.startswith(name):
            found.append(int(entry))
    return found


def pytest_sessionfinish(session):
    out = os.environ.get("BENCH_STATS")
    if not out:
        return
    cores = _children("wandb-core")
    stats = {
        "pytest_hwm_kb": _status(os.getpid(), "VmHWM"),
        "pytest_fds": _fds(os.getpid()),
        "core_hwm_kb": max((_status(p, "VmHWM") or 0 for p in cores), default=None),
        "core_fds": sum(_fds(p) or 0 for p in cores) if cores else None,
    }
    with open(out, "w") as fh:
        json.dump(stats, fh)
"""


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def write_project(root: Path, n: int) -> Path:
    """A project of ``n`` tests in ``root/n-<n>``."""
    project = root / f"n-{n}"
    project.mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (project / "conftest.py").write_text(CONFTEST)
    (project / "test_scale.py").write_text(TEST_MODULE.format(n=n))
    return project


def mode_env(mode: str, base: dict[str, str], quiet: dict[str, str]) -> dict[str, str]:
    """The environment of a session in ``mode`` (``base``: no WANDB_* of the shell)."""
    env = dict(base)
    if mode in ("replay", "record"):
        env["BENCH_MARKED"] = "1"
    elif mode == "offline-quiet":
        env.update(quiet, WANDB_MODE="offline")
    elif mode == "offline":
        env.update(WANDB_MODE="offline", WANDB_SILENT="true")
    elif mode == "disabled":
        env.update(WANDB_MODE="disabled", WANDB_SILENT="true")
    elif mode == "empty":
        env["BENCH_EMPTY"] = "1"
    else:
        raise ValueError(mode)
    return env


def pytest_session(
    command: list[str], cwd: Path, env: dict[str, str], junit: Path, what: str, *, timeout: float
) -> tuple[float, ET.Element]:
    """Run ``command`` (a pytest session writing ``--junitxml`` to ``junit``): its wall time
    (s) and its ``testsuite``; a failed session ends the bench, naming ``what``."""
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:])
        raise SystemExit(f"{what} failed ({done.returncode})")
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    return wall, suite


def session(
    project: Path, mode: str, env: dict[str, str], *, args: list[str], ulimit_n: int | None = None
) -> dict[str, Any]:
    """One pytest process of ``project`` in ``mode``: its wall time, per-test times and use."""
    junit = project / f".junit-{mode}.xml"
    stats = project / f".stats-{mode}.json"
    stats.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    command += [*args, f"--junitxml={junit}"]
    if ulimit_n is not None:
        command = ["bash", "-c", f'ulimit -n {ulimit_n} && exec "$@"', "bash", *command]
    what = f"scale {project.name} {mode}"
    wall, suite = pytest_session(
        command, project, dict(env, BENCH_STATS=str(stats)), junit, what, timeout=3600
    )
    times = [float(c.get("time", 0)) for c in suite.findall("testcase")]
    used = json.loads(stats.read_text()) if stats.exists() else {}
    return {"wall_s": wall, "tests": len(times), "first_s": times[0], "later_s": times[1:], **used}


def measure(
    root: Path,
    sizes: list[int],
    *,
    rounds: int,
    upstream: str,
    api_key: str,
    base_env: dict[str, str],
    quiet: dict[str, str],
    ulimit_size: int | None,
    ulimit_n: int = 1024,
) -> dict[str, Any]:
    """Every mode at every size, ``rounds`` paired rounds; then the ulimit row."""
    replay_args = ["--record-mode=none", "--block-network"]
    out: dict[str, Any] = {"sizes": sizes, "rounds": rounds, "runs": {}}
    for n in sorted(set(sizes) | ({ulimit_size} if ulimit_size else set())):
        project = write_project(root, n)
        print(f"[scale] N={n}: record ...", flush=True)
        record_env = dict(mode_env("record", base_env, quiet), WANDB_API_KEY=api_key)
        record_args = ["--record-mode=rewrite", "--wandb-upstream", upstream]
        out["runs"].setdefault(f"{n}:record", []).append(
            session(project, "record", record_env, args=record_args)
        )
        if n not in sizes:
            continue
        for r in range(rounds):
            print(f"[scale] N={n}: round {r + 1}/{rounds}: {', '.join(MODES)} ...", flush=True)
            for mode in MODES:
                args = replay_args if mode == "replay" else []
                run = session(project, mode, mode_env(mode, base_env, quiet), args=args)
                out["runs"].setdefault(f"{n}:{mode}", []).append(run)
    if ulimit_size:
        project = root / f"n-{ulimit_size}"
        print(f"[scale] N={ulimit_size}: replay under ulimit -n {ulimit_n} ...", flush=True)
        run = session(
            project,
            "replay",
            mode_env("replay", base_env, quiet),
            args=replay_args,
            ulimit_n=ulimit_n,
        )
        out["ulimit"] = {"n": ulimit_n, "size": ulimit_size, **run}
    return out


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    """Medians per size and mode; marginal cost per test between consecutive sizes."""
    rows: dict[str, dict[str, Any]] = {}
    for key, runs in data["runs"].items():
        rows[key] = {
            "wall_s": _median([r["wall_s"] for r in runs]),
            "per_test_s": _median([t for r in runs for t in r["later_s"]]),
            "pytest_hwm_mb": _median([(r.get("pytest_hwm_kb") or 0) / 1024 for r in runs]),
            "core_hwm_mb": _median([(r.get("core_hwm_kb") or 0) / 1024 for r in runs]),
            "pytest_fds": max(r.get("pytest_fds") or 0 for r in runs),
            "core_fds": max(r.get("core_fds") or 0 for r in runs),
        }
    sizes = sorted(data["sizes"])
    for mode in (*MODES, "record"):
        for small, big in itertools.pairwise(sizes):
            a, b = rows.get(f"{small}:{mode}"), rows.get(f"{big}:{mode}")
            if a and b:
                b.setdefault("marginal_s", (b["wall_s"] - a["wall_s"]) / (big - small))
    return rows


def render(data: dict[str, Any], rows: dict[str, Any]) -> list[str]:
    """The table the README shows: one line per size and mode."""
    lines = [
        "",
        "| N tests | mode | wall | marginal per test | x offline-quiet | per test (median) "
        "| peak RSS pytest / wandb-core | descriptors at the end, pytest / wandb-core |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n in sorted(data["sizes"]):
        floor = rows.get(f"{n}:offline-quiet", {}).get("marginal_s")
        for mode in (*MODES, "record"):
            row = rows.get(f"{n}:{mode}")
            if row is None:
                continue
            marginal = row.get("marginal_s")
            cost = f"{1000 * marginal:.1f} ms" if marginal is not None else "-"
            ratio = f"{marginal / floor:.2f}" if marginal is not None and floor else "-"
            core_mb = f"{row['core_hwm_mb']:.0f} MB" if row["core_hwm_mb"] else "-"
            per_test = row["per_test_s"]
            median = f"{1000 * per_test:.1f} ms" if per_test == per_test else "-"  # NaN: N=1
            lines.append(
                f"| {n} | {mode} | {row['wall_s']:.2f} s | {cost} | {ratio} | "
                f"{median} | {row['pytest_hwm_mb']:.0f} MB / {core_mb} | "
                f"{row['pytest_fds']} / {row['core_fds'] or '-'} |"
            )
    if "ulimit" in data:
        u = data["ulimit"]
        lines += [
            "",
            f"replay of {u['size']} tests under `ulimit -n {u['n']}`: passed, {u['wall_s']:.1f} s; "
            f"peak RSS pytest {(u.get('pytest_hwm_kb') or 0) / 1024:.0f} MB, wandb-core "
            f"{(u.get('core_hwm_kb') or 0) / 1024:.0f} MB; descriptors at the end: pytest "
            f"{u.get('pytest_fds')}, wandb-core {u.get('core_fds')}",
        ]
    return lines


def quiet_settings() -> dict[str, str]:
    """The SDK settings replay applies (``wandb_cassettes.runtime``'s), for offline-quiet."""
    from wandb_cassettes.runtime._env import QUIET_SETTINGS

    return dict(QUIET_SETTINGS)


if __name__ == "__main__":  # pragma: no cover - run through benchmarks/run.py
    print("run: python benchmarks/run.py --only scale", file=sys.stderr)
    sys.exit(os.EX_USAGE)
