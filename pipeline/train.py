"""Train a classifier with SGD, momentum, coupled L2 weight decay and a one-cycle or cosine schedule.

LoRITa's rank reduction comes from L2 in the objective. SGD's `weight_decay` adds exactly that term's
gradient, while decoupled decay such as AdamW's is a different regularizer, so SGD is the default.
"""

import logging
import math
from dataclasses import dataclass

import torch
from torch import nn

from edgepipe.errors import ConfigError, TrainingError
from edgepipe.pipeline.data import Dataset, Split
from edgepipe.pipeline.progress import Progress, silent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run."""

    epochs: int = 12
    batch_size: int = 256
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    seed: int = 0

    def __post_init__(self):
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ConfigError(f"weight_decay must be zero or positive, got {self.weight_decay}")
        if self.schedule not in ("onecycle", "cosine"):
            raise ConfigError(f"schedule must be 'onecycle' or 'cosine', got {self.schedule!r}")


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)


def train_(model: nn.Module, dataset: Dataset, config: TrainConfig, train: Split | None = None,
           progress: Progress = silent) -> list[float]:
    """Train `model` in place on `train` (default: the data set's training split); return each epoch's mean loss."""
    train = dataset.train if train is None else train
    generator = torch.Generator().manual_seed(config.seed)
    inputs = dataset.normalize(train.images)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)

    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    scheduler = _scheduler(optimizer, config, config.epochs * steps_per_epoch)
    loss_function = nn.CrossEntropyLoss()

    epoch_losses = []
    model.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(train), generator=generator)
        total_loss = 0.0
        batches = progress(range(steps_per_epoch), desc=f"train {epoch + 1}/{config.epochs}")
        for step in batches:
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            loss = loss_function(model(inputs[index]), train.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item()
        epoch_losses.append(total_loss / steps_per_epoch)
        if not math.isfinite(epoch_losses[-1]):
            raise TrainingError(f"training diverged: the mean loss of epoch {epoch + 1} is {epoch_losses[-1]}; "
                                f"lower --lr (now {config.lr})")
        logger.info("epoch %d/%d: mean loss %.4f", epoch + 1, config.epochs, epoch_losses[-1])
    model.eval()
    return epoch_losses


@torch.no_grad()
def accuracy(model: nn.Module, dataset: Dataset, split: Split, batch_size: int = 1000,
             progress: Progress = silent) -> float:
    """Top-1 accuracy of an eager model on `split`."""
    model.eval()
    correct = 0
    for start in progress(range(0, len(split), batch_size), desc="evaluate eager",
                          total=math.ceil(len(split) / batch_size)):
        logits = model(dataset.normalize(split.images[start:start + batch_size]))
        correct += (logits.argmax(1) == split.labels[start:start + batch_size]).sum().item()
    return correct / len(split)
