"""Run the test suite on a Python that has no torch: deselect the ``torch`` tests, count them.

torch (a 2.13.0 CPU wheel) installs here on Python 3.11 only; on 3.13 pip
would fetch a multi-GB CUDA build. Tests that need torch carry the ``torch``
marker (the test itself imports torch, or a project it runs does). On the
Python without torch they are deselected, never skipped, and this script
prints how many:

    python .ci/without_torch.py --reference .venv/bin/python \\
        --python build/venv-newest/bin/python [--marker EXPR] [--workers 2] [pytest args]

1. The reference interpreter (one with torch: the 3.11 environment) collects
   the selection, and the ``torch`` tests in it.
2. Modules all of whose tests are ``torch`` ones are not imported at all
   (``--ignore``: they import torch at the top); the other ``torch`` tests are
   deselected by marker.
3. The interpreter without torch collects the rest: it must be exactly the
   reference's selection less the ``torch`` tests, or this fails (a test lost
   or gained on the way is an error, not a footnote).
4. Then it runs them (exit status: pytest's).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collect(python: str, marker: str, args: list[str]) -> list[str]:
    """Node ids that ``python -m pytest --collect-only`` selects."""
    cmd = [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "-m", marker]
    proc = subprocess.run([*cmd, *args], cwd=ROOT, text=True, capture_output=True)
    if proc.returncode not in (0, 5):  # 5: nothing selected
        print(proc.stdout[-10000:], proc.stderr[-5000:], sep="\n")
        raise SystemExit(f"collection failed ({' '.join(cmd)} ...): exit {proc.returncode}")
    return [line for line in proc.stdout.splitlines() if "::" in line and not line.startswith(" ")]


def module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _names_module(arg: str, modules: list[str]) -> bool:
    """Whether the command-line argument ``arg`` is (a node of) one of ``modules``."""
    if arg.startswith("-"):
        return False
    path = (ROOT / arg.split("::", 1)[0]).resolve()
    return any(path == (ROOT / m).resolve() for m in modules)


def has_torch(python: str) -> bool:
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"
    return subprocess.run([python, "-c", code]).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="a Python with torch (collects)")
    parser.add_argument("--python", required=True, help="the Python without torch (runs)")
    parser.add_argument("--marker", default="", help="marker expression selecting the tests")
    parser.add_argument("--workers", default="0", help="pytest-xdist workers (0: none)")
    parser.add_argument("pytest_args", nargs="*", help="paths, -k ... (after --)")
    args = parser.parse_args(argv)
    if not has_torch(args.reference):
        raise SystemExit(f"{args.reference} has no torch: it cannot be the reference")
    if has_torch(args.python):
        raise SystemExit(f"{args.python} has torch: run the suite as it is there")

    def both(expression: str) -> str:
        return f"({args.marker}) and {expression}" if args.marker else expression

    started = time.monotonic()
    selected = collect(args.reference, args.marker, args.pytest_args)
    torch = collect(args.reference, both("torch"), args.pytest_args)
    per_module = Counter(module(n) for n in selected)
    torch_per_module = Counter(module(n) for n in torch)
    ignored = sorted(m for m, n in torch_per_module.items() if n == per_module[m])
    marker = both("not torch")
    # --ignore leaves out what a folder holds; a module named on the command line goes too.
    kept = [a for a in args.pytest_args if not _names_module(a, ignored)]
    narrowed = [*kept, *(f"--ignore={m}" for m in ignored)]
    here = collect(args.python, marker, narrowed)

    version = subprocess.run(
        [args.python, "-c", "import sys; print(sys.version.split()[0])"],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    by_marker = len(torch) - sum(torch_per_module[m] for m in ignored)
    print(f"Python {version} has no torch: {len(torch)} of the {len(selected)} selected tests")
    print(f"need it and are DESELECTED here (counted by {args.reference}), not skipped:")
    for name in ignored:
        print(f"  {torch_per_module[name]:3} in {name} (not imported: all its tests need torch)")
    for name in sorted(set(torch_per_module) - set(ignored)):
        print(f"  {torch_per_module[name]:3} in {name} (deselected by the torch marker)")
    print(f"  = {len(torch)} deselected ({by_marker} by marker); {len(here)} tests to run")
    print(f"(collection: {time.monotonic() - started:.0f} s)", flush=True)

    expected = set(selected) - set(torch)
    if set(here) != expected:
        for node in sorted(expected - set(here)):
            print(f"  LOST on {version}: {node}")
        for node in sorted(set(here) - expected):
            print(f"  NEW on {version}: {node}")
        print("FAIL: this Python does not collect the reference's selection less torch")
        return 1

    cmd = [args.python, "-m", "pytest", "-ra", "-m", marker, *narrowed]
    if args.workers != "0":
        cmd += ["-n", args.workers]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
