"""The README's fenced code blocks, each with what it is and whether it is run (and why not)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from support.paths import ROOT

README = ROOT / "README.md"

_FENCE = re.compile(r"^```(\w*)(?:\s+title=\"([^\"]+)\")?\s*$")
_NOT_RUN = re.compile(r"^<!-- readme: not run \((.+)\) -->$")


@dataclass(frozen=True)
class Block:
    lang: str
    title: str | None
    text: str
    line: int
    not_run: str | None

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.lang or 'plain'})"


def blocks() -> list[Block]:
    found: list[Block] = []
    lines = README.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        reason = _NOT_RUN.match(lines[start - 1]) if start else None
        found.append(
            Block(
                fence.group(1),
                fence.group(2),
                "\n".join(body) + "\n",
                start + 1,
                reason.group(1) if reason else None,
            )
        )
        i += 1
    return found


BLOCKS = blocks()
FILES = [b for b in BLOCKS if b.title and not b.not_run]
#: "Try it without a W&B account": run in a project of its own, with no key and no upstream.
TRY = [b for b in BLOCKS if b.lang == "bash" and not b.not_run and "--run --" in b.text]
SHELL = [b for b in BLOCKS if b.lang == "bash" and not b.not_run and b not in TRY]
SNIPPETS = [b for b in BLOCKS if b.lang == "python" and not b.title and not b.not_run]
(CI_RECIPE,) = [b for b in BLOCKS if b.lang == "yaml"]
(MISMATCH,) = [b for b in BLOCKS if b.lang == "text"]


#: The folder of this interpreter's scripts (pytest, wandb-cassettes), put first on PATH.
BIN = str(Path(sys.executable).parent)


def sh(block: Block, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a README shell block in ``cwd`` (bash -e), its export of a key left out."""
    # Our key comes from the environment: the README's `export WANDB_API_KEY=...` is yours.
    script = re.sub(r"^export WANDB_API_KEY=.*$", "", block.text, flags=re.M)
    return subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
