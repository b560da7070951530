"""pytest-recording's own test suite, without and with wandb-cassettes: the outcomes must be equal.

Installing wandb-cassettes must change nothing for a project that uses no W&B
cassette. The proof: pytest-recording's tests (its sdist from PyPI ships them)
run three times in one virtual environment that holds pytest-recording (the
version of the environment running this script), its test requirements and
wandb-cassettes' dependencies:

1. ``absent``: wandb-cassettes not installed (the reference);
2. ``disabled``: installed, ``-p no:wandb_cassettes``;
3. ``installed``: installed, as a user gets it.

Why the reference is "not installed": most of pytest-recording's tests run
pytest inside pytest (``pytester``), and those inner sessions load installed
plugins again; ``-p no:wandb_cassettes`` reaches only the outer session
(pytester removes ``PYTEST_ADDOPTS``). So run 2 is the same as run 3 for the
inner sessions, and only run 1 is a reference.

Outcomes are compared test by test (JUnit XML); any difference fails.

    python .ci/pytest_recording_compat.py --venv build/venv-compat

Needs the network to PyPI (pip). Exit 0: equal; 1: a difference; 2: set-up failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "wandb-cassettes"
#: pytest-recording's tox.ini installs pycurl too: without it, its pycurl tests are skipped.
EXTRA_TEST_REQUIREMENTS = ["pycurl"]


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, **kwargs)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def pip(venv: Path, *args: str) -> None:
    run(
        [str(venv_python(venv)), "-m", "pip", "--disable-pip-version-check", *args],
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def installed_version(venv: Path, name: str) -> str | None:
    code = (
        "import importlib.metadata as m\n"
        f"try: print(m.version({name!r}))\n"
        "except m.PackageNotFoundError: print('')\n"
    )
    out = subprocess.run(
        [str(venv_python(venv)), "-c", code], check=True, text=True, capture_output=True
    ).stdout.strip()
    return out or None


def project_dependencies() -> list[str]:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(data["project"]["dependencies"])


def fetch_sdist(venv: Path, version: str, into: Path) -> Path:
    """pytest-recording's sdist from PyPI, unpacked; returns its folder."""
    pip(
        venv,
        "download",
        "--quiet",
        "--no-binary",
        ":all:",
        "--no-deps",
        "-d",
        str(into),
        f"pytest-recording=={version}",
    )
    (archive,) = into.glob("pytest_recording-*.tar.gz")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - Python < 3.11.4
            tar.extractall(into)
    folder = into / archive.name.removesuffix(".tar.gz")
    if not (folder / "tests").is_dir():
        raise SystemExit(f"{archive.name} ships no tests/ folder: nothing to compare")
    return folder


def test_requirements(sdist: Path) -> list[str]:
    """The sdist's ``tests`` extra (PKG-INFO ``Requires-Dist: ...; extra == 'tests'``)."""
    info = Parser().parsestr((sdist / "PKG-INFO").read_text())
    found = []
    for line in info.get_all("Requires-Dist") or []:
        requirement, _, marker = line.partition(";")
        if re.search(r"""extra\s*==\s*["']tests["']""", marker):
            found.append(requirement.strip())
    return found


def outcomes(xml_path: Path) -> dict[str, str]:
    """``{test id: outcome}`` from pytest's JUnit XML (a setup or teardown error adds 'error')."""
    result: dict[str, set[str]] = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        names = {"failure": "failed", "error": "error", "skipped": "skipped"}
        got = {names[k] for k in kinds} or {"passed"}
        result.setdefault(key, set()).update(got)
    return {k: "+".join(sorted(v - {"passed"} if len(v) > 1 else v)) for k, v in result.items()}


def run_suite(venv: Path, sdist: Path, name: str, out: Path, *extra: str) -> dict[str, str]:
    xml = out / f"{name}.xml"
    cmd = [
        str(venv_python(venv)),
        "-m",
        "pytest",
        "tests",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={xml}",
        *extra,
    ]
    print(f"\n=== run '{name}': pytest-recording's tests {' '.join(extra)}", flush=True)
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(cmd, cwd=sdist, text=True, capture_output=True, env=env)
    lines = proc.stdout.strip().splitlines()
    print(lines[-1] if lines else "(no output)")
    print(f"(exit {proc.returncode}, {time.monotonic() - started:.0f} s)", flush=True)
    if not xml.exists():
        print(proc.stdout[-5000:], proc.stderr[-5000:], sep="\n")
        raise SystemExit(2)
    return outcomes(xml)


def summary(found: dict[str, str]) -> str:
    counts = Counter(found.values())
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, required=True, help="virtual environment to use")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter that creates --venv if missing"
    )
    parser.add_argument(
        "--pytest-recording",
        default=None,
        help="version to test (default: the one installed beside this script's interpreter)",
    )
    args = parser.parse_args(argv)
    venv: Path = args.venv.resolve()
    version = args.pytest_recording or metadata.version("pytest-recording")

    if not venv_python(venv).exists():
        run([args.python, "-m", "venv", str(venv)])
    with tempfile.TemporaryDirectory(prefix="pytest-recording-compat-") as tmp:
        work = Path(tmp)
        sdist = fetch_sdist(venv, version, work)
        requirements = [
            f"pytest-recording=={version}",
            *test_requirements(sdist),
            *EXTRA_TEST_REQUIREMENTS,
            *project_dependencies(),
        ]
        pip(venv, "install", "--quiet", *requirements)
        if installed_version(venv, PLUGIN):
            pip(venv, "uninstall", "--quiet", "--yes", PLUGIN)

        absent = run_suite(venv, sdist, "absent", work)
        pip(venv, "install", "--quiet", "--no-deps", "-e", str(ROOT))
        disabled = run_suite(venv, sdist, "disabled", work, "-p", "no:wandb_cassettes")
        installed = run_suite(venv, sdist, "installed", work)

    print(f"\npytest-recording {version}: its own test suite, test by test")
    print(f"  absent    (wandb-cassettes not installed): {summary(absent)}")
    print(f"  disabled  (-p no:wandb_cassettes):         {summary(disabled)}")
    print(f"  installed (wandb-cassettes installed):     {summary(installed)}")
    if not absent:
        print("FAIL: the reference run ran no test")
        return 1
    not_passing = sorted(k for k, v in absent.items() if v not in ("passed", "skipped"))
    if not_passing:
        print("  not passing without wandb-cassettes either (this machine, not the plugin):")
        for key in not_passing:
            print(f"    {absent[key]:8} {key}")
    differences = []
    for name, other in (("disabled", disabled), ("installed", installed)):
        for key in sorted(absent.keys() | other.keys()):
            if absent.get(key) != other.get(key):
                differences.append(
                    f"  {name}: {key}: {absent.get(key, 'absent')} -> {other.get(key, 'absent')}"
                )
    if differences:
        print("FAIL: outcomes differ once wandb-cassettes is installed:")
        print("\n".join(differences))
        return 1
    print(f"OK: the same outcome for all {len(absent)} tests in the three runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
