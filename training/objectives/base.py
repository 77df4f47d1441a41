"""The interface every training objective implements (one module per objective)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from jetclr_coffea.augment import JetBatch
from jetclr_coffea.model import JetEncoder

if TYPE_CHECKING:
    from ..config import TrainConfig

__all__ = ["ExtraOutput", "Objective"]


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
    info: dict[str, Any] = field(default_factory=dict)


class Objective:
    """A training objective: its loss, what it records in checkpoints, what it exports.

    Subclasses set :attr:`name` and implement :meth:`loss`; the rest has defaults.
    """

    #: the ``objective:`` value of a config.
    name: ClassVar[str] = ""
    #: sections of the training config it reads besides data/model/augment/optim
    #: (recorded in the model card).
    config_sections: ClassVar[tuple[str, ...]] = ()
    #: ``pairs.pairing`` values it accepts.
    pairings: ClassVar[tuple[str, ...]] = ("augmented",)

    def loss(self, cfg: TrainConfig, model: JetEncoder, b: JetBatch, g: torch.Generator,
             z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """The loss of a batch: z1, z2 (N, D_out) are the heads of N positive pairs made from
        the jets ``b``; ``g`` seeds any further augmentation."""
        raise NotImplementedError

    def checkpoint_extras(self, cfg: TrainConfig, jets: JetBatch,
                          device: torch.device) -> Callable[[JetEncoder], dict[str, Any]] | None:
        """A function giving what each checkpoint records besides the weights (None: nothing)."""
        return None

    def extra_outputs(self, ckpt: dict[str, Any]) -> list[ExtraOutput]:
        """Outputs added to the exported model, from the checkpoint."""
        return []
