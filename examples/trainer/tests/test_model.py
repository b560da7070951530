"""The model, data and training loop on their own: no W&B involved."""

import pytest
import torch
from trainer import TinyRegressor, make_loader, make_regression_data
from trainer.train import TrainConfig, train, train_one_epoch

from wandb_cassettes.helpers import get_test_epochs, validate_epoch_usage

pytestmark = pytest.mark.fast


def test_model_maps_features_to_one_output():
    model = TinyRegressor(in_features=4, hidden=8)
    assert model(torch.zeros(5, 4)).shape == (5, 1)


def test_dataset_is_reproducible_from_its_seed():
    a, b = make_regression_data(seed=1), make_regression_data(seed=1)
    other = make_regression_data(seed=2)
    assert len(a) == 64
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert torch.equal(a.tensors[1], b.tensors[1])
    assert not torch.equal(a.tensors[0], other.tensors[0])


def test_loader_batches_and_shuffles_by_seed():
    data = make_regression_data(n_samples=10)
    first = [x for x, _ in make_loader(data, batch_size=4, seed=3)]
    again = [x for x, _ in make_loader(data, batch_size=4, seed=3)]
    assert [len(x) for x in first] == [4, 4, 2]
    assert all(torch.equal(x, y) for x, y in zip(first, again, strict=True))
    assert not torch.equal(torch.cat(first), data.tensors[0])


def test_one_epoch_changes_the_weights_and_reports_mean_loss():
    torch.manual_seed(0)
    data = make_regression_data()
    model = TinyRegressor()
    before = [p.detach().clone() for p in model.parameters()]
    loss = train_one_epoch(model, make_loader(data), torch.optim.SGD(model.parameters(), lr=0.05))
    assert loss > 0
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_training_lowers_the_loss_and_is_reproducible(request):
    epochs = get_test_epochs()
    validate_epoch_usage(epochs, request.node.nodeid)
    config = TrainConfig(epochs=epochs)

    result = train(config)

    assert len(result.losses) == epochs
    assert result.checkpoints == []
    # Below the loss of the untrained model on the same data.
    data = make_regression_data(config.n_samples, config.n_features, seed=config.seed)
    torch.manual_seed(config.seed)
    untrained = TinyRegressor(config.n_features, config.hidden)
    features, targets = data.tensors
    with torch.no_grad():
        untrained_loss = torch.nn.functional.mse_loss(untrained(features), targets).item()
    assert result.losses[-1] < untrained_loss
    assert train(config).losses == result.losses
