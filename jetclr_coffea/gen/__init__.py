"""Event generation: Pythia 8 + a fast detector simulation + FastJet -> PFNano ROOT files.

Needs the ``gen`` extra (pythia8mc, fastjet); importing this package does not.
"""

from __future__ import annotations

from jetclr_coffea.gen.detector import DetectorConfig
from jetclr_coffea.gen.jets import JetConfig
from jetclr_coffea.gen.pythia import PROCESSES, ProcessConfig

__all__ = ["PROCESSES", "DetectorConfig", "JetConfig", "ProcessConfig", "generate"]


def __getattr__(name: str) -> object:
    if name == "generate":
        from jetclr_coffea.gen.generate import generate

        return generate
    raise AttributeError(name)
