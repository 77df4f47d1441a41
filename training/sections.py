"""Config sections that several objectives read (each objective declares the sections it
reads: :attr:`~jetclr_coffea.training.objectives.Objective.sections`), and that the training
loop reads through :meth:`~jetclr_coffea.training.config.TrainConfig.section`: how positive
pairs are made, and which truth class is the signal.  No import of the objectives or of the
whole config: both import this module."""

from __future__ import annotations

from dataclasses import dataclass

from jetclr_coffea.truth import SIGNAL_LABELS

__all__ = ["PAIRINGS", "PairConfig", "TruthConfig"]

#: How positive pairs are made (:class:`PairConfig`).
PAIRINGS = ("augmented", "same_class", "mass_matched")


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
