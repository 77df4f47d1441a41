"""``objective: supervised``: the encoder trained on the truth labels, optionally decorrelated
from the jet mass by training (DisCo, Kasieczka & Shih, arXiv:2001.05310).

The encoder's head has one output, the logit; the loss is the weighted binary cross-entropy
(the signal weighted to the QCD msoftdrop spectrum with ``truth.mass_flatten``, CoDec's 1D
flattening) plus ``disco`` times the squared distance correlation of the classifier's
probability and msoftdrop over the batch's QCD jets.  Exported: ``embedding``, ``head`` (the
logit) and ``supervised.output`` (the probability, larger = more signal-like).  The same
objective gives #14's supervised ceiling (``disco: 0``) and the decorrelated tagger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from jetclr_coffea.augment import JetBatch, augment
from jetclr_coffea.losses import distance_correlation

from ..data import Targets, batch_inputs
from .base import ExtraOutput, Objective

if TYPE_CHECKING:
    from ..config import TrainConfig

__all__ = ["Supervised", "SupervisedConfig"]

_RESERVED = ("embedding", "head", "anomaly_score")


@dataclass(frozen=True)
class SupervisedConfig:
    """The classifier's exported output and its decorrelation penalty.

    Attributes:
        output: the exported score's name (``tagger_score``; ``decorrelated_score`` for a
            mass-decorrelated tagger).
        disco: weight of the DisCo penalty dCor^2(probability, msoftdrop) on QCD jets; 0: off.
    """

    output: str = "tagger_score"
    disco: float = 0.0

    def __post_init__(self) -> None:
        if not self.output.isidentifier() or self.output in _RESERVED:
            raise ValueError(f"output must be a name other than {', '.join(_RESERVED)}, got {self.output!r}")
        if self.disco < 0:
            raise ValueError(f"disco must not be negative, got {self.disco}")


class Supervised(Objective):
    """The supervised twin of the contrastive encoders (same model, labels in the loss)."""

    name = "supervised"
    config_sections = ("truth", "supervised")

    def check(self, cfg: TrainConfig) -> None:
        if cfg.model.d_out != 1:
            raise ValueError(f"objective supervised needs model.d_out: 1 (the logit), got {cfg.model.d_out}")

    def needs_targets(self, cfg: TrainConfig) -> bool:
        return True

    def step(self, cfg: TrainConfig, model: torch.nn.Module, b: JetBatch, b2: JetBatch,
             g: torch.Generator, targets: Targets | None = None) -> torch.Tensor:
        assert targets is not None
        x, m = batch_inputs(augment(b, g, cfg.augment), cfg.preprocessing.features, cfg.model.irc_safe)
        _, head = model(x, m)  # (N, 1)
        logit = head[:, 0]
        w = targets.weight
        bce = (w * F.binary_cross_entropy_with_logits(logit, targets.label, reduction="none")).sum() / w.sum()
        lam = cfg.supervised.disco
        qcd = targets.label == 0
        if lam == 0 or int(qcd.sum()) < 2:
            return bce
        penalty = distance_correlation(torch.sigmoid(logit[qcd]), targets.msd[qcd], w[qcd])
        return bce + lam * penalty

    def extra_outputs(self, ckpt: dict[str, Any]) -> list[ExtraOutput]:
        cfg = ckpt["config"]
        sup, truth = cfg["supervised"], cfg["truth"]
        info = {"definition": f"probability of {truth['signal_label']} (sigmoid of the head), trained on "
                              f"labels against QCD",
                "mass_flatten": truth["mass_flatten"], "disco": sup["disco"]}
        return [ExtraOutput(sup["output"], lambda _e, h: torch.sigmoid(h[:, 0]), (0.0, 1.0), info)]
