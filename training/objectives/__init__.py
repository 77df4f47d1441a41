"""The training objectives, one module each, and their registry.

Adding an objective is a local change: a module with an :class:`Objective` subclass (its
loss, what its checkpoints record, the outputs it adds to the exported model) and a line
in :data:`OBJECTIVES` (its config sections it declares itself: ``sections``).  ``train``,
``export`` and :func:`~jetclr_coffea.training.loading.load_config` (which parses the
sections an objective declares) only look objectives up here.
"""

from __future__ import annotations

from jetclr_coffea.errors import JetCLRError

from .anomalyclr import AnomalyCLR
from .barlow_twins import BarlowTwins
from .base import Export, ExtraOutput, Objective, Summary
from .jetclr import JetCLR
from .supervised import Supervised
from .vae_emd import VAEEMD
from .vicreg import VICReg

__all__ = ["OBJECTIVES", "Export", "ExtraOutput", "Objective", "Summary", "get_objective"]

#: ``objective:`` name -> the objective.
OBJECTIVES: dict[str, Objective] = {
    o.name: o for o in (JetCLR(), AnomalyCLR(), VICReg(), BarlowTwins(), VAEEMD(), Supervised())}


def get_objective(name: str) -> Objective:
    """The registered objective ``name``."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise JetCLRError(f"objective must be one of {', '.join(OBJECTIVES)}, got {name!r}") from None
