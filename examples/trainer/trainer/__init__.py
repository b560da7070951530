"""A tiny torch training loop that logs metrics and checkpoints to W&B.

The example project of wandb-cassettes: its integration tests are recorded
once against W&B and replayed offline afterwards. The loop itself is in
``trainer.train`` (not imported here, so ``python -m trainer.train`` runs cleanly).
"""

from .data import make_loader, make_regression_data
from .model import TinyRegressor
from .wandb_logger import WandbCheckpointLogger, sanitize_artifact_name

__all__ = [
    "TinyRegressor",
    "WandbCheckpointLogger",
    "make_loader",
    "make_regression_data",
    "sanitize_artifact_name",
]
