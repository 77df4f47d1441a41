"""Which constituents have physical kinematics, and which jets hold one that does not.

A corrupt constituent (NaN, infinite, or absurd such as eta = 1e30, whose energy
overflows) must never become a plausible score: :func:`kinematics` masks it, and a jet
that holds one is set aside by the model (NaN outputs) and counted by the processor.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import numpy.typing as npt

__all__ = ["ETA_MAX", "PT_MAX", "bad_jets", "physical"]

#: |eta| beyond this is not a detector constituent (PF candidates reach |eta| ~ 5).
ETA_MAX = 10.0
#: pT (and mass) in GeV beyond this exceeds any collider's energy.
PT_MAX = 1.0e5
#: |phi| beyond this is not an azimuth (a little slack over pi for rounding and wrapping).
PHI_MAX = 2 * np.pi


def physical(pt: npt.NDArray[np.float64], eta: npt.NDArray[np.float64], phi: npt.NDArray[np.float64],
             mass: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Finite kinematics in physical ranges (pT > 0 is not required: zero-pT entries are
    masked as padding, not as corrupt)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(
            np.isfinite(pt) & np.isfinite(eta) & np.isfinite(phi) & np.isfinite(mass)
            & (pt >= 0) & (pt < PT_MAX) & (np.abs(eta) < ETA_MAX) & (np.abs(phi) < PHI_MAX)
            & (mass > -1.0) & (mass < PT_MAX)
        )


def bad_jets(constituents: ak.Array) -> npt.NDArray[np.bool_]:
    """(n_jets,) True for jets with at least one constituent of unphysical kinematics."""
    counts = np.asarray(ak.to_numpy(ak.num(constituents, axis=1)), dtype=np.int64)
    if counts.sum() == 0:
        return np.zeros(len(counts), dtype=bool)

    def flat(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(ak.to_numpy(ak.flatten(constituents[name], axis=None)), dtype=np.float64)

    ok = physical(flat("pt"), flat("eta"), flat("phi"), flat("mass"))
    jet = np.repeat(np.arange(len(counts)), counts)
    return np.asarray(np.bincount(jet[~ok], minlength=len(counts)) > 0)
