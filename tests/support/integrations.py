"""The integrations' throwaway projects (transformers' Trainer, Lightning's WandbLogger),
shared by ``e2e/test_integrations.py`` and the flakiness job."""

from __future__ import annotations

#: Nothing from a hub, CPU only; wandb's own noise off (no system metrics, no console capture).
ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "CUDA_VISIBLE_DEVICES": "",
    "PYTHONHASHSEED": "0",
}


#: Trainer(report_to="wandb") as a user's test has it: WandbCallback starts the run,
#: logs TrainingArguments and the model config as its config, and with
#: WANDB_LOG_MODEL=end the model (at setup, then at the end) as artifacts. The
#: output folder is pytest's tmp_path or, as in transformers' own tests, a tempfile
#: folder (both normalised by matching; with transformers 4.x it is the run's name
#: too). The run is left open, as WandbCallback leaves it; the plugin finishes it.
TRANSFORMERS_PROJECT = '''
import tempfile

import pytest
import torch
import transformers
import wandb
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments


class RandomTokens(Dataset):
    """Fixed random token ids and labels."""

    def __init__(self, n=8, length=8, vocab=32):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, vocab, (n, length), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        mask = torch.ones_like(self.ids[i])
        return {"input_ids": self.ids[i], "attention_mask": mask, "labels": self.labels[i]}


def _train(output_dir):
    transformers.set_seed(0)
    config = BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=8,
        max_position_embeddings=16,
    )
    model = BertForSequenceClassification(config)
    args = TrainingArguments(
        output_dir=output_dir,
        report_to="wandb",
        max_steps=2,
        per_device_train_batch_size=4,
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    Trainer(model=model, args=args, train_dataset=RandomTokens()).train()


@pytest.mark.wandb_cassette
@pytest.mark.parametrize("where", ["tmp_path", "tempfile"])
def test_trainer_reports_to_wandb(tmp_path, monkeypatch, where):
    monkeypatch.setenv("WANDB_PROJECT", "hf-e2e")
    monkeypatch.setenv("WANDB_LOG_MODEL", "end")
    if where == "tmp_path":
        _train(str(tmp_path / "out"))
    else:
        with tempfile.TemporaryDirectory() as out:
            _train(out)
    assert wandb.run is not None  # WandbCallback leaves its run open


@pytest.mark.wandb_cassette
def test_own_run_with_trainer_like_keys(tmp_path):
    # A run of the test itself whose config has the Trainer signature keys: no preset.
    with wandb.init(
        project="hf-e2e", config={"output_dir": str(tmp_path), "per_device_train_batch_size": 4}
    ) as run:
        run.log({"loss": 0.5})
'''


#: WandbLogger(log_model=True / "all") with a ModelCheckpoint on a validation loss, a
#: last.ckpt, and the logger's default save_dir (".", the project): checkpoints land in
#: ./<project>/<run id>/checkpoints, where the replay, with the recorded run id, finds
#: the recording's files. The run is left open, as Lightning leaves it.
LIGHTNING_PROJECT = """
import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from torch.utils.data import DataLoader, TensorDataset


class Tiny(pl.LightningModule):
    def __init__(self, lr=0.1):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


@pytest.mark.wandb_cassette
@pytest.mark.parametrize("log_model", [True, "all"])
def test_wandb_logger(log_model):
    pl.seed_everything(0)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(8, 4, generator=g), torch.randn(8, 1, generator=g))
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=WandbLogger(project="lightning-e2e", log_model=log_model),
        callbacks=[ModelCheckpoint(monitor="val_loss", save_last=True)],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    loader = DataLoader(data, batch_size=4)
    trainer.fit(Tiny(), loader, loader)
"""
