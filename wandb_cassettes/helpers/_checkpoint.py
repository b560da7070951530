"""A tiny but real training checkpoint, for tests that upload and reload models."""

from __future__ import annotations

import os
from typing import Any

#: No ``[torch]`` extra: an extra cannot choose PyTorch's CPU index, and torch from PyPI on
#: Linux is the multi-GB CUDA build (https://pytorch.org/get-started/locally/).
_TORCH_HINT = (
    "install the torch your project uses; the CPU-only wheel: "
    "pip install torch --index-url https://download.pytorch.org/whl/cpu"
)

# Two inputs, one output: a few dozen bytes of weights, so an artifact upload
# of the checkpoint costs about as much as its manifest.
_IN_FEATURES = 2
_OUT_FEATURES = 1


def _import_torch(feature: str) -> Any:
    # torch is optional: the cassette machinery itself never needs it, so it is
    # imported only when a checkpoint is actually built.
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs PyTorch, which is not installed: {_TORCH_HINT}"
        ) from exc
    return torch


def create_minimal_checkpoint(
    epoch: int = 1, path: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Build a checkpoint of a tiny ``torch.nn.Linear`` and its SGD optimizer.

    The result has the layout training code usually saves:
    ``{"model_state_dict": ..., "optimizer_state_dict": ..., "epoch": epoch}``,
    so it can be loaded back with ``load_state_dict`` like a real one.

    Args:
        epoch: Stored under ``"epoch"``.
        path: If given, the checkpoint is also written there with ``torch.save``.

    Returns:
        The checkpoint dict.

    Raises:
        ImportError: torch is not installed (the message says how to install the CPU wheel).
    """
    torch = _import_torch("create_minimal_checkpoint()")
    model = torch.nn.Linear(_IN_FEATURES, _OUT_FEATURES)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    checkpoint: dict[str, Any] = {
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "epoch": epoch,
    }
    if path is not None:
        torch.save(checkpoint, os.fspath(path))
    return checkpoint
