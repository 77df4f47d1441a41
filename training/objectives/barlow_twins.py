"""Barlow Twins (CoDec, BOOST 2022): the cross-correlation of the two views pushed to 1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from jetclr_coffea.augment import JetBatch
from jetclr_coffea.losses import barlow_twins
from jetclr_coffea.model import JetEncoder

from .base import Objective

if TYPE_CHECKING:
    from ..config import TrainConfig

__all__ = ["BarlowTwins"]


class BarlowTwins(Objective):
    """Off-diagonal weight ``pairs.off_diagonal``; pairs as for VICReg."""

    name = "barlow_twins"
    config_sections = ("pairs",)
    pairings = ("augmented", "same_class", "mass_matched")

    def loss(self, cfg: TrainConfig, model: JetEncoder, b: JetBatch, g: torch.Generator,
             z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return barlow_twins(z1, z2, cfg.pairs.off_diagonal)
