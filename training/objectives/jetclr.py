"""JetCLR: NT-Xent on two augmented views of each jet (arXiv:2108.04253)."""

from __future__ import annotations

import torch

from jetclr_coffea.augment import JetBatch
from jetclr_coffea.losses import nt_xent
from jetclr_coffea.model import JetEncoder

from ..config import TrainConfig
from .base import Objective

__all__ = ["JetCLR"]


class JetCLR(Objective):
    """NT-Xent with temperature ``optim.temperature``; the other jets of the batch are the
    negatives."""

    name = "jetclr"

    def loss(self, cfg: TrainConfig, model: JetEncoder, b: JetBatch, g: torch.Generator,
             z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent(z1, z2, cfg.optim.temperature)
