"""Training configuration: one frozen dataclass.

The sections every run has (data, preprocessing, model, augment, optim) are fields; the
sections of one objective (``vae``, ``anomaly``, ``supervised``...) are declared by that
objective (:attr:`~jetclr_coffea.training.objectives.Objective.sections`) and parsed
through the registry by :func:`~jetclr_coffea.training.loading.load_config`; this module
knows no objective.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import Any, TypeVar

from jetclr_coffea._io import JsonDict
from jetclr_coffea.augment import AugmentConfig
from jetclr_coffea.model import IRC_SAFE_FEATURES, EncoderConfig
from jetclr_coffea.preprocessing import PreprocessSpec

__all__ = ["DATASET_CLASSES", "REWEIGHT_MODES", "DataConfig", "OptimConfig", "TrainConfig"]

#: ``data.reweight``: none, flat in pT, or flat in (pT, msoftdrop) (:mod:`.reweight`).
REWEIGHT_MODES = ("none", "pt", "pt_msd")
#: The classes ``data.labels`` gives a dataset.
DATASET_CLASSES = ("signal", "background")

S = TypeVar("S")


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
        cache: a folder for the prepared-input cache (:mod:`~jetclr_coffea.training.cache`),
            relative to the config file: the jets' kinematics are written there file by file
            and streamed from disk during training, so a training set larger than memory
            fits; reused by every run with the same data.  Empty: the jets are held in memory.
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
    cache: str = ""

    def __post_init__(self) -> None:
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
    """A whole training run: data, preprocessing, model, augmentations, optimisation, and the
    sections its objective declares.

    Attributes:
        objective: a name of the objective registry (checked by
            :func:`~jetclr_coffea.training.loading.load_config`).
        sections: the objective's own sections, parsed (``{"vae": VAEConfig(...)}``); read
            them with :meth:`section`.
        output: the run's folder (default ``runs/<name>``).
    """

    name: str
    data: DataConfig
    preprocessing: PreprocessSpec = field(default_factory=PreprocessSpec)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    objective: str = "jetclr"
    sections: Mapping[str, object] = field(default_factory=dict)
    output: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", self.name):
            raise ValueError(f"name must be a plain name (letters, digits, _ . + -; it names the run's "
                             f"folder under runs/), got {self.name!r}")
        if self.optim.patience and not self.data.val_fraction:
            raise ValueError("optim.patience stops on the validation loss: set data.val_fraction > 0")
        if self.model.irc_safe:
            bad = set(self.preprocessing.features) - IRC_SAFE_FEATURES
            if bad:
                raise ValueError(
                    f"an IRC-safe model may only use angular features {sorted(IRC_SAFE_FEATURES)}, "
                    f"not {sorted(bad)}"
                )

    def section(self, kind: type[S]) -> S:
        """The objective's section of type ``kind``, or ``kind()``'s defaults where the
        objective declares none (a plain JetCLR run's pairs are ``augmented``)."""
        for value in self.sections.values():
            if isinstance(value, kind):
                return value
        return kind()

    @property
    def output_dir(self) -> str:
        return self.output or os.path.join("runs", self.name)

    def with_seed(self, seed: int) -> TrainConfig:
        """The same run with ``optim.seed`` = ``seed``, named (and, where the config names
        one, put in a folder) with the suffix ``_s<seed>``: a recipe's other seeds, e.g. the
        members of an ensemble, each in its own run folder."""
        if seed < 0:
            raise ValueError(f"a seed is a non-negative integer, got {seed}")
        return replace(self, name=f"{self.name}_s{seed}", optim=replace(self.optim, seed=seed),
                       output=f"{self.output.rstrip('/')}_s{seed}" if self.output else "")

    def to_dict(self) -> JsonDict:
        """The config as YAML would give it (the objective's sections at the top level)."""
        d = {f: v for f, v in asdict(self).items() if f != "sections"}
        d["preprocessing"] = self.preprocessing.to_dict()
        d["data"]["files"] = list(self.data.files)
        d.update({name: _section_dict(value) for name, value in self.sections.items()})
        return d


def _section_dict(value: object) -> dict[str, Any]:
    if not is_dataclass(value) or isinstance(value, type):
        raise TypeError(f"a config section must be a dataclass instance, got {type(value).__name__}")
    return asdict(value)
