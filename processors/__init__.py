"""coffea processors running exported jet encoders (installed as jetclr_coffea.processors)."""

from __future__ import annotations

from .ddt import DDTMap, build_ddt_map, load_ddt_map
from .schema import QuietPFNanoAODSchema
from .tagging import FatJetSelection, LearnedJetTagProcessor, jet_rho

__all__ = [
    "DDTMap",
    "FatJetSelection",
    "LearnedJetTagProcessor",
    "QuietPFNanoAODSchema",
    "build_ddt_map",
    "jet_rho",
    "load_ddt_map",
]
