"""coffea processors running exported jet encoders (installed as jetclr_coffea.processors)."""

from __future__ import annotations

from .ddt import DDTMap, build_ddt_map
from .hists import hist_name, jet_rho
from .result import DatasetResult
from .run import RunOptions, RunResult, load_fileset, make_ddt_map, run, write_outputs
from .schema import QuietPFNanoAODSchema
from .selection import FatJetSelection
from .tagging import CUTFLOW_KEYS, LearnedJetTagProcessor

__all__ = [
    "CUTFLOW_KEYS",
    "DDTMap",
    "DatasetResult",
    "FatJetSelection",
    "LearnedJetTagProcessor",
    "QuietPFNanoAODSchema",
    "RunOptions",
    "RunResult",
    "build_ddt_map",
    "hist_name",
    "jet_rho",
    "load_fileset",
    "make_ddt_map",
    "run",
    "write_outputs",
]
