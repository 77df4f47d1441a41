"""The interface every training objective implements (one module per objective)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from jetclr_coffea.augment import JetBatch, augment
from jetclr_coffea.efn import EnergyFlowNetwork
from jetclr_coffea.model import JetEncoder
from jetclr_coffea.model_card import OutputSpec

from ..config import TrainConfig
from ..data import JetSource, Targets, batch_inputs
from ..sections import PairConfig

__all__ = ["Export", "ExtraOutput", "Objective", "Summary"]

#: A checkpoint's record of some numbers over training jets (``{"median": ..., "max": ...}``):
#: what an objective keeps with each checkpoint (:meth:`Objective.checkpoint_extras`) and
#: later reads to declare its scores' ranges.
Summary = dict[str, float]


@dataclass(frozen=True)
class ExtraOutput:
    """An output an objective adds to the exported graph, besides embedding and head.

    Attributes:
        name: the ONNX output name (a score: one number per jet).
        compute: (embedding (N, D), head (N, D_out)) -> (N,) tensor, traced into the graph.
        score_range: its declared range (histogram axes, DDT maps).
        info: what it is, for the model card.
    """

    name: str
    compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    score_range: tuple[float, float]
    info: dict[str, object] = field(default_factory=dict)


class _Export(torch.nn.Module):
    """An encoder's graph (:class:`JetEncoder` or :class:`EnergyFlowNetwork`): embedding, head
    and the objective's extra outputs."""

    def __init__(self, encoder: torch.nn.Module, extra: list[ExtraOutput]) -> None:
        super().__init__()
        self.encoder = encoder
        self.extra = [e.compute for e in extra]

    def forward(self, constituents: torch.Tensor, mask: torch.Tensor,
                jet: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """constituents (N, C, F), mask (N, C), jet (N, J) where the model takes jet features."""
        inputs = (constituents, mask) if jet is None else (constituents, mask, jet)
        embedding, head = self.encoder(*inputs)  # (N, D), (N, D_out)
        return embedding, head, *(f(embedding, head) for f in self.extra)  # ..., (N,) each


@dataclass(frozen=True)
class Export:
    """What :meth:`Objective.export` gives the exporter.

    Attributes:
        graph: the module traced to ONNX (inputs constituents, mask[, jet]).
        outputs: its outputs, in order.
        score_ranges: the declared range of each score output.
        scores_info: what each score is, for the model card.
    """

    graph: torch.nn.Module
    outputs: list[OutputSpec]
    score_ranges: dict[str, tuple[float, float]]
    scores_info: dict[str, dict[str, object]]


class Objective:
    """A training objective: its model, its loss on a batch, what it records in checkpoints,
    what it exports.

    The defaults are those of the contrastive objectives on :class:`JetEncoder`: two
    augmented views of every positive pair, :meth:`loss` on their head outputs, a graph
    with ``embedding``, ``head`` and :meth:`extra_outputs`.  Subclasses set :attr:`name`
    and implement :meth:`loss` (or override :meth:`step` and the export for another model).
    """

    #: the ``objective:`` value of a config.
    name: ClassVar[str] = ""
    #: the sections of the training config it reads besides data/preprocessing/model/
    #: augment/optim, and the dataclass each is parsed into (recorded in the model card).
    sections: ClassVar[Mapping[str, type]] = {}
    #: the model card's ``model_kind``.
    model_kind: ClassVar[str] = "jetclr"

    def kind(self, cfg: TrainConfig) -> str:
        """The model card's ``model_kind`` of a run."""
        return self.model_kind

    def check(self, cfg: TrainConfig) -> None:
        """Refuse a config this objective cannot train (ValueError naming the key)."""
        if cfg.model.jet_features:
            raise ValueError(f"model.jet_features feed a classifier's head: objective {self.name} "
                             f"takes none (use objective supervised)")

    def resolve_paths(self, cfg: TrainConfig, base: Path) -> TrainConfig:
        """``cfg`` with the paths its sections name made absolute, relative to ``base`` (the
        config file's folder: one rule for every path of a config); none here."""
        return cfg

    def build_model(self, cfg: TrainConfig) -> torch.nn.Module:
        """The model of a run, untrained (seeded by the caller)."""
        return JetEncoder(cfg.model)

    def model_config(self, cfg: TrainConfig) -> dict[str, object]:
        """The architecture of a run's model (the model card's ``encoder``)."""
        return asdict(cfg.model)

    def jet_features(self, cfg: TrainConfig) -> tuple[str, ...]:
        """The per-jet inputs (the graph input ``jet``) of a run's model; none here."""
        return ()

    def init_from(self, cfg: TrainConfig) -> str:
        """A checkpoint whose weights start the run (fine-tuning); empty: none."""
        return ""

    def warm_start(self, model: torch.nn.Module, cfg: TrainConfig, start: TrainConfig,
                   weights: Mapping[str, torch.Tensor]) -> None:
        """Load what ``model`` takes from the weights of a run of config ``start``."""
        raise NotImplementedError(f"objective {self.name} does not start from another run")

    def needs_targets(self, cfg: TrainConfig) -> bool:
        """Whether training reads the jets' truth (:class:`~jetclr_coffea.training.data.Targets`);
        only signal and QCD jets are then kept."""
        return cfg.section(PairConfig).pairing == "mass_matched"

    def step(self, cfg: TrainConfig, model: torch.nn.Module, b: JetBatch, b2: JetBatch,
             g: torch.Generator, targets: Targets | None = None, epoch: int = 0) -> torch.Tensor:
        """The loss of one batch: ``b`` and ``b2`` are the two members of N positive pairs (the
        same jets, or other jets of the same class); ``g`` seeds the augmentations; ``targets``
        the jets' truth where :meth:`needs_targets`; ``epoch`` the (0-based) epoch."""
        x1, m1 = batch_inputs(augment(b, g, cfg.augment), cfg.preprocessing.features, cfg.model.irc_safe)
        x2, m2 = batch_inputs(augment(b2, g, cfg.augment), cfg.preprocessing.features, cfg.model.irc_safe)
        _, z1 = model(x1, m1)  # (N, D_out)
        _, z2 = model(x2, m2)
        assert isinstance(model, JetEncoder)
        return self.loss(cfg, model, b, g, z1, z2)

    def loss(self, cfg: TrainConfig, model: JetEncoder, b: JetBatch, g: torch.Generator,
             z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """The contrastive loss: z1, z2 (N, D_out) are the heads of N positive pairs made from
        the jets ``b``; ``g`` seeds any further augmentation."""
        raise NotImplementedError

    def checkpoint_extras(self, cfg: TrainConfig, jets: JetSource, device: torch.device
                          ) -> Callable[[torch.nn.Module], dict[str, Summary]] | None:
        """A function giving what each checkpoint records besides the weights (None: nothing)."""
        return None

    def extra_outputs(self, cfg: TrainConfig, extras: Mapping[str, Summary]) -> list[ExtraOutput]:
        """Scores added to an encoder's exported graph, from a checkpoint's config and extras."""
        return []

    def export(self, model: torch.nn.Module, cfg: TrainConfig, extras: Mapping[str, Summary]) -> Export:
        """The graph to export and its outputs, for the trained ``model`` of a checkpoint."""
        if isinstance(model, EnergyFlowNetwork):
            widths = (model.cfg.embedding_width, 1)
        else:
            assert isinstance(model, JetEncoder)
            widths = (model.cfg.embedding_width, model.cfg.d_out)
        extra = self.extra_outputs(cfg, extras)
        outputs = [OutputSpec("embedding", (widths[0],)), OutputSpec("head", (widths[1],)),
                   *(OutputSpec(e.name) for e in extra)]
        return Export(_Export(model, extra), outputs, {e.name: e.score_range for e in extra},
                      {e.name: e.info for e in extra})
