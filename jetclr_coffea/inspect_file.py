"""``jetclr-coffea inspect``: what a NanoAOD/PFNano file holds for jet studies."""

from __future__ import annotations

import os
from dataclasses import dataclass

import awkward as ak
import numpy as np

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.files import read_events
from jetclr_coffea.reader import read_constituents

__all__ = ["FileSummary", "summarise"]


@dataclass(frozen=True)
class FileSummary:
    """Counts and constituent statistics of one file."""

    path: str
    events: int
    fat_jets: int
    convention: str
    jets_without_constituents: int
    constituents_min: int
    constituents_median: float
    constituents_mean: float
    constituents_max: int

    def format(self) -> str:
        return "\n".join(
            [
                f"file:                      {self.path}",
                f"events:                    {self.events}",
                f"fat jets:                  {self.fat_jets}",
                f"constituent convention:    {self.convention}",
                f"jets without constituents: {self.jets_without_constituents}",
                "constituents per jet:      "
                f"min {self.constituents_min}, median {self.constituents_median:g}, "
                f"mean {self.constituents_mean:.1f}, max {self.constituents_max}",
            ]
        )


def summarise(path: str | os.PathLike[str]) -> FileSummary:
    """Summarise a NanoAOD file (raises JetCLRError with a one-line reason on bad input)."""
    events = read_events(path)
    if "FatJet_pt" not in ak.fields(events):
        raise JetCLRError(f"{path}: no FatJet collection (FatJet_pt)")
    try:
        jc = read_constituents(events)
    except JetCLRError as err:
        raise JetCLRError(f"{path}: {err}") from err
    counts = np.asarray(ak.to_numpy(ak.num(jc.constituents, axis=1)))
    stored = counts[jc.has_constituents]
    return FileSummary(
        path=str(path),
        events=len(events),
        fat_jets=len(jc),
        convention=jc.convention,
        jets_without_constituents=int((~jc.has_constituents).sum()),
        constituents_min=int(stored.min()) if len(stored) else 0,
        constituents_median=float(np.median(stored)) if len(stored) else 0.0,
        constituents_mean=float(stored.mean()) if len(stored) else 0.0,
        constituents_max=int(stored.max()) if len(stored) else 0,
    )
