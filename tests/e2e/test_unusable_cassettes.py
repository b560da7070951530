"""Bad cassettes, through the plugin: a clear failure naming the file (and line), file untouched.

Each test of a throwaway project replays one damaged cassette (picked by the
marker's name). Whatever the damage, the test fails with ``wandb cassette
unusable: <file>:<line>: <what>`` (or names both SDK versions), and the file's
bytes and modification time are what they were: replay never "repairs" a
cassette, and ``--record-mode=once`` does not record over one it cannot read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from support.cassette_builders import clean_flow
from support.projects import make_project, output
from support.pytest_process import run_pytest

from wandb_cassettes import store as cs

VALID = cs.dumps(clean_flow())


def _without_uri(index: int) -> str:
    tree = yaml.safe_load(VALID)
    del tree["interactions"][index]["request"]["uri"]
    return yaml.safe_dump(tree, sort_keys=False)


def _with_sdk(version: str) -> str:
    return cs.dumps(cs.Cassette([], {"format": cs.FORMAT, "wandb": version}))


#: name -> (file content, what the failure must say, the line it must name or None)
BAD: dict[str, tuple[str | bytes, str, int | None]] = {
    "empty": ("", "empty file", None),
    "blank": ("\n  \n", "empty file", None),
    "truncated": (VALID[: len(VALID) // 2], r"invalid YAML|looks truncated", -1),
    "truncated_at_line_end": (
        VALID[: VALID.rfind("\n", 0, len(VALID) * 2 // 3) + 1],
        "looks truncated",
        -1,
    ),
    "invalid_yaml": ("interactions:\n- request: {method: GET\nversion: 1\n", "invalid YAML", 3),
    "tabs": ("interactions:\n\t- x\nversion: 1\n", "invalid YAML", 2),
    "nul_bytes": ("version: 1\ninteractions: []\n\0\0\0", "invalid YAML", 3),
    "not_utf8": (b"version: 1\ninteractions: []\n# \xff\xfe\n", "cannot read", None),
    "a_list": ("- 1\n- 2\n", "not a cassette", None),
    "vcr_version_2": (VALID.replace("version: 1", "version: 2"), "cassette version 2", -1),
    "other_format": (
        VALID.replace(cs.FORMAT, "wandb-cassettes/9"),
        "unsupported format 'wandb-cassettes/9'",
        -2,
    ),
    "missing_uri": (_without_uri(5), "interaction 5: request needs 'method' and 'uri'", -3),
    "status_not_int": (
        VALID.replace("code: 200", "code: two hundred", 1),
        "response needs 'status: {code: <int>}'",
        -3,
    ),
    "python_tag": (
        "!!python/object/apply:os.system ['echo pwned']\n",
        "could not determine a constructor",
        1,
    ),
}
#: SDK versions of another release line (another major, another 0.x minor): tried all the same.
OTHER_SDK = {"sdk_major": "1.2.0", "sdk_minor": "0.30.2"}
#: A patch release of the same minor replays.
SAME_MINOR = "0.31.7"

TESTS = "\n".join(
    f"""
@pytest.mark.wandb_cassette("{name}")
def test_{name}():
    pass
"""
    for name in [*BAD, *OTHER_SDK, "same_minor"]
)
MODULE = "import pytest\n" + TESTS


def _expected_lines(name: str, text: str | bytes, spec: int | None) -> set[int | None]:
    """Where the error may point. Negative specs: -1 the version key, else the end of the file
    (its last line, or the end of the stream just after it); -2 the ``format:`` key; -3 the
    interaction that was damaged."""
    if spec is None or spec > 0 or isinstance(text, bytes):
        return {spec}
    lines = text.splitlines()
    if spec == -1:
        at = [i for i, x in enumerate(lines) if x.startswith("version:")]
        return {at[0] + 1} if at else {len(lines), len(lines) + 1}
    if spec == -2:
        return {next(i for i, x in enumerate(lines) if x.strip().startswith("format:")) + 1}
    items = [i for i, x in enumerate(lines) if x.startswith("- ")]
    index = 5 if name == "missing_uri" else 0
    return {items[index] + 1}


@pytest.fixture
def bad_project(tmp_path: Path) -> tuple[Path, dict[Path, tuple[bytes, int]]]:
    project = make_project(tmp_path / "p", test_bad=MODULE)
    folder = project / "cassettes" / "test_bad"
    folder.mkdir(parents=True)
    files: dict[str, str | bytes] = {name: spec[0] for name, spec in BAD.items()}
    files.update({name: _with_sdk(v) for name, v in OTHER_SDK.items()})
    files["same_minor"] = _with_sdk(SAME_MINOR)
    before = {}
    for name, content in files.items():
        path = folder / f"{name}.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
        before[path] = (path.read_bytes(), path.stat().st_mtime_ns)
    return project, before


def _failures(out: str) -> dict[str, str]:
    """The failure text of each test of the run, by test name."""
    sections = re.split(r"\n_{3,} (?:ERROR at setup of )?(test_\w+) _{3,}\n", out)
    return {sections[i]: sections[i + 1] for i in range(1, len(sections) - 1, 2)}


@pytest.mark.parametrize("mode", ["none", "once"])
def test_bad_cassettes_fail_clearly_and_stay_untouched(bad_project, mode):
    project, before = bad_project
    result = run_pytest(project, f"--record-mode={mode}", "-p", "no:warnings")
    out = output(result)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, out
    failures = _failures(out)
    folder = project / "cassettes" / "test_bad"
    for name, (text, says, spec) in BAD.items():
        failure = failures.get(f"test_{name}")
        assert failure is not None, f"test_{name} did not fail:\n{out}"
        path = folder / f"{name}.yaml"
        m = re.search(rf"wandb cassette unusable: {re.escape(str(path))}(?::(\d+))?: ", failure)
        assert m is not None, (name, failure)
        line = int(m.group(1)) if m.group(1) else None
        assert line in _expected_lines(name, text, spec), (name, failure)
        assert re.search(says, failure), (name, failure)
        assert "Traceback" not in failure
    # Another SDK's cassette is tried, never refused by its version alone (issue 24; the
    # opt-in refusal: tests/e2e/test_sdk_window.py): these tests send nothing, so they pass.
    for name in [*OTHER_SDK, "same_minor"]:
        assert f"test_{name}" not in failures, failures.get(f"test_{name}")
    assert f"{len(OTHER_SDK) + 1} passed" in out
    # Not one byte changed, not one file added (no .failed, no temporary file).
    for path, (data, mtime) in before.items():
        assert path.read_bytes() == data, path
        assert path.stat().st_mtime_ns == mtime, path
    assert sorted(folder.iterdir()) == sorted(before)
