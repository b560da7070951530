"""pytest plugin: the ``wandb_cassette`` marker, record/replay through the relay."""
