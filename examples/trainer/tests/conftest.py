"""Fixtures of the trainer's tests.

``wandb_artifact_cleaner`` and the ``wandb_cassette`` marker come from the
wandb-cassettes pytest plugin, which pip registers when it installs the package.
"""

import pytest
from trainer import WandbCheckpointLogger

from wandb_cassettes.helpers import (
    get_test_epochs,
    justification_from_marker,
    quiet_settings,
    validate_epoch_usage,
)

PROJECT = "wandb-cassettes-trainer-example"


@pytest.fixture
def project() -> str:
    """The W&B project the tests log to."""
    return PROJECT


@pytest.fixture
def epochs(request: pytest.FixtureRequest) -> int:
    """Epochs to train for: ``get_test_epochs()``, refused above the limit.

    A test that needs more says why: ``@pytest.mark.wandb_epochs(n, reason="...")``.
    """
    n = get_test_epochs()
    justification = justification_from_marker(request.node)
    validate_epoch_usage(n, request.node.nodeid, justification=justification)
    return n


@pytest.fixture
def logger(wandb_artifact_cleaner):
    """A checkpoint logger for ``PROJECT``, its run finished after the test.

    It depends on the cleaner so that its teardown (finishing the run) comes
    before the cleaner's (deleting it).
    """
    logger = WandbCheckpointLogger(project=PROJECT, settings=quiet_settings())
    yield logger
    logger.finish()
