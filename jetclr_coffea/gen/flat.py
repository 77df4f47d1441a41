"""Flat-mass weights for the ``wprime-flat`` sample.

The resonance is generated with a very broad Breit-Wigner inside the mass window, so its
mass spectrum f(m) is broad but not flat (the line shape, parton luminosities and the
matrix element all shape it).  As in the CoDec talk ("fit the mass shape, reweight with
w = 1/f(m)"), f(m) is measured once per sample in a fast pilot run of the same card at
parton level only (hard process, no shower or hadronisation; about 10^4 events per
second), as a histogram, and each generated event gets ``genWeight = w(m_true)``,
normalised so that the weights average to one over f.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea.gen.pythia import ProcessConfig, card_lines, make_pythia

__all__ = ["MassDensity", "pilot_density", "resonance_mass"]

F64 = npt.NDArray[np.float64]

RESONANCE_ID = 23


@dataclass(frozen=True)
class MassDensity:
    """A histogram estimate of the resonance mass density f(m)."""

    edges: F64
    density: F64

    def weights(self, mass: F64) -> F64:
        """w(m) = 1 / f(m), normalised so that the mean weight under f is one."""
        idx = np.clip(np.searchsorted(self.edges, mass, side="right") - 1, 0, len(self.density) - 1)
        width = self.edges[-1] - self.edges[0]
        f = np.maximum(self.density[idx], 1e-3 / width)
        return np.asarray(1.0 / (f * width), dtype=np.float64)


def resonance_mass(prt: ak.Array) -> F64:
    """The mass of the hard-process resonance (pdgId 23, |status| 22 or 23) of each event."""
    status = np.abs(prt.status)
    res = prt[(prt.id == RESONANCE_ID) & (status >= 22) & (status <= 23)]
    return np.asarray(ak.to_numpy(ak.fill_none(ak.firsts(res.m), np.nan)), dtype=np.float64)


def pilot_density(cfg: ProcessConfig, n_events: int = 20000, n_bins: int = 21) -> MassDensity:
    """Measure f(m) from a parton-level pilot run (its own seed, derived from ``cfg.seed``)."""
    pilot_cfg = replace(cfg, seed=(cfg.seed * 7919) % 900_000_000 + 1)
    lines = [
        *card_lines(pilot_cfg),
        "PartonLevel:ISR = off",
        "PartonLevel:FSR = off",
        "PartonLevel:MPI = off",
        "PartonLevel:Remnants = off",
        "Check:event = off",
        "HadronLevel:all = off",
        "ProcessLevel:resonanceDecays = off",
    ]
    pythia = make_pythia(lines)
    mass = resonance_mass(pythia.nextBatch(n_events).prt)
    edges = np.linspace(cfg.mass_min, cfg.mass_max, n_bins + 1)
    density, _ = np.histogram(mass[np.isfinite(mass)], bins=edges, density=True)
    return MassDensity(edges=edges, density=density.astype(np.float64))
