import sys

import pytest
import torch

from wandb_cassettes.helpers import create_minimal_checkpoint

pytestmark = pytest.mark.torch


def test_checkpoint_has_real_model_and_optimizer_state():
    checkpoint = create_minimal_checkpoint(epoch=3)

    assert set(checkpoint) == {"model_state_dict", "optimizer_state_dict", "epoch"}
    assert checkpoint["epoch"] == 3
    model = torch.nn.Linear(2, 1)
    model.load_state_dict(checkpoint["model_state_dict"])
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_checkpoint_is_tiny():
    weights = create_minimal_checkpoint()["model_state_dict"]
    assert sum(t.numel() for t in weights.values()) <= 8


def test_default_epoch_is_one_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert create_minimal_checkpoint()["epoch"] == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("as_str", [False, True])
def test_path_saves_a_loadable_copy(tmp_path, as_str):
    target = tmp_path / "ckpt.pt"
    checkpoint = create_minimal_checkpoint(epoch=2, path=str(target) if as_str else target)

    loaded = torch.load(target, weights_only=True)
    assert loaded["epoch"] == 2
    for key, tensor in checkpoint["model_state_dict"].items():
        assert torch.equal(loaded["model_state_dict"][key], tensor)
    assert loaded["optimizer_state_dict"] == checkpoint["optimizer_state_dict"]


def test_missing_torch_says_how_to_install_the_cpu_wheel(monkeypatch):
    # A None entry in sys.modules makes `import torch` raise ImportError.
    monkeypatch.setitem(sys.modules, "torch", None)
    cpu_index = r"pip install torch --index-url https://download\.pytorch\.org/whl/cpu"
    with pytest.raises(ImportError, match=cpu_index):
        create_minimal_checkpoint()
