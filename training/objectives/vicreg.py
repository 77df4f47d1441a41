"""VICReg (CoDec, BOOST 2022): invariance, variance and covariance terms, no negatives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch

from jetclr_coffea.augment import JetBatch
from jetclr_coffea.losses import vicreg
from jetclr_coffea.model import JetEncoder

from ..config import TrainConfig
from ..sections import PairConfig, TruthConfig
from .base import Objective

__all__ = ["VICReg"]


class VICReg(Objective):
    """Weights ``pairs.invariance``, ``pairs.variance``, ``pairs.covariance``; positive pairs
    of augmented views or (``pairs.pairing: same_class``) of two jets of one class."""

    name = "vicreg"
    sections: ClassVar[Mapping[str, type]] = {"pairs": PairConfig, "truth": TruthConfig}

    def loss(self, cfg: TrainConfig, model: JetEncoder, b: JetBatch, g: torch.Generator,
             z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        p = cfg.section(PairConfig)
        return vicreg(z1, z2, p.invariance, p.variance, p.covariance)
