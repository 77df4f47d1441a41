"""VICReg (CoDec, BOOST 2022): invariance, variance and covariance terms, no negatives."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from jetclr_coffea.augment import JetBatch
from jetclr_coffea.losses import vicreg
from jetclr_coffea.model import JetEncoder

from .base import Objective

if TYPE_CHECKING:
    from ..config import TrainConfig

__all__ = ["VICReg"]


class VICReg(Objective):
    """Weights ``pairs.invariance``, ``pairs.variance``, ``pairs.covariance``; positive pairs
    of augmented views or (``pairs.pairing: same_class``) of two jets of one class."""

    name = "vicreg"
    config_sections = ("pairs",)
    pairings = ("augmented", "same_class", "mass_matched")

    def loss(self, cfg: TrainConfig, model: JetEncoder, b: JetBatch, g: torch.Generator,
             z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        p = cfg.pairs
        return vicreg(z1, z2, p.invariance, p.variance, p.covariance)
