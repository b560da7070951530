"""Requirement lists read from pyproject.toml, for CI's other environments.

    python .ci/requirements.py lowest                      # each dependency at its lower bound
    python .ci/requirements.py extra test --without torch  # an extra's requirements, less some

``lowest`` pins every runtime dependency (``[project] dependencies``) to the
version its ``>=`` bound names, so that ``pip install -c <that> -e '.[test]'``
installs the oldest releases the metadata claims to support: a bound that
names no published release, or that the code does not work with, fails CI.
A dependency without a ``>=`` bound is an error (its lowest version would be
whatever the index holds).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def project(root: Path = ROOT) -> dict[str, object]:
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return dict(data["project"])


def split(requirement: str) -> tuple[str, str, str]:
    """``(name, specifiers, marker)`` of a PEP 508 requirement string (no URLs)."""
    text, _, marker = requirement.partition(";")
    match = _NAME.match(text)
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return match.group(1), match.group(3).strip(), marker.strip()


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lowest(root: Path = ROOT, *, besides: tuple[str, ...] = ()) -> list[str]:
    """``name==<lower bound>`` for every runtime dependency but those named in ``besides``
    (left to the resolver: ``wandb``, whose oldest supported minor has a CI job of its own,
    ``make test-sdk``, while the lowest-dependency job runs the whole suite)."""
    pins = []
    skip = {normalise(n) for n in besides}
    for requirement in project(root)["dependencies"]:  # type: ignore[attr-defined]
        name, specifiers, marker = split(requirement)
        if normalise(name) in skip:
            continue
        bounds = re.findall(r">=\s*([0-9][^,\s]*)", specifiers)
        if len(bounds) != 1:
            raise SystemExit(f"{requirement!r}: needs exactly one '>=' lower bound")
        pins.append(f"{name}=={bounds[0]}" + (f"; {marker}" if marker else ""))
    return pins


def extra(name: str, without: list[str], root: Path = ROOT) -> list[str]:
    """The requirements of the extra ``name``, less the packages named in ``without``."""
    extras = project(root).get("optional-dependencies", {})
    if name not in extras:  # type: ignore[operator]
        raise SystemExit(f"no extra {name!r} in pyproject.toml")
    skip = {normalise(n) for n in without}
    return [r for r in extras[name] if normalise(split(r)[0]) not in skip]  # type: ignore[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="write there (default: standard output)")
    sub = parser.add_subparsers(dest="command", required=True)
    low = sub.add_parser("lowest", help="constraints pinning each dependency to its lower bound")
    low.add_argument("--besides", nargs="*", default=[], metavar="PACKAGE")
    ex = sub.add_parser("extra", help="the requirements of an extra")
    ex.add_argument("name")
    ex.add_argument("--without", nargs="*", default=[], metavar="PACKAGE")
    args = parser.parse_args(argv)
    lines = (
        lowest(besides=tuple(args.besides))
        if args.command == "lowest"
        else extra(args.name, args.without)
    )
    text = "\n".join(lines) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
