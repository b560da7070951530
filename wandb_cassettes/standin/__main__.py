"""Serve a stand-in W&B backend until SIGINT/SIGTERM: ``python -m wandb_cassettes.standin``.

Prints ``WANDB_BASE_URL=...`` and ``WANDB_API_KEY=...`` (one line each,
flushed) once both servers listen, so a parent process can read them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .app import StandinBackend


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wandb_cassettes.standin", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="API port (0: any free port)")
    parser.add_argument("--storage-port", type=int, default=0, help="storage port (0: any)")
    parser.add_argument("--api-key", default=None, help="API key to accept (default: generated)")
    parser.add_argument("--entity", default="standin-user", help="the viewer's entity")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    backend = StandinBackend(
        api_key=args.api_key, entity=args.entity, port=args.port, storage_port=args.storage_port
    )
    with backend:
        print(f"WANDB_BASE_URL={backend.base_url}", flush=True)
        print(f"WANDB_API_KEY={backend.api_key}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
