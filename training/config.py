"""Training configuration: one frozen dataclass, loaded strictly from YAML."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from jetclr_coffea.augment import AnomalyConfig, AugmentConfig
from jetclr_coffea.config import from_mapping, load_yaml
from jetclr_coffea.efn import EFNConfig
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.model import IRC_SAFE_FEATURES, EncoderConfig
from jetclr_coffea.preprocessing import PreprocessSpec
from jetclr_coffea.truth import SIGNAL_LABELS
from jetclr_coffea.vae import VAEConfig

from .objectives import OBJECTIVES as _REGISTRY
from .objectives.supervised import SupervisedConfig

__all__ = ["DATASET_CLASSES", "OBJECTIVES", "PAIRINGS", "DataConfig", "OptimConfig", "PairConfig",
           "TrainConfig", "TruthConfig", "load_config"]

#: Training objectives (the registry of :mod:`jetclr_coffea.training.objectives`): JetCLR's
#: NT-Xent; AnomalyCLR (NT-Xent that also pushes each jet away from its anomalous copy;
#: DarkCLR on jets), which adds an ``anomaly_score`` output (the norm of the embedding) to
#: the exported model; the VICReg and Barlow Twins losses of CoDec (no negative pairs; see
#: :class:`PairConfig`).
OBJECTIVES = tuple(_REGISTRY)

#: How positive pairs are made (:class:`PairConfig`).
PAIRINGS = ("augmented", "same_class", "mass_matched")
#: The classes ``data.labels`` gives a dataset.
DATASET_CLASSES = ("signal", "background")


@dataclass(frozen=True)
class PairConfig:
    """Positive pairs and loss weights of the ``vicreg`` and ``barlow_twins`` objectives.

    Attributes:
        pairing: "augmented": a jet and its augmented copy (self-supervised);
            "same_class": two different jets of the same truth class (QCD, two-prong,
            top, dark), each augmented: CoDec's semi-supervised pairs.  With a signal
            sample of broad ("flat") mass, such pairs join jets of different masses, so
            the representation cannot use the mass to make them alike.  Needs files with
            GenPart (truth labels).
            "mass_matched": as "same_class", with the batches drawn so that the signal's
            msoftdrop spectrum matches QCD's (CoDec's 1D flattening by sampling: each jet is
            drawn with its :class:`TruthConfig` weight); only signal and QCD jets are kept.
        invariance, variance, covariance: VICReg's lambda, mu, nu.
        off_diagonal: Barlow Twins' lambda.
    """

    pairing: str = "augmented"
    invariance: float = 25.0
    variance: float = 25.0
    covariance: float = 1.0
    off_diagonal: float = 5.0e-3

    def __post_init__(self) -> None:
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}, got {self.pairing!r}")


@dataclass(frozen=True)
class TruthConfig:
    """Which truth class is the signal, for ``objective: supervised`` and mass-matched pairs.

    Attributes:
        signal_label: a key of :data:`jetclr_coffea.truth.SIGNAL_LABELS` (not ``any``); only
            jets of that class and QCD jets are trained on.
        mass_flatten: weight the signal to the QCD msoftdrop spectrum (CoDec's 1D flattening).
    """

    signal_label: str = "two_prong"
    mass_flatten: bool = True

    def __post_init__(self) -> None:
        if self.signal_label not in SIGNAL_LABELS or SIGNAL_LABELS[self.signal_label] is None:
            raise ValueError(f"signal_label must be one of "
                             f"{', '.join(k for k, v in SIGNAL_LABELS.items() if v is not None)}, "
                             f"got {self.signal_label!r}")


@dataclass(frozen=True)
class DataConfig:
    """Which jets to train on (labels are read only by ``supervised``, same-class and
    mass-matched pairs).

    Attributes:
        files: NanoAOD/PFNano ROOT files (generated or real, any mix of the two constituent
            conventions), relative to the working directory.
        fileset: instead of ``files``, a fileset JSON in ``jetclr-coffea run``'s format,
            relative to the config file (its files relative to the fileset): with every
            dataset's ``metadata.xsec``, each jet weighs ``genWeight * xsec / sum(genWeight)``
            of its dataset (QCD pT or HT slices add up), else its file's ``genWeight``
            (``* xsec_pb / genEventSumw`` where the file's Runs tree has them).
        pt_min, pt_max: fat-jet pT window, GeV.
        eta_max: fat-jet |eta| cut.
        max_jets: at most this many jets per file (0: all).
        reweight: "none", "pt" (the weights made flat in pT over [pt_min, pt_max]) or
            "pt_msd" (flat in pT and msoftdrop, for decorrelation); signal and background
            separately where the objective reads the truth (:mod:`.reweight`).
        reweight_bins: pT bins of the reweighting.
        weighted: draw the training batches in proportion to the jets' weights (always with
            ``reweight``); False: every jet equally often, whatever its weight.
        labels: with ``fileset``, a class per dataset (``{qcd: background, zprime: signal}``):
            every jet of a named dataset takes it (signal: ``truth.signal_label``'s class),
            instead of its truth label; datasets not named keep their truth.
        val_fraction: the share of events held out as the validation sample (0: none): their
            jets give the validation loss after every epoch, the epoch with the lowest one is
            kept as ``best.pt`` (and ``optim.patience`` stops the run early).  Events are
            assigned by a hash of (file index, entry): the same split on every run and resume.
    """

    files: tuple[str, ...] = ()
    fileset: str = ""
    pt_min: float = 550.0
    pt_max: float = 650.0
    eta_max: float = 2.0
    max_jets: int = 0
    reweight: str = "none"
    reweight_bins: int = 20
    weighted: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    val_fraction: float = 0.0

    def __post_init__(self) -> None:
        from .reweight import REWEIGHT_MODES

        if self.labels and not self.fileset:
            raise ValueError("labels name datasets: give a fileset, not files")
        bad = {ds: c for ds, c in self.labels.items() if c not in DATASET_CLASSES}
        if bad:
            ds, c = next(iter(bad.items()))
            raise ValueError(f"labels.{ds} must be one of {', '.join(DATASET_CLASSES)}, got {c!r}")
        if not 0.0 <= self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in [0, 0.5), got {self.val_fraction}")

        if bool(self.files) == bool(self.fileset):
            raise ValueError("give files (a list of ROOT files) or fileset (a fileset JSON), not "
                             + ("both" if self.files else "neither"))
        if not (0 <= self.pt_min < self.pt_max):
            raise ValueError(f"needs 0 <= pt_min < pt_max, got {self.pt_min}, {self.pt_max}")
        if not self.eta_max > 0:
            raise ValueError(f"eta_max must be positive, got {self.eta_max}")
        if self.max_jets < 0:
            raise ValueError(f"max_jets must be >= 0 (0: all), got {self.max_jets}")
        if self.reweight not in REWEIGHT_MODES:
            raise ValueError(f"reweight must be one of {', '.join(REWEIGHT_MODES)}, got {self.reweight!r}")
        if self.reweight_bins < 1:
            raise ValueError(f"reweight_bins must be >= 1, got {self.reweight_bins}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation settings.

    Attributes:
        epochs: passes over the data.
        batch_size: jets per step (2 x batch_size views enter the loss).
        lr: peak AdamW learning rate (cosine decay to 1% over the run).
        weight_decay: AdamW weight decay.
        temperature: NT-Xent temperature tau.
        seed: seeds shuffling, augmentations, dropout and initialisation.
        device: "auto" (CUDA when present), "cpu" or "cuda".
        patience: with a validation sample (``data.val_fraction``), stop after this many
            epochs without a lower validation loss (0: run every epoch).
    """

    epochs: int = 20
    batch_size: int = 256
    lr: float = 5.0e-4
    weight_decay: float = 1.0e-4
    temperature: float = 0.1
    seed: int = 1
    device: str = "auto"
    patience: int = 0

    def __post_init__(self) -> None:
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0 (0: no early stopping), got {self.patience}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (a batch holds the negatives), "
                             f"got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must not be negative, got {self.weight_decay}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run: data, preprocessing, model, augmentations, optimisation.

    Attributes:
        objective: one of :data:`OBJECTIVES`.
        anomaly: the anomaly augmentation (``objective: anomalyclr`` only).
        pairs: positive pairs and loss weights (``vicreg`` and ``barlow_twins`` only).
        vae: the VAE and its EMD resolution (``vae_emd`` only).
        truth: the signal class (``supervised`` and ``pairs.pairing: mass_matched`` only).
        supervised: the classifier's output and its DisCo penalty (``supervised`` only).
        efn: the Energy Flow Network's sizes (``supervised.arch: efn`` only).
    """

    name: str
    data: DataConfig
    preprocessing: PreprocessSpec = field(default_factory=PreprocessSpec)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    objective: str = "jetclr"
    anomaly: AnomalyConfig = field(default_factory=AnomalyConfig)
    pairs: PairConfig = field(default_factory=PairConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    truth: TruthConfig = field(default_factory=TruthConfig)
    supervised: SupervisedConfig = field(default_factory=SupervisedConfig)
    efn: EFNConfig = field(default_factory=EFNConfig)
    output: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", self.name):
            raise ValueError(f"name must be a plain name (letters, digits, _ . + -; it names the run's "
                             f"folder under runs/), got {self.name!r}")
        if self.objective not in _REGISTRY:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.optim.patience and not self.data.val_fraction:
            raise ValueError("optim.patience stops on the validation loss: set data.val_fraction > 0")
        _REGISTRY[self.objective].check(self)
        accepted = _REGISTRY[self.objective].pairings
        if self.pairs.pairing not in accepted:
            others = [o.name for o in _REGISTRY.values() if self.pairs.pairing in o.pairings]
            raise ValueError(f"pairs.pairing {self.pairs.pairing} needs objective {' or '.join(others)}")
        if self.model.irc_safe:
            bad = set(self.preprocessing.features) - IRC_SAFE_FEATURES
            if bad:
                raise ValueError(
                    f"an IRC-safe model may only use angular features {sorted(IRC_SAFE_FEATURES)}, "
                    f"not {sorted(bad)}"
                )

    @property
    def output_dir(self) -> str:
        return self.output or os.path.join("runs", self.name)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["preprocessing"] = self.preprocessing.to_dict()
        d["data"]["files"] = list(self.data.files)
        return d


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Load and check a training config; ``model.n_features`` and ``efn.n_features`` follow the
    feature list.

    Raises:
        JetCLRError: the file is missing or not YAML, a key is unknown, a type is wrong.
    """
    data = load_yaml(path)
    for section in ("model", "efn"):
        if isinstance(data.get(section), dict) and "n_features" in data[section]:
            raise JetCLRError(f"{path}: {section}.n_features is set from preprocessing.features; remove it")
    try:
        cfg = from_mapping(TrainConfig, data)
    except JetCLRError as err:
        raise JetCLRError(f"{path}: {err}") from err
    n = len(cfg.preprocessing.features)
    cfg = replace(cfg, model=replace(cfg.model, n_features=n), efn=replace(cfg.efn, n_features=n))
    if cfg.data.fileset:  # relative to the config file, as a fileset's files are to the fileset
        fileset = Path(path).parent / cfg.data.fileset
        if not fileset.is_file():
            raise JetCLRError(f"{path}: data.fileset {cfg.data.fileset!r}: no such file {fileset}")
        cfg = replace(cfg, data=replace(cfg.data, fileset=str(fileset.resolve())))
    try:
        return _REGISTRY[cfg.objective].resolve_paths(cfg, Path(path).parent)
    except JetCLRError as err:
        raise JetCLRError(f"{path}: {err}") from err
