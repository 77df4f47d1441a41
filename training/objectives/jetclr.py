"""JetCLR: NT-Xent on two augmented views of each jet (arXiv:2108.04253)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from jetclr_coffea.augment import JetBatch
from jetclr_coffea.losses import nt_xent
from jetclr_coffea.model import JetEncoder

from .base import Objective

if TYPE_CHECKING:
    from ..config import TrainConfig

__all__ = ["JetCLR"]


class JetCLR(Objective):
    """NT-Xent with temperature ``optim.temperature``; the other jets of the batch are the
    negatives."""

    name = "jetclr"

    def loss(self, cfg: TrainConfig, model: JetEncoder, b: JetBatch, g: torch.Generator,
             z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent(z1, z2, cfg.optim.temperature)
