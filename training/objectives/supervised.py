"""``objective: supervised``: a jet classifier trained on the truth labels, optionally
decorrelated from the jet mass by training (DisCo, Kasieczka & Shih, arXiv:2001.05310).

The model is the transformer encoder (``supervised.arch: transformer``, its head one logit)
or an Energy Flow Network (``efn``, :mod:`jetclr_coffea.efn`); the loss is the weighted
binary cross-entropy (the signal weighted to the QCD msoftdrop spectrum with
``truth.mass_flatten``, CoDec's 1D flattening; else the classes balanced) plus ``disco``
times the squared distance correlation of the classifier's probability and msoftdrop over
the batch's QCD jets, and/or ``flatness`` times MoDe[0]'s flatness penalty (arXiv:2010.09745),
from epoch ``disco_warmup`` on (a classifier must first learn something the penalty can
then take the mass out of).  Exported: ``embedding``, ``head``
(the logit) and ``supervised.output`` (the probability, larger = more signal-like).  The
same objective gives #14's supervised ceiling (``disco: 0``) and the decorrelated tagger.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from jetclr_coffea.augment import JetBatch, augment
from jetclr_coffea.efn import EFNConfig, EnergyFlowNetwork
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.losses import distance_correlation, flatness
from jetclr_coffea.model import IRC_SAFE_FEATURES, EncoderConfig, JetEncoder

from ..data import Targets, batch_inputs
from .base import ExtraOutput, Objective

if TYPE_CHECKING:
    from ..config import TrainConfig

__all__ = ["ARCHS", "Supervised", "SupervisedConfig"]

_RESERVED = ("embedding", "head", "anomaly_score")
#: ``supervised.arch`` values.
ARCHS = ("transformer", "efn")


@dataclass(frozen=True)
class SupervisedConfig:
    """The classifier: its architecture, exported output and decorrelation penalty.

    Attributes:
        arch: "transformer" (the ``model`` section, ``d_out: 1``) or "efn" (the ``efn``
            section; IRC safe, angular features only).
        output: the exported score's name (``tagger_score``; ``decorrelated_score`` for a
            mass-decorrelated tagger).
        disco: weight of the DisCo penalty dCor^2(probability, msoftdrop) on QCD jets; 0: off.
        flatness: weight of MoDe[0]'s flatness penalty (:func:`~jetclr_coffea.losses.flatness`)
            of the logit in msoftdrop bins on QCD jets (the CDFs are those of the probability;
            on the logit the sigmoid's saturation does not damp the gradient); 0: off.
        flatness_bin: its msoftdrop bins: this width in GeV up to 300 GeV (and one bin above);
            0: 8 quantile bins of each batch's QCD jets.
        disco_warmup: epochs trained without either penalty first.
        init_from: a training checkpoint of the same transformer (a self-supervised JetCLR
            run, relative to the config file): the encoder starts from its weights and the
            whole network is fine-tuned on the labels (JetCLR's fine-tuning); its head is
            not taken (a new one, with ``model.jet_features`` if any).  Empty: from scratch.
    """

    arch: str = "transformer"
    output: str = "tagger_score"
    disco: float = 0.0
    flatness: float = 0.0
    flatness_bin: float = 0.0
    disco_warmup: int = 0
    init_from: str = ""

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if not self.output.isidentifier() or self.output in _RESERVED:
            raise ValueError(f"output must be a name other than {', '.join(_RESERVED)}, got {self.output!r}")
        if self.disco < 0 or self.flatness < 0:
            raise ValueError(f"disco and flatness must not be negative, got {self.disco}, {self.flatness}")
        if self.disco_warmup < 0:
            raise ValueError(f"disco_warmup must not be negative, got {self.disco_warmup}")


def _efn(cfg: dict[str, Any]) -> EnergyFlowNetwork:
    return EnergyFlowNetwork(EFNConfig(**cfg["efn"]))  # n_features set by load_config


#: The encoder settings a fine-tuned model must share with its ``init_from`` checkpoint.
_SHARED = ("n_features", "d_model", "n_heads", "n_layers", "d_ff", "irc_safe", "d_repr")


def _init_encoder(model: JetEncoder, cfg: TrainConfig) -> None:
    """Load the encoder weights (not the head) of ``cfg.supervised.init_from`` into ``model``.

    Raises:
        JetCLRError: not a transformer checkpoint, or another architecture or input features.
    """
    from ..export import load_checkpoint
    from . import get_objective

    path = cfg.supervised.init_from
    ckpt = load_checkpoint(path)
    start = ckpt["config"]
    if get_objective(start.get("objective", "jetclr")).kind(start) != "jetclr":
        raise JetCLRError(f"supervised.init_from {path}: not a transformer encoder's checkpoint")
    mine = cfg.model.to_dict()
    diff = [k for k in _SHARED if start["model"].get(k) != mine[k]]
    if diff:
        raise JetCLRError(f"supervised.init_from {path}: model.{diff[0]} is {start['model'].get(diff[0])!r} "
                          f"there, {mine[diff[0]]!r} here")
    if tuple(start["preprocessing"]["features"]) != cfg.preprocessing.features:
        raise JetCLRError(f"supervised.init_from {path}: its preprocessing.features "
                          f"{list(start['preprocessing']['features'])} differ from this config's")
    weights = {k: v for k, v in ckpt["model"].items() if not k.startswith(("head.", "jet_norm."))}
    missing, _ = model.load_state_dict(weights, strict=False)
    assert all(k.startswith(("head.", "jet_norm.")) for k in missing), missing


class Supervised(Objective):
    """The supervised twin of the contrastive encoders (labels in the loss)."""

    name = "supervised"
    config_sections = ("truth", "supervised", "efn")

    def check(self, cfg: TrainConfig) -> None:
        if cfg.supervised.arch == "efn":
            bad = set(cfg.preprocessing.features) - IRC_SAFE_FEATURES
            if bad:
                raise ValueError(f"supervised.arch efn is IRC safe: preprocessing.features may only hold "
                                 f"{sorted(IRC_SAFE_FEATURES)}, not {sorted(bad)}")
        elif cfg.model.d_out != 1:
            raise ValueError(f"objective supervised needs model.d_out: 1 (the logit), got {cfg.model.d_out}")
        if cfg.supervised.arch != "efn" and cfg.efn.jet_features:
            raise ValueError("efn.jet_features needs supervised.arch: efn")
        if cfg.supervised.arch == "efn" and cfg.model.jet_features:
            raise ValueError("model.jet_features needs supervised.arch: transformer (efn: efn.jet_features)")
        if cfg.supervised.arch == "efn" and cfg.supervised.init_from:
            raise ValueError("supervised.init_from fine-tunes a transformer, not an efn")

    def resolve_paths(self, cfg: TrainConfig, base: Path) -> TrainConfig:
        if not cfg.supervised.init_from:
            return cfg
        path = base / cfg.supervised.init_from
        if not path.is_file():
            raise JetCLRError(f"supervised.init_from {cfg.supervised.init_from!r}: no such checkpoint {path}")
        return replace(cfg, supervised=replace(cfg.supervised, init_from=str(path.resolve())))

    def needs_targets(self, cfg: TrainConfig) -> bool:
        return True

    def kind(self, cfg: dict[str, Any]) -> str:
        return "efn" if cfg["supervised"]["arch"] == "efn" else "jetclr"

    def jet_features(self, cfg: dict[str, Any]) -> tuple[str, ...]:
        section = cfg["efn"] if cfg["supervised"]["arch"] == "efn" else cfg["model"]
        return tuple(section.get("jet_features") or ())

    def build_model(self, cfg: TrainConfig) -> torch.nn.Module:
        model = self.rebuild(cfg.to_dict())
        if cfg.supervised.init_from:
            assert isinstance(model, JetEncoder)
            _init_encoder(model, cfg)
        return model

    def model_config(self, cfg: dict[str, Any]) -> dict[str, Any]:
        if cfg["supervised"]["arch"] == "efn":
            return {"arch": "efn", **cfg["efn"]}
        return dict(cfg["model"])

    def rebuild(self, cfg: dict[str, Any]) -> torch.nn.Module:
        return _efn(cfg) if cfg["supervised"]["arch"] == "efn" else JetEncoder(EncoderConfig(**cfg["model"]))

    def step(self, cfg: TrainConfig, model: torch.nn.Module, b: JetBatch, b2: JetBatch,
             g: torch.Generator, targets: Targets | None = None, epoch: int = 0) -> torch.Tensor:
        assert targets is not None
        irc_safe = cfg.supervised.arch == "efn" or cfg.model.irc_safe
        x, m = batch_inputs(augment(b, g, cfg.augment), cfg.preprocessing.features, irc_safe)
        if targets.jet.shape[1]:  # the jet features of efn.jet_features or model.jet_features
            _, head = model(x, m, targets.jet)  # (N, 1)
        else:
            _, head = model(x, m)
        logit = head[:, 0]
        w = targets.weight
        bce = (w * F.binary_cross_entropy_with_logits(logit, targets.label, reduction="none")).sum() / w.sum()
        sup, qcd = cfg.supervised, targets.label == 0
        if epoch < sup.disco_warmup or (sup.disco == 0 and sup.flatness == 0) or int(qcd.sum()) < 2:
            return bce
        loss = bce
        if sup.disco:
            p_qcd = torch.sigmoid(logit[qcd])
            loss = loss + sup.disco * distance_correlation(p_qcd, targets.msd[qcd], w[qcd])
        if sup.flatness:  # on the logit: the probability's saturation would damp the gradient
            edges = None if sup.flatness_bin <= 0 else torch.arange(
                sup.flatness_bin, 300.0, sup.flatness_bin, device=logit.device)
            loss = loss + sup.flatness * flatness(logit[qcd], targets.msd[qcd], edges=edges)
        return loss

    def extra_outputs(self, ckpt: dict[str, Any]) -> list[ExtraOutput]:
        cfg = ckpt["config"]
        sup, truth = cfg["supervised"], cfg["truth"]
        info = {"definition": f"probability of {truth['signal_label']} (sigmoid of the head), trained on "
                              f"labels against QCD",
                "mass_flatten": truth["mass_flatten"], "disco": sup["disco"],
                "flatness": sup.get("flatness", 0.0), "flatness_bin": sup.get("flatness_bin", 0.0),
                "disco_warmup": sup["disco_warmup"]}
        return [ExtraOutput(sup["output"], lambda _e, h: torch.sigmoid(h[:, 0]), (0.0, 1.0), info)]
