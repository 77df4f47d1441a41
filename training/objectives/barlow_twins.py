"""Barlow Twins (CoDec, BOOST 2022): the cross-correlation of the two views pushed to 1."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch

from jetclr_coffea.augment import JetBatch
from jetclr_coffea.losses import barlow_twins
from jetclr_coffea.model import JetEncoder

from ..config import TrainConfig
from ..sections import PairConfig, TruthConfig
from .base import Objective

__all__ = ["BarlowTwins"]


class BarlowTwins(Objective):
    """Off-diagonal weight ``pairs.off_diagonal``; pairs as for VICReg."""

    name = "barlow_twins"
    sections: ClassVar[Mapping[str, type]] = {"pairs": PairConfig, "truth": TruthConfig}

    def loss(self, cfg: TrainConfig, model: JetEncoder, b: JetBatch, g: torch.Generator,
             z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return barlow_twins(z1, z2, cfg.section(PairConfig).off_diagonal)
