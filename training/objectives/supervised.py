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

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F

from jetclr_coffea.augment import JetBatch, augment
from jetclr_coffea.efn import EFNConfig, EnergyFlowNetwork
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.losses import distance_correlation, flatness
from jetclr_coffea.model import IRC_SAFE_FEATURES, JetEncoder

from ..config import TrainConfig
from ..data import Targets, batch_inputs
from ..sections import TruthConfig
from .base import ExtraOutput, Objective, Summary

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


#: The encoder settings a fine-tuned model must share with its ``init_from`` checkpoint.
_SHARED = ("n_features", "d_model", "n_heads", "n_layers", "d_ff", "irc_safe", "d_repr")
#: The weights a fine-tuned model does not take from its start: the head is new.
_NEW = ("head.", "jet_norm.")


class Supervised(Objective):
    """The supervised twin of the contrastive encoders (labels in the loss)."""

    name = "supervised"
    sections: ClassVar[Mapping[str, type]] = {
        "truth": TruthConfig, "supervised": SupervisedConfig, "efn": EFNConfig}

    def check(self, cfg: TrainConfig) -> None:
        sup = cfg.section(SupervisedConfig)
        if sup.arch == "efn":
            bad = set(cfg.preprocessing.features) - IRC_SAFE_FEATURES
            if bad:
                raise ValueError(f"supervised.arch efn is IRC safe: preprocessing.features may only hold "
                                 f"{sorted(IRC_SAFE_FEATURES)}, not {sorted(bad)}")
            if cfg.model.jet_features:
                raise ValueError("model.jet_features needs supervised.arch: transformer "
                                 "(efn: efn.jet_features)")
            if sup.init_from:
                raise ValueError("supervised.init_from fine-tunes a transformer, not an efn")
        elif cfg.model.d_out != 1:
            raise ValueError(f"objective supervised needs model.d_out: 1 (the logit), got {cfg.model.d_out}")
        elif cfg.section(EFNConfig).jet_features:
            raise ValueError("efn.jet_features needs supervised.arch: efn")

    def resolve_paths(self, cfg: TrainConfig, base: Path) -> TrainConfig:
        sup = cfg.section(SupervisedConfig)
        if not sup.init_from:
            return cfg
        path = str((base / sup.init_from).resolve())  # checked when the run starts
        return replace(cfg, sections={**cfg.sections, "supervised": replace(sup, init_from=path)})

    def needs_targets(self, cfg: TrainConfig) -> bool:
        return True

    def kind(self, cfg: TrainConfig) -> str:
        return "efn" if cfg.section(SupervisedConfig).arch == "efn" else "jetclr"

    def jet_features(self, cfg: TrainConfig) -> tuple[str, ...]:
        if cfg.section(SupervisedConfig).arch == "efn":
            return cfg.section(EFNConfig).jet_features
        return cfg.model.jet_features

    def build_model(self, cfg: TrainConfig) -> torch.nn.Module:
        if cfg.section(SupervisedConfig).arch == "efn":
            return EnergyFlowNetwork(cfg.section(EFNConfig))
        return JetEncoder(cfg.model)

    def model_config(self, cfg: TrainConfig) -> dict[str, object]:
        if cfg.section(SupervisedConfig).arch == "efn":
            return {"arch": "efn", **asdict(cfg.section(EFNConfig))}
        return asdict(cfg.model)

    def init_from(self, cfg: TrainConfig) -> str:
        return cfg.section(SupervisedConfig).init_from

    def warm_start(self, model: torch.nn.Module, cfg: TrainConfig, start: TrainConfig,
                   weights: Mapping[str, torch.Tensor]) -> None:
        """The encoder weights (not the head) of a transformer run ``start``.

        Raises:
            JetCLRError: not a transformer run, or another architecture or input features.
        """
        from . import get_objective

        where = f"supervised.init_from {self.init_from(cfg)}"
        if get_objective(start.objective).kind(start) != "jetclr" or not isinstance(model, JetEncoder):
            raise JetCLRError(f"{where}: not a transformer encoder's checkpoint")
        theirs, mine = asdict(start.model), asdict(cfg.model)
        diff = [k for k in _SHARED if theirs[k] != mine[k]]
        if diff:
            k = diff[0]
            raise JetCLRError(f"{where}: model.{k} is {theirs[k]!r} there, {mine[k]!r} here")
        if start.preprocessing.features != cfg.preprocessing.features:
            raise JetCLRError(f"{where}: its preprocessing.features {list(start.preprocessing.features)} "
                              f"differ from this config's")
        missing, _ = model.load_state_dict({k: v for k, v in weights.items() if not k.startswith(_NEW)},
                                           strict=False)
        assert all(k.startswith(_NEW) for k in missing), missing

    def step(self, cfg: TrainConfig, model: torch.nn.Module, b: JetBatch, b2: JetBatch,
             g: torch.Generator, targets: Targets | None = None, epoch: int = 0) -> torch.Tensor:
        assert targets is not None
        sup = cfg.section(SupervisedConfig)
        irc_safe = sup.arch == "efn" or cfg.model.irc_safe
        x, m = batch_inputs(augment(b, g, cfg.augment), cfg.preprocessing.features, irc_safe)
        if targets.jet.shape[1]:  # the jet features of efn.jet_features or model.jet_features
            _, head = model(x, m, targets.jet)  # (N, 1)
        else:
            _, head = model(x, m)
        logit = head[:, 0]
        w = targets.weight
        bce = (w * F.binary_cross_entropy_with_logits(logit, targets.label, reduction="none")).sum() / w.sum()
        qcd = targets.label == 0
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

    def extra_outputs(self, cfg: TrainConfig, extras: Mapping[str, Summary]) -> list[ExtraOutput]:
        sup, truth = cfg.section(SupervisedConfig), cfg.section(TruthConfig)
        info: dict[str, object] = {
            "definition": f"probability of {truth.signal_label} (sigmoid of the head), trained on labels "
                          f"against QCD", "mass_flatten": truth.mass_flatten, "disco": sup.disco,
            "flatness": sup.flatness, "flatness_bin": sup.flatness_bin, "disco_warmup": sup.disco_warmup}
        if sup.init_from:
            info["fine_tuned_from"] = sup.init_from
        return [ExtraOutput(sup.output, lambda _e, h: torch.sigmoid(h[:, 0]), (0.0, 1.0), info)]
