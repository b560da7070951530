"""The training loop: SGD on the synthetic dataset, logging each epoch when given a logger."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from .data import make_loader, make_regression_data
from .model import TinyRegressor

if TYPE_CHECKING:
    from .wandb_logger import WandbCheckpointLogger


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; logged as the W&B run config."""

    epochs: int = 2
    lr: float = 0.05
    batch_size: int = 16
    n_samples: int = 64
    n_features: int = 4
    hidden: int = 8
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """The trained model and optimizer, the mean loss of each epoch, the logged checkpoints."""

    model: TinyRegressor
    optimizer: torch.optim.Optimizer
    losses: list[float] = field(default_factory=list)
    checkpoints: list[Any] = field(default_factory=list)


def train_one_epoch(
    model: nn.Module, loader: DataLoader[tuple[torch.Tensor, ...]], optimizer: torch.optim.Optimizer
) -> float:
    """One pass over ``loader``; returns the mean MSE loss over its samples."""
    model.train()
    loss_fn = nn.MSELoss()
    total, count = 0.0, 0
    for features, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(features), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(features)
        count += len(features)
    return total / count


def train(config: TrainConfig, logger: WandbCheckpointLogger | None = None) -> TrainResult:
    """Train a :class:`TinyRegressor` for ``config.epochs`` epochs.

    With a ``logger`` whose run is started, each epoch logs ``train/loss``
    (step = epoch) and a checkpoint artifact aliased ``epoch-N``.
    """
    torch.manual_seed(config.seed)
    dataset = make_regression_data(config.n_samples, config.n_features, seed=config.seed)
    loader = make_loader(dataset, config.batch_size, seed=config.seed)
    model = TinyRegressor(config.n_features, config.hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    result = TrainResult(model, optimizer)
    for epoch in range(1, config.epochs + 1):
        loss = train_one_epoch(model, loader, optimizer)
        result.losses.append(loss)
        if logger is not None:
            logger.log_metrics({"train/loss": loss, "epoch": epoch}, step=epoch)
            result.checkpoints.append(logger.log_checkpoint(model, epoch, optimizer))
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m trainer.train``: train and log to W&B (``--offline`` for no network)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--project", default="trainer-example")
    parser.add_argument("--run-name", default="train")
    parser.add_argument("--keep", type=int, default=1, help="checkpoint versions to keep")
    parser.add_argument("--offline", action="store_true")
    args = parser.parse_args(argv)

    from .wandb_logger import WandbCheckpointLogger

    config = TrainConfig(epochs=args.epochs, lr=args.lr)
    logger = WandbCheckpointLogger(project=args.project, mode="offline" if args.offline else None)
    logger.init_run(config.as_dict(), args.run_name)
    try:
        result = train(config, logger)
        if not args.offline:
            logger.cleanup_old_checkpoints(logger.checkpoint_name, keep_latest=args.keep)
    finally:
        logger.finish()
    print(f"final loss {result.losses[-1]:.4f} after {config.epochs} epochs")


if __name__ == "__main__":
    main()
