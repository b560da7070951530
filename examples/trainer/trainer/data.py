"""One small synthetic regression dataset, generated in memory from a seed."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset


def make_regression_data(
    n_samples: int = 64, n_features: int = 4, noise: float = 0.05, seed: int = 0
) -> TensorDataset:
    """``y = X @ w + b + noise`` with fixed random ``w``, ``b``: learnable in a few epochs.

    The same arguments always give the same tensors, so runs (and recordings
    of them) are reproducible.
    """
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n_samples, n_features, generator=generator)
    weights = torch.randn(n_features, 1, generator=generator)
    bias = torch.randn(1, generator=generator)
    targets = features @ weights + bias + noise * torch.randn(n_samples, 1, generator=generator)
    return TensorDataset(features, targets)


def make_loader(
    dataset: TensorDataset, batch_size: int = 16, seed: int = 0, shuffle: bool = True
) -> DataLoader[tuple[torch.Tensor, ...]]:
    """Batches of ``dataset``, shuffled in the same order for the same ``seed``."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
    )
