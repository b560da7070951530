"""wandb-cassettes: record W&B traffic once, replay it offline.

The wandb SDK (0.31+) sends every request from its Go service ``wandb-core``,
so recording and replay happen in a loopback HTTP relay that the SDK is
pointed at through ``WANDB_BASE_URL``. See README.md.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
