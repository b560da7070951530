"""Serve a stand-in W&B backend: ``python -m wandb_cassettes_standin [--run -- CMD ARGS...]``.

Without ``--run``: serve until SIGINT/SIGTERM, after printing
``WANDB_BASE_URL=...`` and ``WANDB_API_KEY=...`` (one line each, flushed)
once both servers listen, so a parent process can read them.

With ``--run``: run CMD with ``WANDB_CASSETTES_UPSTREAM`` (the pytest plugin's
upstream) and ``WANDB_API_KEY`` pointing at the backend, forward SIGINT and
SIGTERM to it, stop the backend when it exits and exit with its code
(128+N if signal N killed it), e.g. to record cassettes against the stand-in::

    python -m wandb_cassettes_standin --run -- python -m pytest --record-mode=rewrite
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .app import StandinBackend

PROG = "python -m wandb_cassettes_standin"


def _terminal_signalled_the_child() -> bool:
    """Whether we are in a terminal's foreground process group, as the child is.

    Then Ctrl-C already sent SIGINT to the child; forwarding it would deliver a
    second one, which cuts pytest's teardown (and its W&B cleanup) short.
    """
    for fd in (0, 1, 2):
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is CMD, verbatim (it may hold its own "--").
    split = argv.index("--") if "--" in argv else len(argv)
    own, command = argv[:split], argv[split + 1 :]

    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [options] [--run -- CMD ARGS...]",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="API port (0: any free port)")
    parser.add_argument("--storage-port", type=int, default=0, help="storage port (0: any)")
    parser.add_argument("--api-key", default=None, help="API key to accept (default: generated)")
    parser.add_argument("--entity", default="standin-user", help="the viewer's entity")
    parser.add_argument("--run", action="store_true", help="run CMD (after --) against it")
    args = parser.parse_args(own)
    if args.run != bool(command):
        parser.error("--run needs a command after --" if args.run else "a command needs --run")

    stop = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if child is not None and not (signum == signal.SIGINT and _terminal_signalled_the_child()):
            child.send_signal(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    backend = StandinBackend(
        api_key=args.api_key, entity=args.entity, port=args.port, storage_port=args.storage_port
    )
    with backend:
        if not args.run:
            print(f"WANDB_BASE_URL={backend.base_url}", flush=True)
            print(f"WANDB_API_KEY={backend.api_key}", flush=True)
            while not stop.wait(0.5):
                pass
            return 0
        env = {
            **os.environ,
            "WANDB_CASSETTES_UPSTREAM": backend.base_url,
            "WANDB_API_KEY": backend.api_key,
        }
        try:
            child = subprocess.Popen(command, env=env)
        except OSError as exc:
            print(f"{PROG}: cannot run {command[0]!r}: {exc}", file=sys.stderr)
            return 127
        code = child.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
